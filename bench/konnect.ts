/**
 * `npm run bench -- konnect`: what one Konnect register through Okta costs (issue 28), side by side in one run. Four
 * targets take turns round by round against one Okta emulator (own process), so the machine's noise falls on all
 * alike: the bridge's Konnect `POST /` and its API7 `POST /clients` (DCR_DRIVER=okta, service app, as `npm start`
 * runs it), the lean handler (bench/lean-handler.ts: Fastify and an undici pool, the floor of what a handler costs
 * here) and the direct call (this process straight to the emulator: the IdP's own cost). Each round: `COUNT`
 * registers, 16 concurrent, after the same number unmeasured; the figures are the medians of `ROUNDS` rounds of the
 * target's main-thread CPU per register ("loop"), all its threads ("proc") and the emulator's main thread ("emu").
 * `BENCH_BASELINE=<another checkout, built>` adds that checkout's bridge as a fifth target (an A/B in one run).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { startFlags } from '../scripts/start-arguments.js';
import type { TargetLine } from './suite.js';
import {
  eventLoopCpu,
  jsonCaller,
  measure,
  median,
  processCpu,
  root,
  startBridgeProcess,
  startEmulatorProcess,
  type BenchOptions,
  type CpuMeter,
  type JsonCall,
} from './support.js';

const CONCURRENCY = 16;
/** Konnect register via Okta, event-loop µs per request (issue 28); Kong's reference handler: 701 µs here. */
const KONNECT_REGISTER_TARGET_US = 1_000;

/** What Konnect sends on "create application" for a machine client. */
const konnectClient = {
  client_name: 'bench client',
  grant_types: ['client_credentials'],
  token_endpoint_auth_method: 'client_secret_basic',
  portal_id: 'bench-portal',
  organization_id: 'bench-org',
  developer_id: 'bench-developer',
};
const api7Client = {
  client_name: 'bench client',
  grant_types: ['client_credentials'],
  token_endpoint_auth_method: 'client_secret_basic',
};

interface Target {
  name: string;
  /** The process whose CPU is the figure; none for the direct call (its figure is the emulator's). */
  pid?: number;
  register(): Promise<unknown>;
  stop?(): Promise<void>;
}

async function leanHandler(orgUrl: string, apiToken: string): Promise<Target> {
  const apiKey = randomBytes(18).toString('base64url');
  const child = spawn(process.execPath, [...startFlags(), '--import', 'tsx', 'bench/lean-handler.ts'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, OKTA_ORG_URL: orgUrl, OKTA_API_TOKEN: apiToken, LEAN_API_KEY: apiKey },
  });
  const port = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the lean handler exited with code ${code}`)));
    child.stdout!.once('data', (chunk: Buffer) => resolve(chunk.toString().trim()));
  });
  const call: JsonCall = jsonCaller(`http://127.0.0.1:${port}`, { 'x-api-key': apiKey });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    name: 'lean handler (Fastify + undici) POST /',
    pid: child.pid!,
    register: () => call('POST', '/', konnectClient),
    stop: async () => {
      child.kill();
      await exited;
    },
  };
}

