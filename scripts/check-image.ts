/**
 * `npm run check:image`: the Dockerfile without Docker (these machines have no engine). Each stage gets a folder of
 * its own standing for its WORKDIR; COPY copies from the checkout (minus .dockerignore) or from an earlier stage,
 * RUN runs in that folder. Then the final stage's files are checked — compiled JavaScript, the spec, production
 * dependencies only, no TypeScript, no tsx, typescript or esbuild — and its CMD and HEALTHCHECK are run for real.
 *
 * Every production dependency with a native build (a `binding.gyp`) must hold its built `.node` file in the final
 * stage — `npm ci --ignore-scripts` leaves it out, and the package then fails when first used (better-sqlite3: the
 * rfc7591 driver's SQLite store at the start) — and better-sqlite3 must open a database from the stage's node_modules.
 *
 * What it cannot show: the base image itself, `chown` to the image's `node` user, which this machine lacks, and the
 * base image's packages (`apt-get`): shims on PATH record those calls instead. A native addon is built from source
 * here (`npm_config_build_from_source`, no download), as the image's build does when no prebuilt binary fits.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundledSdks, bundledVersionsFile, codeCacheOf } from '../src/driver/call/sdk.js';

const context = fileURLToPath(new URL('..', import.meta.url));
const workspace = mkdtempSync(join(tmpdir(), 'dcr-image-'));

interface Stage {
  name: string;
  root: string;
  workdir: string;
  env: Record<string, string>;
  cmd?: string[];
  healthcheck?: string[];
}

function fail(message: string): never {
  console.error(`check-image: ${message}`);
  process.exit(1);
}

/** Dockerfile instructions, continuation lines joined, comments dropped. */
function instructions(text: string): [string, string][] {
  return text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const [keyword, ...rest] = line.split(/\s+/);
      return [keyword!.toUpperCase(), rest.join(' ')];
    });
}

