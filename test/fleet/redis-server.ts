/**
 * A real redis-server for the shared-limit tests: found on PATH (installed from Debian's package with apt-get when
 * CI=true and it is missing), started on a free loopback port with no persistence, stopped by its PID. Nothing
 * pre-started is assumed; when no redis-server can be had, the tests fail with the reason.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { freeLoopbackPort } from '../support/free-port.js';

function onPath(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  for (const dir of ['/usr/bin', '/usr/sbin', '/usr/local/bin']) {
    try {
      accessSync(join(dir, command), constants.X_OK);
      return join(dir, command);
    } catch {
      // not there either
    }
  }
  return undefined;
}

/** The redis-server binary; under CI=true a missing one is installed from Debian's package first. */
export function findRedisServer(): string {
  const found = onPath('redis-server');
  if (found) return found;
  if (process.env.CI !== 'true') {
    throw new Error(
      'redis-server is not installed: run `apt-get update && apt-get install -y redis-server` (CI=true does it itself)',
    );
  }
  for (const args of [['update'], ['install', '-y', '--no-install-recommends', 'redis-server']]) {
    const result = spawnSync('apt-get', args, {
      stdio: 'inherit',
      timeout: 300_000,
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    if (result.status !== 0)
      throw new Error(
        `apt-get ${args.join(' ')} failed (status ${String(result.status)}); redis-server is needed for the shared-limit tests`,
      );
  }
  const installed = onPath('redis-server');
  if (!installed) throw new Error('redis-server is still missing after apt-get install redis-server');
  return installed;
}

export interface RedisServer {
  url: string;
  port: number;
  pid: number;
  /** SIGTERM by PID, resolved once it exited. */
  stop(): Promise<void>;
}

/** Starts redis-server on `port` (a free one by default), in memory only, and resolves once it accepts connections. */
export async function startRedisServer(port?: number): Promise<RedisServer> {
  const binary = findRedisServer();
  const listenPort = port ?? (await freeLoopbackPort());
  const child: ChildProcess = spawn(
    binary,
    [
      '--port',
      String(listenPort),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--daemonize',
      'no',
      '--dir',
      '/tmp',
      '--loglevel',
      'notice',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const pid = child.pid;
  if (pid === undefined) throw new Error('redis-server did not start');
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server did not get ready in 15 s: ${output}`)), 15_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited at start: ${output}`));
    });
  });
  return {
    url: `redis://127.0.0.1:${listenPort}`,
    port: listenPort,
    pid,
    async stop() {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        return;
      }
      const killer = setTimeout(() => process.kill(pid, 'SIGKILL'), 5_000);
      await exited;
      clearTimeout(killer);
    },
  };
}
