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
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
