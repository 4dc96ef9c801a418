/**
 * The Auth0 driver under IdP faults (every call of every operation × 429/500/503/timeout/dropped connection), its
 * admin-token economy, the ownership fence around clients it did not create, client_id validation and its
 * configuration — all through the real `auth0` SDK over TLS against the Auth0 emulator.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DcrDriver } from '../../src/driver/contract.js';
import { createAuth0Driver, createDriverFromEnv, type Auth0DriverOptions } from '../../drivers/auth0.js';
import { ConfigurationError } from '../../src/env.js';
import { BridgeError, IdpTimeoutError, InvalidRequestError } from '../../src/errors.js';
import { auth0DriverOptions, startAuth0Emulator, type Auth0Emulator } from '../emulators/auth0.js';
import { rejectsWith, serviceMetadata } from '../conformance/driver-suite.js';
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

/** The driver under test: short timeouts so persistent faults end fast. */
const policy = { timeoutMs: 400, baseDelayMs: 5, maxDelayMs: 40, budgetMs: 1300 };
/** The driver that sets the stage and checks the outcome, patient enough never to be the one that fails. */
// On a virtual clock nothing advances: a loaded machine cannot time it out.
const setupPolicy = { timeoutMs: 30_000, baseDelayMs: 5, maxDelayMs: 50, budgetMs: 60_000, clock: new VirtualClock() };
const TOKEN = 'POST /oauth/token';
const CLIENTS = 'GET /api/v2/clients';
const CREATE_CLIENT = 'POST /api/v2/clients';
const CLIENT = 'GET /api/v2/clients/:id';
const UPDATE_CLIENT = 'PATCH /api/v2/clients/:id';
const DELETE_CLIENT = 'DELETE /api/v2/clients/:id';
const ROTATE = 'POST /api/v2/clients/:id/rotate-secret';
const GRANTS = 'GET /api/v2/client-grants';
const CREATE_GRANT = 'POST /api/v2/client-grants';
const DELETE_GRANT = 'DELETE /api/v2/client-grants/:id';
const tooManyRequests = {
  statusCode: 429,
  error: 'Too Many Requests',
  message: 'Global limit has been reached',
  errorCode: 'too_many_requests',
};

function driverOptions(auth0: Auth0Emulator, overrides: Partial<Auth0DriverOptions> = {}): Auth0DriverOptions {
  return {
    ...auth0DriverOptions(auth0),
    idpCallPolicy: policy,
    ...overrides,
  };
}

