/**
 * `npm run new-driver`: the fork path walked as a fork walks it, in a copy of this checkout (what a clone holds:
 * everything but .git and what .gitignore keeps out; node_modules linked from here): the scaffold, the type check, the
 * lint, the new driver's own suites against its scaffolded emulator, the build, the benchmark's list, then the
 * emulator by hand and the compiled bridge started as `npm start` starts it, up to a 200 on /readyz. Each step is a
 * test of its own, in order, so a failure names the step and its output.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { registered, scaffoldDriver } from '../../scripts/new-driver.js';

const repository = fileURLToPath(new URL('../..', import.meta.url));
const name = 'acme-id';
const created = [
  `drivers/${name}.ts`,
  `test/emulators/${name}.ts`,
  `test/drivers/${name}.test.ts`,
  ...readdirSync(join(repository, 'test/vendor-specs/example')).map(
    (file) => `test/vendor-specs/${name}/${file.replaceAll('example', name)}`,
  ),
];

/** Top-level entries a clone lacks: .git, and what .gitignore names plainly (globs such as `*.log` are left in). */
function notInAClone(): Set<string> {
  const ignored = readFileSync(join(repository, '.gitignore'), 'utf8')
    .split('\n')
    .map((line) => line.trim().replace(/^\/|\/$/g, ''))
    .filter((line) => line !== '' && !line.startsWith('#') && !/[*?[!]/.test(line));
  return new Set(['.git', ...ignored]);
}

/** Every file under `root` but node_modules, with a hash of its content. */
function contents(root: string): Map<string, string> {
  const files = readdirSync(root, { withFileTypes: true, recursive: true }).filter((entry) => entry.isFile());
  return new Map(
    files
      .map((entry) => relative(root, join(entry.parentPath, entry.name)))
      .filter((file) => !file.startsWith('node_modules/'))
      .map((file) => [
        file,
        createHash('sha256')
          .update(readFileSync(join(root, file)))
          .digest('hex'),
      ]),
  );
}

describe(`npm run new-driver -- ${name}, then everything a fork runs next, in a copy of the tree`, () => {
  let copy: string;
  /** The environment of every command: ours, without what would make a nested `node --test` report to this one. */
  let env: NodeJS.ProcessEnv;
  const started: ChildProcessWithoutNullStreams[] = [];

  before(() => {
    copy = mkdtempSync(join(tmpdir(), 'dcr-fork-'));
    const skipped = notInAClone();
    cpSync(repository, copy, {
      recursive: true,
      filter: (source) => !skipped.has(relative(repository, source).split('/')[0]!),
    });
    symlinkSync(join(repository, 'node_modules'), join(copy, 'node_modules'), 'dir');
    const { NODE_TEST_CONTEXT: _, ...rest } = process.env;
    env = { ...rest, LOG_LEVEL: 'silent' };
  });

  after(async () => {
    await Promise.all(started.map((child) => stopGroup(child)));
    rmSync(copy, { recursive: true, force: true });
  });

  /** Starts `command` in the copy as the leader of a process group, so stopping it stops what npm started under it. */
  function start(
    command: string,
    args: string[],
    extraEnv: NodeJS.ProcessEnv = {},
  ): ChildProcessWithoutNullStreams & { output: () => string } {
    const child = spawn(command, args, { cwd: copy, env: { ...env, ...extraEnv }, detached: true });
    started.push(child);
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    return Object.assign(child, { output: () => output });
  }

  /** Runs `npm args` in the copy to its end: its exit code and everything it wrote. */
  async function npm(...args: string[]): Promise<{ code: number | null; output: string }> {
    const child = start('npm', args);
    const code = await new Promise<number | null>((resolve, reject) => {
      child.on('error', reject);
      child.on('exit', (exitCode) => resolve(exitCode));
    });
    return { code, output: child.output() };
  }

  async function succeeds(...args: string[]): Promise<string> {
    const { code, output } = await npm(...args);
    assert.equal(code, 0, `npm ${args.join(' ')} exited ${code}:\n${output}`);
    return output;
  }

  it('writes the example under the new name and adds one line to the driverModules literal of src/drivers.ts, and nothing else', async () => {
    const original = contents(copy);
    const output = await succeeds('run', 'new-driver', '--', name);
    const scaffolded = contents(copy);

    const changed = [...scaffolded.keys()].filter((file) => original.get(file) !== scaffolded.get(file)).sort();
    assert.deepEqual(changed, [...created, 'src/drivers.ts'].sort(), output);
    assert.deepEqual(
      [...original.keys()].filter((file) => !scaffolded.has(file)),
      [],
      'nothing removed',
    );
    const [was, is] = [
      readFileSync(join(repository, 'src/drivers.ts'), 'utf8').split('\n'),
      readFileSync(join(copy, 'src/drivers.ts'), 'utf8').split('\n'),
    ];
    const added = is.findIndex((line, index) => line !== was[index]);
    assert.deepEqual(is.toSpliced(added, 1), was, 'one line added, none changed');
    assert.match(
      is[added]!,
      new RegExp(`^\\s+(['"])${name}\\1: \\(\\) => import\\((['"])\\.\\./drivers/${name}\\.js\\2\\),$`),
    );
    assert.match(is[added + 1]!, /^\}/, 'the last member of the literal');
    for (const file of created.slice(0, 3))
      assert.doesNotMatch(
        readFileSync(join(copy, file), 'utf8'),
        /example/i,
        `${file} keeps nothing of the template's name`,
      );
  });

  it('refuses a name that exists, the template itself and names that are not driver names, leaving the tree as it was', () => {
    const scaffolded = contents(copy);
    assert.throws(() => scaffoldDriver(name, copy), /exists already/);
    assert.throws(() => scaffoldDriver('example', copy), /template/);
    for (const bad of ['Acme', '1acme', 'acme_id', 'acme--id', '../acme', ''])
      assert.throws(() => scaffoldDriver(bad, copy), /not a driver name/, bad);
    // A driver whose module is a folder (drivers/local/) has no drivers/<name>.ts to find: the literal refuses it.
    assert.throws(
      () => registered(readFileSync(join(copy, 'src/drivers.ts'), 'utf8'), 'okta'),
      /has a driver named okta already/,
    );
    assert.deepEqual(contents(copy), scaffolded);
  });

  it('leaves a project that type-checks', async () => {
    await succeeds('run', 'typecheck');
  });

  // `npm run lint` (the formatter, the linter and the layering check) runs whenever the copy's package.json (this
  // one's) has a lint script, and is skipped, visibly, where it has none: a scaffold that breaks the formatting or the
  // layering fails here once the project has the tools.
  const lint = (
    JSON.parse(readFileSync(join(repository, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
  ).scripts.lint;
  it('leaves a project that passes the lint', {
    skip: lint === undefined && 'package.json has no lint script',
  }, async () => {
    await succeeds('run', 'lint');
  });

  it("passes the new driver's conformance suite and fault matrix against its scaffolded emulator (npm test -- <name>)", async () => {
    const output = await succeeds('test', '--', name);
    for (const suite of [`${name} driver conformance`, `${name} driver under IdP faults`])
      assert.match(output, new RegExp(`^# Subtest: ${suite}$`, 'm'), `${suite} ran`);
    assert.match(output, /^# fail 0$/m);
    assert.doesNotMatch(output, /^# pass 0$/m);
  });

  it('builds (npm run build)', async () => {
    await succeeds('run', 'build');
  });

  it('is a benchmark name: npm run bench knows it, and says none is written for it yet', async () => {
    const { code, output } = await npm('run', 'bench', '--', name);
    assert.equal(code, 1, output);
    assert.match(output, new RegExp(`no benchmark written yet for ${name}`));
  });

  it(`is served by npm run emulator, and the compiled bridge started as npm start does with DCR_DRIVER=${name} answers 200 on /readyz`, async () => {
    const emulator = start('npm', ['run', 'emulator', '--', name, '--port', '0']);
    const secretLine = new RegExp(`export ${name.replaceAll('-', '_').toUpperCase()}_CLIENT_SECRET=\\S+\\n`);
    const printed = await outputMatching(emulator, secretLine, 'the emulator to print its variables');
    const variables = Object.fromEntries(
      [...printed.matchAll(/export (\w+)=(\S+)\n/g)].map(([, key, value]) => [key!, value!]),
    );
    assert.equal(variables.DCR_DRIVER, name, printed);
    assert.ok(variables.NODE_EXTRA_CA_CERTS?.startsWith(copy), printed);

    const bridge = start('npm', ['start'], {
      ...variables,
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      DCR_API_KEYS: 'fork-path-portal-key-01',
    });
    const listening = await outputMatching(bridge, /"message":"dcr-bridge listening".*\n/, 'the bridge to listen');
    assert.match(listening, new RegExp(`"driver":"${name}"`));
    const port = /"port":(\d+)/.exec(listening)![1];
    const readiness = await fetch(`http://127.0.0.1:${port}/readyz`);
    assert.equal(readiness.status, 200, await readiness.text());

    await Promise.all([stopGroup(bridge), stopGroup(emulator)]);
  });
});

/** The child's output once it matches `pattern` (waited for on its output events, up to a bound). */
function outputMatching(
  child: ChildProcessWithoutNullStreams & { output: () => string },
  pattern: RegExp,
  what: string,
  timeoutMs = 60_000,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const settle = (error?: Error) => {
      clearTimeout(timer);
      child.stdout.off('data', check);
      child.off('exit', exited);
      if (error) reject(error);
      else resolve(child.output());
    };
    const check = () => {
      if (pattern.test(child.output())) settle();
    };
    const exited = (code: number | null) => settle(new Error(`exited ${code} before ${what}:\n${child.output()}`));
    const timer = setTimeout(() => settle(new Error(`timed out waiting for ${what}:\n${child.output()}`)), timeoutMs);
    child.stdout.on('data', check);
    child.once('exit', exited);
    check();
  });
}

/** Stops the process group `child` leads (npm and the node it started) with SIGTERM, then SIGKILL after 10 s. */
async function stopGroup(child: ChildProcessWithoutNullStreams): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const signal = (name: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, name);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
  };
  signal('SIGTERM');
  const timer = setTimeout(() => signal('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}
