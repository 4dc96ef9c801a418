/**
 * A real Ory Hydra v2.3 on 127.0.0.1 for `npm run test:hydra`: the binary scripts/build-hydra.sh builds from the Go
 * module proxy into ~/.cache/dcr-bridge/hydra/ (once, ~11 minutes on a small machine; cached outside the clone), run as
 * `hydra serve all --dev` with an in-memory database, dynamic client registration enabled
 * (`oidc.dynamic_client_registration.enabled`), on free loopback ports, and stopped by its PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeLoopbackPort } from '../support/free-port.js';

export const HYDRA_VERSION = 'v2.3.0';
export const hydraBinary = join(
  process.env.DCR_CACHE_DIR ?? join(homedir(), '.cache', 'dcr-bridge'),
  'hydra',
  `hydra-${HYDRA_VERSION}`,
);

export interface HydraServer {
  issuer: string;
  /** Hydra's discovery does not advertise it: the driver is given it (`RFC7591_REGISTRATION_ENDPOINT`). */
  registrationEndpoint: string;
  tokenEndpoint: string;
  /** Hydra's admin API, for clients an administrator makes (not the bridge). */
  adminUrl: string;
  pid: number;
  stop(): Promise<void>;
}

export async function startHydra(): Promise<HydraServer> {
  if (!existsSync(hydraBinary)) throw new Error(`no Hydra binary at ${hydraBinary}: run scripts/build-hydra.sh`);
  const [publicPort, adminPort] = [await freeLoopbackPort(), await freeLoopbackPort()];
  const issuer = `http://127.0.0.1:${publicPort}`;
  const dir = mkdtempSync(join(tmpdir(), 'dcr-hydra-'));
  const config = join(dir, 'hydra.yml');
  writeFileSync(
    config,
    [
      'dsn: memory',
      'serve:',
      `  public: { host: 127.0.0.1, port: ${publicPort} }`,
      `  admin: { host: 127.0.0.1, port: ${adminPort} }`,
      'urls:',
      `  self: { issuer: "${issuer}" }`,
      'secrets:',
      `  system: [ "${randomBytes(24).toString('hex')}" ]`,
      'oidc:',
      '  dynamic_client_registration:',
      '    enabled: true',
      'log: { level: warn }',
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn(hydraBinary, ['serve', 'all', '--dev', '-c', config], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '', HOME: dir },
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('hydra did not start');
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`hydra exited at start: ${output}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`hydra did not get ready in 60 s: ${output}`);
    }
    const ready = await fetch(`${issuer}/health/ready`).then(
      (answer) => answer.ok,
      () => false,
    );
    if (ready) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return {
    issuer,
    registrationEndpoint: `${issuer}/oauth2/register`,
    tokenEndpoint: `${issuer}/oauth2/token`,
    adminUrl: `http://127.0.0.1:${adminPort}`,
    pid,
    async stop() {
      try {
        process.kill(pid, 'SIGTERM');
        const killer = setTimeout(() => process.kill(pid, 'SIGKILL'), 10_000);
        await exited;
        clearTimeout(killer);
      } catch {
        // already gone
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
