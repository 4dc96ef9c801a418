import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { compiledMain, ensureBuilt, startArguments, whyRebuild } from '../support/built.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

function childrenOf(pid: number): number[] {
  const text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
  return text === '' ? [] : text.split(' ').map(Number);
}

function commandLine(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8')
    .split('\0')
    .filter((part) => part !== '');
}

async function until<T>(probe: () => T | undefined, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('npm start', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'dcr-start-script-'));
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  it('runs the compiled JavaScript that npm run build writes, as a direct child that a kill of npm ends', async () => {
    await ensureBuilt();
    assert.equal(whyRebuild(), undefined);
    assert.ok(existsSync(compiledMain));

    const npm = spawn('npm', ['start'], {
      cwd: root,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        PORT: '0',
        HOST: '127.0.0.1',
        LOG_LEVEL: 'info',
        DCR_LOCAL_DATA_DIR: dataDir,
        DCR_API_KEYS: 'start-script-portal-01',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    npm.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    npm.stderr.resume();
    const npmExited = new Promise<void>((resolve) => npm.on('exit', () => resolve()));
    try {
      const port = await until(() => /"port":(\d+)/.exec(stdout)?.[1], 'the bridge to listen');
      const bridgePid = await until(() => childrenOf(npm.pid!)[0], 'npm to start the bridge');
      assert.deepEqual(
        commandLine(bridgePid).slice(1),
        ['--max-semi-space-size=4', '--max-old-space-size=1024', 'dist/src/main.js'],
        'plain node on the compiled entry point, no tsx, no shell between',
      );
      assert.deepEqual(childrenOf(npm.pid!), [bridgePid]);
      assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);

      npm.kill('SIGTERM');
      await until(
        () =>
          existsSync(`/proc/${bridgePid}`) && !readFileSync(`/proc/${bridgePid}/stat`, 'utf8').includes(') Z ')
            ? undefined
            : true,
        'the bridge to exit',
      );
      await assert.rejects(fetch(`http://127.0.0.1:${port}/healthz`), 'nothing listens any more');
      assert.match(stdout, /"message":"shutting down","signal":"SIGTERM"/);
    } finally {
      npm.kill('SIGKILL');
      await npmExited;
    }
  });
});

describe('the image and the benchmark start the bridge as npm start does', () => {
  it("the Dockerfile's CMD is node with the start script's arguments", () => {
    const cmd = /^CMD (\[.*\])$/m.exec(readFileSync(join(root, 'Dockerfile'), 'utf8'))?.[1];
    assert.deepEqual(JSON.parse(cmd ?? 'null'), ['node', ...startArguments()]);
  });

  it('reads the arguments from package.json, and refuses a start script of another shape', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dcr-start-args-'));
    try {
      writeFileSync(
        join(dir, 'package.json'),
        JSON.stringify({ scripts: { start: 'exec node --flag-one --flag-two=2 dist/src/main.js' } }),
      );
      assert.deepEqual(startArguments(dir), ['--flag-one', '--flag-two=2', 'dist/src/main.js']);
      writeFileSync(join(dir, 'package.json'), JSON.stringify({ scripts: { start: 'node --import tsx src/main.ts' } }));
      assert.throws(() => startArguments(dir), /start script is not "exec node \[flags\] dist\/src\/main.js"/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the tests build dist/ only when it is stale', () => {
  const base = mkdtempSync(join(tmpdir(), 'dcr-built-'));
  after(() => rmSync(base, { recursive: true, force: true }));
  const inputs = [
    'src/main.ts',
    'src/http/spec.ts',
    'src/types.d.ts',
    'src/assets/table.json',
    'drivers/local/index.ts',
    'package.json',
    'package-lock.json',
    'tsconfig.json',
    'tsconfig.build.json',
    'scripts/derive-spec.ts',
    'spec/openapi.yaml',
    'scripts/bundle-sdks.ts',
    'scripts/start-arguments.ts',
    'scripts/record-build.ts',
  ];
  const outputs = [
    'dist/src/main.js',
    'dist/src/http/spec.js',
    'dist/drivers/local/index.js',
    'dist/spec/openapi.json',
    'dist/spec/validators.cjs',
    'dist/sdk/okta-sdk-nodejs.cjs',
    'dist/sdk/okta-sdk-nodejs.cache',
    'dist/sdk/auth0.cjs',
    'dist/sdk/auth0.cache',
    'dist/sdk/client-cognito-identity-provider.cjs',
    'dist/sdk/client-cognito-identity-provider.cache',
    'dist/sdk/undici.cjs',
    'dist/sdk/undici.cache',
    'dist/sdk/versions.json',
    'dist/build-info.json',
  ];
  const sourcesAt = new Date('2026-01-01T00:00:00Z');
  const builtAt = new Date('2026-01-01T00:05:00Z');
  let trees = 0;

  /** A package whose every input was written before every output, as after `npm ci`. */
  function builtTree(): string {
    const root = join(base, String(++trees));
    const write = (file: string, at: Date) => {
      mkdirSync(dirname(join(root, file)), { recursive: true });
      writeFileSync(join(root, file), '');
      utimesSync(join(root, file), at, at);
    };
    for (const file of inputs) write(file, sourcesAt);
    for (const file of outputs) write(file, builtAt);
    return root;
  }
  const touch = (root: string, file: string, at: Date) => utimesSync(join(root, file), at, at);

  it('is current after a build, also with the output of a since-deleted source left in dist/', () => {
    const root = builtTree();
    assert.equal(whyRebuild(root), undefined);
    writeFileSync(join(root, 'dist/src/removed.js'), '');
    touch(root, 'dist/src/removed.js', sourcesAt);
    assert.equal(whyRebuild(root), undefined);
  });

  it('is stale when any file the build reads is newer than the oldest file it wrote', () => {
    for (const input of inputs) {
      const root = builtTree();
      touch(root, input, new Date('2026-01-01T00:05:01Z'));
      assert.equal(whyRebuild(root), `${input} is newer than dist/`);
    }
    const halfBuilt = builtTree();
    touch(halfBuilt, 'dist/src/http/spec.js', sourcesAt);
    touch(halfBuilt, 'src/main.ts', new Date('2026-01-01T00:00:01Z'));
    assert.equal(whyRebuild(halfBuilt), 'src/main.ts is newer than dist/');
  });

  it('is stale when a file the build writes is missing: a new source, the derived spec, a bundled SDK, or all of dist/', () => {
    const added = builtTree();
    writeFileSync(join(added, 'src/added.ts'), '');
    touch(added, 'src/added.ts', sourcesAt);
    assert.equal(whyRebuild(added), 'dist/src/added.js is missing');
    const underived = builtTree();
    rmSync(join(underived, 'dist/spec/validators.cjs'));
    assert.equal(whyRebuild(underived), 'dist/spec/validators.cjs is missing');
    const unbundled = builtTree();
    rmSync(join(unbundled, 'dist/sdk/versions.json'));
    assert.equal(whyRebuild(unbundled), 'dist/sdk/versions.json is missing');
    const clean = builtTree();
    rmSync(join(clean, 'dist'), { recursive: true });
    assert.match(whyRebuild(clean) ?? '', /^dist\/.* is missing$/);
  });
});
