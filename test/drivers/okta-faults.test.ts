/**
 * The Okta driver under IdP faults with an API token (every admin call of every operation × every fault kind), its
 * lost answers, Okta's rate limits, client_id validation and its configuration — all through the real Okta SDK over
 * TLS against the Okta emulator. The OAuth service-app mode is in okta-service-app-faults.test.ts.
 */
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { ClientMetadata, DcrDriver } from '../../src/driver/contract.js';
import { createDriverFromEnv, createOktaDriver } from '../../drivers/okta.js';
import { ConfigurationError } from '../../src/env.js';
import { BridgeError, InvalidRequestError } from '../../src/errors.js';
import { oktaEmulator, startOktaEmulator, type OktaEmulator } from '../emulators/okta.js';
import { rejectsWith, serviceMetadata } from '../conformance/driver-suite.js';
import { VirtualClock } from '../support/virtual-clock.js';
import { APPS, CREATE_APP, CREATE_SECRET, adminCallMatrix, policy, rateLimited, warmUp } from './okta-fault-matrix.js';
import { completeDriver } from '../../src/core/driver.js';
import { lostAnswerTests } from '../support/multiple-credentials.js';

adminCallMatrix('API token', (okta) => ({ apiToken: okta.apiToken }));

describe('okta driver faults (API token)', () => {
  let okta: OktaEmulator;
  /** The driver under test, with the short call policy the faults are timed against. */
  let driver: DcrDriver;
  /** The same driver with a roomy policy, for setting the stage and checking after: a slow machine fails no cell. */
  let calm: DcrDriver;
  before(async () => {
    okta = await startOktaEmulator();
    driver = completeDriver(
      createOktaDriver({
        orgUrl: okta.emulator.url,
        credentials: { apiToken: okta.apiToken },
        rotationGraceSeconds: 0,
        idpCallPolicy: policy,
      }),
    );
    calm = completeDriver(
      createOktaDriver({
        orgUrl: okta.emulator.url,
        credentials: { apiToken: okta.apiToken },
        rotationGraceSeconds: 0,
        idpCallPolicy: { timeoutMs: 5000 },
      }),
    );
    await warmUp(okta);
  });
  after(async () => {
    await driver?.close();
    await calm?.close();
    await okta?.stop();
  });

  const owned = () => new Set(okta.ownedClientIds());
  const register = (metadata: ClientMetadata = serviceMetadata()) => calm.registerClient(metadata, { portal: 'api7' });
  describe('multiple credentials: answers Okta acted on but never delivered', () => {
    lostAnswerTests({
      driver: () => driver,
      calm: () => calm,
      idp: () => okta,
      addRoute: CREATE_SECRET,
      revokeRoute: 'DELETE /api/v1/apps/:appId/credentials/secrets/:secretId',
    });
  });

  describe('answers Okta acted on but never delivered', () => {
    it('a create whose answer is lost leaves no orphan app', async () => {
      const before = owned();
      okta.emulator.injectFault({ route: CREATE_APP, drop: 'after-processing' });
      await assert.rejects(
        driver.registerClient(serviceMetadata(), {}),
        (error: unknown) => error instanceof BridgeError && error.status === 503,
      );
      okta.emulator.clearFaults();
      assert.equal(okta.emulator.requestsTo(CREATE_APP).at(-1)?.outcome, 'dropped');
      assert.deepEqual(
        [...owned()].filter((id) => !before.has(id)),
        [],
      );
    });

    it('a secret create whose answer is lost leaves the old secret as the only one', async () => {
      const client = await register();
      okta.emulator.injectFault({ route: CREATE_SECRET, drop: 'after-processing' });
      await assert.rejects(driver.rotateSecret(client.clientId), BridgeError);
      okta.emulator.clearFaults();
      assert.equal(await okta.secretWorks(client.clientId, client.clientSecret), true);
      assert.deepEqual(
        okta.app(client.clientId)?.secrets.map((secret) => secret.status),
        ['ACTIVE'],
      );
      await calm.deleteClient(client.clientId);
    });
  });

  describe("Okta's rate limits", () => {
    it('waits for Retry-After before repeating a throttled create, and the create happens once', async () => {
      // The wait runs on a virtual clock: the second passes at once, and is measured exactly.
      const clock = new VirtualClock();
      const fast = completeDriver(
        createOktaDriver({
          orgUrl: okta.emulator.url,
          credentials: { apiToken: okta.apiToken },
          idpCallPolicy: { ...policy, budgetMs: 3000, clock },
        }),
      );
      const before = okta.emulator.requestsTo(CREATE_APP).length;
      okta.emulator.injectFault({
        route: CREATE_APP,
        status: 429,
        headers: { 'Retry-After': '1', 'X-Rate-Limit-Remaining': '0' },
        body: rateLimited,
      });
      const started = clock.now();
      const client = await fast.registerClient(serviceMetadata(), {});
      assert.ok(clock.now() - started >= 1000, 'waited the second Okta asked for');
      assert.deepEqual(
        okta.emulator
          .requestsTo(CREATE_APP)
          .slice(before)
          .map((request) => request.outcome),
        [429, 200],
      );
      await fast.deleteClient(client.clientId);
    });

    it('waits for X-Rate-Limit-Reset when Okta sends no Retry-After', async () => {
      const clock = new VirtualClock();
      const fast = completeDriver(
        createOktaDriver({
          orgUrl: okta.emulator.url,
          credentials: { apiToken: okta.apiToken },
          idpCallPolicy: { ...policy, budgetMs: 4000, clock },
        }),
      );
      const started = clock.now();
      const reset = Math.ceil(Date.now() / 1000) + 1;
      okta.emulator.injectFault({
        route: APPS,
        status: 429,
        headers: { 'X-Rate-Limit-Limit': '600', 'X-Rate-Limit-Remaining': '0', 'X-Rate-Limit-Reset': String(reset) },
        body: rateLimited,
      });
      await fast.checkReadiness();
      // The reset is epoch seconds of real time; the wait for it passed on the virtual clock.
      assert.ok(
        Date.now() + (clock.now() - started) >= reset * 1000 - 50,
        'retried only after the rate-limit window reset',
      );
      assert.deepEqual(
        okta.emulator
          .requestsTo(APPS)
          .slice(-2)
          .map((request) => request.outcome),
        [429, 200],
      );
    });

    it('every management answer carries the X-Rate-Limit headers', async () => {
      await calm.checkReadiness();
      const response = await fetch(`${okta.emulator.url}/api/v1/apps?limit=1`, {
        headers: { Authorization: `SSWS ${okta.apiToken}` },
      });
      await response.arrayBuffer();
      for (const header of ['x-rate-limit-limit', 'x-rate-limit-remaining', 'x-rate-limit-reset'])
        assert.ok(response.headers.get(header), header);
    });
  });

  it('a timed-out attempt really hangs up on Okta, and the retry succeeds', async () => {
    const client = await register();
    // The driver's attempt timeout and Okta's latency on one virtual clock: the 600 ms pass at once, past the 400 ms timeout.
    const clock = new VirtualClock();
    // The emulator's latency moves the clock all 600 ms: the budget leaves room for the retry after that.
    const impatient = completeDriver(
      createOktaDriver({
        orgUrl: okta.emulator.url,
        credentials: { apiToken: okta.apiToken },
        idpCallPolicy: { ...policy, budgetMs: 5_000, clock },
      }),
    );
    const before = okta.emulator.requestsTo(APPS).length;
    okta.emulator.useClock(clock);
    try {
      okta.emulator.injectFault({ route: APPS, latencyMs: 600 });
      assert.equal((await impatient.getClient(client.clientId)).clientId, client.clientId);
      const sent = okta.emulator.requestsTo(APPS).slice(before);
      // The hang-up reaches the emulator as a closed socket a few event-loop turns later.
      for (let turn = 0; turn < 500 && sent[0]?.outcome !== 'dropped'; turn++)
        await new Promise((resolve) => setTimeout(resolve, 10));
      assert.deepEqual(
        sent.map((request) => request.outcome),
        ['dropped', 200],
      );
    } finally {
      okta.emulator.useClock(undefined);
    }
    await calm.deleteClient(client.clientId);
  });

  it('the SDK repeats nothing on its own: one attempt allowed is one request sent', async () => {
    const single = completeDriver(
      createOktaDriver({
        orgUrl: okta.emulator.url,
        credentials: { apiToken: okta.apiToken },
        idpCallPolicy: { ...policy, maxAttempts: 1 },
      }),
    );
    const before = okta.emulator.requestsTo(APPS).length;
    okta.emulator.injectFault({
      route: APPS,
      status: 429,
      headers: { 'Retry-After': '0' },
      body: rateLimited,
      times: Number.POSITIVE_INFINITY,
    });
    await assert.rejects(
      single.checkReadiness(),
      (error: unknown) => error instanceof BridgeError && error.code === 'idp_unavailable',
    );
    okta.emulator.clearFaults();
    assert.equal(okta.emulator.requestsTo(APPS).length - before, 1);
  });

  it('reads what Okta holds now: an admin change made at Okta shows on the next read (no SDK cache)', async () => {
    const client = await register();
    await calm.getClient(client.clientId);
    const response = await fetch(
      `${okta.emulator.url}/api/v1/apps?filter=${encodeURIComponent(`id eq "${client.clientId}"`)}`,
      {
        headers: { Authorization: `SSWS ${okta.apiToken}` },
      },
    );
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

  describe('client_id validation', () => {
    it('a path-traversal client_id never reaches any Okta path', async () => {
      const before = okta.emulator.requests.length;
      for (const clientId of [
        '..%2F..%2Fapi%2Fv1%2Fusers%2Fx',
        '../../api/v1/users/x',
        '../x',
        'a/b',
        '..',
        '.',
        'x"or"1',
      ]) {
        await rejectsWith(driver.getClient(clientId), InvalidRequestError);
        await rejectsWith(driver.updateClient(clientId, serviceMetadata()), InvalidRequestError);
        await rejectsWith(driver.rotateSecret(clientId), InvalidRequestError);
        await rejectsWith(driver.deleteClient(clientId), InvalidRequestError);
      }
      assert.deepEqual(okta.emulator.requests.slice(before), [], 'not one request went to Okta');
    });
  });
});
describe('okta driver configuration', () => {
  let okta: OktaEmulator;
  before(async () => {
    okta = await startOktaEmulator();
  });
  after(async () => okta?.stop());
  // Not about timeouts: a virtual clock nothing advances, so a loaded machine times out nothing.
  const settings = {
    rotationGraceSeconds: 0,
    publicUrl: 'http://localhost:3000',
    idpCallPolicy: { ...policy, timeoutMs: 30_000, clock: new VirtualClock() },
  };

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
      const driver = completeDriver(
        await createDriverFromEnv({ OKTA_ORG_URL: okta.emulator.url, OKTA_API_TOKEN: okta.apiToken }, settings),
      );
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
    const jwk = {
      ...createPrivateKey(okta.serviceApp.privateKeyPem).export({ format: 'jwk' }),
      kid: okta.serviceApp.keyId,
    };
    const driver = completeDriver(
      await createDriverFromEnv(
        {
          OKTA_ORG_URL: okta.emulator.url,
          OKTA_CLIENT_ID: okta.serviceApp.clientId,
          OKTA_PRIVATE_KEY: JSON.stringify(jwk),
        },
        settings,
      ),
    );
    await driver.checkReadiness();
    assert.equal(okta.tokenRequests(), 1);
  });

  it('builds a working driver from each set of variables `npm run emulator -- okta` prints', async () => {
    const { emulator, driverEnv, alternativeEnv = {} } = await oktaEmulator.start({ port: 0 });
    try {
      const serviceApp = Object.values(alternativeEnv)[0]!;
      assert.equal(
        statSync(serviceApp.OKTA_PRIVATE_KEY_FILE!).mode & 0o077,
        0,
        'the private key file is readable by its owner only',
      );
      for (const env of [driverEnv, { OKTA_ORG_URL: driverEnv.OKTA_ORG_URL!, ...serviceApp }]) {
        const driver = completeDriver(await createDriverFromEnv(env, settings));
        const client = await driver.registerClient(serviceMetadata(), { portal: 'api7' });
        await driver.deleteClient(client.clientId);
      }
      const authorizations = emulator
        .requestsTo(CREATE_APP)
        .map((request) => String(request.headers.authorization).split(' ')[0]);
      assert.deepEqual(authorizations, ['SSWS', 'Bearer']);
      emulator.assertNoViolations();
    } finally {
      await emulator.stop();
    }
  });
});
