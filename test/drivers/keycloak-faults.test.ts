/**
 * The fault matrix for the Keycloak driver: every admin call of every operation × 429 with Retry-After, 500, 503,
 * timeout and a dropped connection, once (transient) and for good (persistent). Whatever the outcome, no client is
 * left behind that the caller does not know of, and a failed rotation leaves the old secret working.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createKeycloakDriver } from '../../drivers/keycloak.js';
import type { DcrDriver, RegisteredClientWithSecret } from '../../src/driver/contract.js';
import { BridgeError } from '../../src/errors.js';
import { serviceMetadata, webMetadata } from '../conformance/driver-suite.js';
import { startKeycloakEmulator, type KeycloakEmulator } from '../emulators/keycloak.js';
import { VirtualClock } from '../support/virtual-clock.js';
import {
  deletionOperation,
  faultKinds,
  faultMatrix,
  readOperation,
  registrationOperation,
  rotationOperation,
  type MatrixOperation,
  type MatrixTarget,
} from '../support/fault-matrix.js';
import { completeDriver } from '../../src/core/driver.js';
import { lostAnswerTests } from '../support/multiple-credentials.js';
import { addSecretOperation, revokeSecretOperation } from '../support/fault-matrix.js';

// On the matrix's virtual clock: one Retry-After wait fits the budget; three attempts bound a timeout cell. The long
// timeout also bounds the SDK's own (real-time) timeout, so a loaded machine never times out a cell.
const clock = new VirtualClock();
const policy = { timeoutMs: 10_000, baseDelayMs: 5, maxDelayMs: 50, budgetMs: 25_000, maxAttempts: 3, clock };
const routes = {
  token: 'POST /realms/:realm/protocol/openid-connect/token',
  findClients: 'GET /admin/realms/:realm/clients',
  createClient: 'POST /admin/realms/:realm/clients',
  updateClient: 'PUT /admin/realms/:realm/clients/:id',
  deleteClient: 'DELETE /admin/realms/:realm/clients/:id',
  readSecret: 'GET /admin/realms/:realm/clients/:id/client-secret',
  regenerateSecret: 'POST /admin/realms/:realm/clients/:id/client-secret',
  invalidateRotated: 'DELETE /admin/realms/:realm/clients/:id/client-secret/rotated',
};

/** A driver on the short test policy, without grace. */
function driverFor(keycloak: KeycloakEmulator): DcrDriver {
  return completeDriver(
    createKeycloakDriver({
      url: keycloak.driverEnv.KEYCLOAK_URL!,
      realm: keycloak.realm,
      clientId: keycloak.serviceAccount.clientId,
      clientSecret: keycloak.serviceAccount.clientSecret,
      rotationGraceSeconds: 0,
      idpCallPolicy: policy,
    }),
  );
}

