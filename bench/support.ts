/**
 * What every benchmark needs. The bridge runs as `npm start` runs it (`node dist/src/main.js`, logs at `info`) in a
 * process of its own, each vendor emulator in another (bench/emulator-process.ts), and this process only generates
 * load — so each one's CPU is read apart from /proc:
 *
 *   - event-loop CPU: the on-CPU time of the process's main thread (`/proc/<pid>/task/<pid>/schedstat`, ns), i.e.
 *     JavaScript, parsing, TLS and syscalls on the loop, without GC helper threads or the libuv pool;
 *   - process CPU: the same summed over every thread of the process.
 *
 * Each is read after the warm-up and after the last operation of a phase, and divided by the operations completed.
 */
import { spawn, fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { ensureTestTls } from '../test/emulators/tls.js';
import { startArguments } from '../test/support/built.js';
import { freeLoopbackPort } from '../test/support/free-port.js';
import type { StartedEmulator } from './emulator-process.js';

export const root = fileURLToPath(new URL('..', import.meta.url));

/** Fails clearly unless this process trusts the emulators' test CA (bench/run.ts sets `NODE_EXTRA_CA_CERTS`). */
export function trustTestCa(): void {
  const tls = ensureTestTls();
  if (process.env.NODE_EXTRA_CA_CERTS && resolve(process.env.NODE_EXTRA_CA_CERTS) === resolve(tls.caFile)) return;
  throw new Error(`the vendor benchmarks need NODE_EXTRA_CA_CERTS=${tls.caFile}; run them with npm run bench`);
}

/** How long and how often: `npm run bench -- [--quick] [--runs=N] [--saturate=SECONDS]`. */
export interface BenchOptions {
  /** Runs of the operation phases, each against a freshly started bridge; figures are their medians. */
  runs: number;
  /** Operations per phase (bounded by `phaseBoundMs`). */
  count: number;
  concurrency: number;
  phaseBoundMs: number;
  /** Whole client lifecycles run unmeasured first against each freshly started bridge. */
  warmupCycles: number;
  /** Seconds per operation at the fixed 200 req/s. */
  fixedRateSeconds: number;
  /** Seconds of saturated load before the peak RSS is read. */
  saturateSeconds: number;
  /** A directory for the bridge's V8 CPU profiles (`--cpu-prof`), one per bridge started; off by default. */
  cpuProfileDir?: string;
}

export const defaultBenchOptions: BenchOptions = {
  runs: 3,
  count: 200,
  concurrency: 16,
  phaseBoundMs: 2_500,
  warmupCycles: 400,
  fixedRateSeconds: 3,
  saturateSeconds: 30,
};
export const quickBenchOptions: BenchOptions = {
  runs: 1,
  count: 150,
  concurrency: 16,
  phaseBoundMs: 2_000,
  warmupCycles: 50,
  fixedRateSeconds: 2,
  saturateSeconds: 5,
};

// ---- CPU and memory of another process, from /proc (Linux) ----------------------------------------------------------

/** A running total of CPU time, in µs; undefined where /proc cannot tell. */
export type CpuMeter = () => number | undefined;

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function threadCpuUs(pid: number, tid: number): number | undefined {
  const schedstat = read(`/proc/${pid}/task/${tid}/schedstat`);
  if (schedstat !== undefined) return Number(schedstat.split(' ')[0]) / 1000;
  // Without schedstat: utime + stime in clock ticks (USER_HZ, 100 on Linux), after the command name's parenthesis.
  const stat = read(`/proc/${pid}/task/${tid}/stat`);
  if (stat === undefined) return undefined;
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

/** The main thread's CPU: Node runs the event loop there. */
export function eventLoopCpu(pid: number): CpuMeter {
  return () => threadCpuUs(pid, pid);
}

/** Every thread's CPU (GC helpers, the libuv pool), summed. */
export function processCpu(pid: number): CpuMeter {
  return () => {
    let tids: string[];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      return undefined;
    }
    let total = 0;
    for (const tid of tids) total += threadCpuUs(pid, Number(tid)) ?? 0;
    return total;
  };
}

/** Peak resident set size (VmHWM) in MiB. */
export function peakRssMiB(pid: number): number | undefined {
  const match = /^VmHWM:\s+(\d+) kB/m.exec(read(`/proc/${pid}/status`) ?? '');
  return match ? Number(match[1]) / 1024 : undefined;
}

// ---- HTTP from the load generator ---------------------------------------------------------------------------------

export interface JsonAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: unknown;
}

