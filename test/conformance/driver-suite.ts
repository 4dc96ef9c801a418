/**
 * The conformance suite: the behaviour every driver must have, written once. A driver's test file is one call:
 *
 *   testDriver({ name: 'keycloak', start: async (settings) => ({ driver, secretWorks, stop }) });
 *
 * `start` builds a fresh driver (with the given bridge settings) against its IdP or emulator; `secretWorks` asks the
 * IdP itself (its token endpoint) whether a client secret authenticates, so rotation and deletion are checked
 * where they matter.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import type { ClientMetadata, DcrDriver, DriverSettings } from '../../src/driver/contract.js';
import { type BridgeError, ClientNotFoundError } from '../../src/errors.js';
import { createTestApp, type TestApp } from '../support/app.js';

export interface DriverHarness {
  driver: DcrDriver;
  /** Whether the IdP accepts this secret for this client right now (a real client-credentials token request). */
  secretWorks(clientId: string, secret: string): Promise<boolean>;
  /** Client ids the IdP holds that this bridge created, when the harness can see them (an emulator's state). */
  ownedClientIds?(): Promise<string[]>;
  /**
   * Makes a client at the IdP that this bridge did not create (an admin's own client, written straight into the
   * emulator's state or the local store) and returns its credentials: the ownership rule is proven on it.
   */
  seedForeignClient?(): Promise<{ clientId: string; clientSecret: string }>;
  /** What the IdP holds about its clients, secrets and grants, as plain JSON: a refused call must leave it equal. */
  idpState?(): Promise<unknown>;
  /** Stops the driver and whatever the harness started; also where an emulator's spec violations fail the run. */
  stop(): Promise<void>;
}

export interface DriverConformanceOptions {
  name: string;
  start(settings: DriverSettings): Promise<DriverHarness>;
  /** Tests only this driver has, run inside the same `describe` with the started harness. */
  additionalTests?(harness: () => DriverHarness): void;
}

const GRACE_SECONDS = 3600;

export function serviceMetadata(overrides: Partial<ClientMetadata> = {}): ClientMetadata {
  return {
    clientName: 'conformance service client',
    redirectUris: [],
    grantTypes: ['client_credentials'],
    responseTypes: [],
    tokenEndpointAuthMethod: 'client_secret_basic',
    ...overrides,
  };
}

export function webMetadata(overrides: Partial<ClientMetadata> = {}): ClientMetadata {
  return {
    clientName: 'conformance web client',
    redirectUris: ['https://app.example.com/callback'],
    grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'],
    responseTypes: ['code'],
    tokenEndpointAuthMethod: 'client_secret_basic',
    clientUri: 'https://app.example.com',
    ...overrides,
  };
}

/** RFC 7591: `0` when the secret never expires; IdPs whose secrets expire (Entra: two years) give the real time. */
function secretExpiryIsValid(expiresAt: number): boolean {
  return expiresAt === 0 || (Number.isInteger(expiresAt) && expiresAt > Date.now() / 1000);
}

/** Asserts that `promise` rejects with an instance of `errorClass` (a typed bridge error). */
export async function rejectsWith(
  promise: Promise<unknown>,
  errorClass: new (...args: never[]) => BridgeError,
): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof errorClass, `expected ${errorClass.name}, got ${String(error)}`);
    return true;
  });
}

