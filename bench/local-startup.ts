/**
 * Start to ready of the bridge with the `local` driver and many clients: writes N client files (default 20,000) into
 * a fresh data directory in the store's own format, starts `node dist/src/main.js` once to let it settle (the first
 * start after an upgrade may index the files), then starts it `RUNS` more times and prints the median time from
 * spawn to the first `200` of `/readyz`. Standalone: `npm run build && node --import tsx bench/local-startup.ts [N]`
 * (`BRIDGE_ROOT=<checkout>` measures another built checkout; `CPU_PROF=<dir>` writes each start's V8 CPU profile there).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startArguments } from '../test/support/built.js';
import { freeLoopbackPort } from '../test/support/free-port.js';

const root = process.env.BRIDGE_ROOT ?? fileURLToPath(new URL('..', import.meta.url));
const CLIENTS = Number(process.argv[2] ?? 20_000);
const RUNS = Number(process.env.RUNS ?? 3);

/** Client files as the local driver writes them (one JSON record per client). */
function writeClients(dataDir: string, count: number): void {
  const directory = join(dataDir, 'clients');
  mkdirSync(directory, { recursive: true, mode: 0o700 });
  const now = Math.floor(Date.now() / 1000);
  for (let index = 0; index < count; index++) {
    const clientId = randomBytes(16).toString('base64url');
    const record = {
      createdBy: 'dcr-bridge',
      clientId,
      clientSecret: randomBytes(32).toString('base64url'),
      clientIdIssuedAt: now,
      metadata: {
        clientName: `startup client ${index}`,
        grantTypes: ['client_credentials'],
        responseTypes: [],
        tokenEndpointAuthMethod: 'client_secret_basic',
        scope: 'openid',
      },
      context: { portal: 'api7' },
    };
    writeFileSync(join(directory, `${clientId}.json`), JSON.stringify(record), { mode: 0o600 });
  }
}

/** Milliseconds from spawn to the first 200 of /readyz. */
async function startToReady(dataDir: string): Promise<number> {
  const port = await freeLoopbackPort();
  const started = performance.now();
  const profiling = process.env.CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.CPU_PROF}`] : [];
  const child = spawn(process.execPath, [...profiling, ...startArguments(root)], {
    cwd: root,
    env: {
      ...process.env,
      DCR_DRIVER: 'local',
      DCR_LOCAL_DATA_DIR: dataDir,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      DCR_API_KEYS: 'startup-bench-key-0001',
      NODE_ENV: 'production',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`the bridge exited with code ${child.exitCode}`);
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`).then(
        (response) => response.status === 200,
        () => false,
      );
      if (ready) return performance.now() - started;
      if (performance.now() - started > 120_000) throw new Error('not ready within 120 s');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  } finally {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
}

const dataDir = mkdtempSync(join(tmpdir(), 'dcr-startup-'));
try {
  writeClients(dataDir, CLIENTS);
  const first = await startToReady(dataDir);
  const runs: number[] = [];
  for (let run = 0; run < RUNS; run++) runs.push(await startToReady(dataDir));
  const median = [...runs].sort((a, b) => a - b)[Math.floor(runs.length / 2)]!;
  console.log(
    JSON.stringify({
      clients: CLIENTS,
      firstStartMs: Math.round(first),
      runsMs: runs.map(Math.round),
      medianMs: Math.round(median),
      targetMs: 1000,
    }),
  );
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}
