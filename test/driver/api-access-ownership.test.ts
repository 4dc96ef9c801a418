/**
 * Konnect's `add_registration` / `remove_registration` pass the ownership gate on every driver: for an unknown
 * client, or one the bridge did not create, they answer `404 client_not_found` like every other operation and
 * change nothing at the IdP (issue 11, item 11).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { createAuth0Driver } from '../../drivers/auth0.js';
import { createEntraDriver } from '../../drivers/entra.js';
import { createKeycloakDriver } from '../../drivers/keycloak.js';
import { createLocalDriver } from '../../drivers/local.js';
import { createOktaDriver } from '../../drivers/okta.js';
import type { DcrDriver } from '../../src/driver/contract.js';
import { startAuth0Emulator } from '../emulators/auth0.js';
import { startEntraEmulator } from '../emulators/entra.js';
import { startKeycloakEmulator } from '../emulators/keycloak.js';
import { startOktaEmulator } from '../emulators/okta.js';
import { createTestApp } from '../support/app.js';

const idpCallPolicy = { timeoutMs: 5_000, budgetMs: 10_000 };

interface Target {
  driver: DcrDriver;
  /** A client of the IdP the bridge did not create. */
  foreignClientId: string;
  stop(): Promise<void>;
}

const targets: Record<string, () => Promise<Target>> = {
  async keycloak() {
    const keycloak = await startKeycloakEmulator();
    keycloak.seedUnmanagedClient('payroll');
    const driver = createKeycloakDriver({ url: keycloak.driverEnv.KEYCLOAK_URL!, realm: keycloak.realm, clientId: keycloak.serviceAccount.clientId, clientSecret: keycloak.serviceAccount.clientSecret, rotationGraceSeconds: 0, idpCallPolicy });
    return { driver, foreignClientId: 'payroll', stop: () => keycloak.stop() };
  },
  async okta() {
    const okta = await startOktaEmulator();
    const driver = createOktaDriver({ orgUrl: okta.emulator.url, credentials: { apiToken: okta.apiToken }, idpCallPolicy });
    return { driver, foreignClientId: okta.seedUnmanagedApp('Payroll').clientId, stop: () => okta.stop() };
  },
  async auth0() {
    const auth0 = await startAuth0Emulator();
    const driver = createAuth0Driver({ domain: auth0.domain, clientId: auth0.adminClient.clientId, clientSecret: auth0.adminClient.clientSecret, audience: auth0.apiAudience, idpCallPolicy });
    return { driver, foreignClientId: auth0.seedUnmanagedClient('Payroll').clientId, stop: () => auth0.stop() };
  },
  async entra() {
    const entra = await startEntraEmulator();
    const driver = createEntraDriver({ tenantId: entra.tenantId, clientId: entra.adminApp.clientId, credential: { clientSecret: entra.adminApp.clientSecret }, authorityHost: entra.authorityHost, graphUrl: entra.graphUrl, idpCallPolicy, replicationWaitMs: 3_000 });
    return { driver, foreignClientId: entra.seedUnmanagedApplication('Payroll').clientId, stop: () => entra.stop() };
  },
};

for (const [name, start] of Object.entries(targets)) {
  describe(`${name}: Konnect registration events on a client that is not the bridge's`, () => {
    let target: Target;
    before(async () => {
      target = await start();
    });
    after(async () => {
      await target?.driver.close();
      await target?.stop();
    });

    for (const eventType of ['add_registration', 'remove_registration']) {
      it(`${eventType} answers 404 client_not_found for an unknown and for a foreign client`, async () => {
        const bridge = await createTestApp(target.driver);
        try {
          const unknown = name === 'entra' ? '00000000-0000-4000-8000-000000000000' : 'dcr-unknown-client';
          for (const clientId of [unknown, target.foreignClientId]) {
            const response = await request(bridge.app)
              .post(`/${clientId}/event-hook`)
              .set('X-API-Key', bridge.apiKey)
              .send({ event_type: eventType, api_product_version_id: 'v1' });
            assert.equal(response.status, 404, `${clientId}: ${JSON.stringify(response.body)}`);
            assert.equal(response.body.error, 'client_not_found');
          }
        } finally {
          await bridge.close();
        }
      });
    }
  });
}

describe('local: Konnect registration events on an unknown client', () => {
  it('add_registration and remove_registration answer 404 client_not_found', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'dcr-local-'));
    const driver = await createLocalDriver({ publicUrl: 'http://127.0.0.1', dataDir });
    const bridge = await createTestApp(driver);
    try {
      for (const eventType of ['add_registration', 'remove_registration']) {
        const response = await request(bridge.app).post('/dcr-unknown-client/event-hook').set('X-API-Key', bridge.apiKey).send({ event_type: eventType });
        assert.equal(response.status, 404);
        assert.equal(response.body.error, 'client_not_found');
      }
    } finally {
      await bridge.close();
      await driver.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