export type JsonCall = (method: string, path: string, body?: unknown) => Promise<JsonAnswer>;

/**
 * JSON calls over keep-alive connections (node:http or https by the URL), as cheap for this process as a call can
 * be; rejects on any status but 2xx.
 */
export function jsonCaller(baseUrl: string, headers: Record<string, string>): JsonCall {
  const base = new URL(baseUrl);
  const secure = base.protocol === 'https:';
  const agent = secure
    ? new https.Agent({ keepAlive: true, maxSockets: 64 })
    : new http.Agent({ keepAlive: true, maxSockets: 64 });
  const prefix = base.pathname.replace(/\/$/, '');
  return (method, path, body) =>
    new Promise<JsonAnswer>((resolvePromise, reject) => {
      const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const request = (secure ? https : http).request(
        {
          host: base.hostname,
          port: base.port,
          method,
          path: `${prefix}${path}`,
          agent,
          headers: {
            accept: 'application/json',
            ...headers,
            ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}),
          },
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => {
            const status = response.statusCode ?? 0;
            if (status < 200 || status > 299) return reject(new Error(`${method} ${path} answered ${status}`));
            const text = Buffer.concat(chunks).toString('utf8');
            resolvePromise({
              status,
              headers: response.headers,
              body: text === '' ? undefined : (JSON.parse(text) as unknown),
            });
          });
          response.on('error', reject);
        },
      );
      request.on('error', reject);
      request.end(payload);
    });
}

// ---- Processes ------------------------------------------------------------------------------------------------------

/** The bridge is measured as `npm start` runs it, from dist/: rebuilt first when stale (test/support/built.ts says when). */
export { ensureBuilt } from '../test/support/built.js';

export interface BridgeProcess {
  pid: number;
  baseUrl: string;
  /** JSON calls with the portal key. */
  call: JsonCall;
  apiKey: string;
  /** From spawning the process to the first `200` of `/readyz` (the driver reached its IdP). */
  readyMs: number;
  stop(): Promise<void>;
}

/**
 * `node dist/src/main.js`, with the V8 flags of `npm start`, on a free loopback port with `env` (the driver's variables), logs at `info` to /dev/null,
 * rate limits out of the way; resolves once `/readyz` answers `200`.
 */
