/**
 * What every vendor benchmark needs: start the bridge with a driver on 127.0.0.1, run register, get, rotate and
 * delete through it and straight to the IdP at a given concurrency, and print the two side by side.
 *
 *   const bridge = await startBridge(driver);
 *   const { rows, bridgeOperations } = await compareOperations(bridge, directIdp, { concurrency: 16, count: 200 });
 *   printComparison('keycloak', rows, [tokenEconomy(tokenRequests, bridgeOperations)]);
 */
import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { ensureTestTls } from '../test/emulators/tls.js';
import type { DcrDriver } from '../src/driver/contract.js';
import { createApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';

/** Fails clearly unless this process trusts the emulators' test CA (bench/run.ts sets `NODE_EXTRA_CA_CERTS`). */
export function trustTestCa(): void {
  const tls = ensureTestTls();
  if (process.env.NODE_EXTRA_CA_CERTS && resolve(process.env.NODE_EXTRA_CA_CERTS) === resolve(tls.caFile)) return;
  throw new Error(`the vendor benchmarks need NODE_EXTRA_CA_CERTS=${tls.caFile}; run them with npm run bench`);
}

export interface EmulatorInWorker {
  url: string;
  driverEnv: Record<string, string>;
  /** Requests the emulator received on one route (`'POST /realms/:realm/...'`), e.g. admin token requests. */
  requestCount(routeKey: string): Promise<number>;
  stop(): Promise<void>;
}

/**
 * Starts a vendor emulator (`test/emulators/<name>.ts`, its `<name>Emulator` definition) on a thread of its own, so
 * the IdP does not share an event loop with the bridge being measured, as a real IdP would not.
 */
export async function startEmulatorInWorker(name: string): Promise<EmulatorInWorker> {
  // Loader hooks are per thread: the worker registers tsx itself before it loads this (TypeScript) module.
  const bootstrap = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(import.meta.url)}); })`;
  const worker = new Worker(bootstrap, { eval: true, workerData: { emulator: name } });
  const pending = new Map<number, (value: unknown) => void>();
  let nextId = 0;
  const ask = (message: Record<string, unknown>) =>
    new Promise<unknown>((resolve) => {
      const id = nextId++;
      pending.set(id, resolve);
      worker.postMessage({ ...message, id });
    });
  const started = await new Promise<{ url: string; driverEnv: Record<string, string> }>((resolve, reject) => {
    worker.once('error', reject);
    worker.once('message', resolve);
  });
  worker.on('message', (message: { id: number; value: unknown }) => pending.get(message.id)?.(message.value));
  return {
    ...started,
    requestCount: async (routeKey) => (await ask({ type: 'count', routeKey })) as number,
    async stop() {
      await ask({ type: 'stop' });
      await worker.terminate();
    },
  };
}

if (!isMainThread && (workerData as { emulator?: string } | undefined)?.emulator) {
  const name = (workerData as { emulator: string }).emulator;
  const module = (await import(`../test/emulators/${name}.js`)) as Record<string, { start(options: { port?: number }): Promise<{ emulator: { url: string; requestsTo(route: string): unknown[]; stop(): Promise<void> }; driverEnv: Record<string, string> }> }>;
  const { emulator, driverEnv } = await module[`${name}Emulator`]!.start({ port: 0 });
  parentPort!.postMessage({ url: emulator.url, driverEnv });
  parentPort!.on('message', (message: { id: number; type: 'count' | 'stop'; routeKey?: string }) => {
    if (message.type === 'count') parentPort!.postMessage({ id: message.id, value: emulator.requestsTo(message.routeKey!).length });
    else void emulator.stop().then(() => parentPort!.postMessage({ id: message.id, value: true }));
  });
}

export interface Measurement {
  label: string;
  count: number;
  failures: number;
  durationMs: number;
  /** Completed operations per second. */
  throughput: number;
  p50Ms: number;
  p99Ms: number;
}

export interface MeasureOptions {
  concurrency: number;
  /** Stop after this many operations... */
  count?: number;
  /** ...or once this long has passed (whichever comes first); at least one of the two is required. */
  durationMs?: number;
  /** Operations run first and not measured (connection set-up, JIT). Default: `concurrency`. */
  warmup?: number;
}

/**
 * Runs `operation` with `concurrency` workers until `count` operations or `durationMs` are reached. `operation`
 * receives its sequence number, so an operation can pick its own input (e.g. the n-th registered client).
 */
export async function measure(label: string, operation: (index: number) => Promise<unknown>, options: MeasureOptions): Promise<Measurement> {
  if (options.count === undefined && options.durationMs === undefined) throw new Error('measure needs a count or a durationMs');
  const limit = options.count ?? Number.POSITIVE_INFINITY;
  const warmup = options.warmup ?? options.concurrency;
  for (let index = 0; index < warmup; index++) await operation(-1 - index).catch(() => undefined);

  const latencies: number[] = [];
  let failures = 0;
  let next = 0;
  const start = performance.now();
  const stopAt = options.durationMs === undefined ? Number.POSITIVE_INFINITY : start + options.durationMs;
  const worker = async (): Promise<void> => {
    while (next < limit && performance.now() < stopAt) {
      const index = next++;
      const began = performance.now();
      try {
        await operation(index);
        latencies.push(performance.now() - began);
      } catch {
        failures++;
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  const durationMs = performance.now() - start;
  latencies.sort((a, b) => a - b);
  return {
    label,
    count: latencies.length,
    failures,
    durationMs,
    throughput: (latencies.length / durationMs) * 1000,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
  };
}

function percentile(sorted: number[], fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1)]!;
}

export interface RunningBridge {
  baseUrl: string;
  apiKey: string;
  /** One JSON call to the bridge with the API key; rejects on a status other than `expectStatus` (default 2xx). */
  call(method: string, path: string, body?: unknown, expectStatus?: number): Promise<unknown>;
  close(): Promise<void>;
}

/** The real app (src/app.ts) with `driver`, listening on 127.0.0.1 over plain HTTP, with limits out of the way. */
export async function startBridge(driver: DcrDriver): Promise<RunningBridge> {
  const apiKey = randomBytes(18).toString('base64url');
  const config = loadConfig({
    DCR_DRIVER: driver.name,
    DCR_API_KEYS: apiKey,
    LOG_LEVEL: 'silent',
    HOST: '127.0.0.1',
    PORT: '0',
    DCR_RATE_LIMIT_PER_MINUTE: '1000000',
  });
  const app = createApp(config, driver);
  const server: Server = createServer(app);
  server.keepAliveTimeout = 10_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    baseUrl,
    apiKey,
    async call(method, path, body, expectStatus) {
      const response = await fetch(`${baseUrl}${path}`, {
        method,
        headers: { 'x-api-key': apiKey, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await response.text();
      const ok = expectStatus === undefined ? response.ok : response.status === expectStatus;
      if (!ok) throw new Error(`${method} ${path} answered ${response.status}`);
      return text === '' ? undefined : (JSON.parse(text) as unknown);
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface ComparisonRow {
  operation: string;
  bridge: Measurement;
  direct: Measurement;
}

/** Prints one table: per operation, the bridge and the direct call, and what the bridge adds at p50. */
export function printComparison(title: string, rows: ComparisonRow[], notes: string[] = []): void {
  const header = ['operation', 'path', 'ops', 'fail', 'ops/s', 'p50 ms', 'p99 ms', 'added p50 ms'];
  const lines: string[][] = [];
  for (const row of rows) {
    for (const [path, m] of [
      ['bridge', row.bridge],
      ['direct', row.direct],
    ] as const) {
      lines.push([
        row.operation,
        path,
        String(m.count),
        String(m.failures),
        m.throughput.toFixed(0),
        m.p50Ms.toFixed(2),
        m.p99Ms.toFixed(2),
        path === 'bridge' ? (row.bridge.p50Ms - row.direct.p50Ms).toFixed(2) : '',
      ]);
    }
  }
  const widths = header.map((name, column) => Math.max(name.length, ...lines.map((line) => line[column]!.length)));
  const format = (cells: string[]) => cells.map((cell, column) => (column < 2 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  ');
  console.log(`\n${title}`);
  console.log(format(header));
  console.log(widths.map((width) => '-'.repeat(width)).join('  '));
  for (const line of lines) console.log(format(line));
  for (const note of notes) console.log(note);
}

/** One JSON call straight to an IdP (the side without the bridge): rejects on any status but 2xx. */
export function jsonCaller(baseUrl: string, headers: Record<string, string>) {
  return async (method: string, path: string, body?: unknown): Promise<unknown> => {
    const response = await fetch(`${baseUrl}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}`);
    return text === '' ? undefined : (JSON.parse(text) as unknown);
  };
}

/** The admin calls a driver makes for each operation, written out against the IdP; ids are RFC 7591 client ids. */
export interface DirectIdp {
  register(): Promise<string>;
  get(clientId: string): Promise<unknown>;
  rotate(clientId: string): Promise<unknown>;
  remove(clientId: string): Promise<unknown>;
}

/** The machine client every benchmark registers. */
const benchClient = { client_name: 'bench client', grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_basic' };

/**
 * Register, get, rotate and delete at one concurrency, through the bridge and straight to the IdP, side by side.
 * Rotations and deletes touch each registered client at most once, as the same client rotated twice at once races
 * at the IdP too. `bridgeOperations` counts the bridge calls made, for token requests per 1,000 operations.
 */
export async function compareOperations(bridge: RunningBridge, direct: DirectIdp, options: MeasureOptions): Promise<{ rows: ComparisonRow[]; bridgeOperations: number }> {
  let bridgeOperations = 0;
  const bridgeCall = (method: string, path: string, body?: unknown) => {
    bridgeOperations++;
    return bridge.call(method, path, body);
  };
  const viaBridge: string[] = [];
  const straight: string[] = [];
  const pick = (pool: string[], index: number) => pool[((index % pool.length) + pool.length) % pool.length]!;
  const rows: ComparisonRow[] = [];
  rows.push({
    operation: 'register',
    bridge: await measure('register', async () => viaBridge.push(((await bridgeCall('POST', '/clients', benchClient)) as { client_id: string }).client_id), options),
    direct: await measure('register', async () => straight.push(await direct.register()), options),
  });
  rows.push({
    operation: 'get',
    bridge: await measure('get', (index) => bridgeCall('GET', `/clients/${pick(viaBridge, index)}`), options),
    direct: await measure('get', (index) => direct.get(pick(straight, index)), options),
  });
  const onceEach: MeasureOptions = {
    ...options,
    count: Math.min(options.count ?? Number.POSITIVE_INFINITY, viaBridge.length, straight.length) - options.concurrency,
    warmup: options.concurrency,
  };
  rows.push({
    operation: 'rotate',
    bridge: await measure('rotate', (index) => bridgeCall('POST', `/clients/${pick(viaBridge, index)}/rotate-secret`), onceEach),
    direct: await measure('rotate', (index) => direct.rotate(pick(straight, index)), onceEach),
  });
  rows.push({
    operation: 'delete',
    bridge: await measure('delete', (index) => bridgeCall('DELETE', `/clients/${pick(viaBridge, index)}`), onceEach),
    direct: await measure('delete', (index) => direct.remove(pick(straight, index)), onceEach),
  });
  return { rows, bridgeOperations };
}

/** The note line every vendor benchmark prints: admin token requests per 1,000 bridge operations. */
export function tokenEconomy(tokenRequests: number, bridgeOperations: number): string {
  return `admin token requests: ${tokenRequests} for ${bridgeOperations} bridge operations = ${((tokenRequests / bridgeOperations) * 1000).toFixed(2)} per 1,000`;
}
