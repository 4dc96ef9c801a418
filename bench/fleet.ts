/**
 * Fleet benchmark: one bridge replica against two behind a loopback round-robin, both sharing their rate limits
 * through a real redis-server, with the Okta driver against the Okta emulator, under saturated register load; and
 * what the Redis store adds to one request, measured one request at a time against a replica without Redis.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { startBridgeProcess, type BridgeProcess } from '../test/fleet/bridge-process.js';
import { startRedisServer } from '../test/fleet/redis-server.js';
import { startOktaEmulator } from '../test/emulators/okta.js';
import { performance } from 'node:perf_hooks';
import type { Options } from 'express-rate-limit';
import { measure, trustTestCa, type Measurement } from './support.js';

const CONCURRENCY = 32;
const LOAD_MS = 6_000;
const SEQUENTIAL_COUNT = 1_500;
const apiKey = 'fleet-bench-portal-key-0001';

interface RoundRobin {
  url: string;
  close(): Promise<void>;
}

/** A loopback HTTP proxy handing each request to the next upstream in turn (keep-alive to each). */
async function roundRobin(upstreams: string[]): Promise<RoundRobin> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const targets = upstreams.map((upstream) => new URL(upstream));
  let next = 0;
  const server = http.createServer((req, res) => {
    const target = targets[next++ % targets.length]!;
    const forwarded = http.request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers, agent },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forwarded.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(forwarded);
  });
  server.keepAliveTimeout = 10_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}

/** CPU seconds a process has used so far (user + system), from /proc. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

const registerBody = JSON.stringify({ client_name: 'fleet bench client', grant_types: ['client_credentials'] });

async function post(baseUrl: string, path: string, body: string, expect: number): Promise<void> {
  const response = await fetch(`${baseUrl}${path}`, {
    method: 'POST',
    headers: { 'X-API-Key': apiKey, 'Content-Type': 'application/json' },
    body,
  });
  await response.arrayBuffer();
  if (response.status !== expect) throw new Error(`POST ${path} answered ${response.status}`);
}

/** A key-protected request the bridge answers itself (no IdP call): the rate limit is most of what it does. */
async function unmatched(baseUrl: string): Promise<void> {
  const response = await fetch(`${baseUrl}/clients`, { headers: { 'X-API-Key': apiKey } });
  await response.arrayBuffer();
  if (response.status !== 404) throw new Error(`GET /clients answered ${response.status}`);
}

interface Percentiles {
  p50: number;
  p99: number;
}

function percentiles(samples: number[]): Percentiles {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (fraction: number) => sorted[Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1)]!;
  return { p50: at(0.5), p99: at(0.99) };
}

/** The store calls themselves, as the bridge makes them (rate-limit-redis over the redis client; the memory store). */
async function storeIncrements(redisUrl: string): Promise<{ redis: Percentiles; memory: Percentiles }> {
  const [{ createClient }, { RedisStore }, { MemoryStore }] = await Promise.all([
    import('redis'),
    import('rate-limit-redis'),
    import('express-rate-limit'),
  ]);
  const client = createClient({ url: redisUrl });
  await client.connect();
  const redisStore = new RedisStore({
    sendCommand: (...args: string[]) => client.sendCommand(args) as Promise<never>,
    prefix: 'bench:',
  });
  const memoryStore = new MemoryStore();
  const options = { windowMs: 60_000 } as unknown as Options;
  await redisStore.init(options);
  memoryStore.init(options);
  const time = async (store: { increment(key: string): Promise<unknown> | unknown }): Promise<Percentiles> => {
    const samples: number[] = [];
    for (let n = 0; n < SEQUENTIAL_COUNT * 2; n++) {
      const began = performance.now();
      await store.increment(`key-${n % 4}`);
      samples.push(performance.now() - began);
    }
    return percentiles(samples.slice(SEQUENTIAL_COUNT / 2));
  };
  try {
    return { redis: await time(redisStore), memory: await time(memoryStore) };
  } finally {
    memoryStore.shutdown();
    await client.close();
  }
}

/** One request to each replica in turn, so a busy moment of the machine falls on both alike. */
async function interleaved(
  memoryUrl: string,
  redisUrl: string,
): Promise<{ memory: Percentiles; redis: Percentiles; difference: number }> {
  const memory: number[] = [];
  const redis: number[] = [];
  const differences: number[] = [];
  for (let n = 0; n < SEQUENTIAL_COUNT; n++) {
    let began = performance.now();
    await unmatched(memoryUrl);
    const withoutRedis = performance.now() - began;
    began = performance.now();
    await unmatched(redisUrl);
    const withRedis = performance.now() - began;
    memory.push(withoutRedis);
    redis.push(withRedis);
    differences.push(withRedis - withoutRedis);
  }
  return { memory: percentiles(memory), redis: percentiles(redis), difference: percentiles(differences).p50 };
}

interface LoadResult {
  label: string;
  measurement: Measurement;
  cpu: Record<string, number>;
}

