/**
 * An IdP answer the bridge cannot use — a success with the wrong shape, the wrong type, an empty body or HTML — is
 * `502 idp_error` at once: never a `500`, never a call with `undefined` in its path, never an orphan (issue 11, item 3).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createEntraDriver } from '../../drivers/entra.js';
import { createKeycloakDriver } from '../../drivers/keycloak.js';
import { BridgeError } from '../../src/errors.js';
import { serviceMetadata } from '../conformance/driver-suite.js';
import { startEntraEmulator } from '../emulators/entra.js';
import { startKeycloakEmulator } from '../emulators/keycloak.js';
import { completeDriver } from '../../src/core/driver.js';

const idpCallPolicy = { timeoutMs: 3_000, budgetMs: 5_000, baseDelayMs: 5, maxDelayMs: 20 };
const isIdpError = (error: unknown) =>
  error instanceof BridgeError && error.status === 502 && error.code === 'idp_error';
const unusable = [
  { name: 'a wrong shape', body: { unexpected: 'x' } },
  { name: 'a bare string', body: '"x"', headers: { 'content-type': 'application/json' } },
  { name: 'an empty body', body: undefined },
  { name: 'HTML', body: '<html>gateway</html>', headers: { 'content-type': 'text/html' } },
];

describe('keycloak: an unusable answer to the client lookup', () => {
  for (const answer of unusable) {
    it(`${answer.name} is 502 idp_error`, async () => {
      const keycloak = await startKeycloakEmulator();
      const driver = completeDriver(
        createKeycloakDriver({
          url: keycloak.driverEnv.KEYCLOAK_URL!,
          realm: keycloak.realm,
          clientId: keycloak.serviceAccount.clientId,
          clientSecret: keycloak.serviceAccount.clientSecret,
          rotationGraceSeconds: 0,
          idpCallPolicy,
        }),
      );
      try {
        const client = await driver.registerClient(serviceMetadata(), { portal: 'api7' });
        keycloak.emulator.injectFault({
          route: 'GET /admin/realms/:realm/clients',
          status: 200,
          body: answer.body,
          headers: answer.headers,
          times: Number.POSITIVE_INFINITY,
        });
        await assert.rejects(driver.getClient(client.clientId), isIdpError);
        await assert.rejects(driver.rotateSecret(client.clientId), isIdpError);
        keycloak.emulator.clearFaults();
        assert.equal(keycloak.secretWorks(client.clientId, client.clientSecret), true, 'nothing changed at the IdP');
      } finally {
        await driver.close();
        await keycloak.stop();
      }
    });
  }
});

describe('entra: a create answered without the application id', () => {
  it('is 502 idp_error within the budget, with no call to /applications/undefined and no orphan', async () => {
    const entra = await startEntraEmulator();
    const driver = completeDriver(
      createEntraDriver({
        tenantId: entra.tenantId,
        clientId: entra.adminApp.clientId,
        credential: { clientSecret: entra.adminApp.clientSecret },
        authorityHost: entra.authorityHost,
        graphUrl: entra.graphUrl,
        idpCallPolicy,
        replicationWaitMs: 3_000,
      }),
    );
    try {
      await driver.checkReadiness();
      const before = entra.applicationCount();
      entra.emulator.injectFault({
        route: 'POST /v1.0/applications',
        status: 201,
        body: { appId: '6a1f0b6e-0b1e-4f0e-9a57-3f8f1b2d9c10', displayName: 'x' },
      });
      const started = Date.now();
      await assert.rejects(driver.registerClient(serviceMetadata(), { portal: 'api7' }), isIdpError);
      assert.ok(Date.now() - started < idpCallPolicy.budgetMs, 'answered within the retry budget');
      assert.deepEqual(
        entra.emulator.requests
          .filter((request) => request.rawPath.includes('undefined'))
          .map((request) => request.rawPath),
        [],
      );
      assert.equal(entra.applicationCount(), before, 'no orphan application');
    } finally {
      await driver.close();
      await entra.stop();
    }
  });
});