describe('keycloak driver under IdP faults', () => {
  let keycloak: KeycloakEmulator;
  let driver: DcrDriver;
  const newDriver = () => driverFor(keycloak);
  before(async () => {
    keycloak = await startKeycloakEmulator({ secretRotationPolicy: true });
    driver = newDriver();
  });
  after(async () => {
    await driver?.close();
    await keycloak?.stop();
  });

  describe('multiple credentials: answers Keycloak acted on but never delivered', () => {
    lostAnswerTests({
      driver: () => driver,
      calm: () => driver,
      idp: () => keycloak,
      addRoute: routes.regenerateSecret,
      revokeRoute: routes.invalidateRotated,
    });
  });

  const register = async () => driver.registerClient(serviceMetadata(), { portal: 'api7' });
  const target: MatrixTarget = {
    driver: () => driver,
    register,
    cleanUp: (clientId) => driver.deleteClient(clientId),
    idp: () => keycloak,
  };

  const update: MatrixOperation<RegisteredClientWithSecret> = {
    name: 'update',
    routes: [routes.findClients, routes.updateClient],
    prepare: register,
    run: (client) => driver.updateClient(client.clientId, webMetadata()),
    async verify(client, { succeeded }) {
      const read = await driver.getClient(client.clientId);
      if (succeeded) assert.deepEqual(read.metadata.redirectUris, webMetadata().redirectUris);
      assert.equal(
        keycloak.secretWorks(client.clientId, client.clientSecret),
        true,
        'an update never touches the secret',
      );
      await driver.deleteClient(client.clientId);
    },
  };

  const readiness: MatrixOperation<DcrDriver> = {
    name: 'readiness',
    routes: [routes.token, routes.findClients],
    // A fresh driver, so the admin token is requested inside the operation.
    prepare: async () => newDriver(),
    run: (fresh) => fresh.checkReadiness(),
    verify: (fresh) => fresh.close(),
  };

  faultMatrix({
    emulator: () => keycloak.emulator,
    clock,
    policy,
    // The driver repeats a create: the repeat meets a 409 and adopts the client the first attempt made.
    idempotentRoutes: [routes.token, routes.createClient],
    operations: [
      registrationOperation(target, [routes.createClient, routes.readSecret], serviceMetadata()),
      readOperation(target, [routes.findClients]),
      update,
      deletionOperation(target, [routes.findClients, routes.deleteClient]),
      rotationOperation(target, [routes.findClients, routes.regenerateSecret, routes.invalidateRotated]),
      addSecretOperation(target, [routes.findClients, routes.regenerateSecret]),
      revokeSecretOperation(target, [routes.findClients, routes.invalidateRotated]),
      readiness,
    ],
    // The 429 cells prove Retry-After is honoured; the 503 cells go without it so the matrix stays within its time.
    kinds: faultKinds({ timeoutLatencyMs: 20_000 }),
  });
});

describe('keycloak driver: a secret regeneration whose answer is lost', () => {
  for (const secretRotationPolicy of [true, false]) {
    it(`hands out the secret Keycloak generated, once, and the old one is refused (${secretRotationPolicy ? 'with' : 'without'} the rotation policy)`, async () => {
      const keycloak = await startKeycloakEmulator({ secretRotationPolicy });
      const driver = driverFor(keycloak);
      try {
        const client = await driver.registerClient(serviceMetadata(), { portal: 'api7' });
        keycloak.emulator.injectFault({ route: routes.regenerateSecret, drop: 'after-processing' });
        const rotated = await driver.rotateSecret(client.clientId);
        keycloak.emulator.clearFaults();
        assert.deepEqual(
          keycloak.emulator.requestsTo(routes.regenerateSecret).map((request) => request.outcome),
          ['dropped'],
          'regenerated once, never repeated',
        );
        assert.notEqual(rotated.clientSecret, client.clientSecret);
        assert.equal(
          keycloak.secretWorks(client.clientId, rotated.clientSecret),
          true,
          'the secret handed out is the one Keycloak holds',
        );
        assert.equal(
          keycloak.secretWorks(client.clientId, client.clientSecret),
          false,
          'without grace the old secret is refused',
        );
        keycloak.emulator.assertNoViolations();
      } finally {
        await driver.close();
        await keycloak.stop();
      }
    });
  }

  it('a regeneration that never reached Keycloak is still an error, and the old secret keeps working', async () => {
    const keycloak = await startKeycloakEmulator({ secretRotationPolicy: false });
    const driver = driverFor(keycloak);
    try {
      const client = await driver.registerClient(serviceMetadata(), { portal: 'api7' });
      keycloak.emulator.injectFault({ route: routes.regenerateSecret, drop: true });
      await assert.rejects(
        driver.rotateSecret(client.clientId),
        (error: unknown) => error instanceof BridgeError && error.code === 'idp_unavailable',
      );
      keycloak.emulator.clearFaults();
      assert.equal(keycloak.secretWorks(client.clientId, client.clientSecret), true);
    } finally {
      await driver.close();
      await keycloak.stop();
    }
  });
});
