/**
 * `npm run bench [-- name...]`: the local driver's benchmark, then each vendor's (bench/<idp>.ts) that exists.
 * With names, only those run. Each module exports `run()`, which prints its own results.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const benchmarks = ['local', 'keycloak', 'okta', 'auth0', 'entra'];

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

for (const name of requested.length > 0 ? requested : available) {
  const module = (await import(`./${name}.js`)) as { run(): Promise<void> };
  await module.run();
}