describe('auth0 driver faults', () => {
  let auth0: Auth0Emulator;
  let driver: DcrDriver;
  let setup: DcrDriver;
  // The matrix's policy, on a virtual clock shared with the emulator's latency: no cell waits in real time, and the
  // long timeout also bounds the SDK's own real-time one, so a loaded machine times out no cell.
  const clock = new VirtualClock();
  const matrixPolicy = { timeoutMs: 10_000, baseDelayMs: 5, maxDelayMs: 40, budgetMs: 25_000, clock };
  before(async () => {
    auth0 = await startAuth0Emulator();
    driver = completeDriver(createAuth0Driver(driverOptions(auth0, { idpCallPolicy: matrixPolicy })));
    setup = completeDriver(createAuth0Driver(driverOptions(auth0, { idpCallPolicy: setupPolicy })));
    // Both drivers hold their admin token before any fault is injected (the short policy may need a second try on a busy machine).
    await setup.checkReadiness();
    for (let attempt = 1; ; attempt++) {
      try {
        await driver.checkReadiness();
        break;
      } catch (error) {
        if (attempt === 5) throw error;
      }
    }
  });
  after(async () => {
    await driver?.close();
    await setup?.close();
    await auth0?.stop();
  });

  const owned = () => new Set(auth0.ownedClientIds());
  const register = () => setup.registerClient(serviceMetadata(), { portal: 'api7' });
  const target: MatrixTarget = {
    driver: () => driver,
    register,
    cleanUp: (clientId) => setup.deleteClient(clientId),
    idp: () => auth0,
  };
  const deletion = deletionOperation(target, [CLIENT, GRANTS, DELETE_GRANT, DELETE_CLIENT]);

  // Retry-After 0 keeps the matrix fast; the wait for X-RateLimit-Reset is proven on its own below.
  const kinds = faultKinds({
    timeoutLatencyMs: 20_000,
    rateLimitHeaders: {
      'Retry-After': '0',
      'X-RateLimit-Limit': '50',
      'X-RateLimit-Remaining': '0',
      'X-RateLimit-Reset': '1',
    },
    rateLimitBody: tooManyRequests,
    serviceUnavailableRetryAfter: '0',
  });

  faultMatrix({
    emulator: () => auth0.emulator,
    clock,
    policy: matrixPolicy,
    // A repeated grant meets a 409, which the driver counts as granted.
    idempotentRoutes: [TOKEN, CREATE_GRANT],
    kinds,
    operations: [
      registrationOperation(target, [CREATE_CLIENT, CREATE_GRANT], serviceMetadata(), (client) =>
        assert.deepEqual(
          auth0.grants(client.clientId).map((grant) => grant.audience),
          [auth0.apiAudience],
          'a registered client holds its grant',
        ),
      ),
      readOperation(target, [CLIENT]),
      {
        name: 'update',
        routes: [CLIENT, UPDATE_CLIENT],
        prepare: register,
        run: async (client) =>
          driver.updateClient(client.clientId, serviceMetadata({ clientName: 'renamed under faults' })),
        verify: async (client, { succeeded }) => {
          assert.equal(
            auth0.client(client.clientId)?.name,
            succeeded ? 'renamed under faults' : 'conformance service client',
          );
          assert.equal(auth0.client(client.clientId)?.client_metadata.dcr_bridge_managed, 'true');
          assert.equal(
            await auth0.secretWorks(client.clientId, client.clientSecret),
            true,
            'an update never loses the secret',
          );
          await setup.deleteClient(client.clientId);
        },
      },
      {
        ...deletion,
        verify: async (client, outcome) => {
          await deletion.verify!(client, outcome);
          assert.deepEqual(auth0.grants(client.clientId), [], 'no grant outlives its client');
        },
      },
      rotationOperation(target, [CLIENT, ROTATE]),
      {
        name: 'readiness',
        routes: [CLIENTS],
        prepare: async () => undefined,
        run: async () => driver.checkReadiness(),
      },
      {
        name: 'first call of a fresh driver (admin token)',
        routes: [TOKEN],
        prepare: async () => completeDriver(createAuth0Driver(driverOptions(auth0, { idpCallPolicy: matrixPolicy }))),
        run: async (fresh: DcrDriver) => fresh.checkReadiness(),
      },
    ],
  });

  describe('answers Auth0 acted on but never delivered', () => {
    it('a create whose answer is lost leaves no orphan client', async () => {
      const before = owned();
      auth0.emulator.injectFault({ route: CREATE_CLIENT, drop: 'after-processing' });
      await assert.rejects(
        driver.registerClient(serviceMetadata(), {}),
        (error: unknown) => error instanceof BridgeError && error.status === 503,
      );
      auth0.emulator.clearFaults();
      assert.equal(auth0.emulator.requestsTo(CREATE_CLIENT).at(-1)?.outcome, 'dropped');
      assert.deepEqual(
        [...owned()].filter((id) => !before.has(id)),
        [],
      );
    });

    it('a rotation whose answer is lost is not repeated: one rotate-secret reached Auth0, and the caller is told to retry', async () => {
      const client = await register();
      const before = auth0.emulator.requestsTo(ROTATE).length;
      auth0.emulator.injectFault({ route: ROTATE, drop: 'after-processing' });
      await rejectsWith(driver.rotateSecret(client.clientId), BridgeError);
      auth0.emulator.clearFaults();
      assert.deepEqual(
        auth0.emulator
          .requestsTo(ROTATE)
          .slice(before)
          .map((sent) => sent.outcome),
        ['dropped'],
      );
      // Auth0 holds one secret: the one it issued is lost with the answer, so the old one no longer works either.
      assert.equal(await auth0.secretWorks(client.clientId, client.clientSecret), false);
      const again = await driver.rotateSecret(client.clientId);
      assert.equal(await auth0.secretWorks(client.clientId, again.clientSecret), true);
      await setup.deleteClient(client.clientId);
    });

    it('a rotation Auth0 carried out but answered unusably hands out the new secret, re-read: the caller holds the one working secret', async () => {
      for (const body of [undefined, '<html><body>Bad gateway</body></html>', { unexpected: 'x' }]) {
        const client = await register();
        const before = auth0.emulator.requestsTo(ROTATE).length;
        auth0.emulator.injectFault({
          route: ROTATE,
          status: 200,
          replacesAnswer: true,
          body,
          times: Number.POSITIVE_INFINITY,
        });
        const rotated = await driver.rotateSecret(client.clientId);
        auth0.emulator.clearFaults();
        assert.equal(auth0.emulator.requestsTo(ROTATE).length - before, 1, 'the rotation was not repeated');
        assert.equal(await auth0.secretWorks(client.clientId, rotated.clientSecret), true, 'the re-read secret works');
        assert.equal(
          await auth0.secretWorks(client.clientId, client.clientSecret),
          false,
          'the old one is gone, as Auth0 rotated',
        );
        await setup.deleteClient(client.clientId);
      }
    });

    it('when the re-read shows no secret (no read:client_keys): 502 idp_error, and rotating again recovers', async () => {
      const client = await register();
      auth0.emulator.injectFault({ route: ROTATE, status: 200, replacesAnswer: true });
      // The re-read (the second lookup) as Auth0 answers a token without read:client_keys: the client, no secret.
      auth0.emulator.injectFault({
        route: CLIENT,
        nth: 2,
        status: 200,
        replacesAnswer: true,
        body: { ...auth0.client(client.clientId), client_secret: undefined },
      });
      await assert.rejects(
        driver.rotateSecret(client.clientId),
        (error: unknown) => error instanceof BridgeError && error.status === 502 && error.code === 'idp_error',
      );
      auth0.emulator.clearFaults();
      const again = await driver.rotateSecret(client.clientId);
      assert.equal(await auth0.secretWorks(client.clientId, again.clientSecret), true);
      await setup.deleteClient(client.clientId);
    });

    it('a grant create whose answer is lost is repeated, and the 409 that follows counts as granted', async () => {
      auth0.emulator.injectFault({ route: CREATE_GRANT, drop: 'after-processing' });
      const client = await driver.registerClient(serviceMetadata(), {});
      auth0.emulator.clearFaults();
      assert.deepEqual(
        auth0.emulator
          .requestsTo(CREATE_GRANT)
          .slice(-2)
          .map((sent) => sent.outcome),
        ['dropped', 409],
      );
      assert.equal(auth0.grants(client.clientId).length, 1);
      await setup.deleteClient(client.clientId);
    });
  });

  describe('timeouts', () => {
    it('a call past its timeout is aborted: the request is gone before Auth0 would have answered', async () => {
      const client = await register();
      // On a virtual clock the emulator's latency shares: the attempt's timeout fires before the answer would come.
      const clock = new VirtualClock();
      const impatient = completeDriver(
        createAuth0Driver(driverOptions(auth0, { idpCallPolicy: { ...matrixPolicy, clock, maxAttempts: 1 } })),
      );
      await impatient.checkReadiness();
      auth0.emulator.useClock(clock);
      const sent = auth0.emulator.requests.length;
      try {
        auth0.emulator.injectFault({ route: CLIENT, latencyMs: 20_000 });
        await rejectsWith(impatient.getClient(client.clientId), IdpTimeoutError);
        const request = auth0.emulator.requests.slice(sent).find((candidate) => candidate.route === CLIENT)!;
        // The hang-up reaches the emulator as a closed socket a few event-loop turns later.
        for (let turn = 0; turn < 500 && request.outcome !== 'dropped'; turn++)
          await new Promise((resolve) => setTimeout(resolve, 10));
        assert.equal(request.outcome, 'dropped', 'the connection was closed by the aborted request, before any answer');
      } finally {
        auth0.emulator.clearFaults();
        auth0.emulator.useClock(undefined);
      }
      await setup.deleteClient(client.clientId);
    });
  });

  describe("Auth0's rate limits", () => {
    it('waits for X-RateLimit-Reset before repeating a throttled create, and the client is created once', async () => {
      // The wait runs on a virtual clock; the reset is epoch seconds of real time.
      const clock = new VirtualClock();
      const patient = completeDriver(
        createAuth0Driver(driverOptions(auth0, { idpCallPolicy: { ...policy, budgetMs: 4000, clock } })),
      );
      await patient.checkReadiness();
      const before = auth0.emulator.requestsTo(CREATE_CLIENT).length;
      const started = clock.now();
      const reset = Math.ceil(Date.now() / 1000) + 1;
      auth0.emulator.injectFault({
        route: CREATE_CLIENT,
        status: 429,
        headers: { 'X-RateLimit-Limit': '50', 'X-RateLimit-Remaining': '0', 'X-RateLimit-Reset': String(reset) },
        body: tooManyRequests,
      });
      const ownedBefore = owned();
      const client = await patient.registerClient(serviceMetadata(), {});
      assert.ok(
        Date.now() + (clock.now() - started) >= reset * 1000 - 50,
        'retried only after the rate-limit window reset',
      );
      assert.deepEqual(
        auth0.emulator
          .requestsTo(CREATE_CLIENT)
          .slice(before)
          .map((sent) => sent.outcome),
        [429, 201],
      );
      assert.deepEqual(
        [...owned()].filter((id) => !ownedBefore.has(id)),
        [client.clientId],
      );
      await setup.deleteClient(client.clientId);
    });

    it('every management answer carries the X-RateLimit headers', async () => {
      await driver.checkReadiness();
      const last = auth0.emulator.requestsTo(CLIENTS).at(-1)!;
      assert.equal(last.outcome, 200);
      const response = await fetch(`${auth0.emulator.url}/api/v2/clients?per_page=1`, {
        headers: { Authorization: 'Bearer not-a-token' },
      });
      assert.equal(response.status, 401);
      assert.equal(((await response.json()) as { message?: string }).message, 'Invalid token');
      for (const header of ['x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset'])
        assert.ok(response.headers.get(header), header);
    });
  });

  describe('client_id validation', () => {
    it('a path-traversal client_id never reaches any Auth0 path', async () => {
      const before = auth0.emulator.requests.length;
      for (const clientId of [
        '..%2F..%2Fapi%2Fv2%2Fusers',
        '../x',
        '../../api/v2/users',
        'a/b',
        '..',
        '.',
        'a?b',
        'x#y',
        '',
      ]) {
        await rejectsWith(driver.getClient(clientId), InvalidRequestError);
        await rejectsWith(driver.updateClient(clientId, serviceMetadata()), InvalidRequestError);
        await rejectsWith(driver.rotateSecret(clientId), InvalidRequestError);
        await rejectsWith(driver.deleteClient(clientId), InvalidRequestError);
        await rejectsWith(driver.grantApiAccess(clientId, { audience: auth0.apiAudience }), InvalidRequestError);
        await rejectsWith(driver.revokeApiAccess(clientId, { audience: auth0.apiAudience }), InvalidRequestError);
      }
      assert.deepEqual(auth0.emulator.requests.slice(before), [], 'not one request went to Auth0');
    });
  });
});

