/**
 * `npm run bench [-- name...] [--quick] [--runs=N] [--saturate=SECONDS] [--cpu-prof=DIR]`: the local driver's
 * benchmark, then each vendor's (bench/<idp>.ts), the fleet's, the floor's (a bare node:http server and a bare
 * Express app beside the bridge) and the connections' (start time and memory with 1 and 5); with names, only those. `--cpu-prof` writes each
 * bridge's V8 profile to DIR (read it with `node --import tsx bench/profile.ts DIR/*.cpuprofile`). Driver benchmarks
 * return their target lines, printed together at the end with PASS or MISS.
 *
 * The vendor benchmarks talk to emulators signed by the test CA. Node reads `NODE_EXTRA_CA_CERTS` only when a process
 * starts, so without it this script runs itself again with it set, as `npm test` does for the tests.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { driverNames } from '../src/drivers.js';
import { ensureTestTls } from '../test/emulators/tls.js';
import { WARMUP_BOUND_MS, type TargetLine } from './suite.js';
import { defaultBenchOptions, ensureBuilt, quickBenchOptions, type BenchOptions } from './support.js';

const benchmarks: string[] = [...driverNames, 'konnect', 'fleet', 'floor', 'connections'];

const args = process.argv.slice(2);
const flags = args.filter((arg) => arg.startsWith('--'));
const requested = args.filter((arg) => !arg.startsWith('--'));
const options: BenchOptions = { ...(flags.includes('--quick') ? quickBenchOptions : defaultBenchOptions) };
for (const flag of flags) {
  const [name, value] = flag.split('=');
  const number = Number(value);
  if (name === '--quick' && value === undefined) continue;
  if (name === '--runs' && Number.isInteger(number) && number >= 1) options.runs = number;
  else if (name === '--saturate' && Number.isFinite(number) && number > 0) options.saturateSeconds = number;
  else if (name === '--cpu-prof' && value) options.cpuProfileDir = resolve(value);
  else {
    console.error(`unknown option ${flag}; use --quick, --runs=N, --saturate=SECONDS or --cpu-prof=DIR`);
    process.exit(1);
  }
}

const unknown = requested.filter((name) => !benchmarks.includes(name));
if (unknown.length > 0) {
  console.error(`unknown benchmark ${unknown.join(', ')}; choose from ${benchmarks.join(', ')}`);
  process.exit(1);
}
const available = benchmarks.filter((name) => existsSync(fileURLToPath(new URL(`./${name}.ts`, import.meta.url))));
const missing = requested.filter((name) => !available.includes(name));
if (missing.length > 0) {
  console.error(`no benchmark written yet for ${missing.join(', ')}`);
  process.exit(1);
}
const selected = requested.length > 0 ? requested : available;

if (selected.some((name) => name !== 'local')) {
  const { caFile } = ensureTestTls();
  if (resolve(process.env.NODE_EXTRA_CA_CERTS ?? '') !== resolve(caFile)) {
    const again = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...args], {
      stdio: 'inherit',
      env: { ...process.env, NODE_EXTRA_CA_CERTS: caFile },
    });
    process.exit(again.status ?? 1);
  }
}

await ensureBuilt();
console.log(`dcr-bridge benchmark, ${new Date().toISOString()}, Node ${process.version}`);
console.log(
  [
    'method: the bridge runs as npm start runs it (node dist/src/main.js, LOG_LEVEL=info to /dev/null) in its own process, each vendor',
    'emulator in another, and this process only generates load (keep-alive node:http/https). CPU per operation is read from',
    '/proc/<pid>/task/<tid>/schedstat after the warm-up and after the last operation of a phase, divided by the operations completed:',
    '"loop" is the bridge\'s main thread (the event loop), "proc" all its threads, "emu" the emulator\'s main thread.',
    `Each figure is the median of ${options.runs} run(s), each against a freshly started bridge warmed by up to ${options.warmupCycles} unmeasured client`,
    `lifecycles (register, get, update, rotate, delete; at most ${WARMUP_BOUND_MS / 1000} s; the direct path likewise), ${options.concurrency} concurrent, up to`,
    `${options.count} operations per phase (bounded at ${options.phaseBoundMs / 1000} s) after ${options.concurrency} warm-ups; update, rotate and delete touch each registered`,
    `client once. On the last run: register and get at a fixed 200 req/s for ${options.fixedRateSeconds} s each (bridge and direct), then ${options.saturateSeconds} s`,
    'saturated before the peak RSS (VmHWM) is read. Other processes on the machine make every figure noisy; CPU per operation less than req/s.',
  ].join('\n'),
);

const targets: TargetLine[] = [];
for (const name of selected) {
  const module = (await import(`./${name}.js`)) as { run(options: BenchOptions): Promise<TargetLine[] | void> };
  targets.push(...((await module.run(options)) ?? []));
}

if (targets.length > 0) {
  console.log('\ntargets (issue 28)');
  const width = Math.max(...targets.map((line) => `${line.driver} ${line.what}`.length));
  for (const line of targets)
    console.log(
      `${`${line.driver} ${line.what}`.padEnd(width)}  ${line.figure.padStart(10)}  ${line.target.padEnd(24)}  ${line.pass ? 'PASS' : 'MISS'}`,
    );
  const missed = targets.filter((line) => !line.pass).length;
  console.log(`${targets.length - missed} of ${targets.length} targets met`);
}
