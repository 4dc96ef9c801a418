/**
 * The Keycloak driver, through the real admin-client SDK over TLS against the Keycloak emulator: the conformance
 * suite, then what only Keycloak has (token reuse, ownership against the realm's own clients, 409 adoption, the
 * realm's secret-rotation policy, configuration).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { createDriverFromEnv, createKeycloakDriver } from '../../drivers/keycloak.js';
import type { DcrDriver, DriverSettings } from '../../src/driver/contract.js';
import { ConfigurationError } from '../../src/env.js';
import {
  ConflictError,
  IdpError,
  InvalidClientMetadataError,
  InvalidRedirectUriError,
  InvalidRequestError,
} from '../../src/errors.js';
import { serviceMetadata, testDriver, webMetadata } from '../conformance/driver-suite.js';
import { createTestApp } from '../support/app.js';
import { VirtualClock } from '../support/virtual-clock.js';
import { startKeycloakEmulator, type KeycloakEmulator, type KeycloakEmulatorOptions } from '../emulators/keycloak.js';
import { completeDriver } from '../../src/core/driver.js';
import { multipleCredentialsTests } from '../support/multiple-credentials.js';
import { rotateConcurrently } from '../support/concurrent-rotations.js';

// Not about timeouts (the fault matrix is): a virtual clock that nothing advances, so a loaded machine times out nothing.
export const testCallPolicy = {
  timeoutMs: 30_000,
  baseDelayMs: 5,
  maxDelayMs: 50,
  budgetMs: 60_000,
  clock: new VirtualClock(),
};

function driverFor(keycloak: KeycloakEmulator, settings: DriverSettings): DcrDriver {
  const env = keycloak.driverEnv;
  return completeDriver(
    createKeycloakDriver({
      url: env.KEYCLOAK_URL!,
      realm: env.KEYCLOAK_REALM!,
      adminRealm: env.KEYCLOAK_ADMIN_REALM,
      clientId: env.KEYCLOAK_CLIENT_ID!,
      clientSecret: env.KEYCLOAK_CLIENT_SECRET!,
      rotationGraceSeconds: settings.rotationGraceSeconds,
      idpCallPolicy: { ...testCallPolicy, ...settings.idpCallPolicy },
    }),
  );
}

/** A real client-credentials grant at the realm's token endpoint: does the realm authenticate the client with this secret? */
async function secretWorks(keycloak: KeycloakEmulator, clientId: string, secret: string): Promise<boolean> {
  const response = await fetch(`${keycloak.emulator.url}/realms/${keycloak.realm}/protocol/openid-connect/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: 'grant_type=client_credentials',
  });
  const body = (await response.json()) as { error?: string; error_description?: string };
  // Keycloak answers a wrong secret `unauthorized_client` too; only this description says the secret was right and the
  // client just may not use this grant (no service account).
  return response.status === 200 || body.error_description === 'Client not enabled to retrieve service account';
}

/** The client as the emulated realm holds it. */
function stored(keycloak: KeycloakEmulator, clientId: string) {
  return keycloak.clients().find((client) => client.clientId === clientId)!;
}

async function startHarness(settings: DriverSettings, emulatorOptions: KeycloakEmulatorOptions = {}) {
  const keycloak = await startKeycloakEmulator(emulatorOptions);
  const driver = driverFor(keycloak, settings);
  return {
    keycloak,
    driver,
    secretWorks: (clientId: string, secret: string) => secretWorks(keycloak, clientId, secret),
    ownedClientIds: async () => keycloak.ownedClientIds(),
    seedForeignClient: async () => keycloak.seedForeignClient(),
    idpState: async () => keycloak.clientState(),
    async stop() {
      await driver.close();
      await keycloak.stop();
      keycloak.emulator.assertNoViolations();
    },
  };
}

testDriver({ name: 'keycloak', start: (settings) => startHarness(settings) });

describe('keycloak driver: concurrent rotations (issue 23, item 6)', () => {
  for (const rotationGraceSeconds of [0, 3600]) {
    it(`20 concurrent rotations of one client all succeed, the last answer holds a working secret (grace ${rotationGraceSeconds} s)`, async () => {
      const harness = await startHarness({ rotationGraceSeconds });
      try {
        const client = await harness.driver.registerClient(serviceMetadata(), { portal: 'api7' });
        // The first new secret is made at once and answered late: rotations not run one at a time would answer it last.
        harness.keycloak.emulator.injectFault({
          route: 'POST /admin/realms/:realm/clients/:id/client-secret',
          answerLatencyMs: 300,
        });
        await rotateConcurrently(harness.driver, client.clientId, harness.secretWorks);
      } finally {
        await harness.stop();
      }
    });
  }
});

describe('keycloak driver against a realm', () => {
  let harness: Awaited<ReturnType<typeof startHarness>>;
  before(async () => {
    harness = await startHarness({ rotationGraceSeconds: 0 }, { tokenLifetimeSeconds: 300 });
  });
  after(async () => {
    await harness?.stop();
  });

  it('1,000 operations within a 5-minute token lifetime cost exactly one token request', async () => {
    const before = harness.keycloak.serviceAccountTokenRequests();
    const driver = driverFor(harness.keycloak, { rotationGraceSeconds: 0 });
    const client = await driver.registerClient(serviceMetadata(), { portal: 'api7' });
    for (let batch = 0; batch < 20; batch++) {
      await Promise.all(Array.from({ length: 50 }, () => driver.getClient(client.clientId)));
    }
    await driver.deleteClient(client.clientId);
    assert.equal(harness.keycloak.serviceAccountTokenRequests() - before, 1);
  });

  it('one token request serves concurrent first operations of a fresh driver', async () => {
    const driver = driverFor(harness.keycloak, { rotationGraceSeconds: 0 });
    const before = harness.keycloak.serviceAccountTokenRequests();
    await Promise.all(Array.from({ length: 20 }, () => driver.checkReadiness()));
    assert.equal(harness.keycloak.serviceAccountTokenRequests() - before, 1);
  });

  it('a token the realm no longer accepts is replaced once for all concurrent operations, and they succeed', async () => {
    const driver = driverFor(harness.keycloak, { rotationGraceSeconds: 0 });
    await driver.checkReadiness();
    const before = harness.keycloak.serviceAccountTokenRequests();
    harness.keycloak.revokeTokens();
    // The second call's 401 arrives after the first has already replaced the token: it must not throw the new one away.
    harness.keycloak.emulator.injectFault({ route: 'GET /admin/realms/:realm/clients', nth: 2, latencyMs: 150 });
    await Promise.all(Array.from({ length: 20 }, () => driver.checkReadiness()));
    assert.equal(harness.keycloak.serviceAccountTokenRequests() - before, 1);
  });

  it('admin tokens really expire, and the driver replaces them before they do', async () => {
    harness.keycloak.setTokenLifetime(1);
    // The driver's token cache and the realm's token lifetimes on one virtual clock: the second passes at once.
    const clock = new VirtualClock();
    harness.keycloak.emulator.useClock(clock);
    try {
      const driver = driverFor(harness.keycloak, { rotationGraceSeconds: 0, idpCallPolicy: { clock } });
      await driver.checkReadiness();
      const first = String(
        harness.keycloak.emulator.requestsTo('GET /admin/realms/:realm/clients').at(-1)!.headers.authorization,
      );
      const before = harness.keycloak.serviceAccountTokenRequests();
      clock.advance(1_100);
      const expired = await fetch(`${harness.keycloak.emulator.url}/admin/realms/${harness.keycloak.realm}/clients`, {
        headers: { authorization: first },
      });
      assert.equal(expired.status, 401);
      assert.deepEqual(await expired.json(), { error: 'HTTP 401 Unauthorized' });
      const sent = harness.keycloak.emulator.requestsTo('GET /admin/realms/:realm/clients').length;
      await driver.checkReadiness();
      assert.equal(harness.keycloak.serviceAccountTokenRequests() - before, 1);
      const answered = harness.keycloak.emulator
        .requestsTo('GET /admin/realms/:realm/clients')
        .slice(sent)
        .map((request) => request.outcome);
      assert.deepEqual(answered, [200], 'the driver never sent the expired token (no 401 then renewal)');
    } finally {
      harness.keycloak.emulator.useClock(undefined);
      harness.keycloak.setTokenLifetime(300);
    }
  });

  it("wrong service-account credentials are idp_error, refused at the realm's token endpoint", async () => {
    const env = harness.keycloak.driverEnv;
    const before = harness.keycloak.serviceAccountTokenRequests();
    const driver = completeDriver(
      createKeycloakDriver({
        url: env.KEYCLOAK_URL!,
        realm: env.KEYCLOAK_REALM!,
        clientId: env.KEYCLOAK_CLIENT_ID!,
        clientSecret: 'not-the-secret',
        rotationGraceSeconds: 0,
        idpCallPolicy: testCallPolicy,
      }),
    );
    await assert.rejects(driver.checkReadiness(), (error: unknown) => {
      assert.ok(error instanceof IdpError);
      assert.doesNotMatch(error.message, /not-the-secret|Invalid client/);
      return true;
    });
    assert.equal(harness.keycloak.serviceAccountTokenRequests() - before, 1, 'refused credentials are not retried');
  });

  it('a path-traversal client_id never reaches any IdP path', async () => {
    const before = harness.keycloak.emulator.requests.length;
    for (const clientId of ['..%2F..%2Fx', '../x', 'a/b', '.', '..', '', 'a b', 'x'.repeat(256)]) {
      await assert.rejects(harness.driver.getClient(clientId), InvalidRequestError);
      await assert.rejects(harness.driver.updateClient(clientId, serviceMetadata()), InvalidRequestError);
      await assert.rejects(harness.driver.rotateSecret(clientId), InvalidRequestError);
      await assert.rejects(harness.driver.deleteClient(clientId), InvalidRequestError);
    }
    assert.equal(harness.keycloak.emulator.requests.length, before, 'no request was sent to the IdP');
  });

  it('a path-traversal client_id sent to the bridge over HTTP never reaches any IdP path', async () => {
    const bridge = await createTestApp(harness.driver);
    try {
      const before = harness.keycloak.emulator.requests.length;
      for (const path of [
        '/clients/..%2F..%2Fx',
        '/clients/..%2Fx/rotate-secret',
        '/clients/a%2Fb',
        '/..%2F..%2Fx/new-secret',
        '/clients/%2E%2E',
      ]) {
        for (const method of ['get', 'put', 'delete', 'post'] as const) {
          const response = await request(bridge.app)
            [method](path)
            .set('X-API-Key', bridge.apiKey)
            .send(method === 'put' ? { client_name: 'x' } : undefined);
          assert.ok([400, 404, 405].includes(response.status), `${method} ${path} answered ${response.status}`);
        }
      }
      assert.deepEqual(
        harness.keycloak.emulator.requests.slice(before).map((sent) => sent.rawPath),
        [],
        'no request reached the IdP',
      );
    } finally {
      await bridge.close();
    }
  });

  it('a create whose answer was lost is repeated and adopted, not duplicated', async () => {
    const before = harness.keycloak.ownedClientIds().length;
    harness.keycloak.emulator.injectFault({ route: 'POST /admin/realms/:realm/clients', drop: 'after-processing' });
    const client = await harness.driver.registerClient(serviceMetadata(), {
      portal: 'konnect',
      portalId: 'test portal_id',
    });
    assert.equal(harness.keycloak.ownedClientIds().length, before + 1);
    assert.equal(
      harness.keycloak.emulator.requestsTo('POST /admin/realms/:realm/clients').at(-1)?.outcome,
      409,
      'the repeat met the first create',
    );
    assert.equal(await harness.secretWorks(client.clientId, client.clientSecret), true);
    await harness.driver.deleteClient(client.clientId);
  });

  it('maps RFC 7591 metadata the way Keycloak client registration does, and reads it back', async () => {
    const metadata = webMetadata({
      grantTypes: ['authorization_code', 'refresh_token', 'password'],
      tokenEndpointAuthMethod: 'private_key_jwt',
      jwksUri: 'https://app.example.com/jwks.json',
      scope: 'orders:read orders:write',
      logoUri: 'https://app.example.com/logo.png',
      contacts: ['ops@example.com', 'dev@example.com'],
      postLogoutRedirectUris: ['https://app.example.com/bye', 'https://app.example.com/later'],
    });
    for (const scope of ['orders:read', 'orders:write']) harness.keycloak.addClientScope(scope);
    const client = await harness.driver.registerClient(metadata, { portal: 'api7' });
    const stored = harness.keycloak.emulator.requestsTo('POST /admin/realms/:realm/clients').at(-1)!.body as Record<
      string,
      unknown
    >;
    assert.equal(stored.standardFlowEnabled, true);
    assert.equal(stored.directAccessGrantsEnabled, true);
    assert.equal(stored.serviceAccountsEnabled, false);
    assert.equal(stored.implicitFlowEnabled, false);
    assert.equal(stored.clientAuthenticatorType, 'client-jwt');
    assert.deepEqual(stored.optionalClientScopes, ['orders:read', 'orders:write']);
    assert.deepEqual(stored.redirectUris, metadata.redirectUris);
    const attributes = stored.attributes as Record<string, string>;
    assert.equal(attributes['use.refresh.tokens'], 'true');
    assert.equal(attributes['use.jwks.url'], 'true');
    assert.equal(attributes['jwks.url'], metadata.jwksUri);
    assert.equal(attributes['post.logout.redirect.uris'], 'https://app.example.com/bye##https://app.example.com/later');
    assert.equal(attributes['dcr-bridge.managed'], 'true');
    const read = await harness.driver.getClient(client.clientId);
    assert.deepEqual(read.metadata, {
      ...metadata,
      responseTypes: ['code'],
      grantTypes: ['authorization_code', 'password', 'refresh_token'],
    });
    const publicClient = await harness.driver.registerClient(webMetadata({ tokenEndpointAuthMethod: 'none' }), {
      portal: 'api7',
    });
    assert.equal(
      (
        harness.keycloak.emulator.requestsTo('POST /admin/realms/:realm/clients').at(-1)!.body as {
          publicClient: boolean;
        }
      ).publicClient,
      true,
    );
    await harness.driver.deleteClient(client.clientId);
    await harness.driver.deleteClient(publicClient.clientId);
  });

  it('a scope the realm does not have is invalid_client_metadata, and nothing is created (Keycloak would drop it silently)', async () => {
    const before = harness.keycloak.ownedClientIds().length;
    await assert.rejects(
      harness.driver.registerClient(serviceMetadata({ scope: 'profile no-such-scope' }), { portal: 'api7' }),
      (error: unknown) => error instanceof InvalidClientMetadataError && error.message.includes('"no-such-scope"'),
      'the refusal names the value (issue 23, item 13)',
    );
    assert.equal(harness.keycloak.ownedClientIds().length, before);
    const client = await harness.driver.registerClient(serviceMetadata({ scope: 'openid profile' }), {
      portal: 'api7',
    });
    assert.deepEqual(
      stored(harness.keycloak, client.clientId).optionalClientScopes,
      ['profile'],
      '`openid` is implicit in Keycloak, not a client scope',
    );
    await assert.rejects(
      harness.driver.updateClient(client.clientId, serviceMetadata({ scope: 'no-such-scope' })),
      InvalidClientMetadataError,
    );
    await harness.driver.deleteClient(client.clientId);
  });

  it("an update changes the client's scopes through Keycloak's scope endpoints (a client PUT leaves them)", async () => {
    const client = await harness.driver.registerClient(serviceMetadata({ scope: 'profile email' }), { portal: 'api7' });
    const updated = await harness.driver.updateClient(client.clientId, serviceMetadata({ scope: 'email phone' }));
    assert.equal(updated.metadata.scope, 'email phone');
    assert.deepEqual([...(stored(harness.keycloak, client.clientId).optionalClientScopes as string[])].sort(), [
      'email',
      'phone',
    ]);
    assert.equal(
      (await harness.driver.getClient(client.clientId)).metadata.scope?.split(' ').sort().join(' '),
      'email phone',
    );
    await harness.driver.deleteClient(client.clientId);
  });

  it('a redirect URI Keycloak refuses is invalid_redirect_uri; values over its 255-character columns never reach it', async () => {
    await assert.rejects(
      harness.driver.registerClient(webMetadata({ redirectUris: ['https://app.example.com/cb#fragment'] }), {
        portal: 'api7',
      }),
      InvalidRedirectUriError,
    );
    const before = harness.keycloak.emulator.requests.length;
    await assert.rejects(
      harness.driver.registerClient(serviceMetadata({ clientName: 'n'.repeat(256) }), { portal: 'api7' }),
      InvalidClientMetadataError,
    );
    await assert.rejects(
      harness.driver.registerClient(webMetadata({ redirectUris: [`https://app.example.com/${'r'.repeat(250)}`] }), {
        portal: 'api7',
      }),
      InvalidRedirectUriError,
    );
    assert.equal(harness.keycloak.emulator.requests.length, before, 'refused before any call to Keycloak');
    const client = await harness.driver.registerClient(serviceMetadata({ clientName: 'n'.repeat(255) }), {
      portal: 'api7',
    });
    await harness.driver.deleteClient(client.clientId);
  });

  it('an update that drops optional metadata removes it at the IdP', async () => {
    const client = await harness.driver.registerClient(
      webMetadata({ logoUri: 'https://app.example.com/logo.png', scope: 'profile email' }),
      { portal: 'api7' },
    );
    await harness.driver.updateClient(client.clientId, webMetadata());
    const read = await harness.driver.getClient(client.clientId);
    assert.equal(read.metadata.logoUri, undefined);
    assert.equal(read.metadata.scope, undefined);
    const attributes = harness.keycloak.clients().find((stored) => stored.clientId === client.clientId)!.attributes;
    assert.equal(attributes.logoUri, undefined);
    assert.equal(attributes['dcr-bridge.managed'], 'true', 'the ownership mark survives an update');
    await harness.driver.deleteClient(client.clientId);
  });
});

