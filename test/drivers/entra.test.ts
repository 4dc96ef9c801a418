/**
 * The Entra driver, through real MSAL token acquisition and Graph calls over TLS against the Entra emulator: the
 * conformance suite, then what only Entra has (one admin token for many operations, ownership against the tenant's
 * own apps, replication delay, compensation of a half-made registration, certificate credentials, configuration).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { createDriverFromEnv, createEntraDriver, type EntraCredential } from '../../drivers/entra.js';
import type { DcrDriver, DriverSettings } from '../../src/driver/contract.js';
import { ConfigurationError } from '../../src/env.js';
import { ClientNotFoundError, IdpError, InvalidRequestError } from '../../src/errors.js';
import { serviceMetadata, testDriver, webMetadata } from '../conformance/driver-suite.js';
import { startEntraEmulator, type EntraEmulator } from '../emulators/entra.js';
import { createTestApp } from '../support/app.js';
import { VirtualClock } from '../support/virtual-clock.js';
import { completeDriver } from '../../src/core/driver.js';
import { multipleCredentialsTests } from '../support/multiple-credentials.js';

// A create is never repeated after a timeout, so 50 concurrent registrations on a loaded test machine need room;
// the tests about timeouts share a virtual clock with the emulator's latency, the fault matrix has its own policy.
// Not about timeouts: a virtual clock that nothing advances, so a loaded machine times out nothing.
export const testCallPolicy = {
  timeoutMs: 30_000,
  baseDelayMs: 5,
  maxDelayMs: 50,
  budgetMs: 60_000,
  clock: new VirtualClock(),
};

export function entraDriverFor(
  entra: EntraEmulator,
  settings: DriverSettings,
  credential?: EntraCredential,
): DcrDriver {
  return completeDriver(
    createEntraDriver({
      tenantId: entra.tenantId,
      clientId: entra.adminApp.clientId,
      credential: credential ?? { clientSecret: entra.adminApp.clientSecret },
      authorityHost: entra.authorityHost,
      graphUrl: entra.graphUrl,
      rotationGraceSeconds: settings.rotationGraceSeconds,
      idpCallPolicy: { ...testCallPolicy, ...settings.idpCallPolicy },
      replicationWaitMs: 3_000,
    }),
  );
}

const emulators = new WeakMap<DcrDriver, EntraEmulator>();

async function waitUntil(condition: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return condition();
}

testDriver({
  name: 'entra',
  async start(settings) {
    const entra = await startEntraEmulator();
    const driver = entraDriverFor(entra, settings);
    emulators.set(driver, entra);
    return {
      driver,
      secretWorks: (clientId, secret) => entra.secretWorks(clientId, secret),
      ownedClientIds: async () => entra.ownedClientIds(),
      seedForeignClient: async () => entra.seedForeignClient(),
      idpState: async () => entra.clientState(),
      reachSecretLimit: async (clientId) => entra.fillCollections(clientId),
      async stop() {
        await driver.close();
        await entra.stop();
        entra.emulator.assertNoViolations();
      },
    };
  },
  additionalTests(harness) {
    const entra = () => emulators.get(harness().driver)!;

    it('a registration is an application, its service principal and one password, tagged as the bridge own', async () => {
      const { driver } = harness();
      const client = await driver.registerClient(
        webMetadata({ postLogoutRedirectUris: ['https://app.example.com/bye'] }),
        { portal: 'konnect', applicationDescription: 'shop' },
      );
      const app = entra().application(client.clientId)!;
      assert.ok(app.tags.includes('dcr-bridge:managed'));
      assert.equal(app.hasServicePrincipal, true);
      assert.equal(app.passwordKeyIds.length, 1);
      assert.deepEqual((app.properties.web as { redirectUris: string[] }).redirectUris, [
        'https://app.example.com/callback',
      ]);
      assert.equal((app.properties.web as { logoutUrl: string }).logoutUrl, 'https://app.example.com/bye');
      assert.equal((app.properties.info as { marketingUrl: string }).marketingUrl, 'https://app.example.com');
      assert.equal(app.properties.signInAudience, 'AzureADMyOrg');
      assert.equal(app.properties.description, 'shop');
      const created = entra().emulator.requestsTo('POST /v1.0/applications').at(-1)!;
      assert.equal(
        'passwordCredentials' in (created.body as object),
        false,
        'secrets are added with addPassword only, never in the application body',
      );
      await driver.deleteClient(client.clientId);
    });

    it('a public client with the code flow is a SPA for https and a public client for native apps', async () => {
      const { driver } = harness();
      const spa = await driver.registerClient(
        webMetadata({ tokenEndpointAuthMethod: 'none', grantTypes: ['authorization_code'] }),
        { portal: 'api7' },
      );
      const native = await driver.registerClient(
        webMetadata({
          tokenEndpointAuthMethod: 'none',
          grantTypes: ['authorization_code'],
          applicationType: 'native',
          redirectUris: ['com.example.app:/cb'],
        }),
        { portal: 'api7' },
      );
      assert.deepEqual((entra().application(spa.clientId)!.properties.spa as { redirectUris: string[] }).redirectUris, [
        'https://app.example.com/callback',
      ]);
      assert.deepEqual(
        (entra().application(native.clientId)!.properties.publicClient as { redirectUris: string[] }).redirectUris,
        ['com.example.app:/cb'],
      );
      assert.deepEqual((await driver.getClient(native.clientId)).metadata.redirectUris, ['com.example.app:/cb']);
      assert.equal((await driver.getClient(spa.clientId)).metadata.tokenEndpointAuthMethod, 'none');
      await Promise.all([driver.deleteClient(spa.clientId), driver.deleteClient(native.clientId)]);
    });

    it('1,000 operations with a 5-minute token lifetime cost exactly one token request', async () => {
      const fresh = await startEntraEmulator({ tokenLifetimeSeconds: 300 });
      const driver = entraDriverFor(fresh, { rotationGraceSeconds: 0 });
      try {
        const client = await driver.registerClient(serviceMetadata(), { portal: 'api7' });
        for (let batch = 0; batch < 20; batch++) {
          await Promise.all(Array.from({ length: 50 }, () => driver.getClient(client.clientId)));
        }
        assert.equal(fresh.tokenRequests(), 1);
        fresh.emulator.assertNoViolations();
      } finally {
        await driver.close();
        await fresh.stop();
      }
    });

    it('a Graph 401 renews the admin token once and the operation succeeds', async () => {
      const { driver } = harness();
      const client = await driver.registerClient(serviceMetadata(), { portal: 'api7' });
      const before = entra().tokenRequests();
      entra().emulator.injectFault({
        route: "GET /v1.0/applications(appId=':appId')",
        status: 401,
        body: {
          error: {
            code: 'InvalidAuthenticationToken',
            message: 'Lifetime validation failed, the token is expired.',
            innerError: { date: new Date().toISOString(), 'request-id': 'r', 'client-request-id': 'r' },
          },
        },
      });
      assert.equal((await driver.getClient(client.clientId)).clientId, client.clientId);
      assert.equal(entra().tokenRequests(), before + 1);
      await driver.deleteClient(client.clientId);
    });

    it('a path-traversal client_id never reaches an IdP path', async () => {
      const { driver } = harness();
      const seen = entra().emulator.requests.length;
      for (const id of ['../x', '..', '.', 'a/b', '..%2F..%2Fx', "x')/addPassword"]) {
        await assert.rejects(driver.getClient(id), (error: unknown) => error instanceof ClientNotFoundError);
        await assert.rejects(driver.rotateSecret(id), (error: unknown) => error instanceof ClientNotFoundError);
        await driver.deleteClient(id);
      }
      const bridge = await createTestApp(driver);
      try {
        for (const path of [
          '/clients/..%2F..%2Fx',
          '/clients/../x',
          '/clients/a/b',
          '/clients/%2e%2e',
          '/..%2F..%2Fx/new-secret',
        ]) {
          const response = await request(bridge.app).get(path).set('X-API-Key', bridge.apiKey);
          assert.ok(response.status >= 400 && response.status < 500, `${path} answered ${response.status}`);
        }
      } finally {
        await bridge.close();
      }
      assert.equal(entra().emulator.requests.length, seen, 'no request reached the IdP');
    });

    it('a failure after the application was created leaves no application behind', async () => {
      const { driver } = harness();
      const before = entra().applicationCount();
      entra().emulator.injectFault({
        route: 'POST /v1.0/applications/:id/addPassword',
        status: 500,
        times: Number.POSITIVE_INFINITY,
      });
      await assert.rejects(
        driver.registerClient(serviceMetadata(), { portal: 'api7' }),
        (error: unknown) => error instanceof IdpError,
      );
      entra().emulator.clearFaults();
      assert.equal(entra().applicationCount(), before);
      assert.equal(entra().emulator.requestsTo('DELETE /v1.0/applications/:id').at(-1)?.outcome, 204);
    });

    it('a rotation whose addPassword answer was lost leaves no unknown password, and the old secret works', async () => {
      const { driver } = harness();
      const client = await driver.registerClient(serviceMetadata(), { portal: 'api7' });
      const keysBefore = entra().application(client.clientId)!.passwordKeyIds;
      entra().emulator.injectFault({ route: 'POST /v1.0/applications/:id/addPassword', drop: 'after-processing' });
      await assert.rejects(
        driver.rotateSecret(client.clientId),
        (error: unknown) => error instanceof Error && (error as { status?: number }).status === 503,
      );
      assert.equal(entra().emulator.requestsTo('POST /v1.0/applications/:id/addPassword').at(-1)?.outcome, 'dropped');
      assert.deepEqual(
        entra().application(client.clientId)!.passwordKeyIds,
        keysBefore,
        'the password added behind the lost answer is removed',
      );
      assert.equal(await entra().secretWorks(client.clientId, client.clientSecret), true);
      await driver.deleteClient(client.clientId);
    });

    it('an answer that is not JSON is idp_error, never a raw parser error', async () => {
      const { driver } = harness();
      const client = await driver.registerClient(serviceMetadata(), { portal: 'api7' });
      entra().emulator.injectFault({
        route: "GET /v1.0/applications(appId=':appId')",
        status: 200,
        body: '<html>gateway</html>',
      });
      await assert.rejects(
        driver.getClient(client.clientId),
        (error: unknown) => error instanceof IdpError && !error.message.includes('gateway'),
      );
      await driver.deleteClient(client.clientId);
    });

    it('a timed-out attempt really hangs up, at Graph and at the token endpoint through MSAL', async () => {
      // The attempt timeout and the emulator's latency on one virtual clock: the second of latency passes at once, past
      // the 400 ms timeout, and a loaded machine times out nothing else.
      const clock = new VirtualClock();
      const shortTimeout = { rotationGraceSeconds: 0, idpCallPolicy: { timeoutMs: 400, budgetMs: 6_000, clock } };
      const driver = entraDriverFor(entra(), shortTimeout);
      const client = await driver.registerClient(serviceMetadata(), { portal: 'api7' });
      entra().emulator.useClock(clock);
      try {
        entra().emulator.injectFault({ route: "GET /v1.0/applications(appId=':appId')", latencyMs: 1_000 });
        assert.equal((await driver.getClient(client.clientId)).clientId, client.clientId, 'the retry succeeds');
        const slowRead = entra().emulator.requestsTo("GET /v1.0/applications(appId=':appId')").at(-2)!;
        // The hang-up reaches the emulator as a closed socket a few event-loop turns later.
        assert.equal(await waitUntil(async () => slowRead.outcome === 'dropped', 5_000), true, 'the caller hung up');
        const fresh = entraDriverFor(entra(), shortTimeout);
        entra().emulator.injectFault({ route: 'POST /:tenant/oauth2/v2.0/token', latencyMs: 1_000 });
        await fresh.checkReadiness();
        const slowToken = entra().emulator.requestsTo('POST /:tenant/oauth2/v2.0/token').at(-2)!;
        assert.equal(await waitUntil(async () => slowToken.outcome === 'dropped', 5_000), true, 'MSAL hung up');
        await fresh.close();
      } finally {
        entra().emulator.useClock(undefined);
      }
      await driver.deleteClient(client.clientId);
      await driver.close();
    });

    it('a failed service principal creation is compensated too', async () => {
      const { driver } = harness();
      const before = entra().applicationCount();
      entra().emulator.injectFault({
        route: 'POST /v1.0/servicePrincipals',
        status: 503,
        headers: { 'Retry-After': '1' },
        times: Number.POSITIVE_INFINITY,
      });
      await assert.rejects(
        driver.registerClient(serviceMetadata(), { portal: 'api7' }),
        (error: unknown) => error instanceof Error && (error as { status?: number }).status === 503,
      );
      entra().emulator.clearFaults();
      assert.equal(entra().applicationCount(), before);
    });
  },
});

describe('entra driver against replication delay', () => {
  // The replication and the driver's waits for it on one virtual clock: the 600 ms pass at once, and are measured exactly.
  const clock = new VirtualClock();
  const replicationDelayMs = 600;
  let entra: EntraEmulator;
  let driver: DcrDriver;
  before(async () => {
    entra = await startEntraEmulator({ replicationDelayMs });
    entra.emulator.useClock(clock);
    driver = entraDriverFor(entra, { rotationGraceSeconds: 0, idpCallPolicy: { ...testCallPolicy, clock } });
  });
  after(async () => {
    await driver?.close();
    await entra?.stop();
    entra?.emulator.assertNoViolations();
  });

  it('registers although a new application is invisible for a while, and the client is readable at once', async () => {
    const started = clock.now();
    const client = await driver.registerClient(serviceMetadata(), { portal: 'api7' });
    const waited = clock.now() - started;
    assert.ok(
      waited >= replicationDelayMs && waited < 3_000,
      `waited out the replication (${waited} ms), within the replication wait`,
    );
    assert.ok(
      entra.emulator.requestsTo('POST /v1.0/applications/:id/addPassword').some((call) => call.outcome === 404),
      'the emulator did delay the application',
    );
    assert.equal((await driver.getClient(client.clientId)).clientId, client.clientId);
    clock.advance(replicationDelayMs);
    assert.equal(
      await entra.secretWorks(client.clientId, client.clientSecret),
      true,
      'the secret works once replicated',
    );
    await driver.deleteClient(client.clientId);
    assert.deepEqual(entra.ownedClientIds(), []);
  });
});

describe('entra driver with a rotation grace and under Graph throttling', () => {
  it('rotating again during a grace keeps two passwords: the newest and the one before', async () => {
    const entra = await startEntraEmulator();
    const driver = entraDriverFor(entra, { rotationGraceSeconds: 3600 });
    try {
      const client = await driver.registerClient(serviceMetadata(), { portal: 'api7' });
      const first = await driver.rotateSecret(client.clientId);
      const second = await driver.rotateSecret(client.clientId);
      assert.equal(entra.application(client.clientId)!.passwordKeyIds.length, 2);
      assert.equal(
        await entra.secretWorks(client.clientId, client.clientSecret),
        false,
        'the oldest is retired at once',
      );
      assert.equal(
        await entra.secretWorks(client.clientId, first.clientSecret),
        true,
        'the previous one keeps its grace',
      );
      assert.equal(await entra.secretWorks(client.clientId, second.clientSecret), true);
      assert.equal(await driver.retireExpiredSecrets(Date.now() + 3_601_000), 1);
      assert.equal(await entra.secretWorks(client.clientId, first.clientSecret), false);
      entra.emulator.assertNoViolations();
    } finally {
      await driver.close();
      await entra.stop();
    }
  });

  it("waits out Graph's 429 and its Retry-After instead of failing", async () => {
    // The emulator's throttling window and the driver's Retry-After waits on one virtual clock: 30 concurrent reads meet
    // the window however slow the machine, and the waits pass at once (a roomy budget: the reads' waits add up).
    const entra = await startEntraEmulator({ rateLimit: { requests: 10, windowMs: 2_000 } });
    const clock = new VirtualClock();
    entra.emulator.useClock(clock);
    const driver = entraDriverFor(entra, { rotationGraceSeconds: 0, idpCallPolicy: { clock, budgetMs: 600_000 } });
    try {
      const client = await driver.registerClient(serviceMetadata(), { portal: 'api7' });
      const reads = await Promise.all(Array.from({ length: 30 }, () => driver.getClient(client.clientId)));
      assert.equal(reads.length, 30);
      const throttled = entra.emulator.requests.filter((call) => call.outcome === 429);
      assert.ok(throttled.length > 0, 'the emulator did throttle');
      await driver.deleteClient(client.clientId);
      entra.emulator.assertNoViolations();
    } finally {
      await driver.close();
      await entra.stop();
    }
  });
});

describe('entra multiple credentials: the application passwordCredentials', () => {
  let entra: EntraEmulator;
  let driver: DcrDriver;
  before(async () => {
    entra = await startEntraEmulator();
    driver = entraDriverFor(entra, { rotationGraceSeconds: 3600 });
  });
  after(async () => {
    await driver?.close();
    await entra?.stop();
    entra?.emulator.assertNoViolations();
  });

  multipleCredentialsTests({
    driver: () => driver,
    idp: () => entra,
    limit: 1200,
    limitWords: /Entra holds at most 1200 entries across an application's collections, its secrets among them/,
    fillToLimit: async (clientId) => entra.fillCollections(clientId),
  });

  it('a public client is refused an added secret (400), as it is refused a rotation', async () => {
    const client = await driver.registerClient(
      webMetadata({ tokenEndpointAuthMethod: 'none', grantTypes: ['authorization_code'] }),
      { portal: 'konnect' },
    );
    const before = entra.clientState();
    await assert.rejects(driver.addSecret!(client.clientId), (error: unknown) => error instanceof InvalidRequestError);
    assert.deepEqual(entra.clientState(), before);
    await driver.deleteClient(client.clientId);
  });

  it("a secret's id is Entra's keyId, and it is listed with the password's creation and end", async () => {
    const client = await driver.registerClient(serviceMetadata(), { portal: 'konnect' });
    const added = await driver.addSecret!(client.clientId);
    const keyIds = entra.passwordKeyIds(client.clientId);
    assert.equal(keyIds.length, 2);
    assert.equal(added.secretId, keyIds[1]);
    const listed = await driver.listSecrets!(client.clientId);
    assert.deepEqual(
      listed.map((secret) => secret.secretId),
      keyIds,
    );
    for (const secret of listed) {
      assert.ok(secret.createdAt! <= Date.now() / 1000);
      assert.ok(secret.expiresAt! > Date.now() / 1000 + 365 * 86_400, "Entra's default two years");
    }
    await driver.deleteClient(client.clientId);
  });

  it("the grace sweep retires a rotation's old password and leaves an added one working", async () => {
    const client = await driver.registerClient(serviceMetadata(), { portal: 'konnect' });
    const [original] = await driver.listSecrets!(client.clientId);
    const rotated = await driver.rotateSecret(client.clientId);
    const added = await driver.addSecret!(client.clientId);
    const listed = await driver.listSecrets!(client.clientId);
    assert.equal(listed.length, 3);
    const newest = listed.find((secret) => ![original!.secretId, added.secretId].includes(secret.secretId))!;
    assert.equal(
      listed.find((secret) => secret.secretId === original!.secretId)!.expiresAt,
      newest.createdAt! + 3600,
      'the password in its grace ends when the sweep retires it',
    );
    assert.ok(added.expiresAt! > newest.createdAt! + 3600, 'the added one keeps the end Entra gave it');
    assert.ok((await driver.retireExpiredSecrets((newest.createdAt! + 3601) * 1000)) >= 1);
    assert.deepEqual(
      (await driver.listSecrets!(client.clientId)).map((secret) => secret.secretId).sort(),
      [newest.secretId, added.secretId].sort(),
    );
    assert.equal(await entra.secretWorks(client.clientId, client.clientSecret), false);
    assert.equal(await entra.secretWorks(client.clientId, rotated.clientSecret), true);
    assert.equal(await entra.secretWorks(client.clientId, added.clientSecret), true);
    assert.equal(
      await driver.retireExpiredSecrets((newest.createdAt! + 7200) * 1000),
      0,
      'a later sweep leaves both alone',
    );
    await driver.deleteClient(client.clientId);
  });
});

describe('entra driver with a certificate credential', () => {
  it('gets its admin token with a certificate through MSAL and works', async () => {
    const entra = await startEntraEmulator();
    const dir = mkdtempSync(join(tmpdir(), 'entra-cert-'));
    try {
      const file = join(dir, 'bridge.pem');
      writeFileSync(file, entra.adminApp.certificatePem, { mode: 0o600 });
      const driver = completeDriver(
        await createDriverFromEnv(
          { ...entra.driverEnv, ENTRA_CLIENT_SECRET: undefined, ENTRA_CERTIFICATE_PATH: file },
          { rotationGraceSeconds: 0, idpCallPolicy: testCallPolicy, publicUrl: 'http://127.0.0.1' },
        ),
      );
      await driver.checkReadiness();
      const client = await driver.registerClient(serviceMetadata(), { portal: 'api7' });
      assert.equal(await entra.secretWorks(client.clientId, client.clientSecret), true);
      await driver.deleteClient(client.clientId);
      assert.equal(entra.tokenRequests(), 1);
      entra.emulator.assertNoViolations();
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await entra.stop();
    }
  });

  it('a wrong secret for the bridge itself is idp_error, not a retry storm', async () => {
    const entra = await startEntraEmulator();
    try {
      const driver = entraDriverFor(entra, { rotationGraceSeconds: 0 }, { clientSecret: 'not-the-secret' });
      await assert.rejects(
        driver.checkReadiness(),
        (error: unknown) => error instanceof IdpError && !error.message.includes('not-the-secret'),
      );
      assert.equal(entra.emulator.requestsTo('POST /:tenant/oauth2/v2.0/token').length, 1);
    } finally {
      await entra.stop();
    }
  });
});

describe('entra driver configuration', () => {
  const settings = { rotationGraceSeconds: 0, publicUrl: 'http://127.0.0.1' };
  const base = {
    ENTRA_TENANT_ID: '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0',
    ENTRA_CLIENT_ID: '11111111-2222-3333-4444-555555555555',
    ENTRA_CLIENT_SECRET: 'abc8Q~secret-value-of-forty-characters-x',
  };
  const refuses = async (env: Record<string, string | undefined>, variable: string) => {
    await assert.rejects(createDriverFromEnv(env, settings), (error: unknown) => {
      assert.ok(error instanceof ConfigurationError, String(error));
      assert.equal(error.variable, variable);
      assert.equal(error.message.includes('\n'), false);
      assert.equal(error.message.includes('abc8Q~'), false, 'the secret is never echoed');
      return true;
    });
  };

  it('names the missing or invalid variable in one line', async () => {
    await refuses({ ...base, ENTRA_TENANT_ID: undefined }, 'ENTRA_TENANT_ID');
    await refuses({ ...base, ENTRA_TENANT_ID: 'common' }, 'ENTRA_TENANT_ID');
    await refuses({ ...base, ENTRA_CLIENT_ID: 'not-a-guid' }, 'ENTRA_CLIENT_ID');
    await refuses({ ...base, ENTRA_CLIENT_SECRET: undefined }, 'ENTRA_CLIENT_SECRET');
    await refuses({ ...base, ENTRA_CERTIFICATE_PATH: '/no/such/file.pem' }, 'ENTRA_CLIENT_SECRET');
    await refuses(
      { ...base, ENTRA_CLIENT_SECRET: undefined, ENTRA_CERTIFICATE_PATH: '/no/such/file.pem' },
      'ENTRA_CERTIFICATE_PATH',
    );
    await refuses({ ...base, ENTRA_AUTHORITY_HOST: 'http://login.example.com' }, 'ENTRA_AUTHORITY_HOST');
    await refuses({ ...base, ENTRA_GRAPH_URL: 'not a url' }, 'ENTRA_GRAPH_URL');
  });

  it('builds a driver from the variables the emulator prints, under DCR_DRIVER=azure too', async () => {
    const entra = await startEntraEmulator();
    try {
      const { loadDriver } = await import('../../src/drivers.js');
      const { loadConfig } = await import('../../src/config.js');
      const env = { ...entra.driverEnv, DCR_DRIVER: 'azure', DCR_API_KEYS: 'entra-portal-key-01' };
      const driver = await loadDriver(loadConfig(env).driverName, env, { ...settings, idpCallPolicy: testCallPolicy });
      assert.equal(driver.name, 'entra');
      assert.equal(driver.capabilities.rotationGrace, true);
      await driver.checkReadiness();
      entra.emulator.assertNoViolations();
    } finally {
      await entra.stop();
    }
  });
});
