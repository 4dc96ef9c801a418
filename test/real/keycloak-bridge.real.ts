/**
 * The bridge end to end against a real Keycloak (`npm run test:keycloak`): both portal dialects over HTTP with
 * access tokens from Keycloak's real token endpoint, every row of the README's metadata mapping table written
 * through the bridge and read back from Keycloak's admin API, and Keycloak's own refusals as the documented errors.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { InvalidClientMetadataError, InvalidRedirectUriError } from '../../src/errors.js';
import { rejectsWith, serviceMetadata } from '../conformance/driver-suite.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { credentialsRefused, driverFor, requestToken, rotationPolicy, startRealHarness } from './harness.js';

type Representation = Record<string, unknown> & { attributes?: Record<string, string> };

function claims(accessToken: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(accessToken.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}

describe('the bridge end to end against a real Keycloak', () => {
  let harness: Awaited<ReturnType<typeof startRealHarness>>;
  let bridge: TestApp;
  /** The client as Keycloak's admin API has it. */
  const stored = async (clientId: string) =>
    (await harness.session.clientByClientId(harness.realm.realm, clientId)) as Representation;
  const token = (clientId: string, secret: string) =>
    requestToken(harness.session.url, harness.realm.realm, clientId, secret);

  before(async () => {
    harness = await startRealHarness({ rotationGraceSeconds: 0 }, { prefix: 'e2e', secretRotation: rotationPolicy });
    for (const name of ['orders:read', 'orders:write']) {
      await harness.session.call(
        'POST',
        `/realms/${harness.realm.realm}/client-scopes`,
        { name, protocol: 'openid-connect' },
        [201],
      );
    }
    bridge = await createTestApp(harness.driver);
  });
  after(async () => {
    await bridge?.close();
    await harness?.stop();
  });

  it('API7: a client registered through the bridge gets a real access token, refused after rotation and after delete', async () => {
    const created = await request(bridge.app)
      .post('/clients')
      .set('X-API-Key', bridge.apiKey)
      .send({ client_name: 'orders service', grant_types: ['client_credentials'], scope: 'orders:read' })
      .expect(201);
    const { client_id: clientId, client_secret: secret } = created.body as { client_id: string; client_secret: string };
    const issued = await token(clientId, secret);
    assert.equal(issued.status, 200);
    assert.equal(issued.body.token_type, 'Bearer');
    const tokenClaims = claims(issued.body.access_token!);
    assert.equal(tokenClaims.azp, clientId);
    assert.match(String(tokenClaims.iss), new RegExp(`/realms/${harness.realm.realm}$`));
    const rotated = await request(bridge.app)
      .post(`/clients/${clientId}/rotate-secret`)
      .set('X-API-Key', bridge.apiKey)
      .expect(200);
    const newSecret = rotated.body.client_secret as string;
    assert.ok(credentialsRefused(await token(clientId, secret)), 'the old secret is refused at once (grace 0)');
    assert.equal((await token(clientId, newSecret)).status, 200);
    await request(bridge.app).delete(`/clients/${clientId}`).set('X-API-Key', bridge.apiKey).expect(204);
    const afterDelete = await token(clientId, newSecret);
    assert.equal(afterDelete.status, 401);
    assert.equal(afterDelete.body.error, 'invalid_client', 'no such client any more');
    assert.equal(await stored(clientId), undefined, 'gone from the realm');
  });

  it('Konnect: register, a real token, update_application, new-secret and delete', async () => {
    const created = await request(bridge.app)
      .post('/')
      .set('X-API-Key', bridge.apiKey)
      .send({
        client_name: 'konnect app',
        redirect_uris: ['https://konnect.example.com/cb'],
        grant_types: ['bearer', 'session', 'client_credentials'],
        portal_id: 'portal-real-1',
        organization_id: 'test organization_id',
        developer_id: 'test developer_id',
        application_description: 'made by the Konnect portal',
      })
      .expect(201);
    const { client_id: clientId, client_secret: secret } = created.body as { client_id: string; client_secret: string };
    assert.equal((await token(clientId, secret)).status, 200);
    const attributes = (await stored(clientId)).attributes!;
    assert.equal(attributes['dcr-bridge.portal'], 'konnect');
    assert.equal(attributes['dcr-bridge.portal_id'], 'portal-real-1');
    assert.equal(attributes['dcr-bridge.organization_id'], 'test organization_id');
    assert.equal(attributes['dcr-bridge.developer_id'], 'test developer_id');
    await request(bridge.app)
      .post(`/${clientId}/event-hook`)
      .set('X-API-Key', bridge.apiKey)
      .send({ event_type: 'update_application', redirect_uris: ['https://konnect.example.com/changed'] })
      .expect(200);
    assert.deepEqual((await stored(clientId)).redirectUris, ['https://konnect.example.com/changed']);
    const rotated = await request(bridge.app)
      .post(`/${clientId}/new-secret`)
      .set('X-API-Key', bridge.apiKey)
      .set('Content-Type', 'application/json')
      .send({})
      .expect(200);
    assert.equal(rotated.body.client_id, clientId);
    assert.ok(credentialsRefused(await token(clientId, secret)));
    assert.equal((await token(clientId, rotated.body.client_secret as string)).status, 200);
    await request(bridge.app).delete(`/${clientId}`).set('X-API-Key', bridge.apiKey).expect(204);
    await request(bridge.app).delete(`/${clientId}`).set('X-API-Key', bridge.apiKey).expect(204);
    assert.equal(
      (await token(clientId, rotated.body.client_secret as string)).body.error,
      'invalid_client',
      'no such client any more',
    );
  });

  it('with a grace, both secrets work at the real token endpoint until the sweep retires the old one', async () => {
    const driver = driverFor(harness.realm, { rotationGraceSeconds: 600 });
    const graceBridge = await createTestApp(driver, { rotationGraceSeconds: 600 });
    try {
      const created = await request(graceBridge.app)
        .post('/clients')
        .set('X-API-Key', graceBridge.apiKey)
        .send({ client_name: 'graceful' })
        .expect(201);
      const { client_id: clientId, client_secret: secret } = created.body as {
        client_id: string;
        client_secret: string;
      };
      const rotated = await request(graceBridge.app)
        .post(`/clients/${clientId}/rotate-secret`)
        .set('X-API-Key', graceBridge.apiKey)
        .expect(200);
      assert.equal((await token(clientId, secret)).status, 200, 'old secret inside the grace');
      assert.equal((await token(clientId, rotated.body.client_secret as string)).status, 200);
      assert.ok(
        (await stored(clientId)).attributes!['client.secret.rotated.creation.time'],
        'Keycloak holds it as the rotated secret',
      );
      assert.equal(await driver.retireExpiredSecrets(Date.now() + 601_000), 1);
      assert.ok(credentialsRefused(await token(clientId, secret)), 'retired after the grace');
      assert.equal((await token(clientId, rotated.body.client_secret as string)).status, 200);
      await request(graceBridge.app).delete(`/clients/${clientId}`).set('X-API-Key', graceBridge.apiKey).expect(204);
    } finally {
      await graceBridge.close();
      await driver.close();
    }
  });

  describe("every row of the README's metadata mapping table, written through the bridge and read back from Keycloak", () => {
    const register = async (body: Record<string, unknown>) => {
      const created = await request(bridge.app).post('/clients').set('X-API-Key', bridge.apiKey).send(body).expect(201);
      const clientId = created.body.client_id as string;
      const read = await request(bridge.app).get(`/clients/${clientId}`).set('X-API-Key', bridge.apiKey).expect(200);
      return {
        clientId,
        created: created.body as Record<string, unknown>,
        read: read.body as Record<string, unknown>,
        keycloak: await stored(clientId),
      };
    };

    it('client_name → name, redirect_uris → redirectUris, client_uri → baseUrl', async () => {
      const body = {
        client_name: 'mapped app',
        redirect_uris: ['https://app.example.com/cb', 'http://127.0.0.1:8080/cb'],
        grant_types: ['authorization_code'],
        client_uri: 'https://app.example.com',
      };
      const { read, keycloak } = await register(body);
      assert.equal(keycloak.name, 'mapped app');
      // Keycloak keeps redirect URIs as a set: their order is not kept.
      assert.deepEqual([...(keycloak.redirectUris as string[])].sort(), [...body.redirect_uris].sort());
      assert.equal(keycloak.baseUrl, 'https://app.example.com');
      assert.equal(read.client_name, 'mapped app');
      assert.deepEqual([...(read.redirect_uris as string[])].sort(), [...body.redirect_uris].sort());
      assert.equal(read.client_uri, 'https://app.example.com');
    });

    it('grant_types → the four flow switches, refresh_token → use.refresh.tokens', async () => {
      const all = await register({
        redirect_uris: ['https://app.example.com/cb'],
        grant_types: ['authorization_code', 'implicit', 'password', 'client_credentials', 'refresh_token'],
      });
      assert.deepEqual(
        [
          all.keycloak.standardFlowEnabled,
          all.keycloak.implicitFlowEnabled,
          all.keycloak.directAccessGrantsEnabled,
          all.keycloak.serviceAccountsEnabled,
        ],
        [true, true, true, true],
      );
      assert.equal(all.keycloak.attributes!['use.refresh.tokens'], 'true');
      assert.deepEqual([...(all.read.grant_types as string[])].sort(), [
        'authorization_code',
        'client_credentials',
        'implicit',
        'password',
        'refresh_token',
      ]);
      const machine = await register({ grant_types: ['client_credentials'] });
      assert.deepEqual(
        [
          machine.keycloak.standardFlowEnabled,
          machine.keycloak.implicitFlowEnabled,
          machine.keycloak.directAccessGrantsEnabled,
          machine.keycloak.serviceAccountsEnabled,
        ],
        [false, false, false, true],
      );
      assert.equal(machine.keycloak.attributes!['use.refresh.tokens'], 'false');
      assert.deepEqual(machine.read.grant_types, ['client_credentials']);
    });

    it('token_endpoint_auth_method → clientAuthenticatorType, or publicClient for none', async () => {
      const expected: Record<string, Partial<Representation>> = {
        client_secret_basic: { clientAuthenticatorType: 'client-secret', publicClient: false },
        client_secret_post: { clientAuthenticatorType: 'client-secret', publicClient: false },
        client_secret_jwt: { clientAuthenticatorType: 'client-secret-jwt', publicClient: false },
        private_key_jwt: { clientAuthenticatorType: 'client-jwt', publicClient: false },
        none: { publicClient: true },
      };
      for (const [method, fields] of Object.entries(expected)) {
        const { created, read, keycloak } = await register({
          redirect_uris: ['https://app.example.com/cb'],
          grant_types: ['authorization_code'],
          token_endpoint_auth_method: method,
          ...(method === 'private_key_jwt' ? { jwks_uri: 'https://app.example.com/jwks.json' } : {}),
        });
        for (const [field, value] of Object.entries(fields))
          assert.equal(keycloak[field], value, `${method}: ${field}`);
        assert.equal(read.token_endpoint_auth_method, method);
        if (method === 'none' || method === 'private_key_jwt')
          assert.equal(created.client_secret, '', `${method} has no secret`);
        else assert.ok((created.client_secret as string).length >= 16);
      }
    });

    it('jwks_uri → use.jwks.url + jwks.url', async () => {
      const { read, keycloak } = await register({
        grant_types: ['client_credentials'],
        token_endpoint_auth_method: 'private_key_jwt',
        jwks_uri: 'https://app.example.com/jwks.json',
      });
      assert.equal(keycloak.attributes!['use.jwks.url'], 'true');
      assert.equal(keycloak.attributes!['jwks.url'], 'https://app.example.com/jwks.json');
      assert.equal(read.jwks_uri, 'https://app.example.com/jwks.json');
    });

    it("scope → optionalClientScopes, the realm's own scopes", async () => {
      const { read, keycloak } = await register({
        grant_types: ['client_credentials'],
        scope: 'orders:read orders:write',
      });
      assert.deepEqual([...(keycloak.optionalClientScopes as string[])].sort(), ['orders:read', 'orders:write']);
      assert.deepEqual(String(read.scope).split(' ').sort(), ['orders:read', 'orders:write']);
    });

    it('logo_uri, contacts, post_logout_redirect_uris → attributes, several values joined with ##', async () => {
      const { read, keycloak } = await register({
        redirect_uris: ['https://app.example.com/cb'],
        grant_types: ['authorization_code'],
        logo_uri: 'https://app.example.com/logo.png',
        contacts: ['ops@example.com', 'dev@example.com'],
        post_logout_redirect_uris: ['https://app.example.com/bye', 'https://app.example.com/later'],
      });
      assert.equal(keycloak.attributes!.logoUri, 'https://app.example.com/logo.png');
      assert.equal(keycloak.attributes!.contacts, 'ops@example.com##dev@example.com');
      assert.equal(
        keycloak.attributes!['post.logout.redirect.uris'],
        'https://app.example.com/bye##https://app.example.com/later',
      );
      assert.equal(read.logo_uri, 'https://app.example.com/logo.png');
      assert.deepEqual(read.contacts, ['ops@example.com', 'dev@example.com']);
      assert.deepEqual(read.post_logout_redirect_uris, [
        'https://app.example.com/bye',
        'https://app.example.com/later',
      ]);
    });

    it('an update (PUT) that drops optional metadata removes it from the Keycloak client', async () => {
      const { clientId } = await register({
        grant_types: ['client_credentials'],
        logo_uri: 'https://app.example.com/logo.png',
        contacts: ['ops@example.com'],
        scope: 'orders:read',
        client_uri: 'https://app.example.com',
      });
      await request(bridge.app)
        .put(`/clients/${clientId}`)
        .set('X-API-Key', bridge.apiKey)
        .send({ client_name: 'plain now', grant_types: ['client_credentials'] })
        .expect(200);
      const keycloak = await stored(clientId);
      assert.equal(keycloak.attributes!.logoUri, undefined);
      assert.equal(keycloak.attributes!.contacts, undefined);
      assert.deepEqual(keycloak.optionalClientScopes, []);
      assert.equal(keycloak.baseUrl ?? '', '');
      assert.equal(keycloak.name, 'plain now');
      assert.equal(keycloak.attributes!['dcr-bridge.managed'], 'true', 'the ownership mark survives');
    });
  });

  describe("Keycloak's own refusals are the documented bridge errors", () => {
    it('an unknown scope is 400 invalid_client_metadata and leaves no client', async () => {
      const before = (await harness.ownedClientIds!()).length;
      const answer = await request(bridge.app)
        .post('/clients')
        .set('X-API-Key', bridge.apiKey)
        .send({ grant_types: ['client_credentials'], scope: 'no-such-scope' });
      assert.equal(answer.status, 400, JSON.stringify(answer.body));
      assert.equal(answer.body.error, 'invalid_client_metadata');
      assert.equal((await harness.ownedClientIds!()).length, before);
    });

    it('a client_name longer than Keycloak keeps is 400 invalid_client_metadata and leaves no client', async () => {
      const before = (await harness.ownedClientIds!()).length;
      const answer = await request(bridge.app)
        .post('/clients')
        .set('X-API-Key', bridge.apiKey)
        .send({ client_name: 'n'.repeat(300), grant_types: ['client_credentials'] });
      assert.equal(answer.status, 400, JSON.stringify(answer.body));
      assert.equal(answer.body.error, 'invalid_client_metadata');
      assert.doesNotMatch(answer.body.error_description as string, /nnnnnnnn/);
      assert.equal((await harness.ownedClientIds!()).length, before);
    });

    it("a redirect URI Keycloak refuses (the driver called directly, past the bridge's own checks) is invalid_redirect_uri", async () => {
      await rejectsWith(
        harness.driver.registerClient(
          serviceMetadata({
            redirectUris: ['https://app.example.com/cb#fragment'],
            grantTypes: ['authorization_code'],
          }),
          { portal: 'api7' },
        ),
        InvalidRedirectUriError,
      );
      await rejectsWith(
        harness.driver.registerClient(
          serviceMetadata({ redirectUris: ['javascript:alert(1)'], grantTypes: ['authorization_code'] }),
          { portal: 'api7' },
        ),
        InvalidRedirectUriError,
      );
    });

    it('other metadata Keycloak refuses is invalid_client_metadata', async () => {
      await rejectsWith(
        harness.driver.registerClient(serviceMetadata({ logoUri: 'javascript:alert(1)' }), { portal: 'api7' }),
        InvalidClientMetadataError,
      );
    });
  });
});
