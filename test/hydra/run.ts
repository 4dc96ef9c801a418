/**
 * `npm run test:hydra`: the rfc7591 driver against a real Ory Hydra v2.3. Builds the binary first when the cache lacks
 * it (scripts/build-hydra.sh: ~11 minutes the first time), then runs every `test/hydra/*.hydra.ts` with Node's test
 * runner (each starts its own Hydra). Named `.hydra.ts`, not `.test.ts`, so `npm test` never needs Go. Without Go and
 * without a cached binary the suite is skipped (exit 0), except under CI=true, where that fails the run.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hydraBinary } from './hydra-server.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const ci = process.env.CI === 'true' || process.env.CI === '1';
if (!existsSync(hydraBinary)) {
  if (spawnSync('go', ['version'], { stdio: 'ignore' }).status !== 0) {
    console.error(
      `test:hydra ${ci ? 'failed' : 'skipped'}: no Go to build Hydra with, and no binary at ${hydraBinary}`,
    );
    process.exit(ci ? 1 : 0);
  }
  const started = Date.now();
  console.log('test:hydra: building Ory Hydra from the Go module proxy (once; about 11 minutes)…');
  const build = spawnSync('bash', [join(root, 'scripts', 'build-hydra.sh')], { stdio: 'inherit' });
  if (build.status !== 0) {
    console.error('test:hydra failed: scripts/build-hydra.sh failed');
    process.exit(1);
  }
  console.log(`test:hydra: built in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}
const files = readdirSync(join(root, 'test', 'hydra'))
  .filter((name) => name.endsWith('.hydra.ts'))
  .map((name) => relative(root, join(root, 'test', 'hydra', name)));
const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', ...files], {
  cwd: root,
  stdio: 'inherit',
});
process.exit(
  await new Promise<number>((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)))),
);
