/**
 * The Auth0 driver through the real `auth0` SDK over TLS against the Auth0 emulator: the conformance suite, plus
 * what only Auth0 does — client grants for an API audience, created with the client and removed with it, and added
 * or removed by Konnect's `add_registration` / `remove_registration` events through the bridge.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { createAuth0Driver } from '../../drivers/auth0.js';
import { serviceMetadata, testDriver, webMetadata } from '../conformance/driver-suite.js';
import { auth0DriverOptions, startAuth0Emulator, type Auth0Emulator } from '../emulators/auth0.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { VirtualClock } from '../support/virtual-clock.js';
import { completeDriver } from '../../src/core/driver.js';
import { multipleCredentialsTests } from '../support/multiple-credentials.js';

// Generous: 50 concurrent TLS handshakes on a busy 2-core machine; the short policy is exercised by the fault tests.
// Not about timeouts (the fault matrix is): a virtual clock that nothing advances, so a loaded machine times out nothing.
const policy = { timeoutMs: 30_000, baseDelayMs: 5, maxDelayMs: 50, budgetMs: 60_000, clock: new VirtualClock() };
let auth0: Auth0Emulator;

testDriver({
  name: 'auth0',
  async start(settings) {
    auth0 = await startAuth0Emulator();
    const driver = completeDriver(
      createAuth0Driver({
        ...auth0DriverOptions(auth0),
        idpCallPolicy: { ...policy, ...settings.idpCallPolicy },
      }),
    );
    const emulator = auth0;
    return {
      driver,
      secretWorks: (clientId, secret) => emulator.secretWorks(clientId, secret),
      ownedClientIds: async () => emulator.ownedClientIds(),
      seedForeignClient: async () => emulator.seedForeignClient(),
      idpState: async () => emulator.clientState(),
      async stop() {
        await driver.close();
        await emulator.stop();
        emulator.emulator.assertNoViolations();
      },
    };
  },
  additionalTests(harness) {
    describe('auth0 multiple credentials: one secret per application', () => {
      multipleCredentialsTests({
        driver: () => harness().driver,
        idp: () => auth0,
        limit: 1,
        limitWords: /Auth0 holds one client secret per application \(limit 1\)/,
      });

      it("the secret's id lives as long as the secret: a rotation's new secret has a new one", async () => {
        const { driver } = harness();
        const client = await driver.registerClient(serviceMetadata(), { portal: 'konnect' });
        const [before] = await driver.listSecrets!(client.clientId);
        assert.deepEqual(await driver.listSecrets!(client.clientId), [before]);
        const rotated = await driver.rotateSecret(client.clientId);
        const [after] = await driver.listSecrets!(client.clientId);
        assert.notEqual(after!.secretId, before!.secretId);
        assert.ok(!after!.secretId.includes(rotated.clientSecret.slice(0, 8)), 'the id reveals nothing of the secret');
        await driver.revokeSecret!(client.clientId, before!.secretId);
        assert.equal(await auth0.secretWorks(client.clientId, rotated.clientSecret), true);
        await driver.deleteClient(client.clientId);
      });
    });

    describe('auth0 client grants', () => {
      it('a client-credentials client is granted the configured API at registration, and the grant goes with the client', async () => {
        const { driver } = harness();
        const client = await driver.registerClient(serviceMetadata(), { portal: 'api7' });
        assert.deepEqual(
          auth0.grants(client.clientId).map(({ audience, scope }) => ({ audience, scope })),
          [{ audience: auth0.apiAudience, scope: ['read:things'] }],
        );
        const grantId = auth0.grants(client.clientId)[0]!.id;
        await driver.deleteClient(client.clientId);
        assert.deepEqual(auth0.grants(client.clientId), []);
        assert.ok(
          auth0.emulator.requests.some(
            (sent) => sent.method === 'DELETE' && sent.rawPath === `/api/v2/client-grants/${grantId}`,
          ),
          'the driver removed the grant itself',
        );
        assert.equal(auth0.client(client.clientId), undefined);
      });

      it('a browser client without client credentials gets no grant', async () => {
        const { driver } = harness();
        const client = await driver.registerClient(
          webMetadata({
            grantTypes: ['authorization_code', 'refresh_token'],
            tokenEndpointAuthMethod: 'none',
            clientUri: undefined,
          }),
          { portal: 'api7' },
        );
        assert.equal(auth0.client(client.clientId)?.app_type, 'spa');
        assert.deepEqual(auth0.grants(client.clientId), []);
        await driver.deleteClient(client.clientId);
      });

      it('a grant that fails at registration removes the client it was for', async () => {
        const { driver } = harness();
        const before = auth0.clientCount();
        auth0.emulator.injectFault({
          route: 'POST /api/v2/client-grants',
          status: 400,
          body: {
            statusCode: 400,
            error: 'Bad Request',
            message: 'Payload validation error',
            errorCode: 'invalid_body',
          },
        });
        await assert.rejects(driver.registerClient(serviceMetadata(), { portal: 'api7' }));
        auth0.emulator.clearFaults();
        assert.equal(auth0.clientCount(), before, 'no orphan client');
      });

      it('granting and revoking API access is idempotent and touches only that audience', async () => {
        const { driver } = harness();
        const client = await driver.registerClient(serviceMetadata(), { portal: 'konnect' });
        const other = auth0.managementAudience;
        await driver.revokeApiAccess(client.clientId, { audience: auth0.apiAudience });
        await driver.revokeApiAccess(client.clientId, { audience: auth0.apiAudience });
        assert.deepEqual(auth0.grants(client.clientId), []);
        assert.equal(
          await auth0.apiTokenWorks(client.clientId, client.clientSecret),
          false,
          'without a grant no token for the API',
        );
        await driver.grantApiAccess(client.clientId, { audience: auth0.apiAudience });
        await driver.grantApiAccess(client.clientId, { audience: auth0.apiAudience });
        assert.deepEqual(
          auth0.grants(client.clientId).map((grant) => grant.audience),
          [auth0.apiAudience],
        );
        assert.equal(await auth0.apiTokenWorks(client.clientId, client.clientSecret), true);
        assert.equal(
          auth0.grants().filter((grant) => grant.audience === other).length,
          1,
          "only the bridge's own grant to the Management API",
        );
        await driver.deleteClient(client.clientId);
      });

      describe('Konnect registration events through the bridge', () => {
        let bridge: TestApp;
        before(async () => {
          bridge = await createTestApp(harness().driver);
        });
        after(async () => {
          await bridge?.close();
        });

        it('a path-traversal client_id in a bridge URL never reaches Auth0', async () => {
          const before = auth0.emulator.requests.length;
          for (const path of [
            '/clients/..%2F..%2Fx',
            '/clients/..%2Fx/rotate-secret',
            '/clients/a%2Fb',
            '/..%2F..%2Fx/new-secret',
            '/..%2Fx',
          ]) {
            for (const method of ['get', 'put', 'delete', 'post'] as const) {
              const response = await request(bridge.app)
                [method](path)
                .set('X-API-Key', bridge.apiKey)
                .send({ client_name: 'x' });
              assert.ok([400, 404].includes(response.status), `${method} ${path} answered ${response.status}`);
            }
          }
          assert.deepEqual(
            auth0.emulator.requests.slice(before).map((sent) => sent.rawPath),
            [],
            'not one request went to Auth0',
          );
        });

        it('remove_registration removes the grant and add_registration puts it back', async () => {
          const created = await request(bridge.app)
            .post('/')
            .set('X-API-Key', bridge.apiKey)
            .send({
              client_name: 'konnect m2m',
              grant_types: ['bearer'],
              redirect_uris: [],
              portal_id: '6a1f7c52-3d0e-4b8a-9c51-0e2f4d7b9a33',
            })
            .expect(201);
          const clientId = created.body.client_id as string;
          assert.equal(auth0.grants(clientId).length, 1);
          await request(bridge.app)
            .post(`/${clientId}/event-hook`)
            .set('X-API-Key', bridge.apiKey)
            .send({ event_type: 'remove_registration', api_product_version_id: 'v1', audience: auth0.apiAudience })
            .expect(200);
          assert.deepEqual(auth0.grants(clientId), []);
          await request(bridge.app)
            .post(`/${clientId}/event-hook`)
            .set('X-API-Key', bridge.apiKey)
            .send({ event_type: 'add_registration', api_product_version_id: 'v1', audience: auth0.apiAudience })
            .expect(200);
          assert.deepEqual(
            auth0.grants(clientId).map((grant) => grant.audience),
            [auth0.apiAudience],
          );
          assert.equal(await auth0.apiTokenWorks(clientId, created.body.client_secret as string), true);
          await request(bridge.app).delete(`/${clientId}`).set('X-API-Key', bridge.apiKey).expect(204);
          assert.deepEqual(auth0.grants(clientId), []);
        });
      });
    });

    describe('auth0 metadata mapping', () => {
      it('RFC 7591 fields Auth0 has no place for round-trip through client_metadata, and the mark survives an update', async () => {
        const { driver } = harness();
        const client = await driver.registerClient(
          webMetadata({
            scope: 'read write',
            contacts: ['ops@example.com', 'dev@example.com'],
            logoUri: 'https://app.example.com/logo.png',
            jwksUri: 'https://app.example.com/jwks.json',
            postLogoutRedirectUris: ['https://app.example.com/bye'],
          }),
          { portal: 'konnect', portalId: 'p-1', developerId: 'd-1', applicationDescription: 'billing app' },
        );
        const stored = auth0.client(client.clientId)!;
        assert.equal(stored.app_type, 'regular_web');
        assert.equal(stored.description, 'billing app');
        assert.deepEqual(stored.callbacks, ['https://app.example.com/callback']);
        assert.equal(Object.keys(stored.client_metadata).length, 10, "every field at once fits Auth0's 10 keys");
        assert.equal(stored.client_metadata.dcr_bridge_managed, 'true');
        const read = await driver.getClient(client.clientId);
        assert.equal(read.metadata.scope, 'read write');
        assert.deepEqual(read.metadata.contacts, ['ops@example.com', 'dev@example.com']);
        assert.equal(read.metadata.clientUri, 'https://app.example.com');
        assert.equal(read.metadata.logoUri, 'https://app.example.com/logo.png');
        assert.deepEqual(read.metadata.postLogoutRedirectUris, ['https://app.example.com/bye']);
        assert.deepEqual(read.metadata.responseTypes, ['code']);
        await driver.updateClient(client.clientId, serviceMetadata({ clientName: 'now a service' }));
        const after = auth0.client(client.clientId)!;
        assert.equal(after.app_type, 'non_interactive');
        assert.equal(after.client_metadata.dcr_bridge_managed, 'true');
        assert.equal(
          after.client_metadata.dcr_bridge_developer_id,
          'd-1',
          'the mark (with its registration context) survives an update',
        );
        assert.equal(
          after.client_metadata.scope,
          undefined,
          'a field the update leaves out is removed (sent as null: Auth0 merges)',
        );
        assert.equal(after.client_metadata.jwks_uri, undefined);
        assert.equal((await driver.getClient(client.clientId)).clientIdIssuedAt, client.clientIdIssuedAt);
        await driver.deleteClient(client.clientId);
      });

      it('metadata Auth0 cannot hold is invalid_client_metadata and creates nothing', async () => {
        const { driver } = harness();
        const before = auth0.clientCount();
        for (const metadata of [
          serviceMetadata({ tokenEndpointAuthMethod: 'private_key_jwt' }),
          serviceMetadata({ grantTypes: ['urn:ietf:params:oauth:grant-type:jwt-bearer'] }),
          serviceMetadata({ scope: 'x'.repeat(256) }),
          serviceMetadata({ clientName: '<script>' }),
        ]) {
          await assert.rejects(
            driver.registerClient(metadata, {}),
            (error: unknown) => error instanceof Error && 'code' in error && error.code === 'invalid_client_metadata',
          );
        }
        assert.equal(auth0.clientCount(), before);
      });
    });
  },
});
