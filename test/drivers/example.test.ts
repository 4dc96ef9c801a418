/**
 * The example driver against its emulator, through both shared suites: the conformance suite (every rule a driver
 * keeps, ownership included) and the fault matrix (every admin call × every fault kind, on a virtual clock).
 */
import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import { createExampleDriver } from '../../drivers/example.js';
import type { DcrDriver, DriverSettings, RegisteredClientWithSecret } from '../../src/driver/contract.js';
import { serviceMetadata, testDriver, webMetadata } from '../conformance/driver-suite.js';
import { startExampleEmulator, type ExampleEmulator } from '../emulators/example.js';
import {
  addSecretOperation,
  deletionOperation,
  faultKinds,
  faultMatrix,
  readOperation,
  registrationOperation,
  revokeSecretOperation,
  rotationOperation,
  type MatrixOperation,
  type MatrixTarget,
} from '../support/fault-matrix.js';
import { VirtualClock } from '../support/virtual-clock.js';
import { completeDriver } from '../../src/core/driver.js';

function driverFor(idp: ExampleEmulator, idpCallPolicy: DriverSettings['idpCallPolicy']): DcrDriver {
  return completeDriver(
    createExampleDriver({
      url: idp.emulator.url,
      clientId: idp.admin.clientId,
      clientSecret: idp.admin.clientSecret,
      idpCallPolicy,
    }),
  );
}

testDriver({
  name: 'example',
  async start(settings) {
    const idp = await startExampleEmulator();
    // Not about timeouts (the matrix is): a virtual clock nothing advances, so a loaded machine times out nothing.
    const driver = driverFor(idp, {
      timeoutMs: 30_000,
      budgetMs: 60_000,
      clock: new VirtualClock(),
      ...settings.idpCallPolicy,
    });
    return {
      driver,
      secretWorks: (clientId, secret) => idp.secretWorks(clientId, secret),
      ownedClientIds: async () => idp.ownedClientIds(),
      seedForeignClient: async () => idp.seedForeignClient(),
      idpState: async () => idp.clientState(),
      async stop() {
        await driver.close();
        await idp.stop();
        idp.emulator.assertNoViolations();
      },
    };
  },
});

describe('example driver under IdP faults', () => {
  const clock = new VirtualClock();
  const policy = { timeoutMs: 10_000, baseDelayMs: 5, maxDelayMs: 50, budgetMs: 25_000, maxAttempts: 3, clock };
  let idp: ExampleEmulator;
  let driver: DcrDriver;
  before(async () => {
    idp = await startExampleEmulator();
    driver = driverFor(idp, policy);
  });
  after(async () => {
    await idp?.stop();
  });

  const register = () => driver.registerClient(serviceMetadata(), { portal: 'api7' });
  const target: MatrixTarget = {
    driver: () => driver,
    register,
    cleanUp: (clientId) => driver.deleteClient(clientId),
    idp: () => idp,
  };
  const update: MatrixOperation<RegisteredClientWithSecret> = {
    name: 'update',
    routes: ['GET /clients/:client_id', 'PUT /clients/:client_id'],
    prepare: register,
    run: (client) => driver.updateClient(client.clientId, webMetadata()),
    async verify(client, { succeeded }) {
      if (succeeded)
        assert.deepEqual((await driver.getClient(client.clientId)).metadata.redirectUris, webMetadata().redirectUris);
      assert.equal(
        await idp.secretWorks(client.clientId, client.clientSecret),
        true,
        'an update never touches the secret',
      );
      await driver.deleteClient(client.clientId);
    },
  };

  faultMatrix({
    emulator: () => idp.emulator,
    clock,
    policy,
    // The driver picks the client id, so a repeated create meets a 409 and adopts the client.
    idempotentRoutes: ['POST /oauth/token', 'POST /clients'],
    kinds: faultKinds({ timeoutLatencyMs: 20_000 }),
    operations: [
      registrationOperation(target, ['POST /clients'], serviceMetadata()),
      readOperation(target, ['GET /clients/:client_id']),
      update,
      deletionOperation(target, ['GET /clients/:client_id', 'DELETE /clients/:client_id']),
      rotationOperation(target, ['GET /clients/:client_id', 'POST /clients/:client_id/secret']),
      addSecretOperation(target, [
        'GET /clients/:client_id',
        'GET /clients/:client_id/secrets',
        'POST /clients/:client_id/secrets',
      ]),
      revokeSecretOperation(target, [
        'GET /clients/:client_id',
        'GET /clients/:client_id/secrets',
        'DELETE /clients/:client_id/secrets/:secret_id',
      ]),
      {
        name: 'readiness with a fresh admin token',
        routes: ['POST /oauth/token', 'GET /clients'],
        prepare: async () => driverFor(idp, policy),
        run: (fresh: DcrDriver) => fresh.checkReadiness(),
      },
    ],
  });
});
