/**
 * `npm start` as a child process on a free loopback port: node with the start script's V8 flags on the compiled entry
 * point, for the fleet tests and the process-level suite (test/process/).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startFlags } from '../../scripts/start-arguments.js';
import { compiledMain, ensureBuilt } from '../support/built.js';

export const root = fileURLToPath(new URL('../..', import.meta.url));

export interface BridgeProcess {
  baseUrl: string;
  pid: number;
  stdout(): string;
  stderr(): string;
  stop(): Promise<number | null>;
}

export async function startBridgeProcess(
  env: Record<string, string>,
  options: { cwd?: string; uid?: number; gid?: number; entry?: string } = {},
): Promise<BridgeProcess> {
  // The compiled entry point by its absolute path, as the image runs it, so it can run from any working directory.
  await ensureBuilt();
  // `entry`: the same compiled entry point staged elsewhere (the container contract runs a copy its user can read).
  const child = spawn(process.execPath, [...startFlags(), options.entry ?? compiledMain], {
    cwd: options.cwd ?? root,
    env: {
      PATH: process.env.PATH ?? '',
      NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS ?? '',
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.uid !== undefined ? { uid: options.uid } : {}),
    ...(options.gid !== undefined ? { gid: options.gid } : {}),
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const killer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  void exited.then(() => clearTimeout(killer));
  const deadline = Date.now() + 30_000;
  const portOf = () => /"port":(\d+)/.exec(stdout)?.[1];
  let port = portOf();
  while (port === undefined) {
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error(`the bridge did not start: ${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    port = portOf();
  }
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    stdout: () => stdout,
    stderr: () => stderr,
    async stop() {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

/** Polls `probe` until it holds (a condition in another process, not a timer of ours). */
export async function until(probe: () => Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