describe('keycloak driver rotation in a realm with the secret-rotation policy', () => {
  let harness: Awaited<ReturnType<typeof startHarness>>;
  before(async () => {
    harness = await startHarness({ rotationGraceSeconds: 600 }, { secretRotationPolicy: true });
  });
  after(async () => {
    await harness?.stop();
  });

  it('declares the grace capability and retires only the secrets whose grace ended', async () => {
    assert.equal(harness.driver.capabilities.rotationGrace, true);
    const early = await harness.driver.registerClient(serviceMetadata(), { portal: 'api7' });
    const never = await harness.driver.registerClient(serviceMetadata(), { portal: 'api7' });
    const rotated = await harness.driver.rotateSecret(early.clientId);
    assert.equal(await harness.secretWorks(early.clientId, early.clientSecret), true);
    assert.equal(await harness.driver.retireExpiredSecrets(Date.now() + 590_000), 0);
    assert.equal(await harness.driver.retireExpiredSecrets(Date.now() + 601_000), 1);
    assert.equal(await harness.secretWorks(early.clientId, early.clientSecret), false);
    assert.equal(await harness.secretWorks(early.clientId, rotated.clientSecret), true);
    assert.equal(
      await harness.secretWorks(never.clientId, never.clientSecret),
      true,
      'a client never rotated keeps its secret',
    );
    assert.equal(
      await harness.driver.retireExpiredSecrets(Date.now() + 601_000),
      0,
      'a second sweep finds nothing left',
    );
  });

  describe('multiple credentials: the current secret and the rotated one', () => {
    multipleCredentialsTests({
      driver: () => harness.driver,
      idp: () => harness.keycloak,
      limit: 2,
      limitWords: /Keycloak holds at most 2 secrets per client, the current and the rotated one/,
    });

    it('the current secret cannot be revoked while a rotated one exists: a 409 that changes nothing', async () => {
      const { driver, keycloak } = harness;
      const client = await driver.registerClient(serviceMetadata(), { portal: 'konnect' });
      const added = await driver.addSecret!(client.clientId);
      const before = keycloak.clientState();
      await assert.rejects(driver.revokeSecret!(client.clientId, added.secretId), (error: unknown) => {
        assert.ok(error instanceof ConflictError);
        assert.match(error.message, /cannot remove a client's current secret/);
        return true;
      });
      assert.deepEqual(keycloak.clientState(), before);
      assert.equal(await harness.secretWorks(client.clientId, added.clientSecret), true);
    });

    it('the secret an add moved to the rotated slot keeps its id, and ends when the sweep retires it', async () => {
      const { driver, keycloak } = harness;
      const client = await driver.registerClient(serviceMetadata(), { portal: 'konnect' });
      const [first] = await driver.listSecrets!(client.clientId);
      const added = await driver.addSecret!(client.clientId);
      const listed = await driver.listSecrets!(client.clientId);
      assert.deepEqual(
        listed.map((secret) => secret.secretId),
        [first!.secretId, added.secretId],
      );
      const { attributes } = stored(keycloak, client.clientId);
      const currentCreatedAt = Number(attributes['client.secret.creation.time']);
      assert.equal(listed[0]!.expiresAt, currentCreatedAt + 600, 'the sweep ends it before Keycloak would');
      assert.equal(listed[1]!.expiresAt, Number(attributes['client.secret.expiration.time']));
      assert.ok((await driver.retireExpiredSecrets((currentCreatedAt + 601) * 1000)) >= 1);
      assert.deepEqual(
        (await driver.listSecrets!(client.clientId)).map((secret) => secret.secretId),
        [added.secretId],
      );
      assert.equal(await harness.secretWorks(client.clientId, client.clientSecret), false);
    });
  });
});

describe('keycloak driver rotation in a realm without the secret-rotation policy', () => {
  let harness: Awaited<ReturnType<typeof startHarness>>;
  before(async () => {
    harness = await startHarness({ rotationGraceSeconds: 0 }, { secretRotationPolicy: false });
  });
  after(async () => {
    await harness?.stop();
  });

  it('rotating refuses the old secret at once', async () => {
    const client = await harness.driver.registerClient(serviceMetadata(), { portal: 'api7' });
    const rotated = await harness.driver.rotateSecret(client.clientId);
    assert.equal(await harness.secretWorks(client.clientId, client.clientSecret), false);
    assert.equal(await harness.secretWorks(client.clientId, rotated.clientSecret), true);
  });

  it('adding a secret is a 409 (one secret per client without the policy) that changes nothing', async () => {
    const client = await harness.driver.registerClient(serviceMetadata(), { portal: 'konnect' });
    const before = harness.keycloak.clientState();
    await assert.rejects(harness.driver.addSecret!(client.clientId), (error: unknown) => {
      assert.ok(error instanceof ConflictError);
      assert.match(error.message, /unless the realm's secret-rotation policy keeps a rotated one \(limit 1 here\)/);
      return true;
    });
    assert.deepEqual(harness.keycloak.clientState(), before);
    assert.equal(await harness.secretWorks(client.clientId, client.clientSecret), true);
    assert.equal((await harness.driver.listSecrets!(client.clientId)).length, 1);
  });
});

describe('keycloak driver with its service account in another realm', () => {
  let keycloak: KeycloakEmulator;
  before(async () => {
    keycloak = await startKeycloakEmulator({ realm: 'apps', adminRealm: 'master' });
  });
  after(async () => {
    await keycloak?.stop();
    keycloak?.emulator.assertNoViolations();
  });

  it('signs in at KEYCLOAK_ADMIN_REALM and manages the clients of KEYCLOAK_REALM', async () => {
    assert.equal(keycloak.driverEnv.KEYCLOAK_ADMIN_REALM, 'master');
    const driver = completeDriver(
      await createDriverFromEnv(keycloak.driverEnv, {
        rotationGraceSeconds: 0,
        publicUrl: 'http://localhost:3000',
        idpCallPolicy: testCallPolicy,
      }),
    );
    const client = await driver.registerClient(serviceMetadata(), { portal: 'api7' });
    assert.deepEqual(keycloak.ownedClientIds(), [client.clientId]);
    assert.equal(await secretWorks(keycloak, client.clientId, client.clientSecret), true);
    await driver.deleteClient(client.clientId);
    assert.deepEqual(
      keycloak.emulator.requestsTo('POST /realms/:realm/protocol/openid-connect/token').map((sent) => sent.rawPath),
      ['/realms/master/protocol/openid-connect/token', '/realms/apps/protocol/openid-connect/token'],
    );
    await driver.close();
  });
});

describe('keycloak driver configuration', () => {
  const settings = { rotationGraceSeconds: 0, publicUrl: 'http://localhost:3000' };
  const env = {
    KEYCLOAK_URL: 'https://sso.example.com',
    KEYCLOAK_REALM: 'apps',
    KEYCLOAK_CLIENT_ID: 'dcr-bridge',
    KEYCLOAK_CLIENT_SECRET: 'a-secret-value',
  };

  it('builds a driver from the KEYCLOAK_* variables', async () => {
    const driver = completeDriver(await createDriverFromEnv(env, settings));
    assert.equal(driver.name, 'keycloak');
    assert.equal(driver.capabilities.rotationGrace, false);
    await driver.close();
  });

  for (const variable of Object.keys(env)) {
    it(`a missing ${variable} is one line naming it`, async () => {
      await assert.rejects(createDriverFromEnv({ ...env, [variable]: undefined }, settings), (error: unknown) => {
        assert.ok(error instanceof ConfigurationError);
        assert.equal(error.variable, variable);
        assert.doesNotMatch(error.message, /\n|a-secret-value/);
        return true;
      });
    });
  }

  it('a KEYCLOAK_URL that is not a URL is refused', async () => {
    await assert.rejects(
      createDriverFromEnv({ ...env, KEYCLOAK_URL: 'sso.example.com' }, settings),
      ConfigurationError,
    );
  });
});
