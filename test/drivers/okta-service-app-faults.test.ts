/**
 * The Okta driver as an OAuth service app (`private_key_jwt`) under IdP faults: the whole admin-call matrix in this
 * auth mode, faults at the token endpoint, and its admin-token economy — through the real Okta SDK over TLS against
 * the Okta emulator. The API-token mode and the rest are in okta-faults.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DcrDriver } from '../../src/driver/contract.js';
import { createOktaDriver } from '../../drivers/okta.js';
import { BridgeError } from '../../src/errors.js';
import { startOktaEmulator, type OktaEmulator } from '../emulators/okta.js';
import { serviceMetadata } from '../conformance/driver-suite.js';
import { VirtualClock } from '../support/virtual-clock.js';
import { faultKinds, faultMatrix } from '../support/fault-matrix.js';
import { APPS, adminCallMatrix, matrixPolicy, policy, rateLimited, warmUp } from './okta-fault-matrix.js';
import { completeDriver } from '../../src/core/driver.js';

adminCallMatrix('OAuth service app', (okta) => ({
  clientId: okta.serviceApp.clientId,
  privateKey: okta.serviceApp.privateKeyPem,
  keyId: okta.serviceApp.keyId,
}));

describe('okta driver faults at the token endpoint (OAuth service app)', () => {
  let okta: OktaEmulator;
  before(async () => {
    okta = await startOktaEmulator();
    await warmUp(okta);
  });
  after(async () => okta?.stop());

  const clock = new VirtualClock();
  faultMatrix({
    emulator: () => okta.emulator,
    clock,
    policy: matrixPolicy(clock),
    idempotentRoutes: ['POST /oauth2/v1/token'],
    kinds: faultKinds({
      timeoutLatencyMs: 20_000,
      rateLimitHeaders: { 'Retry-After': '0' },
      rateLimitBody: rateLimited,
      serviceUnavailableRetryAfter: '0',
    }),
    operations: [
      {
        name: 'readiness with a fresh admin token',
        routes: ['POST /oauth2/v1/token', APPS],
        prepare: async () => {
          const { clientId, privateKeyPem, keyId } = okta.serviceApp;
          return completeDriver(
            createOktaDriver({
              orgUrl: okta.emulator.url,
              credentials: { clientId, privateKey: privateKeyPem, keyId },
              idpCallPolicy: matrixPolicy(clock),
            }),
          );
        },
        run: async (fresh: DcrDriver) => fresh.checkReadiness(),
      },
    ],
  });
});

describe('okta driver admin token (OAuth service app, private_key_jwt)', () => {
  let okta: OktaEmulator;
  let driver: DcrDriver;
  before(async () => {
    okta = await startOktaEmulator({ tokenLifetimeSeconds: 300, rateLimitPerMinute: 100_000 });
    await warmUp(okta);
    const { clientId, privateKeyPem, keyId } = okta.serviceApp;
    // No faults here: a roomy timeout, so a loaded machine cannot turn a slow answer into a failure.
    driver = completeDriver(
      createOktaDriver({
        orgUrl: okta.emulator.url,
        credentials: { clientId, privateKey: privateKeyPem, keyId },
        idpCallPolicy: { timeoutMs: 5000 },
      }),
    );
  });
  after(async () => {
    await driver?.close();
    await okta?.stop();
  });

  it('1,000 operations within a 5-minute token lifetime cost exactly one token request', async () => {
    const tokensBefore = okta.emulator.requestsTo('POST /oauth2/v1/token').length;
    const clients = await Promise.all(Array.from({ length: 10 }, () => driver.registerClient(serviceMetadata(), {})));
    for (let batch = 0; batch < 49; batch++) {
      await Promise.all(
        Array.from({ length: 20 }, (_, index) => driver.getClient(clients[(batch + index) % clients.length]!.clientId)),
      );
    }
    await Promise.all(clients.map((client) => driver.deleteClient(client.clientId)));
    assert.equal(10 + 49 * 20 + 10, 1000);
    assert.equal(okta.emulator.requestsTo('POST /oauth2/v1/token').length - tokensBefore, 1);
    okta.emulator.assertNoViolations();
  });

  it('a 401 from Okta fetches a new token once and the call succeeds', async () => {
    const before = okta.tokenRequests();
    okta.emulator.injectFault({
      route: APPS,
      status: 401,
      headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' },
      body: {
        errorCode: 'E0000011',
        errorSummary: 'Invalid token provided',
        errorLink: 'E0000011',
        errorId: 'oae401',
        errorCauses: [],
      },
    });
    await driver.checkReadiness();
    assert.equal(okta.tokenRequests(), before + 1);
  });

  it('a token is replaced when its lifetime ends, before Okta would refuse it', async () => {
    okta.setTokenLifetime(2);
    // The driver's token cache and Okta's token lifetimes on one virtual clock: the two seconds pass at once.
    const clock = new VirtualClock();
    okta.emulator.useClock(clock);
    const { clientId, privateKeyPem } = okta.serviceApp;
    const shortLived = completeDriver(
      createOktaDriver({
        orgUrl: okta.emulator.url,
        credentials: { clientId, privateKey: privateKeyPem },
        idpCallPolicy: { timeoutMs: 5000, clock },
      }),
    );
    const before = okta.tokenRequests();
    await shortLived.checkReadiness();
    clock.advance(2_100);
    await shortLived.checkReadiness();
    okta.emulator.useClock(undefined);
    assert.equal(okta.tokenRequests(), before + 2);
    assert.deepEqual(
      okta.emulator
        .requestsTo(APPS)
        .slice(-2)
        .map((request) => request.outcome),
      [200, 200],
      'no request was sent with an expired token',
    );
  });

  it("a key Okta does not know is idp_error (the bridge's own credentials), not a client error", async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 })
      .privateKey.export({ format: 'pem', type: 'pkcs8' })
      .toString();
    const impostor = completeDriver(
      createOktaDriver({
        orgUrl: okta.emulator.url,
        credentials: { clientId: okta.serviceApp.clientId, privateKey: stranger },
        idpCallPolicy: policy,
      }),
    );
    await assert.rejects(
      impostor.checkReadiness(),
      (error: unknown) => error instanceof BridgeError && error.status === 502 && error.code === 'idp_error',
    );
  });
});
