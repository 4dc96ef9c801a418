/**
 * `npm run bench [-- name...]`: the local driver's benchmark, then each vendor's (bench/<idp>.ts) that exists.
 * With names, only those run. Each module exports `run()`, which prints its own results.
 *
 * The vendor benchmarks talk to emulators signed by the test CA. Node reads `NODE_EXTRA_CA_CERTS` only when a process
 * starts, so without it this script runs itself again with it set, as `npm test` does for the tests.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { driverNames } from '../src/driver/names.js';
import { ensureTestTls } from '../test/emulators/tls.js';

const benchmarks: string[] = [...driverNames, 'fleet'];

const requested = process.argv.slice(2);
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
    const again = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...selected], {
      stdio: 'inherit',
      env: { ...process.env, NODE_EXTRA_CA_CERTS: caFile },
    });
    process.exit(again.status ?? 1);
  }
}

for (const name of selected) {
  const module = (await import(`./${name}.js`)) as { run(): Promise<void> };
  await module.run();
}