export function testDriver(options: DriverConformanceOptions): void {
  describe(`${options.name} driver conformance`, () => {
    let harness: DriverHarness;
    let driver: DcrDriver;
    before(async () => {
      harness = await options.start({ rotationGraceSeconds: 0 });
      driver = harness.driver;
    });
    after(async () => {
      await harness?.stop();
    });

    it('registering returns a client id and a secret that the IdP accepts', async () => {
      const client = await driver.registerClient(serviceMetadata(), { portal: 'api7' });
      assert.ok(client.clientId.length > 0);
      assert.ok(client.clientSecret.length >= 16, 'a secret of real length');
      assert.equal(Number.isInteger(client.clientIdIssuedAt), true);
      assert.ok(Math.abs(client.clientIdIssuedAt - Date.now() / 1000) < 300, 'issued-at is epoch seconds, now');
      assert.ok(
        secretExpiryIsValid(client.clientSecretExpiresAt),
        '0 (never), or epoch seconds in the future where the IdP expires secrets',
      );
      assert.equal(await harness.secretWorks(client.clientId, client.clientSecret), true);
      assert.equal(await harness.secretWorks(client.clientId, `${client.clientSecret}x`), false);
    });

    it('get returns the registered metadata, without a secret', async () => {
      const metadata = webMetadata({ scope: 'openid profile' });
      const client = await driver.registerClient(metadata, { portal: 'api7' });
      const read = await driver.getClient(client.clientId);
      assert.equal(read.clientId, client.clientId);
      assert.equal('clientSecret' in read, false);
      assert.equal(read.metadata.clientName, metadata.clientName);
      assert.deepEqual(read.metadata.redirectUris, metadata.redirectUris);
      assert.deepEqual([...read.metadata.grantTypes].sort(), [...metadata.grantTypes].sort());
      assert.equal(read.metadata.tokenEndpointAuthMethod, metadata.tokenEndpointAuthMethod);
    });

    it('update replaces the metadata and the change is read back', async () => {
      const client = await driver.registerClient(webMetadata(), { portal: 'api7' });
      const changed = webMetadata({
        clientName: 'renamed client',
        redirectUris: ['https://other.example.com/cb', 'http://127.0.0.1:8080/cb'],
      });
      const updated = await driver.updateClient(client.clientId, changed);
      assert.deepEqual(updated.metadata.redirectUris, changed.redirectUris);
      const read = await driver.getClient(client.clientId);
      assert.equal(read.metadata.clientName, 'renamed client');
      assert.deepEqual(read.metadata.redirectUris, changed.redirectUris);
      assert.equal(await harness.secretWorks(client.clientId, client.clientSecret), true, 'an update keeps the secret');
    });

    it('rotating returns a new secret and the old one stops working', async () => {
      const client = await driver.registerClient(serviceMetadata(), { portal: 'api7' });
      const rotated = await driver.rotateSecret(client.clientId);
      assert.equal(rotated.clientId, client.clientId);
      assert.notEqual(rotated.clientSecret, client.clientSecret);
      assert.equal(await harness.secretWorks(client.clientId, rotated.clientSecret), true);
      assert.equal(await harness.secretWorks(client.clientId, client.clientSecret), false);
    });

    it('deleting twice is fine, and a deleted client is gone at the IdP', async () => {
      const client = await driver.registerClient(serviceMetadata(), { portal: 'api7' });
      await driver.deleteClient(client.clientId);
      await driver.deleteClient(client.clientId);
      await rejectsWith(driver.getClient(client.clientId), ClientNotFoundError);
      assert.equal(await harness.secretWorks(client.clientId, client.clientSecret), false);
      if (harness.ownedClientIds) assert.equal((await harness.ownedClientIds()).includes(client.clientId), false);
    });

    it('an unknown id is client_not_found for get, update and rotate, and delete of it succeeds', async () => {
      const unknown = 'no-such-client-0123456789';
      await rejectsWith(driver.getClient(unknown), ClientNotFoundError);
      await rejectsWith(driver.updateClient(unknown, serviceMetadata()), ClientNotFoundError);
      await rejectsWith(driver.rotateSecret(unknown), ClientNotFoundError);
      await driver.deleteClient(unknown);
    });

    it('a client this bridge did not create is client_not_found for read, update, rotate, delete and API access, and the IdP is unchanged', async (t) => {
      if (!harness.seedForeignClient || !harness.idpState) return t.skip('this harness cannot seed a foreign client');
      const foreign = await harness.seedForeignClient();
      const secretWorked = await harness.secretWorks(foreign.clientId, foreign.clientSecret);
      const before = await harness.idpState();
      const access = { apiProductVersionId: 'conformance-product', audience: 'https://api.example.com' };
      await rejectsWith(driver.getClient(foreign.clientId), ClientNotFoundError);
      await rejectsWith(
        driver.updateClient(foreign.clientId, webMetadata({ clientName: 'taken over' })),
        ClientNotFoundError,
      );
      await rejectsWith(driver.rotateSecret(foreign.clientId), ClientNotFoundError);
      await rejectsWith(driver.deleteClient(foreign.clientId), ClientNotFoundError);
      await rejectsWith(driver.grantApiAccess(foreign.clientId, access), ClientNotFoundError);
      await rejectsWith(driver.revokeApiAccess(foreign.clientId, access), ClientNotFoundError);
      assert.deepEqual(await harness.idpState(), before, 'nothing changed at the IdP');
      assert.equal(
        await harness.secretWorks(foreign.clientId, foreign.clientSecret),
        secretWorked,
        'its secret is as it was',
      );
    });

    it('50 concurrent registrations give 50 distinct clients', async () => {
      const clients = await Promise.all(
        Array.from({ length: 50 }, (_, index) =>
          driver.registerClient(serviceMetadata({ clientName: `concurrent ${index}` }), { portal: 'konnect' }),
        ),
      );
      assert.equal(new Set(clients.map((client) => client.clientId)).size, 50);
      assert.equal(new Set(clients.map((client) => client.clientSecret)).size, 50);
      if (harness.ownedClientIds) {
        const owned = new Set(await harness.ownedClientIds());
        for (const client of clients) assert.ok(owned.has(client.clientId));
      }
      await Promise.all(clients.map((client) => driver.deleteClient(client.clientId)));
    });

    it("the operator's list pages through the bridge's clients with their marks, never a secret, and no foreign client", async (t) => {
      if (!driver.listClients) return t.skip('this driver lists no clients');
      const foreign = harness.seedForeignClient ? await harness.seedForeignClient() : undefined;
      const konnect = await driver.registerClient(serviceMetadata({ clientName: 'listed konnect' }), {
        portal: 'konnect',
        portalId: 'portal-listed',
        organizationId: 'org-listed',
        developerId: 'dev-listed',
      });
      const api7 = await driver.registerClient(serviceMetadata({ clientName: 'listed api7' }), { portal: 'api7' });
      const listed = [];
      let cursor: string | undefined;
      for (let pages = 0; pages < 500; pages++) {
        const page = await driver.listClients({ limit: 2, ...(cursor ? { cursor } : {}) });
        assert.ok(page.clients.length <= 2, 'a page holds at most its limit');
        listed.push(...page.clients);
        cursor = page.next;
        if (!cursor) break;
      }
      const byId = new Map(listed.map((summary) => [summary.clientId, summary]));
      assert.equal(byId.size, listed.length, 'no client is listed twice across pages');
      const summary = byId.get(konnect.clientId);
      assert.ok(summary, 'the Konnect client is listed');
      assert.equal(summary.clientName, 'listed konnect');
      assert.equal(summary.portalId, 'portal-listed');
      // What the mark records; an IdP with little room for it (Auth0: 10 metadata keys) keeps fewer members.
      const recorded = { dialect: 'konnect', organizationId: 'org-listed', developerId: 'dev-listed' } as const;
      for (const [member, value] of Object.entries(recorded))
        if (summary[member as keyof typeof recorded] !== undefined)
          assert.equal(summary[member as keyof typeof recorded], value);
      assert.ok(Math.abs((byId.get(konnect.clientId)?.createdAt ?? 0) - Date.now() / 1000) < 300, 'created now');
      assert.ok(byId.has(api7.clientId), 'the API7 client is listed');
      if (summary.dialect !== undefined) assert.equal(byId.get(api7.clientId)?.dialect, 'api7');
      if (foreign) assert.equal(byId.has(foreign.clientId), false, 'a client the bridge did not create is not listed');
      const text = JSON.stringify(listed);
      for (const secret of [konnect.clientSecret, api7.clientSecret]) assert.equal(text.includes(secret), false);
      await driver.deleteClient(konnect.clientId);
      await driver.deleteClient(api7.clientId);
    });

    it('readiness resolves while the IdP is reachable', async () => {
      await driver.checkReadiness();
    });

    describe('through the bridge HTTP surface', () => {
      let bridge: TestApp;
      before(async () => {
        bridge = await createTestApp(driver);
      });
      after(async () => {
        await bridge?.close();
      });

      it('API7: register, read, update, rotate and delete round-trip with RFC 7591 bodies', async () => {
        const created = await request(bridge.app)
          .post('/clients')
          .set('X-API-Key', bridge.apiKey)
          .send({
            client_name: 'api7 app',
            redirect_uris: ['https://portal.example.com/cb'],
            grant_types: ['authorization_code'],
            response_types: ['code'],
          })
          .expect(201);
        const { client_id: clientId, client_secret: secret } = created.body as {
          client_id: string;
          client_secret: string;
        };
        assert.equal(typeof secret, 'string');
        assert.equal(Number.isInteger(created.body.client_id_issued_at), true);
        assert.ok(secretExpiryIsValid(created.body.client_secret_expires_at as number));
        const read = await request(bridge.app).get(`/clients/${clientId}`).set('X-API-Key', bridge.apiKey).expect(200);
        assert.equal(read.body.client_secret, undefined);
        assert.deepEqual(read.body.redirect_uris, ['https://portal.example.com/cb']);
        const updated = await request(bridge.app)
          .put(`/clients/${clientId}`)
          .set('X-API-Key', bridge.apiKey)
          .send({
            client_name: 'api7 app',
            redirect_uris: ['https://portal.example.com/new'],
            grant_types: ['authorization_code'],
            response_types: ['code'],
          })
          .expect(200);
        assert.deepEqual(updated.body.redirect_uris, ['https://portal.example.com/new']);
        const rotated = await request(bridge.app)
          .post(`/clients/${clientId}/rotate-secret`)
          .set('X-API-Key', bridge.apiKey)
          .expect(200);
        assert.notEqual(rotated.body.client_secret, secret);
        assert.equal(await harness.secretWorks(clientId, rotated.body.client_secret as string), true);
        await request(bridge.app).delete(`/clients/${clientId}`).set('X-API-Key', bridge.apiKey).expect(204);
        await request(bridge.app).delete(`/clients/${clientId}`).set('X-API-Key', bridge.apiKey).expect(204);
        const gone = await request(bridge.app).get(`/clients/${clientId}`).set('X-API-Key', bridge.apiKey).expect(404);
        assert.equal(gone.body.error, 'client_not_found');
      });

      it('Konnect: register, update_application, new-secret and delete work end to end', async () => {
        const created = await request(bridge.app)
          .post('/')
          .set('X-API-Key', bridge.apiKey)
          .send({
            redirect_uris: ['https://konnect.example.com/cb'],
            client_name: 'konnect app',
            grant_types: ['bearer', 'session', 'client_credentials'],
            portal_id: '6a1f7c52-3d0e-4b8a-9c51-0e2f4d7b9a33',
            organization_id: 'test organization_id',
            developer_id: 'test developer_id',
          })
          .expect(201);
        const { client_id: clientId, client_secret: secret } = created.body as {
          client_id: string;
          client_secret: string;
        };
        assert.equal(await harness.secretWorks(clientId, secret), true);
        await request(bridge.app)
          .post(`/${clientId}/event-hook`)
          .set('X-API-Key', bridge.apiKey)
          .send({ event_type: 'update_application', redirect_uris: ['https://konnect.example.com/changed'] })
          .expect(200);
        assert.deepEqual((await driver.getClient(clientId)).metadata.redirectUris, [
          'https://konnect.example.com/changed',
        ]);
        const rotated = await request(bridge.app)
          .post(`/${clientId}/new-secret`)
          .set('X-API-Key', bridge.apiKey)
          .set('Content-Type', 'application/json')
          .expect(200);
        assert.equal(rotated.body.client_id, clientId);
        assert.equal(await harness.secretWorks(clientId, rotated.body.client_secret as string), true);
        await request(bridge.app).delete(`/${clientId}`).set('X-API-Key', bridge.apiKey).expect(204);
        await request(bridge.app).delete(`/${clientId}`).set('X-API-Key', bridge.apiKey).expect(204);
      });

      it('invalid metadata is invalid_client_metadata and creates nothing at the IdP', async () => {
        const before = harness.ownedClientIds ? (await harness.ownedClientIds()).length : undefined;
        const response = await request(bridge.app)
          .post('/clients')
          .set('X-API-Key', bridge.apiKey)
          .send({
            client_name: 'bad',
            grant_types: ['client_credentials'],
            token_endpoint_auth_method: 'no_such_method',
          })
          .expect(400);
        assert.equal(response.body.error, 'invalid_client_metadata');
        if (before !== undefined) assert.equal((await harness.ownedClientIds!()).length, before);
      });

      it('a client this bridge did not create is 404 client_not_found on every route of both dialects, and the IdP is unchanged', async (t) => {
        if (!harness.seedForeignClient || !harness.idpState) return t.skip('this harness cannot seed a foreign client');
        const { clientId } = await harness.seedForeignClient();
        const before = await harness.idpState();
        const key = (test: request.Test) => test.set('X-API-Key', bridge.apiKey);
        const id = encodeURIComponent(clientId);
        const hostile = {
          client_name: 'taken over',
          redirect_uris: ['https://evil.example.com/cb'],
          grant_types: ['authorization_code'],
          response_types: ['code'],
        };
        const attempts: Array<[string, request.Test]> = [
          ['API7 read', key(request(bridge.app).get(`/clients/${id}`))],
          ['API7 update', key(request(bridge.app).put(`/clients/${id}`)).send(hostile)],
          ['API7 rotate', key(request(bridge.app).post(`/clients/${id}/rotate-secret`))],
          ['API7 delete', key(request(bridge.app).delete(`/clients/${id}`))],
          ['Konnect new-secret', key(request(bridge.app).post(`/${id}/new-secret`))],
          ['Konnect delete', key(request(bridge.app).delete(`/${id}`))],
          ...['update_application', 'add_registration', 'remove_registration'].map(
            (eventType): [string, request.Test] => [
              `Konnect ${eventType}`,
              key(request(bridge.app).post(`/${id}/event-hook`)).send({
                event_type: eventType,
                redirect_uris: hostile.redirect_uris,
                api_product_version_id: 'conformance-product',
              }),
            ],
          ),
        ];
        for (const [name, attempt] of attempts) {
          const response = await attempt;
          assert.equal(response.status, 404, `${name} answered ${response.status}`);
          assert.equal(response.body.error, 'client_not_found', name);
        }
        assert.deepEqual(await harness.idpState(), before, 'nothing changed at the IdP');
      });

      it('an unknown client is 404 client_not_found in both dialects, Konnect registration events included', async () => {
        const api7 = await request(bridge.app)
          .post('/clients/no-such-client/rotate-secret')
          .set('X-API-Key', bridge.apiKey)
          .expect(404);
        assert.equal(api7.body.error, 'client_not_found');
        const konnect = await request(bridge.app)
          .post('/no-such-client/new-secret')
          .set('X-API-Key', bridge.apiKey)
          .expect(404);
        assert.equal(konnect.body.error, 'client_not_found');
        for (const eventType of ['update_application', 'add_registration', 'remove_registration']) {
          const body = {
            event_type: eventType,
            redirect_uris: ['https://konnect.example.com/cb'],
            api_product_version_id: 'v1',
          };
          const event = await request(bridge.app)
            .post('/no-such-client/event-hook')
            .set('X-API-Key', bridge.apiKey)
            .send(body);
          assert.equal(event.status, 404, eventType);
          assert.equal(event.body.error, 'client_not_found', eventType);
        }
      });
    });

    options.additionalTests?.(() => harness);
  });

  describe(`${options.name} driver rotation with a grace period`, () => {
    let harness: DriverHarness;
    before(async () => {
      harness = await options.start({ rotationGraceSeconds: GRACE_SECONDS });
    });
    after(async () => {
      await harness?.stop();
    });

    it('keeps the old secret valid for the grace where the driver declares it, and retires it after', async () => {
      const { driver } = harness;
      const client = await driver.registerClient(serviceMetadata(), { portal: 'api7' });
      const rotated = await driver.rotateSecret(client.clientId);
      assert.equal(await harness.secretWorks(client.clientId, rotated.clientSecret), true);
      if (!driver.capabilities.rotationGrace) {
        assert.equal(
          await harness.secretWorks(client.clientId, client.clientSecret),
          false,
          'no grace capability: rotation is immediate',
        );
        assert.equal(await driver.retireExpiredSecrets(Date.now() + (GRACE_SECONDS + 1) * 1000), 0);
        return;
      }
      assert.equal(
        await harness.secretWorks(client.clientId, client.clientSecret),
        true,
        'old secret valid during the grace',
      );
      assert.equal(await driver.retireExpiredSecrets(Date.now()), 0, 'nothing is retired before the grace ends');
      assert.equal(await harness.secretWorks(client.clientId, client.clientSecret), true);
      assert.ok((await driver.retireExpiredSecrets(Date.now() + (GRACE_SECONDS + 1) * 1000)) >= 1);
      assert.equal(
        await harness.secretWorks(client.clientId, client.clientSecret),
        false,
        'old secret retired after the grace',
      );
      assert.equal(
        await harness.secretWorks(client.clientId, rotated.clientSecret),
        true,
        'new secret survives the sweep',
      );
    });
  });
}