export async function startBridgeProcess(
  env: Record<string, string>,
  options: { cpuProfileDir?: string; root?: string } = {},
): Promise<BridgeProcess> {
  // Another checkout's build (bench/konnect.ts's BENCH_BASELINE), run as its own npm start runs it.
  const from = options.root ?? root;
  const apiKey = randomBytes(18).toString('base64url');
  const port = await freeLoopbackPort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const started = performance.now();
  const profiling =
    options.cpuProfileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfileDir}`];
  const child: ChildProcess = spawn(process.execPath, [...profiling, ...startArguments(from)], {
    cwd: from,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: {
      ...process.env,
      HOST: '127.0.0.1',
      PORT: String(port),
      DCR_API_KEYS: apiKey,
      DCR_RATE_LIMIT_PER_MINUTE: '1000000',
      LOG_LEVEL: 'info',
      ...env,
    },
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolvePromise) => child.once('exit', () => resolvePromise()));
  const probe = jsonCaller(baseUrl, {});
  const deadline = started + 30_000;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`the bridge exited with code ${child.exitCode}: ${stderr.slice(-2000)}`);
    if (performance.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the bridge was not ready within 30 s: ${stderr.slice(-2000)}`);
    }
    if (
      await probe('GET', '/readyz').then(
        () => true,
        () => false,
      )
    )
      break;
    await new Promise((resolvePromise) => setTimeout(resolvePromise, 10));
  }
  const readyMs = performance.now() - started;
  return {
    pid: child.pid!,
    baseUrl,
    apiKey,
    readyMs,
    call: jsonCaller(baseUrl, { 'x-api-key': apiKey }),
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

export interface EmulatorProcess extends StartedEmulator {
  pid: number;
  tokenRequests(): Promise<number>;
  stop(): Promise<void>;
}

/** A vendor emulator (bench/emulator-process.ts) in a process of its own, trusted through the test CA. */
export async function startEmulatorProcess(name: string): Promise<EmulatorProcess> {
  trustTestCa();
  const child = fork(fileURLToPath(new URL('./emulator-process.ts', import.meta.url)), [name], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const pending = new Map<number, (value: number) => void>();
  let nextId = 0;
  const started = await new Promise<StartedEmulator>((resolvePromise, reject) => {
    child.once('exit', (code) => reject(new Error(`the ${name} emulator exited with code ${code}`)));
    child.on('message', (message: { type: string; id?: number; value: unknown }) => {
      if (message.type === 'started') resolvePromise(message.value as StartedEmulator);
      else pending.get(message.id!)?.(message.value as number);
    });
  });
  child.removeAllListeners('exit');
  const exited = new Promise<void>((resolvePromise) => child.once('exit', () => resolvePromise()));
  return {
    ...started,
    pid: started.pid ?? child.pid!,
    tokenRequests: () =>
      new Promise<number>((resolvePromise) => {
        const id = nextId++;
        pending.set(id, resolvePromise);
        child.send({ id, type: 'tokenRequests' });
      }),
    async stop() {
      child.disconnect();
      await exited;
    },
  };
}

// ---- Measuring ------------------------------------------------------------------------------------------------------

export interface Measurement {
  label: string;
  count: number;
  failures: number;
  durationMs: number;
  /** Completed operations per second. */
  throughput: number;
  p50Ms: number;
  p99Ms: number;
  /** Per meter given to `measure`: CPU µs per completed operation. */
  cpuUsPerOp: Record<string, number>;
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
 * Runs `operation` with `concurrency` workers until `count` operations or `durationMs` are reached, and reads each
 * CPU meter after the warm-up and at the end. `operation` receives its sequence number (warm-ups get -1, -2...), so
 * an operation can pick its own input (e.g. the n-th registered client).
 */
export async function measure(
  label: string,
  operation: (index: number) => Promise<unknown>,
  options: MeasureOptions,
  meters: Record<string, CpuMeter> = {},
): Promise<Measurement> {
  if (options.count === undefined && options.durationMs === undefined)
    throw new Error('measure needs a count or a durationMs');
  const limit = options.count ?? Number.POSITIVE_INFINITY;
  const warmup = options.warmup ?? options.concurrency;
  for (let index = 0; index < warmup; index++) await operation(-1 - index).catch(() => undefined);

  const latencies: number[] = [];
  let failures = 0;
  let next = 0;
  const cpuBefore = Object.fromEntries(Object.entries(meters).map(([name, meter]) => [name, meter()]));
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
  const cpuUsPerOp: Record<string, number> = {};
  for (const [name, meter] of Object.entries(meters)) {
    const before = cpuBefore[name];
    const after = meter();
    cpuUsPerOp[name] =
      before === undefined || after === undefined || latencies.length === 0
        ? Number.NaN
        : (after - before) / latencies.length;
  }
  latencies.sort((a, b) => a - b);
  return {
    label,
    count: latencies.length,
    failures,
    durationMs,
    throughput: (latencies.length / durationMs) * 1000,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    cpuUsPerOp,
  };
}

/**
 * Open loop: starts one `operation` every 1/`ratePerSecond` s for `seconds`, whether or not the earlier ones have
 * answered, and gives the latency percentiles (from each request's actual start).
 */
export async function atFixedRate(
  operation: (index: number) => Promise<unknown>,
  ratePerSecond: number,
  seconds: number,
): Promise<{ count: number; failures: number; p50Ms: number; p99Ms: number; keptUp: boolean }> {
  const total = Math.round(ratePerSecond * seconds);
  const intervalMs = 1000 / ratePerSecond;
  const latencies: number[] = [];
  let failures = 0;
  const inFlight: Promise<void>[] = [];
  const start = performance.now();
  for (let index = 0; index < total; index++) {
    const due = start + index * intervalMs;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((resolvePromise) => setTimeout(resolvePromise, wait));
    const began = performance.now();
    inFlight.push(
      operation(index).then(
        () => void latencies.push(performance.now() - began),
        () => void failures++,
      ),
    );
  }
  await Promise.all(inFlight);
  latencies.sort((a, b) => a - b);
  // Answered within a tenth over the schedule: otherwise requests queued and the percentiles are mostly the queue.
  const keptUp = performance.now() - start <= seconds * 1100;
  return {
    count: latencies.length,
    failures,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    keptUp,
  };
}

function percentile(sorted: number[], fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1)]!;
}

export function median(values: number[]): number {
  const sorted = values.filter((value) => !Number.isNaN(value)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}
