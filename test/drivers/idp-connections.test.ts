/**
 * Every vendor driver sends its IdP calls — the SDK's, the admin token's, the discovery document's — through the
 * kit's pooled client: many operations share at most `idpMaxConnections` TLS connections to the IdP, and the
 * driver's `close` closes them. Through the real SDKs, over TLS against each vendor's emulator.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createAuth0Driver } from '../../drivers/auth0.js';
import { createEntraDriver } from '../../drivers/entra.js';
import { createExampleDriver } from '../../drivers/example.js';
import { createKeycloakDriver } from '../../drivers/keycloak.js';
import { createOktaDriver } from '../../drivers/okta.js';
import type { DcrDriver, IdpFailureReport } from '../../src/driver/contract.js';
import { IdpUnavailableError } from '../../src/errors.js';
import { serviceMetadata } from '../conformance/driver-suite.js';
import { startAuth0Emulator } from '../emulators/auth0.js';
import { startEntraEmulator } from '../emulators/entra.js';
import { startExampleEmulator } from '../emulators/example.js';
import type { Emulator } from '../emulators/framework.js';
import { startKeycloakEmulator } from '../emulators/keycloak.js';
import { startOktaEmulator } from '../emulators/okta.js';
import { VirtualClock } from '../support/virtual-clock.js';
import { completeDriver } from '../../src/core/driver.js';

// Not about timeouts: a virtual clock that nothing advances, so a loaded machine times out nothing.
const idpCallPolicy = {
  timeoutMs: 30_000,
  baseDelayMs: 5,
  maxDelayMs: 50,
  budgetMs: 60_000,
  clock: new VirtualClock(),
};
const idpMaxConnections = 2;
/** The failed attempts of the test under way (the tests run one at a time). */
const failedAttempts: IdpFailureReport[] = [];
const settings = {
  idpCallPolicy,
  idpMaxConnections,
  onIdpFailure: (report: IdpFailureReport) => void failedAttempts.push(report),
};

interface Target {
  emulator: Emulator;
  driver: DcrDriver;
  stop(): Promise<void>;
}

const targets: Record<string, () => Promise<Target>> = {
  async 'okta (API token)'() {
    const okta = await startOktaEmulator({ rateLimitPerMinute: 100_000 });
    const driver = completeDriver(
      createOktaDriver({ orgUrl: okta.emulator.url, credentials: { apiToken: okta.apiToken }, ...settings }),
    );
    return { emulator: okta.emulator, driver, stop: () => okta.stop() };
  },
  async 'okta (OAuth service app)'() {
    const okta = await startOktaEmulator({ rateLimitPerMinute: 100_000 });
    const { clientId, privateKeyPem: privateKey, keyId } = okta.serviceApp;
    const driver = completeDriver(
      createOktaDriver({ orgUrl: okta.emulator.url, credentials: { clientId, privateKey, keyId }, ...settings }),
    );
    return { emulator: okta.emulator, driver, stop: () => okta.stop() };
  },
  async keycloak() {
    const keycloak = await startKeycloakEmulator();
    const env = keycloak.driverEnv;
    const driver = completeDriver(
      createKeycloakDriver({
        url: env.KEYCLOAK_URL!,
        realm: env.KEYCLOAK_REALM!,
        clientId: env.KEYCLOAK_CLIENT_ID!,
        clientSecret: env.KEYCLOAK_CLIENT_SECRET!,
        rotationGraceSeconds: 0,
        ...settings,
      }),
    );
    return { emulator: keycloak.emulator, driver, stop: () => keycloak.stop() };
  },
  async auth0() {
    const auth0 = await startAuth0Emulator({ rateLimitPerMinute: 100_000 });
    const driver = completeDriver(
      createAuth0Driver({
        domain: auth0.domain,
        clientId: auth0.adminClient.clientId,
        clientSecret: auth0.adminClient.clientSecret,
        audience: auth0.apiAudience,
        ...settings,
      }),
    );
    return { emulator: auth0.emulator, driver, stop: () => auth0.stop() };
  },
  async entra() {
    const entra = await startEntraEmulator();
    const driver = completeDriver(
      createEntraDriver({
        tenantId: entra.tenantId,
        clientId: entra.adminApp.clientId,
        credential: { clientSecret: entra.adminApp.clientSecret },
        authorityHost: entra.authorityHost,
        graphUrl: entra.graphUrl,
        ...settings,
      }),
    );
    return { emulator: entra.emulator, driver, stop: () => entra.stop() };
  },
  async example() {
    const example = await startExampleEmulator();
    const driver = completeDriver(
      createExampleDriver({
        url: example.emulator.url,
        clientId: example.admin.clientId,
        clientSecret: example.admin.clientSecret,
        ...settings,
      }),
    );
    return { emulator: example.emulator, driver, stop: () => example.stop() };
  },
};

describe('every driver sends through its pooled IdP client', () => {
  for (const [name, start] of Object.entries(targets)) {
    it(`${name}: a registration and 40 reads, 8 at a time, share at most ${idpMaxConnections} connections; closing the driver closes them`, async () => {
      const { emulator, driver, stop } = await start();
      try {
        const client = await driver.registerClient(serviceMetadata(), { portal: 'api7' });
        for (let wave = 0; wave < 5; wave++) {
          const read = await Promise.all(Array.from({ length: 8 }, () => driver.getClient(client.clientId)));
          assert.ok(read.every((each) => each.clientId === client.clientId));
        }
        await driver.fetchDiscoveryDocument?.();
        const sent = emulator.requests.length;
        assert.ok(sent >= 42, `${sent} requests reached the IdP`);
        assert.ok(
          emulator.connections.peak <= idpMaxConnections,
          `at most ${idpMaxConnections} connections open at once, saw ${emulator.connections.peak}`,
        );
        assert.ok(
          emulator.connections.opened <= idpMaxConnections,
          `${sent} requests over ${emulator.connections.opened} connections`,
        );

        await driver.close();
        await emulator.connectionsClosed();
        failedAttempts.length = 0;
        await assert.rejects(driver.getClient(client.clientId), IdpUnavailableError);
        assert.equal(emulator.requests.length, sent, 'a closed driver sends nothing');
        assert.deepEqual(failedAttempts, [], 'a closed driver fails at once: no attempt on its closed pool, no retry');
      } finally {
        await driver.close();
        await stop();
      }
      emulator.assertNoViolations();
    });
  }
});
