/**
 * `npm test`: makes the test CA first (Node reads NODE_EXTRA_CA_CERTS only when a process starts), installs moto's server
 * when a selected test needs it (test/support/moto-server.ts), then runs every
 * `*.test.ts` under test/ with Node's test runner, each file in its own process that trusts the CA.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureTestTls } from './emulators/tls.js';
import { ensureMoto, motoVenv } from './support/moto-server.js';
import { onPath } from './support/debian-package.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const filters = process.argv.slice(2);

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return testFiles(path);
    return entry.name.endsWith('.test.ts') ? [relative(root, path)] : [];
  });
}

const files = testFiles(join(root, 'test'))
  .filter((file) => filters.length === 0 || filters.some((filter) => file.includes(filter)))
  .sort();
if (files.length === 0) {
  console.error(`no test file matches ${filters.join(' ')}`);
  process.exit(1);
}
/**
 * What the run needs from the machine and may lack: each test that needs it fails with the reason, thousands of lines
 * up; the same reason is then the last thing `npm test` prints. Under CI=true the tests install them themselves.
 */
const machineNeeds = [
  { command: 'redis-server', debianPackage: 'redis-server', neededBy: 'the shared-limit tests', files: 'test/fleet/' },
  { command: 'chromium', debianPackage: 'chromium', neededBy: 'the browser test of /docs', files: 'test/docs/' },
  { command: 'jq', debianPackage: 'jq', neededBy: 'the doc-test of the walkthroughs', files: 'test/docs/' },
  { command: 'curl', debianPackage: 'curl', neededBy: 'the doc-test of the walkthroughs', files: 'test/docs/' },
];
const missing =
  process.env.CI === 'true'
    ? []
    : machineNeeds.filter(
        ({ command, files: folder }) => files.some((file) => file.startsWith(folder)) && onPath(command) === undefined,
      );

const tls = ensureTestTls();
// moto's server, for the Cognito driver's tests against it: installed once into a cache outside the clone, here
// rather than in the test file, so a first install (minutes) never counts against a test file's timeout.
if (files.some((file) => file.includes('cognito-moto'))) {
  console.log(`moto's server: ${motoVenv} (installed on first use)`);
  ensureMoto();
}
// Each test file runs in a process of its own with the lean TypeScript loader (test/loader/register.mjs says why not tsx).
const child = spawn(
  process.execPath,
  [
    '--import',
    './test/loader/register.mjs',
    '--enable-source-maps',
    '--test',
    '--test-concurrency=2',
    '--test-timeout=240000',
    ...files,
  ],
  {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, NODE_EXTRA_CA_CERTS: tls.caFile, LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent' },
  },
);
child.on('exit', (code, signal) => {
  const status = code ?? (signal ? 1 : 0);
  if (status !== 0 && missing.length > 0) {
    console.error('\nnpm test failed, and this machine lacks what some tests need:');
    for (const { command, debianPackage, neededBy } of missing)
      console.error(`  ${command} (${neededBy}): apt-get update && apt-get install -y ${debianPackage}`);
    console.error('(CI=true installs them itself.)');
  }
  process.exit(status);
});
