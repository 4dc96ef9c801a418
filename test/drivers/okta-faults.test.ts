/**
 * The Okta driver under IdP faults (every call of every operation × 429/500/503/timeout/dropped connection, with an
 * API token and as an OAuth service app), its admin-token economy, the ownership fence around apps it did not create,
 * client_id validation and its configuration — all through the real Okta SDK over TLS against the Okta emulator.
 */
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { ClientMetadata, DcrDriver } from '../../src/driver/contract.js';
import { createDriverFromEnv, createOktaDriver, type OktaCredentials } from '../../drivers/okta.js';
import { ConfigurationError } from '../../src/env.js';
import { BridgeError, ClientNotFoundError, InvalidRequestError } from '../../src/errors.js';
import { oktaEmulator, startOktaEmulator, type OktaEmulator } from '../emulators/okta.js';
import { rejectsWith, serviceMetadata, webMetadata } from '../conformance/driver-suite.js';
import { deletionOperation, faultKinds, faultMatrix, readOperation, registrationOperation, rotationOperation, type MatrixTarget } from '../support/fault-matrix.js';

const policy = { timeoutMs: 400, baseDelayMs: 5, maxDelayMs: 40, budgetMs: 1000 };
const APPS = 'GET /api/v1/apps';
const CREATE_APP = 'POST /api/v1/apps';
const REPLACE_APP = 'PUT /api/v1/apps/:appId';
const DEACTIVATE_APP = 'POST /api/v1/apps/:appId/lifecycle/deactivate';
const DELETE_APP = 'DELETE /api/v1/apps/:appId';
const SECRETS = 'GET /api/v1/apps/:appId/credentials/secrets';
const CREATE_SECRET = 'POST /api/v1/apps/:appId/credentials/secrets';
const DEACTIVATE_SECRET = 'POST /api/v1/apps/:appId/credentials/secrets/:secretId/lifecycle/deactivate';
const DELETE_SECRET = 'DELETE /api/v1/apps/:appId/credentials/secrets/:secretId';
const rateLimited = {
  errorCode: 'E0000047',
  errorSummary: 'API call exceeded rate limit due to too many requests.',
  errorLink: 'E0000047',
  errorId: 'oaeRateLimited',
  errorCauses: [],
};

/** A cold first call (lazy SDK modules, JIT, first TLS handshake) takes seconds; the short test policy must not pay it. */
async function warmUp(okta: OktaEmulator): Promise<void> {
  const { clientId, privateKeyPem, keyId } = okta.serviceApp;
  await createOktaDriver({ orgUrl: okta.emulator.url, credentials: { apiToken: okta.apiToken } }).checkReadiness();
  await createOktaDriver({ orgUrl: okta.emulator.url, credentials: { clientId, privateKey: privateKeyPem, keyId } }).checkReadiness();
}

