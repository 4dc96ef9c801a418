/**
 * `npm run test:keycloak`: the Keycloak driver against a real Keycloak server. Obtains and starts the pinned server
 * (keycloak-server.ts), then runs every `test/real/*.real.ts` with Node's test runner, each file in its own process
 * with the server's address and bootstrap admin in its environment (each file sets up realms of its own). The files
 * are named `.real.ts`, not `.test.ts`, so that `npm test` never needs Java. Prints the download time (first run),
 * the start-to-ready time and the suite's wall time.
 *
 * A missing Java, Maven or distribution is one line saying which; with CI=true that fails the run, otherwise the
 * suite is skipped (exit 0) so a machine without Java can still run `npm test && npm run test:keycloak`.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureTestTls } from '../emulators/tls.js';
import {
  AdminSession,
  KEYCLOAK_VERSION,
  PrerequisiteError,
  SERVER_ENV,
  checkJava,
  ensureDistribution,
  startKeycloakServer,
  type KeycloakServer,
} from './keycloak-server.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const filters = process.argv.slice(2);
const ci = process.env.CI === 'true' || process.env.CI === '1';
const suiteStarted = Date.now();

const files = readdirSync(join(root, 'test', 'real'))
  .filter((name) => name.endsWith('.real.ts'))
  .map((name) => relative(root, join(root, 'test', 'real', name)))
  .filter((file) => filters.length === 0 || filters.some((filter) => file.includes(filter)))
  .sort();
if (files.length === 0) {
  console.error(`no test/real file matches ${filters.join(' ')}`);
  process.exit(1);
}

let server: KeycloakServer | undefined;
const stopServer = async () => {
  const running = server;
  server = undefined;
  await running?.stop();
};
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    void stopServer().finally(() => process.exit(130));
  });
}

try {
  const java = checkJava();
  const distribution = ensureDistribution();
  const size = `${(distribution.archiveBytes / 1024 / 1024).toFixed(1)} MiB`;
  console.log(
    distribution.downloadSeconds === undefined
      ? `keycloak ${KEYCLOAK_VERSION}: distribution from the cache (${size}), Java ${java}`
      : `keycloak ${KEYCLOAK_VERSION}: downloaded through Maven in ${distribution.downloadSeconds.toFixed(1)} s (${size}), Java ${java}`,
  );
  server = await startKeycloakServer(distribution);
  const database = server.createdDatabase ? 'database created, kept for later runs' : 'kept database';
  console.log(
    `keycloak ${KEYCLOAK_VERSION}: start to ready in ${server.startToReadySeconds.toFixed(1)} s (${database}) at ${server.url} (pid ${server.pid}, log ${relative(root, server.logFile)})`,
  );
} catch (error) {
  await stopServer();
  if (error instanceof PrerequisiteError) {
    if (ci) {
      console.error(`test:keycloak failed: ${error.message}`);
      process.exit(1);
    }
    console.error(`test:keycloak skipped: ${error.message} (with CI=true this fails the run)`);
    process.exit(0);
  }
  console.error(`test:keycloak failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}

const tls = ensureTestTls();
const child = spawn(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=900000', ...files],
  {
    cwd: root,
    stdio: 'inherit',
    env: {
      ...process.env,
      NODE_EXTRA_CA_CERTS: tls.caFile,
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent',
      [SERVER_ENV.url]: server!.url,
      [SERVER_ENV.username]: server!.admin.username,
      [SERVER_ENV.password]: server!.admin.password,
    },
  },
);
const code = await new Promise<number>((resolve) =>
  child.on('exit', (exitCode, signal) => resolve(exitCode ?? (signal ? 1 : 0))),
);
// The realms the test files set up (shared ones are left to this), so the server stops with the master realm alone.
const session = new AdminSession(server!.url, server!.admin);
for (const { realm } of await session.get<Array<{ realm: string }>>('/realms').catch(() => [])) {
  if (realm !== 'master') await session.call('DELETE', `/realms/${encodeURIComponent(realm)}`).catch(() => undefined);
}
await stopServer();
console.log(`keycloak ${KEYCLOAK_VERSION}: suite wall time ${((Date.now() - suiteStarted) / 1000).toFixed(1)} s`);
process.exit(code);
