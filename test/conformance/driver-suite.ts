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
import { after, before, describe, it as nodeIt } from 'node:test';
import request from 'supertest';
import type {
  AddedClientSecret,
  ClientMetadata,
  ClientSecretInfo,
  DcrDriver,
  DriverSettings,
} from '../../src/driver/contract.js';
import { type BridgeError, ClientNotFoundError, ConflictError } from '../../src/errors.js';
import type { RequestListener } from 'node:http';
import { createTestApp, type TestApp } from '../support/app.js';
import { konnectContract } from '../support/konnect-contract.js';

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
  /**
   * Brings a client to the IdP's limit of secrets without adding them one by one, where that limit is large (Entra's
   * aggregate of the application's collection entries): the next add must then be refused.
   */
  reachSecretLimit?(clientId: string): Promise<void>;
  /** Stops the driver and whatever the harness started; also where an emulator's spec violations fail the run. */
  stop(): Promise<void>;
}

export interface DriverConformanceOptions {
  name: string;
  start(settings: DriverSettings): Promise<DriverHarness>;
  /** Tests only this driver has, run inside the same `describe` with the started harness. */
  additionalTests?(harness: () => DriverHarness): void;
  /** Changes to the suite's web client for an IdP that cannot hold it as it is (Cognito: no client_credentials beside code). */
  webMetadata?: Partial<ClientMetadata>;
  /** The reason to skip a test, by its name, for an IdP server that lacks what it needs (moto's Cognito: no secret API). */
  skip?(testName: string): string | undefined;
  /**
   * `unsupported` for a driver whose IdP has no way to change a client's secret (an RFC 7591 server that keeps it on
   * an RFC 7592 update): every rotation must then be a `4xx` that says so, the client and its secret unchanged.
   */
  secretRotation?: 'unsupported';
  /**
   * `presence in the store` for a driver whose ownership is presence in the bridge's own state store (rfc7591): it
   * cannot tell a foreign client from an unknown one, so deleting a foreign client resolves as deleting an unknown one
   * does — and must change nothing at the IdP, which the foreign-client tests check.
   */
  ownership?: 'presence in the store';
  /**
   * What the operator's list cannot show for this IdP, whose mark has no room for it and whose listing does not tell
   * it (Cognito: the mark lives in `ClientName`, the listing gives id and name only). Every other member is required.
   */
  listingOmits?: readonly ('portalId' | 'createdAt')[];
}

/** `it`, skipping the tests `skip` gives a reason for; the suite's other tests run as written. */
function skippingIt(skip: DriverConformanceOptions['skip']): typeof nodeIt {
  const skipping = (name: string, fn: () => Promise<void>) => {
    const reason = skip?.(name);
    return reason === undefined ? nodeIt(name, fn) : nodeIt(name, { skip: reason }, fn);
  };
  return skipping as unknown as typeof nodeIt;
}

/** Asserts that a rotation was refused with a clean `4xx` (not `404`) and left the client's secret working. */
async function assertRotationRefused(harness: DriverHarness, clientId: string, secret: string): Promise<void> {
  await assert.rejects(harness.driver.rotateSecret(clientId), (error: unknown) => {
    const status = (error as BridgeError).status;
    assert.ok(status >= 400 && status < 500 && status !== 404, `a clean 4xx, got ${String(error)}`);
    return true;
  });
  assert.equal(await harness.secretWorks(clientId, secret), true, 'the refused rotation left the secret working');
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
  return webMetadataOf(overrides);
}

