/**
 * The bridge with the `local` driver under load: `npm start` in its own process on 127.0.0.1 (a fresh data
 * directory, logs at `info` as in production), and autocannon at 50 connections for ≈5 s per operation against
 * register, then rotate and delete of the clients registered. Prints throughput, p50/p99 latency and the bridge
 * process's peak RSS.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

const CONNECTIONS = 50;
const SECONDS_PER_OPERATION = 5;
const root = fileURLToPath(new URL('..', import.meta.url));

interface OperationResult {
  operation: string;
  requests: number;
  non2xx: number;
  errors: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

async function waitUntilHealthy(baseUrl: string, child: ChildProcess): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    if (child.exitCode !== null) throw new Error(`the bridge exited with code ${child.exitCode}`);
    const healthy = await fetch(`${baseUrl}/healthz`).then((response) => response.ok, () => false);
    if (healthy) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('the bridge did not become healthy within 20 s');
}

/** Peak resident set size of a process in MiB (Linux), or undefined where /proc is not available. */
async function peakRssMiB(pid: number): Promise<number | undefined> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => undefined);
  const match = status === undefined ? null : /^VmHWM:\s+(\d+) kB/m.exec(status);
  return match ? Number(match[1]) / 1024 : undefined;
}

async function load(operation: string, options: autocannon.Options): Promise<OperationResult> {
  const result = await autocannon({ connections: CONNECTIONS, duration: SECONDS_PER_OPERATION, ...options });
  return {
    operation,
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
    requestsPerSecond: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
  };
}

function printResults(results: OperationResult[], rssMiB: number | undefined): void {
  const header = ['operation', 'requests', 'non-2xx', 'errors', 'req/s', 'p50 ms', 'p99 ms'];
  const rows = results.map((r) => [r.operation, String(r.requests), String(r.non2xx), String(r.errors), r.requestsPerSecond.toFixed(0), String(r.p50Ms), String(r.p99Ms)]);
  const widths = header.map((name, column) => Math.max(name.length, ...rows.map((row) => row[column]!.length)));
  const format = (cells: string[]) => cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  ');
  console.log(`\nlocal driver — ${CONNECTIONS} connections, ${SECONDS_PER_OPERATION} s per operation, bridge in its own process`);
  console.log(format(header));
  console.log(widths.map((width) => '-'.repeat(width)).join('  '));
  for (const row of rows) console.log(format(row));
  console.log(`bridge peak RSS: ${rssMiB === undefined ? 'not measurable on this platform' : `${rssMiB.toFixed(0)} MiB`}`);
}

export async function run(): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'dcr-bench-local-'));
  const apiKey = randomBytes(18).toString('base64url');
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const bridge = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: root,
    stdio: 'ignore',
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      DCR_DRIVER: 'local',
      DCR_API_KEYS: apiKey,
      DCR_LOCAL_DATA_DIR: dataDir,
      DCR_RATE_LIMIT_PER_MINUTE: '1000000',
      LOG_LEVEL: 'info',
    },
  });
  try {
    await waitUntilHealthy(baseUrl, bridge);
    const headers = { 'content-type': 'application/json', 'x-api-key': apiKey };
    const clientIds: string[] = [];
    const registerBody = JSON.stringify({ client_name: 'bench client', grant_types: ['client_credentials'], scope: 'orders:read' });

    const results: OperationResult[] = [];
    results.push(
      await load('register  POST /clients', {
        url: baseUrl,
        requests: [
          {
            method: 'POST',
            path: '/clients',
            headers,
            body: registerBody,
            onResponse: (status, body) => {
              if (status === 201) clientIds.push((JSON.parse(body) as { client_id: string }).client_id);
            },
          },
        ],
      }),
    );

    let rotations = 0;
    results.push(
      await load('rotate    POST /clients/{id}/rotate-secret', {
        url: baseUrl,
        requests: [
          {
            method: 'POST',
            headers,
            body: '{}',
            setupRequest: (request) => ({ ...request, path: `/clients/${clientIds[rotations++ % clientIds.length]}/rotate-secret` }),
          },
        ],
      }),
    );

    // Each registered client is deleted once; if the run outlasts them, the deletes repeat (idempotent 204).
    let deletions = 0;
    results.push(
      await load('delete    DELETE /clients/{id}', {
        url: baseUrl,
        requests: [
          {
            method: 'DELETE',
            headers: { 'x-api-key': apiKey },
            setupRequest: (request) => ({ ...request, path: `/clients/${clientIds[deletions++ % clientIds.length]}` }),
          },
        ],
      }),
    );
    printResults(results, await peakRssMiB(bridge.pid!));
    console.log(`clients registered: ${clientIds.length}; deleted at least once: ${Math.min(deletions, clientIds.length)}`);
  } finally {
    bridge.kill('SIGTERM');
    await new Promise((resolve) => (bridge.exitCode === null ? bridge.once('exit', resolve) : resolve(undefined)));
    await rm(dataDir, { recursive: true, force: true });
  }
}