const ignorePatterns = readFileSync(join(context, '.dockerignore'), 'utf8')
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line !== '' && !line.startsWith('#'))
  .map((pattern) => new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}$`));

/** Whether .dockerignore keeps `path` (relative to the context) out of the build context. */
function ignored(path: string): boolean {
  return path
    .split('/')
    .some((segment, index, segments) =>
      ignorePatterns.some((pattern) => pattern.test(segments.slice(0, index + 1).join('/')) || pattern.test(segment)),
    );
}

function inStage(stage: Stage, path: string): string {
  const absolute = path.startsWith('/') ? path : `${stage.workdir}/${path}`;
  if (!absolute.startsWith(stage.workdir))
    fail(`${path} is outside the WORKDIR ${stage.workdir}, which this check maps`);
  return join(stage.root, relative(stage.workdir, absolute));
}

function copy(stage: Stage, args: string, stages: Map<string, Stage>): void {
  const words = args.split(/\s+/);
  const from = words[0]!.startsWith('--from=') ? stages.get(words.shift()!.slice('--from='.length)) : undefined;
  const destination = words.pop()!;
  for (const source of words) {
    const origin = from ? inStage(from, source) : join(context, source);
    if (!from && ignored(source)) fail(`COPY ${source}: .dockerignore excludes it`);
    if (!existsSync(origin)) fail(`COPY ${source}: not found`);
    const target =
      destination.endsWith('/') || words.length > 1
        ? join(inStage(stage, destination), basename(source))
        : inStage(stage, destination);
    cpSync(origin, target, {
      recursive: true,
      filter: (path) => from !== undefined || !ignored(relative(context, path)),
    });
  }
}

function run(stage: Stage, command: string, shims: string): void {
  const local = command.replaceAll(stage.workdir, stage.root);
  console.log(`check-image: [${stage.name}] RUN ${command}`);
  // A cache of its own, as in a fresh image: `npm cache clean` must not empty the machine's.
  const env = {
    ...process.env,
    ...stage.env,
    PATH: `${shims}:${process.env.PATH}`,
    npm_config_cache: join(workspace, 'npm-cache'),
    npm_config_build_from_source: 'true',
  };
  const result = spawnSync('sh', ['-c', local], { cwd: stage.root, stdio: 'inherit', env });
  if (result.status !== 0) fail(`[${stage.name}] RUN ${command} exited ${result.status}`);
}

function filesOf(dir: string, base = dir): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesOf(path, base) : [relative(base, path)];
  });
}

/** Starts the stages' npm cache from the machine's, so the check does not download what `npm ci` just did. */
function seedNpmCache(): void {
  const machineCache = spawnSync('npm', ['config', 'get', 'cache'], { encoding: 'utf8' }).stdout.trim();
  if (machineCache && existsSync(join(machineCache, '_cacache')))
    cpSync(join(machineCache, '_cacache'), join(workspace, 'npm-cache', '_cacache'), { recursive: true });
}

function buildStages(): Stage {
  seedNpmCache();
  const shims = join(workspace, 'shims');
  mkdirSync(shims);
  writeFileSync(
    join(shims, 'chown'),
    '#!/bin/sh\necho "check-image: chown $* (recorded: the image has the user, this machine does not)"\n',
  );
  chmodSync(join(shims, 'chown'), 0o755);
  writeFileSync(
    join(shims, 'apt-get'),
    '#!/bin/sh\necho "check-image: apt-get $* (recorded: the base image\'s packages are not this machine\'s)"\n',
  );
  chmodSync(join(shims, 'apt-get'), 0o755);
  const args: Record<string, string> = {};
  const stages = new Map<string, Stage>();
  let stage: Stage | undefined;
  for (const [keyword, rest] of instructions(readFileSync(join(context, 'Dockerfile'), 'utf8'))) {
    if (keyword === 'ARG') {
      const [name, value = ''] = rest.split('=');
      args[name!] = value;
    } else if (keyword === 'FROM') {
      const name = /\bAS\s+(\S+)/i.exec(rest)?.[1] ?? `stage-${stages.size}`;
      stage = { name, root: join(workspace, name), workdir: '/', env: {} };
      mkdirSync(stage.root);
      stages.set(name, stage);
    } else if (!stage) {
      fail(`${keyword} before FROM`);
    } else if (keyword === 'WORKDIR') {
      stage.workdir = rest;
    } else if (keyword === 'ENV') {
      for (const [, name, value] of rest.matchAll(/(\w+)=(\S+)/g)) stage.env[name!] = value!;
    } else if (keyword === 'COPY') {
      copy(stage, rest, stages);
    } else if (keyword === 'RUN') {
      run(stage, rest, shims);
    } else if (keyword === 'CMD') {
      stage.cmd = JSON.parse(rest) as string[];
    } else if (keyword === 'HEALTHCHECK') {
      stage.healthcheck = JSON.parse(rest.slice(rest.indexOf('CMD') + 3)) as string[];
    }
  }
  if (!stage?.cmd) fail('the final stage has no CMD');
  return stage;
}

function checkFiles(image: Stage): void {
  const files = filesOf(image.root);
  const top = [...new Set(files.map((file) => file.split('/')[0]))].sort();
  const expected = ['dist', 'node_modules', 'package.json', 'spec'];
  if (JSON.stringify(top.filter((name) => name !== 'data')) !== JSON.stringify(expected))
    fail(`the image holds ${top.join(', ')}; expected ${expected.join(', ')}`);
  // Some production packages publish their own .ts sources beside their JavaScript; ours must not be there.
  const typescript = files.filter((file) => !file.startsWith('node_modules/') && /\.(c|m)?ts$/.test(file));
  if (typescript.length > 0) fail(`TypeScript sources in the image: ${typescript.slice(0, 5).join(', ')}`);
  const packages = readdirSync(join(image.root, 'node_modules'));
  const devOnly = ['typescript', 'tsx', 'esbuild', '@esbuild', 'supertest', 'fast-check'].filter((name) =>
    packages.includes(name),
  );
  if (devOnly.length > 0) fail(`dev dependencies in the image: ${devOnly.join(', ')}`);
  if (!existsSync(join(image.root, 'dist/src/main.js'))) fail('dist/src/main.js is missing');
  checkNativeBuilds(image, files);
  // The start uses the build's derived spec only while it carries the shipped YAML's sha256 (src/http/spec.ts).
  const yamlHash = createHash('sha256')
    .update(readFileSync(join(image.root, 'spec/openapi.yaml'), 'utf8'))
    .digest('hex');
  for (const derived of ['dist/spec/openapi.json', 'dist/spec/validators.cjs']) {
    if (!existsSync(join(image.root, derived))) fail(`${derived} is missing: the start would parse the YAML`);
    if (!readFileSync(join(image.root, derived), 'utf8').includes(`"${yamlHash}"`))
      fail(`${derived} was not derived from the image's spec/openapi.yaml`);
  }
  // The drivers load dist/sdk/'s bundles (Okta's and Auth0's SDKs, undici) only while they hold the installed versions.
  const bundled = JSON.parse(readFileSync(join(image.root, 'dist/sdk', bundledVersionsFile), 'utf8')) as Record<
    string,
    string
  >;
  for (const [name, file] of Object.entries(bundledSdks)) {
    const installed = (
      JSON.parse(readFileSync(join(image.root, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }
    ).version;
    if (!existsSync(join(image.root, 'dist/sdk', file)) || bundled[name] !== installed)
      fail(`dist/sdk/ does not hold ${name} ${installed}, the version installed: the driver would load the package`);
    if (!existsSync(join(image.root, 'dist/sdk', codeCacheOf(file)))) fail(`dist/sdk/ has no code cache for ${file}`);
  }
  console.log(
    `check-image: the final stage holds ${files.length} files under ${top.join(', ')}; no TypeScript of ours, no dev dependencies`,
  );
}

/**
 * Each package with a `binding.gyp` holds a built `.node` file (a build/ or prebuilds/ of its own), and the SQLite
 * store's better-sqlite3 opens a database with the stage's node_modules.
 */
function checkNativeBuilds(image: Stage, files: string[]): void {
  const packageOf = (file: string) => /^(node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(file)?.[1];
  const native = new Set(
    files.filter((file) => file.endsWith('/binding.gyp')).map((file) => file.slice(0, -'/binding.gyp'.length)),
  );
  const built = new Set(files.filter((file) => file.endsWith('.node')).map(packageOf));
  const unbuilt = [...native].filter((dir) => !built.has(dir));
  if (unbuilt.length > 0)
    fail(
      `native dependencies without their build (installed with --ignore-scripts and never rebuilt): ${unbuilt.map((dir) => dir.replace(/^node_modules\//, '')).join(', ')}`,
    );
  const sqlite = spawnSync(
    process.execPath,
    ['-e', "new (require('better-sqlite3'))(':memory:').prepare('SELECT 1').get()"],
    { cwd: image.root, encoding: 'utf8' },
  );
  if (sqlite.status !== 0)
    fail(`better-sqlite3 cannot open a database in the image: ${sqlite.stderr.trim().split('\n')[0] ?? ''}`);
  console.log(`check-image: native dependencies built: ${[...native].map((dir) => basename(dir)).join(', ')}`);
}

async function runImage(image: Stage): Promise<void> {
  const env = {
    PATH: process.env.PATH ?? '',
    ...image.env,
    DCR_LOCAL_DATA_DIR: inStage(image, image.env.DCR_LOCAL_DATA_DIR ?? 'data'),
    PORT: '0',
    HOST: '127.0.0.1',
  };
  const [command, ...args] = image.cmd!;
  const bridge = spawn(command!, args, { cwd: image.root, env, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => bridge.on('exit', resolve));
  let stdout = '';
  bridge.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const deadline = Date.now() + 60_000;
  const portOf = () => /"port":(\d+)/.exec(stdout)?.[1];
  while (portOf() === undefined && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  const port = portOf();
  if (!port) {
    bridge.kill('SIGKILL');
    fail(`CMD ${image.cmd!.join(' ')} did not start listening within 60 s`);
  }
  const health = await fetch(`http://127.0.0.1:${port}/healthz`);
  if (health.status !== 200) fail(`/healthz answered ${health.status}`);
  const [checkCommand, ...checkArgs] = image.healthcheck ?? fail('no HEALTHCHECK');
  const check = spawnSync(checkCommand!, checkArgs, { cwd: image.root, env: { ...env, PORT: port } });
  if (check.status !== 0) fail(`the HEALTHCHECK command exited ${check.status}`);
  bridge.kill('SIGTERM');
  const code = await exited;
  if (code !== 0) fail(`the bridge exited ${code} on SIGTERM`);
  console.log(
    `check-image: CMD ${image.cmd!.join(' ')} served /healthz on port ${port}, its HEALTHCHECK passed, SIGTERM exited 0`,
  );
}

try {
  const image = buildStages();
  checkFiles(image);
  await runImage(image);
} finally {
  rmSync(workspace, { recursive: true, force: true });
}
