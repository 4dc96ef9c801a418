/**
 * What the Okta fault tests share: the admin routes, Okta's 429 body, the warm-up, and the admin-call fault matrix
 * for one auth mode (each auth mode has its own test file, so each fits the runner's per-file timeout on a loaded
 * machine and the two run side by side).
 */
import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import type { ClientMetadata, DcrDriver } from '../../src/driver/contract.js';
import { createOktaDriver, type OktaCredentials } from '../../drivers/okta.js';
import { startOktaEmulator, type OktaEmulator } from '../emulators/okta.js';
import { serviceMetadata, webMetadata } from '../conformance/driver-suite.js';
import { VirtualClock } from '../support/virtual-clock.js';
import {
  deletionOperation,
  faultKinds,
  faultMatrix,
  readOperation,
  registrationOperation,
  rotationOperation,
  type MatrixTarget,
} from '../support/fault-matrix.js';
import { completeDriver } from '../../src/core/driver.js';
import { addSecretOperation, revokeSecretOperation } from '../support/fault-matrix.js';

export const policy = { timeoutMs: 400, baseDelayMs: 5, maxDelayMs: 40, budgetMs: 1000 };
/**
 * The matrix's policy, on a virtual clock it shares with the emulator's latency: no cell waits in real time, and the
 * long timeout also bounds the SDK's own real-time one, so a loaded machine times out no cell.
 */
export function matrixPolicy(clock: VirtualClock) {
  return { timeoutMs: 10_000, baseDelayMs: 5, maxDelayMs: 40, budgetMs: 25_000, clock };
}

export const APPS = 'GET /api/v1/apps';
export const CREATE_APP = 'POST /api/v1/apps';
const REPLACE_APP = 'PUT /api/v1/apps/:appId';
const DEACTIVATE_APP = 'POST /api/v1/apps/:appId/lifecycle/deactivate';
const DELETE_APP = 'DELETE /api/v1/apps/:appId';
const SECRETS = 'GET /api/v1/apps/:appId/credentials/secrets';
export const CREATE_SECRET = 'POST /api/v1/apps/:appId/credentials/secrets';
const DEACTIVATE_SECRET = 'POST /api/v1/apps/:appId/credentials/secrets/:secretId/lifecycle/deactivate';
const DELETE_SECRET = 'DELETE /api/v1/apps/:appId/credentials/secrets/:secretId';
export const rateLimited = {
  errorCode: 'E0000047',
  errorSummary: 'API call exceeded rate limit due to too many requests.',
  errorLink: 'E0000047',
  errorId: 'oaeRateLimited',
  errorCauses: [],
};

/** A cold first call (lazy SDK modules, JIT, first TLS handshake) takes seconds; the short test policy must not pay it. */
export async function warmUp(okta: OktaEmulator): Promise<void> {
  const { clientId, privateKeyPem, keyId } = okta.serviceApp;
  await createOktaDriver({ orgUrl: okta.emulator.url, credentials: { apiToken: okta.apiToken } }).checkReadiness();
  await createOktaDriver({
    orgUrl: okta.emulator.url,
    credentials: { clientId, privateKey: privateKeyPem, keyId },
  }).checkReadiness();
}

/** Every admin call of every operation × every fault kind, in one auth mode, on an emulator of its own. */
export function adminCallMatrix(mode: string, credentialsOf: (okta: OktaEmulator) => OktaCredentials): void {
  describe(`okta driver admin calls under IdP faults (${mode})`, () => {
    let okta: OktaEmulator;
    const clock = new VirtualClock();
    const policy = matrixPolicy(clock);
    /** The driver under test, with the call policy the faults are timed against. */
    let driver: DcrDriver;
    /** The same driver with a roomy policy, for setting the stage and checking after: a slow machine fails no cell. */
    let calm: DcrDriver;
    before(async () => {
      okta = await startOktaEmulator();
      driver = completeDriver(
        createOktaDriver({
          orgUrl: okta.emulator.url,
          credentials: credentialsOf(okta),
          rotationGraceSeconds: 0,
          idpCallPolicy: policy,
        }),
      );
      calm = completeDriver(
        createOktaDriver({
          orgUrl: okta.emulator.url,
          credentials: credentialsOf(okta),
          rotationGraceSeconds: 0,
          idpCallPolicy: { timeoutMs: 5000 },
        }),
      );
      await warmUp(okta);
      // Both hold their admin token (service-app mode) before any fault is injected, so each cell faults only its call.
      await calm.checkReadiness();
      await driver.checkReadiness().catch(() => driver.checkReadiness());
    });
    after(async () => {
      await driver?.close();
      await calm?.close();
      await okta?.stop();
    });

    const register = (metadata: ClientMetadata = serviceMetadata()) =>
      calm.registerClient(metadata, { portal: 'api7' });
    const target: MatrixTarget = {
      driver: () => driver,
      register: () => register(),
      cleanUp: (clientId) => calm.deleteClient(clientId),
      idp: () => okta,
    };

    // Okta's 429s carry X-Rate-Limit-* (epoch-second reset); Retry-After 0 keeps the matrix fast, the waits are proven below.
    const kinds = faultKinds({
      timeoutLatencyMs: 20_000,
      rateLimitHeaders: {
        'Retry-After': '0',
        'X-Rate-Limit-Limit': '600',
        'X-Rate-Limit-Remaining': '0',
        'X-Rate-Limit-Reset': '1',
      },
      rateLimitBody: rateLimited,
      serviceUnavailableRetryAfter: '0',
    });

    faultMatrix({
      emulator: () => okta.emulator,
      clock,
      policy,
      idempotentRoutes: [DEACTIVATE_APP, DEACTIVATE_SECRET],
      kinds,
      operations: [
        registrationOperation(target, [CREATE_APP], serviceMetadata()),
        readOperation(target, [APPS]),
        {
          name: 'update',
          routes: [APPS, REPLACE_APP],
          prepare: async () => register(webMetadata()),
          run: async (client) =>
            driver.updateClient(client.clientId, webMetadata({ clientName: 'renamed under faults' })),
          verify: async (client, { succeeded }) => {
            assert.equal(
              okta.app(client.clientId)?.label,
              succeeded ? 'renamed under faults' : 'conformance web client',
            );
            assert.equal(
              await okta.secretWorks(client.clientId, client.clientSecret),
              true,
              'an update never loses the secret',
            );
            await calm.deleteClient(client.clientId);
          },
        },
        deletionOperation(target, [APPS, DEACTIVATE_APP, DELETE_APP]),
        rotationOperation(target, [APPS, SECRETS, CREATE_SECRET, DEACTIVATE_SECRET, DELETE_SECRET]),
        addSecretOperation(target, [APPS, SECRETS, CREATE_SECRET]),
        revokeSecretOperation(target, [APPS, SECRETS, DEACTIVATE_SECRET, DELETE_SECRET]),
        {
          name: 'readiness',
          routes: [APPS],
          prepare: async () => undefined,
          run: async () => driver.checkReadiness(),
        },
      ],
    });
  });
}