export async function run(options: BenchOptions): Promise<TargetLine[]> {
  const rounds = Math.max(3, options.runs + 2);
  const count = Math.max(150, options.count);
  const emulator = await startEmulatorProcess('okta');
  const stops: Array<() => Promise<void>> = [() => emulator.stop()];
  const figures = new Map<string, { loop: number[]; proc: number[]; emu: number[] }>();
  let readyMs = Number.NaN;
  try {
    const bridge = await startBridgeProcess(
      emulator.bridgeEnv,
      options.cpuProfileDir === undefined ? {} : { cpuProfileDir: options.cpuProfileDir },
    );
    stops.unshift(() => bridge.stop());
    readyMs = bridge.readyMs;
    const lean = await leanHandler(emulator.url, emulator.direct.apiToken!);
    stops.unshift(lean.stop!);
    // BENCH_BASELINE=<another checkout, built>: its bridge takes its turn too (an A/B in one run).
    const baselineRoot = process.env.BENCH_BASELINE;
    const baseline = baselineRoot ? await startBridgeProcess(emulator.bridgeEnv, { root: baselineRoot }) : undefined;
    if (baseline) stops.unshift(() => baseline.stop());
    const direct = jsonCaller(emulator.url, { authorization: `SSWS ${emulator.direct.apiToken!}` });
    const targets: Target[] = [
      { name: 'bridge Konnect POST /', pid: bridge.pid, register: () => bridge.call('POST', '/', konnectClient) },
      {
        name: 'bridge API7 POST /clients',
        pid: bridge.pid,
        register: () => bridge.call('POST', '/clients', api7Client),
      },
      ...(baseline
        ? [
            {
              name: 'baseline Konnect POST /',
              pid: baseline.pid,
              register: () => baseline.call('POST', '/', konnectClient),
            },
          ]
        : []),
      lean,
      {
        name: 'direct (the emulator only)',
        register: () =>
          direct('POST', '/api/v1/apps?activate=true', {
            name: 'oidc_client',
            signOnMode: 'OPENID_CONNECT',
            label: 'bench client',
            credentials: { oauthClient: { token_endpoint_auth_method: 'client_secret_basic' } },
            settings: {
              oauthClient: {
                application_type: 'service',
                grant_types: ['client_credentials'],
                response_types: ['token'],
                redirect_uris: [],
              },
            },
          }),
      },
    ];
    for (const target of targets) figures.set(target.name, { loop: [], proc: [], emu: [] });
    const emu = eventLoopCpu(emulator.pid);
    // Round -1 warms every target's code (the JIT) unmeasured.
    for (let round = -1; round < rounds; round++) {
      for (const target of targets) {
        const meters: Record<string, CpuMeter> = { emu };
        if (target.pid !== undefined) {
          meters.loop = eventLoopCpu(target.pid);
          meters.proc = processCpu(target.pid);
        }
        const measured = await measure(
          target.name,
          () => target.register(),
          { concurrency: CONCURRENCY, count: round < 0 ? count * 3 : count, warmup: CONCURRENCY },
          meters,
        );
        if (measured.failures > 0) throw new Error(`${target.name}: ${measured.failures} registers failed`);
        if (round < 0) continue;
        const figure = figures.get(target.name)!;
        figure.loop.push(measured.cpuUsPerOp.loop ?? Number.NaN);
        figure.proc.push(measured.cpuUsPerOp.proc ?? Number.NaN);
        figure.emu.push(measured.cpuUsPerOp.emu ?? Number.NaN);
      }
    }
  } finally {
    for (const stop of stops) await stop();
  }

  const fixed = (value: number) => (Number.isNaN(value) ? 'n/a' : value.toFixed(0));
  console.log(
    `\nkonnect: one register through Okta, CPU µs per request, ${CONCURRENCY} concurrent, median of ${rounds} rounds of ${count} after one unmeasured, the targets taking turns`,
  );
  const width = Math.max(...[...figures.keys()].map((name) => name.length));
  console.log(
    `${'target'.padEnd(width)}  ${'loop'.padStart(6)}  ${'proc'.padStart(6)}  ${'emu'.padStart(6)}  rounds (loop)`,
  );
  for (const [name, figure] of figures)
    console.log(
      `${name.padEnd(width)}  ${fixed(median(figure.loop)).padStart(6)}  ${fixed(median(figure.proc)).padStart(6)}  ${fixed(median(figure.emu)).padStart(6)}  ${figure.loop.map(fixed).join(', ')}`,
    );
  const konnect = median(figures.get('bridge Konnect POST /')!.loop);
  const lean = median(figures.get('lean handler (Fastify + undici) POST /')!.loop);
  const pass = konnect <= KONNECT_REGISTER_TARGET_US;
  console.log(
    `Konnect register via Okta: ${fixed(konnect)} µs — target ≤ ${KONNECT_REGISTER_TARGET_US} µs ${pass ? 'PASS' : 'MISS'}; the lean handler's floor: ${fixed(lean)} µs (${(konnect / lean).toFixed(2)}× it); Kong's reference handler measured 701 µs on this machine (issue 28)`,
  );
  console.log(`bridge start to ready in this run: ${fixed(readyMs)} ms`);
  return [
    {
      driver: 'okta',
      what: `Konnect register event-loop CPU (lean handler ${fixed(lean)} µs)`,
      figure: `${fixed(konnect)} µs`,
      target: `≤ ${KONNECT_REGISTER_TARGET_US} µs`,
      pass,
    },
  ];
}