describe('auth0 driver admin token', () => {
  let auth0: Auth0Emulator;
  before(async () => {
    auth0 = await startAuth0Emulator({ tokenLifetimeSeconds: 300, rateLimitPerMinute: 100_000 });
  });
  after(async () => auth0?.stop());

  it('1,000 operations within a 5-minute token lifetime cost exactly one token request', async () => {
    const driver = completeDriver(createAuth0Driver(driverOptions(auth0, { idpCallPolicy: setupPolicy })));
    const clients = await Promise.all(Array.from({ length: 10 }, () => driver.registerClient(serviceMetadata(), {})));
    for (let batch = 0; batch < 49; batch++) {
      await Promise.all(
        Array.from({ length: 20 }, (_, index) => driver.getClient(clients[(batch + index) % clients.length]!.clientId)),
      );
    }
    await Promise.all(clients.map((client) => driver.deleteClient(client.clientId)));
    assert.equal(10 + 49 * 20 + 10, 1000);
    assert.equal(auth0.tokenRequests(), 1);
    assert.equal(auth0.emulator.requestsTo(TOKEN).length, 1);
    auth0.emulator.assertNoViolations();
  });

  it('a 401 from Auth0 fetches a new token once and the call succeeds', async () => {
    const driver = completeDriver(createAuth0Driver(driverOptions(auth0, { idpCallPolicy: setupPolicy })));
    await driver.checkReadiness();
    const before = auth0.tokenRequests();
    auth0.emulator.injectFault({
      route: CLIENTS,
      status: 401,
      body: {
        statusCode: 401,
        error: 'Unauthorized',
        message: 'Invalid token',
        attributes: { error: 'Invalid token' },
      },
    });
    await driver.checkReadiness();
    auth0.emulator.clearFaults();
    assert.equal(auth0.tokenRequests(), before + 1);
    assert.deepEqual(
      auth0.emulator
        .requestsTo(CLIENTS)
        .slice(-2)
        .map((sent) => sent.outcome),
      [401, 200],
    );
  });

  it('a token is replaced before its lifetime ends, so Auth0 never sees an expired one', async () => {
    auth0.setTokenLifetime(2);
    // The driver's token cache and Auth0's token lifetimes on one virtual clock: the time passes at once.
    const clock = new VirtualClock();
    auth0.emulator.useClock(clock);
    const driver = completeDriver(
      createAuth0Driver(driverOptions(auth0, { idpCallPolicy: { ...setupPolicy, clock } })),
    );
    const before = auth0.tokenRequests();
    await driver.checkReadiness();
    clock.advance(1_100);
    await driver.checkReadiness();
    auth0.emulator.useClock(undefined);
    auth0.setTokenLifetime(300);
    assert.equal(auth0.tokenRequests(), before + 2);
    assert.deepEqual(
      auth0.emulator
        .requestsTo(CLIENTS)
        .slice(-2)
        .map((sent) => sent.outcome),
      [200, 200],
    );
  });

  it('the emulator refuses an expired token with the 401 Auth0 sends', async () => {
    const clock = new VirtualClock();
    auth0.emulator.useClock(clock);
    auth0.setTokenLifetime(1);
    const issued = await fetch(`${auth0.emulator.url}/oauth/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: auth0.adminClient.clientId,
        client_secret: auth0.adminClient.clientSecret,
        audience: auth0.managementAudience,
      }),
    });
    auth0.setTokenLifetime(300);
    const { access_token: token } = (await issued.json()) as { access_token: string };
    clock.advance(1_050);
    const refused = await fetch(`${auth0.emulator.url}/api/v2/clients?per_page=1`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    auth0.emulator.useClock(undefined);
    assert.equal(refused.status, 401);
    assert.equal(
      ((await refused.json()) as { message?: string }).message,
      'Expired token received for JSON Web Token validation',
    );
  });

  it("a wrong admin secret is idp_error (the bridge's own credentials), and the secret is in no error", async () => {
    const impostor = completeDriver(
      createAuth0Driver(
        driverOptions(auth0, { clientSecret: 'wrong-secret-value-123456', idpCallPolicy: setupPolicy }),
      ),
    );
    await assert.rejects(impostor.checkReadiness(), (error: unknown) => {
      assert.ok(error instanceof BridgeError);
      assert.deepEqual({ status: error.status, code: error.code }, { status: 502, code: 'idp_error' });
      assert.equal(
        JSON.stringify({ message: error.message, cause: error.cause }).includes('wrong-secret-value'),
        false,
      );
      return true;
    });
  });
});

describe('auth0 driver configuration', () => {
  // Not about timeouts: a virtual clock nothing advances, so a loaded machine times out nothing.
  const settings = {
    rotationGraceSeconds: 0,
    publicUrl: 'http://localhost:3000',
    idpCallPolicy: { ...policy, timeoutMs: 30_000, clock: new VirtualClock() },
  };

  it('names the missing or bad variable in one line', async () => {
    const complete = { AUTH0_DOMAIN: 'example.eu.auth0.com', AUTH0_CLIENT_ID: 'id', AUTH0_CLIENT_SECRET: 'secret' };
    const cases: Array<[Record<string, string>, string]> = [
      [{}, 'AUTH0_DOMAIN'],
      [{ ...complete, AUTH0_DOMAIN: 'https://example.eu.auth0.com/' }, 'AUTH0_DOMAIN'],
      [{ AUTH0_DOMAIN: 'example.eu.auth0.com', AUTH0_CLIENT_SECRET: 'secret' }, 'AUTH0_CLIENT_ID'],
      [{ AUTH0_DOMAIN: 'example.eu.auth0.com', AUTH0_CLIENT_ID: 'id' }, 'AUTH0_CLIENT_SECRET'],
      [{ ...complete, AUTH0_DEFAULT_SCOPES: 'read:things' }, 'AUTH0_DEFAULT_SCOPES'],
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

  it('builds a working driver from the variables the emulator prints', async () => {
    const auth0 = await startAuth0Emulator();
    try {
      const driver = completeDriver(
        await createDriverFromEnv(
          {
            AUTH0_DOMAIN: auth0.domain,
            AUTH0_CLIENT_ID: auth0.adminClient.clientId,
            AUTH0_CLIENT_SECRET: auth0.adminClient.clientSecret,
            AUTH0_AUDIENCE: auth0.apiAudience,
            AUTH0_DEFAULT_SCOPES: 'read:things write:things',
          },
          { ...settings, idpCallPolicy: setupPolicy },
        ),
      );
      const client = await driver.registerClient(serviceMetadata(), {});
      assert.deepEqual(auth0.grants(client.clientId)[0]?.scope, ['read:things', 'write:things']);
      await driver.deleteClient(client.clientId);
      auth0.emulator.assertNoViolations();
    } finally {
      await auth0.stop();
    }
  });
});