async function saturate(label: string, bridges: BridgeProcess[]): Promise<LoadResult> {
  const proxy = await roundRobin(bridges.map((bridge) => bridge.baseUrl));
  try {
    const before = bridges.map((bridge) => cpuSeconds(bridge.pid));
    const ownBefore = process.cpuUsage();
    const measurement = await measure(label, () => post(proxy.url, '/clients', registerBody, 201), {
      concurrency: CONCURRENCY,
      durationMs: LOAD_MS,
      warmup: CONCURRENCY * 2,
    });
    const own = process.cpuUsage(ownBefore);
    const cpu: Record<string, number> = {};
    for (const [index, bridge] of bridges.entries())
      cpu[`bridge ${index + 1}`] = cpuSeconds(bridge.pid) - before[index]!;
    cpu['load, proxy and emulator'] = (own.user + own.system) / 1e6;
    return { label, measurement, cpu };
  } finally {
    await proxy.close();
  }
}

export async function run(): Promise<void> {
  trustTestCa();
  const redis = await startRedisServer();
  const okta = await startOktaEmulator({ tokenLifetimeSeconds: 3600, rateLimitPerMinute: 10_000_000 });
  const common = {
    DCR_DRIVER: 'okta',
    OKTA_ORG_URL: okta.emulator.url,
    OKTA_API_TOKEN: okta.apiToken,
    DCR_API_KEYS: `bench:${apiKey}`,
    DCR_RATE_LIMIT_PER_MINUTE: '1000000',
    LOG_LEVEL: 'info',
    DCR_AUDIT_LOG: 'off',
  };
  const withRedis = { ...common, DCR_REDIS_URL: redis.url };
  const bridges: BridgeProcess[] = [];
  try {
    const [first, second, inMemory] = [
      await startBridgeProcess(withRedis),
      await startBridgeProcess(withRedis),
      await startBridgeProcess(common),
    ];
    bridges.push(first!, second!, inMemory!);
    for (const bridge of bridges) {
      for (let warm = 0; warm < 200; warm++) await unmatched(bridge.baseUrl);
    }

    const storeCost = await storeIncrements(redis.url);
    const endToEnd = await interleaved(inMemory!.baseUrl, first!.baseUrl);
    const one = await saturate('1 replica', [first!]);
    const two = await saturate('2 replicas', [first!, second!]);

    console.log(
      '\nfleet (Okta driver against the Okta emulator over TLS, shared limits in redis-server, all on 127.0.0.1)',
    );
    console.log(
      `method: each replica is \`npm start\` in its own process (LOG_LEVEL=info, audit off); a round-robin HTTP proxy in the\n` +
        `benchmark process hands requests to 1 or 2 replicas, so both setups pay the same extra hop; ${CONCURRENCY} concurrent\n` +
        `POST /clients for ${LOAD_MS / 1000} s after a warm-up. The emulator and the proxy share the benchmark's process. CPU seconds\n` +
        `per process over the run come from /proc. The Redis cost is timed twice, one call at a time: the rate-limit store's\n` +
        `increment itself (Redis vs memory, ${SEQUENTIAL_COUNT * 2} calls each), and ${SEQUENTIAL_COUNT} alternating requests to a key-protected path the\n` +
        `bridge answers itself (404, no such endpoint) on a replica with the Redis store and one without.`,
    );
    const header = ['setup', 'ops', 'fail', 'ops/s', 'p50 ms', 'p99 ms', 'cpu s by process'];
    const rows = [one, two].map(({ label, measurement: m, cpu }) => [
      label,
      String(m.count),
      String(m.failures),
      m.throughput.toFixed(0),
      m.p50Ms.toFixed(1),
      m.p99Ms.toFixed(1),
      Object.entries(cpu)
        .map(([name, seconds]) => `${name} ${seconds.toFixed(1)}`)
        .join(', '),
    ]);
    const widths = header.map((name, column) => Math.max(name.length, ...rows.map((row) => row[column]!.length)));
    const format = (cells: string[]) =>
      cells
        .map((cell, column) =>
          column === 0 || column === 6 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!),
        )
        .join('  ');
    console.log(format(header));
    console.log(widths.map((width) => '-'.repeat(width)).join('  '));
    for (const row of rows) console.log(format(row));
    console.log(
      `throughput ratio, 2 replicas / 1: ${(two.measurement.throughput / one.measurement.throughput).toFixed(2)} (2 cores shared by both replicas, the emulator, the proxy and the load)`,
    );
    console.log(
      `Redis store per request (target ≤ 0.5 ms at p50): one rate-limit increment takes ${storeCost.redis.p50.toFixed(3)} ms at p50 ` +
        `(p99 ${storeCost.redis.p99.toFixed(3)}) in Redis against ${storeCost.memory.p50.toFixed(3)} ms (p99 ${storeCost.memory.p99.toFixed(3)}) in memory: ` +
        `${(storeCost.redis.p50 - storeCost.memory.p50).toFixed(3)} ms added`,
    );
    console.log(
      `  end to end, alternating requests: ${endToEnd.redis.p50.toFixed(2)} ms with Redis, ${endToEnd.memory.p50.toFixed(2)} ms without ` +
        `(p50 of the paired differences ${endToEnd.difference.toFixed(2)} ms)`,
    );
  } catch (error) {
    for (const bridge of bridges) console.error(`bridge ${bridge.pid} stderr: ${bridge.stderr().slice(-2000)}`);
    throw error;
  } finally {
    for (const bridge of bridges) await bridge.stop();
    await okta.stop();
    await redis.stop();
  }
}