/** Every admin call of every operation × every fault kind, in one auth mode, on an emulator of its own. */
function adminCallMatrix(mode: string, credentialsOf: (okta: OktaEmulator) => OktaCredentials): void {
  describe(`okta driver admin calls under IdP faults (${mode})`, () => {
    let okta: OktaEmulator;
    /** The driver under test, with the short call policy the faults are timed against. */
    let driver: DcrDriver;
    /** The same driver with a roomy policy, for setting the stage and checking after: a slow machine fails no cell. */
    let calm: DcrDriver;
    before(async () => {
      okta = await startOktaEmulator();
      driver = createOktaDriver({ orgUrl: okta.emulator.url, credentials: credentialsOf(okta), rotationGraceSeconds: 0, idpCallPolicy: policy });
      calm = createOktaDriver({ orgUrl: okta.emulator.url, credentials: credentialsOf(okta), rotationGraceSeconds: 0, idpCallPolicy: { timeoutMs: 5000 } });
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

    const register = (metadata: ClientMetadata = serviceMetadata()) => calm.registerClient(metadata, { portal: 'api7' });
    const target: MatrixTarget = { driver: () => driver, register: () => register(), cleanUp: (clientId) => calm.deleteClient(clientId), idp: () => okta };

    // Okta's 429s carry X-Rate-Limit-* (epoch-second reset); Retry-After 0 keeps the matrix fast, the waits are proven below.
    const kinds = faultKinds({
      timeoutLatencyMs: 600,
      rateLimitHeaders: { 'Retry-After': '0', 'X-Rate-Limit-Limit': '600', 'X-Rate-Limit-Remaining': '0', 'X-Rate-Limit-Reset': '1' },
      rateLimitBody: rateLimited,
      serviceUnavailableRetryAfter: '0',
    });

    faultMatrix({
      emulator: () => okta.emulator,
      kinds,
      operations: [
        registrationOperation(target, [CREATE_APP], serviceMetadata()),
        readOperation(target, [APPS]),
        {
          name: 'update',
          routes: [APPS, REPLACE_APP],
          prepare: async () => register(webMetadata()),
          run: async (client) => driver.updateClient(client.clientId, webMetadata({ clientName: 'renamed under faults' })),
          verify: async (client, { succeeded }) => {
            assert.equal(okta.app(client.clientId)?.label, succeeded ? 'renamed under faults' : 'conformance web client');
            assert.equal(await okta.secretWorks(client.clientId, client.clientSecret), true, 'an update never loses the secret');
            await calm.deleteClient(client.clientId);
          },
        },
        deletionOperation(target, [APPS, DEACTIVATE_APP, DELETE_APP]),
        rotationOperation(target, [APPS, SECRETS, CREATE_SECRET, DEACTIVATE_SECRET, DELETE_SECRET]),
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

adminCallMatrix('API token', (okta) => ({ apiToken: okta.apiToken }));
adminCallMatrix('OAuth service app', (okta) => ({ clientId: okta.serviceApp.clientId, privateKey: okta.serviceApp.privateKeyPem, keyId: okta.serviceApp.keyId }));

describe('okta driver faults (API token)', () => {
  let okta: OktaEmulator;
  /** The driver under test, with the short call policy the faults are timed against. */
  let driver: DcrDriver;
  /** The same driver with a roomy policy, for setting the stage and checking after: a slow machine fails no cell. */
  let calm: DcrDriver;
  before(async () => {
    okta = await startOktaEmulator();
    driver = createOktaDriver({ orgUrl: okta.emulator.url, credentials: { apiToken: okta.apiToken }, rotationGraceSeconds: 0, idpCallPolicy: policy });
    calm = createOktaDriver({ orgUrl: okta.emulator.url, credentials: { apiToken: okta.apiToken }, rotationGraceSeconds: 0, idpCallPolicy: { timeoutMs: 5000 } });
    await warmUp(okta);
  });
  after(async () => {
    await driver?.close();
    await calm?.close();
    await okta?.stop();
  });

  const owned = () => new Set(okta.ownedClientIds());
  const register = (metadata: ClientMetadata = serviceMetadata()) => calm.registerClient(metadata, { portal: 'api7' });
  describe('answers Okta acted on but never delivered', () => {
    it('a create whose answer is lost leaves no orphan app', async () => {
      const before = owned();
      okta.emulator.injectFault({ route: CREATE_APP, drop: 'after-processing' });
      await assert.rejects(driver.registerClient(serviceMetadata(), {}), (error: unknown) => error instanceof BridgeError && error.status === 503);
      okta.emulator.clearFaults();
      assert.equal(okta.emulator.requestsTo(CREATE_APP).at(-1)?.outcome, 'dropped');
      assert.deepEqual([...owned()].filter((id) => !before.has(id)), []);
    });

    it('a secret create whose answer is lost leaves the old secret as the only one', async () => {
      const client = await register();
      okta.emulator.injectFault({ route: CREATE_SECRET, drop: 'after-processing' });
      await assert.rejects(driver.rotateSecret(client.clientId), BridgeError);
      okta.emulator.clearFaults();
      assert.equal(await okta.secretWorks(client.clientId, client.clientSecret), true);
      assert.deepEqual(okta.app(client.clientId)?.secrets.map((secret) => secret.status), ['ACTIVE']);
      await calm.deleteClient(client.clientId);
    });
  });

  describe("Okta's rate limits", () => {
    it('waits for Retry-After before repeating a throttled create, and the create happens once', async () => {
      const fast = createOktaDriver({ orgUrl: okta.emulator.url, credentials: { apiToken: okta.apiToken }, idpCallPolicy: { ...policy, budgetMs: 3000 } });
      const before = okta.emulator.requestsTo(CREATE_APP).length;
      okta.emulator.injectFault({ route: CREATE_APP, status: 429, headers: { 'Retry-After': '1', 'X-Rate-Limit-Remaining': '0' }, body: rateLimited });
      const started = Date.now();
      const client = await fast.registerClient(serviceMetadata(), {});
      assert.ok(Date.now() - started >= 950, 'waited the second Okta asked for');
      assert.deepEqual(okta.emulator.requestsTo(CREATE_APP).slice(before).map((request) => request.outcome), [429, 200]);
      await fast.deleteClient(client.clientId);
    });

    it('waits for X-Rate-Limit-Reset when Okta sends no Retry-After', async () => {
      const fast = createOktaDriver({ orgUrl: okta.emulator.url, credentials: { apiToken: okta.apiToken }, idpCallPolicy: { ...policy, budgetMs: 4000 } });
      const reset = Math.ceil(Date.now() / 1000) + 1;
      okta.emulator.injectFault({
        route: APPS,
        status: 429,
        headers: { 'X-Rate-Limit-Limit': '600', 'X-Rate-Limit-Remaining': '0', 'X-Rate-Limit-Reset': String(reset) },
        body: rateLimited,
      });
      await fast.checkReadiness();
      assert.ok(Date.now() >= reset * 1000 - 50, 'retried only after the rate-limit window reset');
    });

    it('every management answer carries the X-Rate-Limit headers', async () => {
      await calm.checkReadiness();
      const response = await fetch(`${okta.emulator.url}/api/v1/apps?limit=1`, { headers: { Authorization: `SSWS ${okta.apiToken}` } });
      await response.arrayBuffer();
      for (const header of ['x-rate-limit-limit', 'x-rate-limit-remaining', 'x-rate-limit-reset']) assert.ok(response.headers.get(header), header);
    });
  });

  it('a timed-out attempt really hangs up on Okta, and the retry succeeds', async () => {
    const client = await register();
    const before = okta.emulator.requestsTo(APPS).length;
    okta.emulator.injectFault({ route: APPS, latencyMs: 600 });
    assert.equal((await driver.getClient(client.clientId)).clientId, client.clientId);
    await new Promise((resolve) => setTimeout(resolve, 250));
    assert.deepEqual(okta.emulator.requestsTo(APPS).slice(before).map((request) => request.outcome), ['dropped', 200]);
    await calm.deleteClient(client.clientId);
  });

  it('the SDK repeats nothing on its own: one attempt allowed is one request sent', async () => {
    const single = createOktaDriver({ orgUrl: okta.emulator.url, credentials: { apiToken: okta.apiToken }, idpCallPolicy: { ...policy, maxAttempts: 1 } });
    const before = okta.emulator.requestsTo(APPS).length;
    okta.emulator.injectFault({ route: APPS, status: 429, headers: { 'Retry-After': '0' }, body: rateLimited, times: Number.POSITIVE_INFINITY });
    await assert.rejects(single.checkReadiness(), (error: unknown) => error instanceof BridgeError && error.code === 'idp_unavailable');
    okta.emulator.clearFaults();
    assert.equal(okta.emulator.requestsTo(APPS).length - before, 1);
  });

  it('reads what Okta holds now: an admin change made at Okta shows on the next read (no SDK cache)', async () => {
    const client = await register();
    await calm.getClient(client.clientId);
    const response = await fetch(`${okta.emulator.url}/api/v1/apps?filter=${encodeURIComponent(`id eq "${client.clientId}"`)}`, {
      headers: { Authorization: `SSWS ${okta.apiToken}` },
    });
    const [app] = (await response.json()) as Array<Record<string, unknown>>;
    const put = await fetch(`${okta.emulator.url}/api/v1/apps/${client.clientId}`, {
      method: 'PUT',
      headers: { Authorization: `SSWS ${okta.apiToken}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ ...app, label: 'renamed in the admin console' }),
    });
    assert.equal(put.status, 200);
    assert.equal((await calm.getClient(client.clientId)).metadata.clientName, 'renamed in the admin console');
    await calm.deleteClient(client.clientId);
  });

  describe('apps the bridge did not create', () => {
    it('the org admin app and a seeded app cannot be read, updated, rotated or deleted, and are untouched', async () => {
      const seeded = okta.seedUnmanagedApp('Payroll (not from the bridge)');
      for (const clientId of [seeded.clientId, okta.serviceApp.clientId]) {
        await rejectsWith(calm.getClient(clientId), ClientNotFoundError);
        await rejectsWith(calm.updateClient(clientId, serviceMetadata({ clientName: 'hijacked' })), ClientNotFoundError);
        await rejectsWith(calm.rotateSecret(clientId), ClientNotFoundError);
        await rejectsWith(calm.deleteClient(clientId), ClientNotFoundError);
        assert.equal(okta.app(clientId)?.status, 'ACTIVE', 'still there');
      }
      assert.equal(okta.app(seeded.clientId)?.label, 'Payroll (not from the bridge)');
      assert.equal(await okta.secretWorks(seeded.clientId, seeded.clientSecret), true);
      const touched = okta.emulator.requests.filter((request) => request.method !== 'GET' && /\/api\/v1\/apps\/[^/]+/.test(request.rawPath));
      assert.deepEqual(touched.filter((request) => [seeded.clientId, okta.serviceApp.clientId].some((id) => request.rawPath.includes(id))), []);
    });
  });

  describe('client_id validation', () => {
    it('a path-traversal client_id never reaches any Okta path', async () => {
      const before = okta.emulator.requests.length;
      for (const clientId of ['..%2F..%2Fapi%2Fv1%2Fusers%2Fx', '../../api/v1/users/x', '../x', 'a/b', '..', '.', 'x"or"1']) {
        await rejectsWith(driver.getClient(clientId), InvalidRequestError);
        await rejectsWith(driver.updateClient(clientId, serviceMetadata()), InvalidRequestError);
        await rejectsWith(driver.rotateSecret(clientId), InvalidRequestError);
        await rejectsWith(driver.deleteClient(clientId), InvalidRequestError);
      }
      assert.deepEqual(okta.emulator.requests.slice(before), [], 'not one request went to Okta');
    });
  });
});

describe('okta driver faults at the token endpoint (OAuth service app)', () => {
  let okta: OktaEmulator;
  before(async () => {
    okta = await startOktaEmulator();
    await warmUp(okta);
  });
  after(async () => okta?.stop());

  faultMatrix({
    emulator: () => okta.emulator,
    kinds: faultKinds({ timeoutLatencyMs: 600, rateLimitHeaders: { 'Retry-After': '0' }, rateLimitBody: rateLimited, serviceUnavailableRetryAfter: '0' }),
    operations: [
      {
        name: 'readiness with a fresh admin token',
        routes: ['POST /oauth2/v1/token', APPS],
        prepare: async () => {
          const { clientId, privateKeyPem, keyId } = okta.serviceApp;
          return createOktaDriver({ orgUrl: okta.emulator.url, credentials: { clientId, privateKey: privateKeyPem, keyId }, idpCallPolicy: policy });
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
    driver = createOktaDriver({ orgUrl: okta.emulator.url, credentials: { clientId, privateKey: privateKeyPem, keyId }, idpCallPolicy: { timeoutMs: 5000 } });
  });
  after(async () => {
    await driver?.close();
    await okta?.stop();
  });

  it('1,000 operations within a 5-minute token lifetime cost exactly one token request', async () => {
    const tokensBefore = okta.emulator.requestsTo('POST /oauth2/v1/token').length;
    const clients = await Promise.all(Array.from({ length: 10 }, () => driver.registerClient(serviceMetadata(), {})));
    for (let batch = 0; batch < 49; batch++) {
      await Promise.all(Array.from({ length: 20 }, (_, index) => driver.getClient(clients[(batch + index) % clients.length]!.clientId)));
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
      body: { errorCode: 'E0000011', errorSummary: 'Invalid token provided', errorLink: 'E0000011', errorId: 'oae401', errorCauses: [] },
    });
    await driver.checkReadiness();
    assert.equal(okta.tokenRequests(), before + 1);
  });

  it('a token is replaced when its lifetime ends, before Okta would refuse it', async () => {
    okta.setTokenLifetime(2);
    const { clientId, privateKeyPem } = okta.serviceApp;
    const shortLived = createOktaDriver({ orgUrl: okta.emulator.url, credentials: { clientId, privateKey: privateKeyPem }, idpCallPolicy: { timeoutMs: 5000 } });
    const before = okta.tokenRequests();
    await shortLived.checkReadiness();
    await new Promise((resolve) => setTimeout(resolve, 2100));
    await shortLived.checkReadiness();
    assert.equal(okta.tokenRequests(), before + 2);
    assert.deepEqual(okta.emulator.requestsTo(APPS).slice(-2).map((request) => request.outcome), [200, 200], 'no request was sent with an expired token');
  });

  it("a key Okta does not know is idp_error (the bridge's own credentials), not a client error", async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    const impostor = createOktaDriver({ orgUrl: okta.emulator.url, credentials: { clientId: okta.serviceApp.clientId, privateKey: stranger }, idpCallPolicy: policy });
    await assert.rejects(impostor.checkReadiness(), (error: unknown) => error instanceof BridgeError && error.status === 502 && error.code === 'idp_error');
  });
});

describe('okta driver configuration', () => {
  let okta: OktaEmulator;
  before(async () => {
    okta = await startOktaEmulator();
  });
  after(async () => okta?.stop());
  const settings = { rotationGraceSeconds: 0, publicUrl: 'http://localhost:3000', idpCallPolicy: policy };

  it('names the missing or bad variable in one line', async () => {
    const cases: Array<[Record<string, string>, string]> = [
      [{}, 'OKTA_ORG_URL'],
      [{ OKTA_ORG_URL: 'not a url', OKTA_API_TOKEN: 'x' }, 'OKTA_ORG_URL'],
      [{ OKTA_ORG_URL: okta.emulator.url }, 'OKTA_API_TOKEN'],
      [{ OKTA_ORG_URL: okta.emulator.url, OKTA_CLIENT_ID: 'svc' }, 'OKTA_PRIVATE_KEY'],
      [{ OKTA_ORG_URL: okta.emulator.url, OKTA_CLIENT_ID: 'svc', OKTA_PRIVATE_KEY: 'not a key' }, 'OKTA_PRIVATE_KEY'],
      [{ OKTA_ORG_URL: okta.emulator.url, OKTA_CLIENT_ID: 'svc', OKTA_API_TOKEN: 'x' }, 'OKTA_API_TOKEN'],
    ];
    for (const [env, variable] of cases) {
      await assert.rejects(createDriverFromEnv(env, settings), (error: unknown) => {
        assert.ok(error instanceof ConfigurationError, String(error));
        assert.equal(error.variable, variable);
        assert.equal(error.message.includes('\n'), false);
        return true;
      });
    }
  });

  it("the SDK's own OKTA_CLIENT_* variables never reach the bridge", async () => {
    process.env.OKTA_CLIENT_ORGURL = 'https://attacker.invalid';
    process.env.OKTA_CLIENT_TOKEN = 'leaked-token-from-the-environment';
    process.env.OKTA_CLIENT_AUTHORIZATIONMODE = 'PrivateKey';
    try {
      const driver = await createDriverFromEnv({ OKTA_ORG_URL: okta.emulator.url, OKTA_API_TOKEN: okta.apiToken }, settings);
      await driver.checkReadiness();
      const last = okta.emulator.requestsTo(APPS).at(-1)!;
      assert.equal(last.headers.authorization, `SSWS ${okta.apiToken}`);
      assert.equal(last.outcome, 200);
    } finally {
      delete process.env.OKTA_CLIENT_ORGURL;
      delete process.env.OKTA_CLIENT_TOKEN;
      delete process.env.OKTA_CLIENT_AUTHORIZATIONMODE;
    }
  });

  it('the private-key mode takes a JWK as well as a PEM', async () => {
    const { createPrivateKey } = await import('node:crypto');
    const jwk = { ...createPrivateKey(okta.serviceApp.privateKeyPem).export({ format: 'jwk' }), kid: okta.serviceApp.keyId };
    const driver = await createDriverFromEnv(
      { OKTA_ORG_URL: okta.emulator.url, OKTA_CLIENT_ID: okta.serviceApp.clientId, OKTA_PRIVATE_KEY: JSON.stringify(jwk) },
      settings,
    );
    await driver.checkReadiness();
    assert.equal(okta.tokenRequests(), 1);
  });

  it('builds a working driver from each set of variables `npm run emulator -- okta` prints', async () => {
    const { emulator, driverEnv, alternativeEnv = {} } = await oktaEmulator.start({ port: 0 });
    try {
      const serviceApp = Object.values(alternativeEnv)[0]!;
      assert.equal(statSync(serviceApp.OKTA_PRIVATE_KEY_FILE!).mode & 0o077, 0, 'the private key file is readable by its owner only');
      for (const env of [driverEnv, { OKTA_ORG_URL: driverEnv.OKTA_ORG_URL!, ...serviceApp }]) {
        const driver = await createDriverFromEnv(env, settings);
        const client = await driver.registerClient(serviceMetadata(), { portal: 'api7' });
        await driver.deleteClient(client.clientId);
      }
      const authorizations = emulator.requestsTo(CREATE_APP).map((request) => String(request.headers.authorization).split(' ')[0]);
      assert.deepEqual(authorizations, ['SSWS', 'Bearer']);
      emulator.assertNoViolations();
    } finally {
      await emulator.stop();
    }
  });
});
