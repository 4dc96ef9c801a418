/**
 * The Entra driver under IdP faults: every Graph and token-endpoint call of every operation × 429 (with Retry-After
 * and Graph's throttling headers), 500, 503, timeout and a dropped connection, once and for good. Whatever the
 * outcome, no application is left behind and a failed rotation leaves the old secret working.
 */
import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import { createEntraDriver } from '../../drivers/entra.js';
import type { DcrDriver, RegisteredClientWithSecret } from '../../src/driver/contract.js';
import { serviceMetadata, webMetadata } from '../conformance/driver-suite.js';
import { startEntraEmulator, type EntraEmulator } from '../emulators/entra.js';
import { VirtualClock } from '../support/virtual-clock.js';
import {
  deletionOperation,
  faultKinds,
  faultMatrix,
  readOperation,
  rotationOperation,
  type MatrixOperation,
  type MatrixTarget,
} from '../support/fault-matrix.js';
import { completeDriver } from '../../src/core/driver.js';
import { lostAnswerTests } from '../support/multiple-credentials.js';
import { addSecretOperation, revokeSecretOperation } from '../support/fault-matrix.js';

// On a virtual clock shared with the emulator's latency: no cell waits in real time; one Retry-After: 1 wait fits the
// budget; the long timeout also bounds MSAL's and fetch's own real-time ones, so a loaded machine times out no cell.
const clock = new VirtualClock();
const matrixPolicy = { timeoutMs: 10_000, baseDelayMs: 5, maxDelayMs: 50, budgetMs: 25_000, clock };

function entraDriverFor(entra: EntraEmulator): DcrDriver {
  return completeDriver(
    createEntraDriver({
      tenantId: entra.tenantId,
      clientId: entra.adminApp.clientId,
      credential: { clientSecret: entra.adminApp.clientSecret },
      authorityHost: entra.authorityHost,
      graphUrl: entra.graphUrl,
      idpCallPolicy: matrixPolicy,
      replicationWaitMs: 1_000,
    }),
  );
}

const ROUTES = {
  token: 'POST /:tenant/oauth2/v2.0/token',
  list: 'GET /v1.0/applications',
  create: 'POST /v1.0/applications',
  readByAppId: "GET /v1.0/applications(appId=':appId')",
  patch: 'PATCH /v1.0/applications/:id',
  delete: 'DELETE /v1.0/applications/:id',
  addPassword: 'POST /v1.0/applications/:id/addPassword',
  removePassword: 'POST /v1.0/applications/:id/removePassword',
  createServicePrincipal: 'POST /v1.0/servicePrincipals',
};

describe('entra driver fault matrix', () => {
  let entra: EntraEmulator;
  let driver: DcrDriver;
  before(async () => {
    entra = await startEntraEmulator();
    driver = entraDriverFor(entra);
    // Warms the emulator's schema validators, which compile on first use, so no cell pays for that.
    const warmUp = await driver.registerClient(webMetadata(), { portal: 'api7' });
    await driver.updateClient(warmUp.clientId, webMetadata());
    await driver.rotateSecret(warmUp.clientId);
    await driver.deleteClient(warmUp.clientId);
  });
  after(async () => {
    await driver?.close();
    await entra?.stop();
  });

  describe('multiple credentials: answers Graph acted on but never delivered', () => {
    lostAnswerTests({
      driver: () => driver,
      calm: () => driver,
      idp: () => entra,
      addRoute: ROUTES.addPassword,
      revokeRoute: ROUTES.removePassword,
    });
  });

  const registered = () => driver.registerClient(serviceMetadata(), { portal: 'api7' });
  const target: MatrixTarget = {
    driver: () => driver,
    register: registered,
    cleanUp: (clientId) => driver.deleteClient(clientId),
    idp: () => entra,
  };
  const stillWorks = async (client: RegisteredClientWithSecret) => {
    assert.ok(entra.ownedClientIds().includes(client.clientId), 'the client is still there');
    assert.equal(await entra.secretWorks(client.clientId, client.clientSecret), true, 'its secret still works');
    assert.equal(entra.workingSecretCount(client.clientId), 1, 'one password, the one the caller holds: no orphan');
  };
  const deletion = deletionOperation(target, [ROUTES.readByAppId, ROUTES.delete]);

  // biome-ignore lint/suspicious/noExplicitAny: each operation has its own context type.
  const operations: MatrixOperation<any>[] = [
    {
      name: 'register',
      routes: [ROUTES.create, ROUTES.addPassword, ROUTES.createServicePrincipal, ROUTES.readByAppId],
      prepare: async () => ({
        applications: entra.applicationCount(),
        client: undefined as RegisteredClientWithSecret | undefined,
      }),
      run: async (context) => {
        context.client = await registered();
      },
      verify: async (context, { succeeded }) => {
        if (!succeeded) {
          assert.equal(
            entra.applicationCount(),
            context.applications,
            'a failed registration leaves no application behind',
          );
          return;
        }
        await stillWorks(context.client!);
        await driver.deleteClient(context.client!.clientId);
      },
    } satisfies MatrixOperation<{ applications: number; client: RegisteredClientWithSecret | undefined }>,
    readOperation(target, [ROUTES.readByAppId]),
    {
      name: 'update',
      routes: [ROUTES.readByAppId, ROUTES.patch],
      prepare: registered,
      run: (client: RegisteredClientWithSecret) =>
        driver.updateClient(client.clientId, webMetadata({ clientName: 'updated under faults' })),
      verify: async (client: RegisteredClientWithSecret, { succeeded }) => {
        await stillWorks(client);
        if (succeeded) assert.equal(entra.application(client.clientId)!.properties.displayName, 'updated under faults');
      },
    },
    {
      ...deletion,
      verify: async (client: RegisteredClientWithSecret, outcome: { succeeded: boolean }) => {
        if (!outcome.succeeded) await stillWorks(client);
        await deletion.verify!(client, outcome);
      },
    },
    rotationOperation(target, [ROUTES.readByAppId, ROUTES.addPassword, ROUTES.removePassword]),
    addSecretOperation(target, [ROUTES.readByAppId, ROUTES.addPassword]),
    revokeSecretOperation(target, [ROUTES.readByAppId, ROUTES.removePassword]),
    {
      name: 'readiness',
      routes: [ROUTES.list],
      prepare: async () => undefined,
      run: () => driver.checkReadiness(),
    },
    {
      name: 'admin token acquisition',
      routes: [ROUTES.token],
      // A driver that has no token yet: its first call goes to the token endpoint through MSAL.
      prepare: async () => entraDriverFor(entra),
      run: (fresh: DcrDriver) => fresh.checkReadiness(),
      verify: (fresh: DcrDriver) => fresh.close(),
    },
  ];

  faultMatrix({
    emulator: () => entra.emulator,
    clock,
    policy: matrixPolicy,
    idempotentRoutes: [ROUTES.token, ROUTES.removePassword],
    operations,
    // A 503 from Graph's gateway often comes without Retry-After; the 429 cells exercise the header.
    kinds: faultKinds({
      timeoutLatencyMs: 20_000,
      rateLimitHeaders: {
        'x-ms-throttle-scope': 'Tenant_Application/ReadWrite/emulator',
        'x-ms-throttle-information': 'ResourceUnitLimitExceeded',
      },
      rateLimitBody: {
        error: {
          code: 'TooManyRequests',
          message: 'Too many requests.',
          innerError: {
            date: '2026-01-01T00:00:00Z',
            'request-id': '00000000-0000-0000-0000-000000000000',
            'client-request-id': '00000000-0000-0000-0000-000000000000',
          },
        },
      },
    }),
  });
});
