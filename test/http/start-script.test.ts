import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';

const root = fileURLToPath(new URL('../..', import.meta.url));

function childrenOf(pid: number): number[] {
  const text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
  return text === '' ? [] : text.split(' ').map(Number);
}

function commandLine(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((part) => part !== '');
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
    const build = spawnSync('npm', ['run', 'build'], { cwd: root, encoding: 'utf8' });
    assert.equal(build.status, 0, build.stderr);
    assert.ok(existsSync(join(root, 'dist/src/main.js')));

    const npm = spawn('npm', ['start'], {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', DCR_LOCAL_DATA_DIR: dataDir, DCR_API_KEYS: 'start-script-portal-01' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    npm.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    npm.stderr.resume();
    const npmExited = new Promise<void>((resolve) => npm.on('exit', () => resolve()));
    try {
      const port = await until(() => /"port":(\d+)/.exec(stdout)?.[1], 'the bridge to listen');
      const bridgePid = await until(() => childrenOf(npm.pid!)[0], 'npm to start the bridge');
      assert.deepEqual(commandLine(bridgePid).slice(1), ['dist/src/main.js'], 'plain node on the compiled entry point, no tsx, no shell between');
      assert.deepEqual(childrenOf(npm.pid!), [bridgePid]);
      assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);

      npm.kill('SIGTERM');
      await until(() => (existsSync(`/proc/${bridgePid}`) && !readFileSync(`/proc/${bridgePid}/stat`, 'utf8').includes(') Z ') ? undefined : true), 'the bridge to exit');
      await assert.rejects(fetch(`http://127.0.0.1:${port}/healthz`), 'nothing listens any more');
      assert.match(stdout, /"message":"shutting down","signal":"SIGTERM"/);
    } finally {
      npm.kill('SIGKILL');
      await npmExited;
    }
  });
});