function webMetadataOf(overrides: Partial<ClientMetadata>): ClientMetadata {
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
  // Every Konnect answer of the HTTP flows below is judged by Kong's contract (test/support/konnect-contract.ts).
  const contract = konnectContract();
  after(() => contract.assertNoViolations());
  const it = skippingIt(options.skip);
  const webMetadata = (overrides: Partial<ClientMetadata> = {}) =>
    webMetadataOf({ ...options.webMetadata, ...overrides });
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
      if (options.secretRotation === 'unsupported') {
        await assertRotationRefused(harness, client.clientId, client.clientSecret);
        assert.equal((await driver.getClient(client.clientId)).clientId, client.clientId);
        return;
      }
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
      if (options.ownership === 'presence in the store') await driver.deleteClient(foreign.clientId);
      else await rejectsWith(driver.deleteClient(foreign.clientId), ClientNotFoundError);
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
      const omits = new Set(options.listingOmits ?? []);
      if (omits.has('portalId')) assert.equal(summary.portalId, undefined);
      else assert.equal(summary.portalId, 'portal-listed');
      // What the mark records; an IdP with little room for it (Auth0: 10 metadata keys) keeps fewer members.
      const recorded = { dialect: 'konnect', organizationId: 'org-listed', developerId: 'dev-listed' } as const;
      for (const [member, value] of Object.entries(recorded))
        if (summary[member as keyof typeof recorded] !== undefined)
          assert.equal(summary[member as keyof typeof recorded], value);
      if (omits.has('createdAt')) assert.equal(summary.createdAt, undefined);
      else assert.ok(Math.abs((summary.createdAt ?? 0) - Date.now() / 1000) < 300, 'created now');
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
      let app: RequestListener;
      before(async () => {
        bridge = await createTestApp(driver);
        app = contract.judge(bridge.app);
      });
      after(async () => {
        await bridge?.close();
      });

      it('API7: register, read, update, rotate and delete round-trip with RFC 7591 bodies', async () => {
        const created = await request(app)
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
        const read = await request(app).get(`/clients/${clientId}`).set('X-API-Key', bridge.apiKey).expect(200);
        assert.equal(read.body.client_secret, undefined);
        assert.deepEqual(read.body.redirect_uris, ['https://portal.example.com/cb']);
        const updated = await request(app)
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
        const rotated = await request(app)
          .post(`/clients/${clientId}/rotate-secret`)
          .set('X-API-Key', bridge.apiKey)
          .expect(options.secretRotation === 'unsupported' ? 409 : 200);
        if (options.secretRotation === 'unsupported') assert.equal(rotated.body.error, 'conflict');
        else {
          assert.notEqual(rotated.body.client_secret, secret);
          assert.equal(await harness.secretWorks(clientId, rotated.body.client_secret as string), true);
        }
        await request(app).delete(`/clients/${clientId}`).set('X-API-Key', bridge.apiKey).expect(204);
        await request(app).delete(`/clients/${clientId}`).set('X-API-Key', bridge.apiKey).expect(204);
        const gone = await request(app).get(`/clients/${clientId}`).set('X-API-Key', bridge.apiKey).expect(404);
        assert.equal(gone.body.error, 'client_not_found');
      });

      it('Konnect: register, update_application, new-secret and delete work end to end', async () => {
        const created = await request(app)
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
        await request(app)
          .post(`/${clientId}/event-hook`)
          .set('X-API-Key', bridge.apiKey)
          .send({ event_type: 'update_application', redirect_uris: ['https://konnect.example.com/changed'] })
          .expect(200);
        assert.deepEqual((await driver.getClient(clientId)).metadata.redirectUris, [
          'https://konnect.example.com/changed',
        ]);
        const rotated = await request(app)
          .post(`/${clientId}/new-secret`)
          .set('X-API-Key', bridge.apiKey)
          .set('Content-Type', 'application/json')
          .expect(options.secretRotation === 'unsupported' ? 409 : 200);
        if (options.secretRotation === 'unsupported') assert.equal(await harness.secretWorks(clientId, secret), true);
        else {
          assert.equal(rotated.body.client_id, clientId);
          assert.equal(await harness.secretWorks(clientId, rotated.body.client_secret as string), true);
        }
        await request(app).delete(`/${clientId}`).set('X-API-Key', bridge.apiKey).expect(204);
        await request(app).delete(`/${clientId}`).set('X-API-Key', bridge.apiKey).expect(204);
      });

      it('invalid metadata is invalid_client_metadata and creates nothing at the IdP', async () => {
        const before = harness.ownedClientIds ? (await harness.ownedClientIds()).length : undefined;
        const response = await request(app)
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
          ['API7 read', key(request(app).get(`/clients/${id}`))],
          ['API7 update', key(request(app).put(`/clients/${id}`)).send(hostile)],
          ['API7 rotate', key(request(app).post(`/clients/${id}/rotate-secret`))],
          ['API7 delete', key(request(app).delete(`/clients/${id}`))],
          ['Konnect new-secret', key(request(app).post(`/${id}/new-secret`))],
          ['Konnect delete', key(request(app).delete(`/${id}`))],
          ...['update_application', 'add_registration', 'remove_registration'].map(
            (eventType): [string, request.Test] => [
              `Konnect ${eventType}`,
              key(request(app).post(`/${id}/event-hook`)).send({
                event_type: eventType,
                redirect_uris: hostile.redirect_uris,
                api_product_version_id: 'conformance-product',
              }),
            ],
          ),
        ];
        for (const [name, attempt] of attempts) {
          const response = await attempt;
          if (options.ownership === 'presence in the store' && name.endsWith(' delete')) {
            assert.equal(response.status, 204, `${name}: a client the store does not hold is gone as far as it knows`);
            continue;
          }
          assert.equal(response.status, 404, `${name} answered ${response.status}`);
          assert.equal(response.body.error, 'client_not_found', name);
        }
        assert.deepEqual(await harness.idpState(), before, 'nothing changed at the IdP');
      });

      it('an unknown client is 404 client_not_found in both dialects, Konnect registration events included', async () => {
        const api7 = await request(app)
          .post('/clients/no-such-client/rotate-secret')
          .set('X-API-Key', bridge.apiKey)
          .expect(404);
        assert.equal(api7.body.error, 'client_not_found');
        const konnect = await request(app)
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
          const event = await request(app)
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

  multipleCredentials(options, contract);

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
      if (options.secretRotation === 'unsupported') {
        assert.equal(driver.capabilities.rotationGrace, false);
        await assertRotationRefused(harness, client.clientId, client.clientSecret);
        return;
      }
      const rotated = await driver.rotateSecret(client.clientId);
      assert.equal(await harness.secretWorks(client.clientId, rotated.clientSecret), true);
      if (!driver.capabilities.rotationGrace) {
        assert.equal(
          await harness.secretWorks(client.clientId, client.clientSecret),
          false,
          'no grace capability: rotation is immediate',
        );
        assert.equal(await driver.retireExpiredSecrets(Date.now() + (GRACE_SECONDS + 1) * 1000), 0);
        if (driver.listSecrets)
          assert.equal((await driver.listSecrets(client.clientId)).length, 1, 'the list shows the one new secret');
        return;
      }
      // A secret kept for the grace is listed with the grace's end, and the sweep and the list agree on what exists.
      // It ends within the grace (an IdP may end it sooner: Keycloak's own expiry of a rotated secret).
      const endsWithGrace = (secret: ClientSecretInfo) =>
        secret.expiresAt !== undefined &&
        secret.expiresAt > Date.now() / 1000 &&
        secret.expiresAt <= Date.now() / 1000 + GRACE_SECONDS + 300;
      const listedInGrace = await driver.listSecrets?.(client.clientId);
      if (listedInGrace)
        assert.equal(listedInGrace.filter(endsWithGrace).length, 1, 'the old secret, with its expires_at');
      assert.equal(
        await harness.secretWorks(client.clientId, client.clientSecret),
        true,
        'old secret valid during the grace',
      );
      assert.equal(await driver.retireExpiredSecrets(Date.now()), 0, 'nothing is retired before the grace ends');
      assert.equal(await harness.secretWorks(client.clientId, client.clientSecret), true);
      assert.ok((await driver.retireExpiredSecrets(Date.now() + (GRACE_SECONDS + 1) * 1000)) >= 1);
      const listedAfter = await driver.listSecrets?.(client.clientId);
      if (listedInGrace && listedAfter) {
        assert.equal(listedAfter.filter(endsWithGrace).length, 0, 'the swept secret is no longer listed');
        assert.equal(listedAfter.length, listedInGrace.length - 1);
      }
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

/** The three multiple-credentials operations, when the driver has them (a driver without them answers `501`). */
function secretsOf(
  driver: DcrDriver,
): Required<Pick<DcrDriver, 'listSecrets' | 'addSecret' | 'revokeSecret'>> | undefined {
  const { listSecrets, addSecret, revokeSecret } = driver;
  if (!listSecrets || !addSecret || !revokeSecret) return undefined;
  return { listSecrets, addSecret, revokeSecret };
}

/**
 * Adds secrets until the IdP's limit refuses one (at most `bound`, after the harness's shortcut to a large limit), and
 * returns the secrets added and the refusal.
 */
async function addUntilRefused(
  secrets: Required<Pick<DcrDriver, 'addSecret'>>,
  harness: DriverHarness,
  clientId: string,
  bound = 20,
): Promise<{ added: AddedClientSecret[]; refusal: unknown }> {
  await harness.reachSecretLimit?.(clientId);
  const added: AddedClientSecret[] = [];
  for (let attempt = 0; attempt < bound; attempt++) {
    try {
      added.push(await secrets.addSecret(clientId));
    } catch (refusal) {
      return { added, refusal };
    }
  }
  assert.fail(`no limit within ${bound} secrets`);
}

/** One add, or the `ConflictError` of an IdP that holds one secret per client (Auth0). */
async function addOrLimitOfOne(
  secrets: Required<Pick<DcrDriver, 'addSecret'>>,
  clientId: string,
): Promise<AddedClientSecret | ConflictError> {
  try {
    return await secrets.addSecret(clientId);
  } catch (error) {
    if (error instanceof ConflictError) return error;
    throw error;
  }
}

/**
 * Multiple credentials (Konnect's `allow_multiple_credentials`): list, add and revoke, checked at the IdP's token
 * endpoint; the limit and the last secret refused with nothing created or deleted; a foreign client untouchable.
 */
function multipleCredentials(options: DriverConformanceOptions, contract: ReturnType<typeof konnectContract>): void {
  const it = skippingIt(options.skip);
  describe(`${options.name} driver multiple credentials`, () => {
    let harness: DriverHarness;
    let secrets: ReturnType<typeof secretsOf>;
    before(async () => {
      harness = await options.start({ rotationGraceSeconds: 0 });
      secrets = secretsOf(harness.driver);
    });
    after(async () => {
      await harness?.stop();
    });
    const supported = (t: { skip(message: string): void }): boolean => {
      if (secrets === undefined) t.skip(`the ${options.name} driver has no multiple-credentials operations`);
      return secrets !== undefined;
    };

    it('lists the registration secret by a stable id that says nothing of its value, metadata only', async (t) => {
      if (!supported(t)) return;
      const client = await harness.driver.registerClient(serviceMetadata(), { portal: 'konnect' });
      const listed = await secrets!.listSecrets(client.clientId);
      assert.equal(listed.length, 1);
      const [only] = listed;
      assert.equal(only!.clientId, client.clientId);
      assert.equal(only!.status, 'ACTIVE');
      assert.ok(only!.secretId.length > 0);
      assert.ok(!JSON.stringify(listed).includes(client.clientSecret), 'no value in the list');
      assert.ok(!client.clientSecret.includes(only!.secretId) && !only!.secretId.includes(client.clientSecret));
      if (only!.createdAt !== undefined)
        assert.ok(Math.abs(only!.createdAt - Date.now() / 1000) < 300, 'epoch seconds');
      assert.deepEqual(await secrets!.listSecrets(client.clientId), listed, 'the same id while the secret lives');
    });

    it('adds a secret that works beside the first, then revoking the first refuses it at once and keeps the second', async (t) => {
      if (!supported(t)) return;
      const client = await harness.driver.registerClient(serviceMetadata(), { portal: 'konnect' });
      const [first] = await secrets!.listSecrets(client.clientId);
      const added = await addOrLimitOfOne(secrets!, client.clientId);
      if (added instanceof ConflictError) {
        assert.equal((await secrets!.listSecrets(client.clientId)).length, 1, 'the refused add created nothing');
        return t.skip('the IdP holds one secret per client: the limit test covers it');
      }
      assert.equal(added.clientId, client.clientId);
      assert.notEqual(added.clientSecret, client.clientSecret);
      assert.notEqual(added.secretId, first!.secretId);
      assert.equal(await harness.secretWorks(client.clientId, client.clientSecret), true, 'the first still works');
      assert.equal(await harness.secretWorks(client.clientId, added.clientSecret), true, 'the added one works');
      const listed = await secrets!.listSecrets(client.clientId);
      assert.deepEqual(listed.map((secret) => secret.secretId).sort(), [first!.secretId, added.secretId].sort());
      assert.ok(!JSON.stringify(listed).includes(added.clientSecret), 'no value in the list');
      await secrets!.revokeSecret(client.clientId, first!.secretId);
      assert.equal(await harness.secretWorks(client.clientId, client.clientSecret), false, 'revoked: refused at once');
      assert.equal(await harness.secretWorks(client.clientId, added.clientSecret), true, 'the second keeps working');
      const left = await secrets!.listSecrets(client.clientId);
      assert.deepEqual(
        left.filter((secret) => secret.status === 'ACTIVE').map((secret) => secret.secretId),
        [added.secretId],
      );
      await secrets!.revokeSecret(client.clientId, first!.secretId);
      assert.equal(
        await harness.secretWorks(client.clientId, added.clientSecret),
        true,
        'a revoke of a gone id is a no-op',
      );
    });

    it('refuses past the IdP limit naming it, creating nothing; refuses the last secret, deleting nothing', async (t) => {
      if (!supported(t)) return;
      const client = await harness.driver.registerClient(serviceMetadata(), { portal: 'konnect' });
      const [registered] = await secrets!.listSecrets(client.clientId);
      const { added, refusal } = await addUntilRefused(secrets!, harness, client.clientId);
      assert.ok(refusal instanceof ConflictError, `the limit is a ConflictError, got ${String(refusal)}`);
      assert.match(refusal.message, /\d/, 'the refusal names the limit');
      const listedAtLimit = await secrets!.listSecrets(client.clientId);
      const stateAtLimit = await harness.idpState?.();
      await rejectsWith(secrets!.addSecret(client.clientId), ConflictError);
      assert.deepEqual(await secrets!.listSecrets(client.clientId), listedAtLimit, 'the refused add created nothing');
      assert.deepEqual(await harness.idpState?.(), stateAtLimit, 'nothing changed at the IdP');
      for (const value of [client.clientSecret, ...added.map((secret) => secret.clientSecret)])
        assert.equal(await harness.secretWorks(client.clientId, value), true);
      // The newest is kept: an IdP may refuse to drop its current secret while an older one lives (Keycloak).
      const kept = added.at(-1) ?? { secretId: registered!.secretId, clientSecret: client.clientSecret };
      for (const secret of listedAtLimit)
        if (secret.secretId !== kept.secretId) await secrets!.revokeSecret(client.clientId, secret.secretId);
      const left = await secrets!.listSecrets(client.clientId);
      assert.deepEqual(
        left.map((secret) => secret.secretId),
        [kept.secretId],
      );
      const stateWithOne = await harness.idpState?.();
      await rejectsWith(secrets!.revokeSecret(client.clientId, kept.secretId), ConflictError);
      assert.deepEqual(await secrets!.listSecrets(client.clientId), left, 'the last secret is kept');
      assert.deepEqual(await harness.idpState?.(), stateWithOne, 'nothing changed at the IdP');
      assert.equal(await harness.secretWorks(client.clientId, kept.clientSecret), true, 'and it still works');
    });

    it('rotating a client that holds several secrets leaves only the new one', async (t) => {
      if (!supported(t)) return;
      const client = await harness.driver.registerClient(serviceMetadata(), { portal: 'konnect' });
      const added = await addOrLimitOfOne(secrets!, client.clientId);
      if (added instanceof ConflictError) return t.skip('the IdP holds one secret per client');
      const rotated = await harness.driver.rotateSecret(client.clientId);
      assert.equal(await harness.secretWorks(client.clientId, rotated.clientSecret), true);
      assert.equal(await harness.secretWorks(client.clientId, client.clientSecret), false);
      assert.equal(await harness.secretWorks(client.clientId, added.clientSecret), false);
      const listed = await secrets!.listSecrets(client.clientId);
      assert.equal(listed.filter((secret) => secret.status === 'ACTIVE').length, 1);
    });

    it('an unknown client is client_not_found for list, add and revoke', async (t) => {
      if (!supported(t)) return;
      const unknown = 'no-such-client-0123456789';
      await rejectsWith(secrets!.listSecrets(unknown), ClientNotFoundError);
      await rejectsWith(secrets!.addSecret(unknown), ClientNotFoundError);
      await rejectsWith(secrets!.revokeSecret(unknown, 'no-such-secret'), ClientNotFoundError);
    });

    it("a foreign client's secrets are untouchable: list, add and revoke are client_not_found, the IdP unchanged", async (t) => {
      if (!supported(t)) return;
      if (!harness.seedForeignClient || !harness.idpState) return t.skip('this harness cannot seed a foreign client');
      const foreign = await harness.seedForeignClient();
      const worked = await harness.secretWorks(foreign.clientId, foreign.clientSecret);
      const before = await harness.idpState();
      await rejectsWith(secrets!.listSecrets(foreign.clientId), ClientNotFoundError);
      await rejectsWith(secrets!.addSecret(foreign.clientId), ClientNotFoundError);
      await rejectsWith(secrets!.revokeSecret(foreign.clientId, 'any-secret-id'), ClientNotFoundError);
      assert.deepEqual(await harness.idpState(), before, 'nothing changed at the IdP');
      assert.equal(await harness.secretWorks(foreign.clientId, foreign.clientSecret), worked);
    });

    describe('through the bridge HTTP surface', () => {
      let bridge: TestApp;
      let app: RequestListener;
      before(async () => {
        bridge = await createTestApp(harness.driver);
        app = contract.judge(bridge.app);
      });
      after(async () => {
        await bridge?.close();
      });

      it('Konnect: create, add a second, both work, revoke the first (refused, second works), the limit and the last secret are 409', async (t) => {
        if (!supported(t)) return;
        const key = (test: request.Test) => test.set('X-API-Key', bridge.apiKey);
        const created = await key(request(app).post('/'))
          .send({ client_name: 'creds', grant_types: ['bearer'], portal_id: 'p' })
          .expect(201);
        const clientId = created.body.client_id as string;
        const first = created.body.client_secret as string;
        const listed = await key(request(app).get(`/${clientId}/secrets`)).expect(200);
        const [firstId] = (listed.body.secrets as { secret_id: string }[]).map((secret) => secret.secret_id);
        const second = await key(request(app).post(`/${clientId}/secrets`));
        if (second.status === 409) {
          // An IdP of one secret per client: the add created nothing, and that one secret cannot be revoked.
          assert.equal(second.body.error, 'conflict');
          assert.equal((await secrets!.listSecrets(clientId)).length, 1);
          await key(request(app).delete(`/${clientId}/secrets/${firstId}`)).expect(409);
          assert.equal(await harness.secretWorks(clientId, first), true);
          return;
        }
        assert.equal(second.status, 201, JSON.stringify(second.body));
        assert.equal(second.body.client_id, clientId);
        assert.equal(await harness.secretWorks(clientId, first), true);
        assert.equal(await harness.secretWorks(clientId, second.body.client_secret as string), true);
        await key(request(app).delete(`/${clientId}/secrets/${firstId}`)).expect(204);
        await key(request(app).delete(`/${clientId}/secrets/${firstId}`)).expect(204);
        assert.equal(await harness.secretWorks(clientId, first), false);
        assert.equal(await harness.secretWorks(clientId, second.body.client_secret as string), true);
        const { added, refusal } = await addUntilRefused(secrets!, harness, clientId);
        assert.ok(refusal instanceof ConflictError);
        const listedAtLimit = await secrets!.listSecrets(clientId);
        const limited = await key(request(app).post(`/${clientId}/secrets`)).expect(409);
        assert.equal(limited.body.error, 'conflict');
        assert.deepEqual(await secrets!.listSecrets(clientId), listedAtLimit, 'the 409 created nothing');
        const keptId = added.at(-1)?.secretId ?? (second.body.secret_id as string);
        for (const secret of listedAtLimit)
          if (secret.secretId !== keptId)
            await key(request(app).delete(`/${clientId}/secrets/${encodeURIComponent(secret.secretId)}`)).expect(204);
        const refusedLast = await key(request(app).delete(`/${clientId}/secrets/${encodeURIComponent(keptId)}`)).expect(
          409,
        );
        assert.equal(refusedLast.body.error, 'conflict');
        assert.equal((await secrets!.listSecrets(clientId)).length, 1);
        await key(request(app).get(`/no-such-client/secrets`)).expect(404);
      });
    });
  });
}
