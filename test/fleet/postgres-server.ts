/**
 * A real PostgreSQL for the state-store tests: Debian's `postgresql` package (installed with apt-get when CI=true and
 * it is missing), a fresh cluster made with its `initdb` in a temporary directory, started with `postgres` on a free
 * loopback port and stopped by its PID. PostgreSQL refuses to run as root, so under root the cluster belongs to the
 * package's `postgres` user and the server runs as that user. Nothing pre-started is assumed.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { userInfo, tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeLoopbackPort } from '../support/free-port.js';

/** The directory of Debian's PostgreSQL binaries (`/usr/lib/postgresql/<version>/bin`), installing the package under CI=true. */
export function findPostgresBin(): string {
  const found = () => {
    if (!existsSync('/usr/lib/postgresql')) return undefined;
    const versions = readdirSync('/usr/lib/postgresql')
      .filter((version) => existsSync(join('/usr/lib/postgresql', version, 'bin', 'initdb')))
      .sort((a, b) => Number(b) - Number(a));
    return versions[0] && join('/usr/lib/postgresql', versions[0], 'bin');
  };
  const bin = found();
  if (bin) return bin;
  if (process.env.CI !== 'true')
    throw new Error(
      'PostgreSQL is not installed: run `apt-get update && apt-get install -y postgresql` (CI=true does it itself)',
    );
  for (const args of [['update'], ['install', '-y', '--no-install-recommends', 'postgresql']]) {
    const result = spawnSync('apt-get', args, {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    if (result.status !== 0)
      throw new Error(`apt-get ${args.join(' ')} failed; PostgreSQL is needed for the state-store tests`);
  }
  const installed = found();
  if (!installed) throw new Error('PostgreSQL is still missing after apt-get install postgresql');
  return installed;
}

export interface PostgresServer {
  /** `postgres://…` of the `postgres` database, as the bridge's `DCR_STATE_URL`. */
  url: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
}

/** Runs as the package's `postgres` user when this process is root; as itself otherwise. */
function runAs(): { uid: number; gid: number } | undefined {
  if (userInfo().uid !== 0) return undefined;
  const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim());
  const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim());
  if (!Number.isInteger(uid) || uid <= 0)
    throw new Error('running as root, and there is no postgres user to run PostgreSQL as');
  return { uid, gid };
}

export async function startPostgresServer(): Promise<PostgresServer> {
  const bin = findPostgresBin();
  const user = runAs();
  const root = mkdtempSync(join(tmpdir(), 'dcr-postgres-'));
  chmodSync(root, 0o755);
  const data = join(root, 'data');
  if (user) chownSync(root, user.uid, user.gid);
  const init = spawnSync(
    join(bin, 'initdb'),
    ['-D', data, '-U', 'bridge', '--auth=trust', '--no-sync', '--encoding=UTF8', '--locale=C'],
    { encoding: 'utf8', cwd: root, ...(user ?? {}) },
  );
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`);
  const port = await freeLoopbackPort();
  const child: ChildProcess = spawn(
    join(bin, 'postgres'),
    [
      '-D',
      data,
      '-p',
      String(port),
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      `unix_socket_directories=${root}`,
      '-c',
      'fsync=off',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], cwd: root, ...(user ?? {}) },
  );
  const pid = child.pid;
  if (pid === undefined) throw new Error('postgres did not start');
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`postgres did not get ready in 30 s: ${output}`)), 30_000);
    const watch = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('database system is ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', watch);
    child.stderr!.on('data', watch);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`postgres exited at start: ${output}`));
    });
  });
  return {
    url: `postgres://bridge@127.0.0.1:${port}/postgres`,
    port,
    pid,
    async stop() {
      try {
        // SIGINT: PostgreSQL's fast shutdown (clients disconnected, no wait for them).
        process.kill(pid, 'SIGINT');
        const killer = setTimeout(() => process.kill(pid, 'SIGKILL'), 10_000);
        await exited;
        clearTimeout(killer);
      } catch {
        // already gone
      }
      rmSync(root, { recursive: true, force: true });
    },
  };
}
