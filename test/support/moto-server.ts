/**
 * moto's server (PyPI `moto[server]`, an AWS emulation nobody here wrote) on 127.0.0.1, for the Cognito driver's tests
 * against something other than our own emulator. `ensureMoto` installs the pinned version into a virtual environment
 * cached outside the clone (`~/.cache/dcr-bridge/moto-venv`, or `DCR_MOTO_VENV`) with the machine's `python3 -m venv`
 * and `pip`, the first time only.
 * `startMoto` starts `moto_server` on a free loopback port, waits for its `/moto-api/` answer, and `stop` ends it by
 * its PID. Run on its own (`node --import tsx test/support/moto-server.ts`) it only installs.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freeLoopbackPort } from './free-port.js';

/** The moto the tests run against; 5.2.x has Cognito's app clients and resource servers, not its client secrets. */
export const MOTO_VERSION = '5.2.6';
export const motoVenv = process.env.DCR_MOTO_VENV
  ? resolve(process.env.DCR_MOTO_VENV)
  : join(homedir(), '.cache', 'dcr-bridge', 'moto-venv');
const motoServer = join(motoVenv, 'bin', 'moto_server');
const installedMarker = join(motoVenv, `.moto-${MOTO_VERSION}`);

function run(command: string, args: string[]): void {
  const result = spawnSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (result.error || result.status !== 0) {
    const output = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim().split('\n').slice(-15).join('\n');
    throw new Error(
      `moto could not be installed: \`${command} ${args.join(' ')}\` ${result.error ? `failed: ${result.error.message}` : `exited ${result.status}`}\n${output}`,
    );
  }
}

/**
 * Installs `moto[server]==MOTO_VERSION` into the cached virtual environment unless it is complete there (its marker is
 * written last, so a half-made one is made again); returns `moto_server`'s path.
 */
export function ensureMoto(): string {
  if (existsSync(installedMarker) && existsSync(motoServer)) return motoServer;
  rmSync(motoVenv, { recursive: true, force: true });
  mkdirSync(dirname(motoVenv), { recursive: true });
  run('python3', ['-m', 'venv', motoVenv]);
  run(join(motoVenv, 'bin', 'python'), [
    '-m',
    'pip',
    'install',
    '--quiet',
    '--disable-pip-version-check',
    `moto[server]==${MOTO_VERSION}`,
  ]);
  writeFileSync(installedMarker, `moto[server]==${MOTO_VERSION}\n`);
  return motoServer;
}

export interface MotoServer {
  /** `http://127.0.0.1:<port>`. */
  url: string;
  pid: number;
  stop(): Promise<void>;
}

export async function startMoto(): Promise<MotoServer> {
  const server = ensureMoto();
  const port = await freeLoopbackPort();
  const child = spawn(server, ['-H', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = `${stderr}${chunk.toString()}`.slice(-4000);
  });
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`moto_server exited ${child.exitCode}: ${stderr}`);
    try {
      if ((await fetch(`${url}/moto-api/`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`moto_server did not answer within 60 s: ${stderr}`);
    }
    await new Promise((done) => setTimeout(done, 200));
  }
  return {
    url,
    pid: child.pid!,
    async stop() {
      if (child.exitCode === null) process.kill(child.pid!, 'SIGTERM');
      await exited;
    },
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) console.log(ensureMoto());
