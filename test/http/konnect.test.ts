import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import type { RequestListener } from 'node:http';
import { completeDriver } from '../../src/core/driver.js';
import { IdpUnavailableError } from '../../src/errors.js';
import { konnectContract } from '../support/konnect-contract.js';
import { createTestApp } from '../support/app.js';
import { MemoryDriver, singleSecretDriver } from '../support/memory-driver.js';
import { assertErrorShape, createObservedApp, type ObservedApp } from './helpers.js';

/** Every answer of these tests is judged by Kong's contract as it leaves (test/support/konnect-contract.ts). */
const contract = konnectContract();

after(() => {
  contract.assertNoViolations();
  assert.deepEqual(
    [...contract.judged.keys()].sort(),
    [
      'DELETE /{clientId}',
      'DELETE /{clientId}/secrets/{secretId}',
      'GET /{clientId}/secrets',
      'POST /',
      'POST /{clientId}/event-hook',
      'POST /{clientId}/new-secret',
      'POST /{clientId}/secrets',
    ],
    'all seven Konnect calls were judged',
  );
});

describe('Konnect dialect', () => {
  let bridge: ObservedApp;
  let app: RequestListener;
  const register = (body: object) => request(app).post('/').set('X-API-Key', bridge.apiKey).send(body);
  const key = (test: request.Test) => test.set('X-API-Key', bridge.apiKey);
  const hook = (clientId: string, body: object) =>
    request(app).post(`/${clientId}/event-hook`).set('X-API-Key', bridge.apiKey).send(body);
  before(async () => {
    bridge = await createObservedApp();
    app = contract.judge(bridge.app);
  });
  after(() => bridge.close());

  const probe = {
    redirect_uris: ['https://konnect.example.com/cb'],
    client_name: 'test client_name',
    grant_types: ['bearer', 'session'],
    scopes: ['read', 'write'],
    application_description: 'test application_description',
    portal_id: 'test portal_id',
    organization_id: 'test organization_id',
    developer_id: 'test developer_id',
    auth_strategy_id: 'test auth_strategy_id',
    dcr_provider_id: 'test dcr_provider_id',
    a_member_added_next_year: ['anything'],
  };

  it('answers the verification probe with a well-formed 201 once the IdP is reachable, and leaves no client behind', async () => {
    const before = bridge.driver.clients.size;
    const response = await register(probe).expect(201);
    assert.deepEqual(Object.keys(response.body).sort(), [
      'client_id',
      'client_id_issued_at',
      'client_secret',
      'client_secret_expires_at',
    ]);
    assert.equal(typeof response.body.client_id, 'string');
    assert.ok((response.body.client_secret as string).length >= 32);
    assert.ok(Number.isInteger(response.body.client_id_issued_at));
    assert.equal(response.body.client_secret_expires_at, 0);
    assert.equal(bridge.driver.clients.size, before, 'no client was created at the IdP');
    assert.ok(!bridge.logLines.some((line) => line.includes('client.registered')));
    bridge.driver.failNext(new Error('the IdP must not be asked'));
    await request(app).delete(`/${response.body.client_id}`).set('X-API-Key', bridge.apiKey).expect(204);
    await assert.rejects(bridge.driver.checkReadiness(), /must not be asked/, 'the delete never reached the driver');
  });

  it('answers the verification probe 503 idp_unavailable while the IdP is down, and a bad probe body 400', async () => {
    bridge.driver.failNext(new IdpUnavailableError(undefined, { retryAfterSeconds: 7 }));
    const down = await register(probe).expect(503);
    assertErrorShape(down.body, 'idp_unavailable');
    assert.equal(down.headers['retry-after'], '7');
    bridge.driver.failNext(new Error('socket hang up'));
    assertErrorShape((await register(probe).expect(503)).body, 'idp_unavailable');
    assertErrorShape(
      (await register({ ...probe, redirect_uris: ['https://*'] }).expect(400)).body,
      'invalid_redirect_uri',
    );
    await register(probe).expect(201);
  });

  it('accepts placeholder-style ids on a real registration and answers exactly the four members', async () => {
    const response = await register({ ...probe, portal_id: '5f0c3c8e-8e4b-4c1e-9f8a-2d6f1c3b7a10' }).expect(201);
    assert.deepEqual(Object.keys(response.body).sort(), [
      'client_id',
      'client_id_issued_at',
      'client_secret',
      'client_secret_expires_at',
    ]);
    assert.ok(Number.isInteger(response.body.client_id_issued_at));
    assert.equal(response.body.client_secret_expires_at, 0);
    const stored = bridge.driver.clients.get(response.body.client_id as string)!;
    assert.deepEqual(
      stored.client.metadata.grantTypes,
      ['client_credentials'],
      'bearer → client_credentials, session ignored',
    );
    assert.equal(stored.client.metadata.scope, 'read write');
    assert.deepEqual(stored.context, {
      portal: 'konnect',
      portalId: '5f0c3c8e-8e4b-4c1e-9f8a-2d6f1c3b7a10',
      organizationId: 'test organization_id',
      developerId: 'test developer_id',
      applicationDescription: 'test application_description',
    });
  });

  it('takes a scope string as RFC 7591 does instead of dropping it, and refuses scope with scopes', async () => {
    const { scopes: _scopes, ...withoutScopes } = probe;
    const response = await register({ ...withoutScopes, portal_id: 'p-1', scope: 'orders:read orders:write' }).expect(
      201,
    );
    assert.equal(
      bridge.driver.clients.get(response.body.client_id as string)!.client.metadata.scope,
      'orders:read orders:write',
    );
    const both = await register({ ...probe, portal_id: 'p-2', scope: 'orders:read' }).expect(400);
    assertErrorShape(both.body, 'invalid_request');
    assert.match(both.body.error_description as string, /either scope or scopes/);
    const malformed = await register({ ...withoutScopes, portal_id: 'p-3', scope: 'two  spaces' }).expect(400);
    assertErrorShape(malformed.body, 'invalid_client_metadata');
  });

  it('ignores unknown grant type names and keeps the known ones', async () => {
    const response = await register({
      client_name: 'web',
      grant_types: ['authorization_code', 'key_auth', 'openid_connect'],
      redirect_uris: ['https://a.example.com/cb'],
    }).expect(201);
    assert.deepEqual(bridge.driver.clients.get(response.body.client_id as string)!.client.metadata.grantTypes, [
      'authorization_code',
    ]);
  });

  it('issues a new secret with no body, or with {} and a JSON content type', async () => {
    const created = await register({ client_name: 'rotating' }).expect(201);
    const clientId = created.body.client_id as string;
    const first = await request(app).post(`/${clientId}/new-secret`).set('X-API-Key', bridge.apiKey).expect(200);
    assert.deepEqual(Object.keys(first.body).sort(), ['client_id', 'client_secret']);
    assert.equal(first.body.client_id, clientId);
    assert.equal(bridge.driver.secretOf(clientId), first.body.client_secret);
    const second = await request(app)
      .post(`/${clientId}/new-secret`)
      .set('X-API-Key', bridge.apiKey)
      .set('Content-Type', 'application/json')
      .send('{}')
      .expect(200);
    const third = await request(app)
      .post(`/${clientId}/new-secret`)
      .set('X-API-Key', bridge.apiKey)
      .set('Content-Type', 'application/json')
      .send('')
      .expect(200);
    assert.equal(
      new Set([
        created.body.client_secret,
        first.body.client_secret,
        second.body.client_secret,
        third.body.client_secret,
      ]).size,
      4,
    );
  });

  it('deletes idempotently', async () => {
    const created = await register({ client_name: 'short-lived' }).expect(201);
    await request(app).delete(`/${created.body.client_id}`).set('X-API-Key', bridge.apiKey).expect(204);
    assert.equal(bridge.driver.clients.has(created.body.client_id as string), false);
    await request(app).delete(`/${created.body.client_id}`).set('X-API-Key', bridge.apiKey).expect(204);
  });

  it('update_application really replaces the redirect URIs at the IdP and keeps the rest', async () => {
    const created = await register({
      client_name: 'app',
      redirect_uris: ['https://old.example.com/cb'],
      grant_types: ['authorization_code'],
    }).expect(201);
    const clientId = created.body.client_id as string;
    const response = await hook(clientId, {
      event_type: 'update_application',
      redirect_uris: ['https://new.example.com/cb', 'https://new.example.com/cb2'],
    }).expect(200);
    assert.deepEqual(response.body, { status: 'applied' });
    const metadata = bridge.driver.clients.get(clientId)!.client.metadata;
    assert.deepEqual(metadata.redirectUris, ['https://new.example.com/cb', 'https://new.example.com/cb2']);
    assert.equal(metadata.clientName, 'app');
    assert.deepEqual(metadata.grantTypes, ['authorization_code']);
    for (const redirectUri of ['javascript:alert(1)', 'https://new.example.com/*', 'https://*']) {
      const refused = await hook(clientId, { event_type: 'update_application', redirect_uris: [redirectUri] }).expect(
        400,
      );
      assertErrorShape(refused.body, 'invalid_redirect_uri');
    }
    assert.deepEqual(bridge.driver.clients.get(clientId)!.client.metadata.redirectUris, [
      'https://new.example.com/cb',
      'https://new.example.com/cb2',
    ]);
  });

  it('update_application in the older shape (name, no redirect_uris) renames the client and keeps its redirect URIs', async () => {
    const created = await register({ client_name: 'before', redirect_uris: ['https://keep.example.com/cb'] }).expect(
      201,
    );
    const clientId = created.body.client_id as string;
    const konnectEvent = {
      event_type: 'update_application',
      client_id: clientId,
      application_id: 'test application_id',
      application_name: 'after',
      application_description: 'test application_description',
      portal_id: 'test portal_id',
      organization_id: 'test organization_id',
      developer_id: 'test developer_id',
    };
    assert.deepEqual((await hook(clientId, konnectEvent).expect(200)).body, { status: 'applied' });
    const metadata = bridge.driver.clients.get(clientId)!.client.metadata;
    assert.equal(metadata.clientName, 'after');
    assert.deepEqual(metadata.redirectUris, ['https://keep.example.com/cb']);
    assert.deepEqual((await hook(clientId, { event_type: 'update_application' }).expect(200)).body, {
      status: 'ignored',
    });
  });

  it('add_registration and remove_registration grant and revoke API access through the driver', async () => {
    const created = await register({ client_name: 'consumer' }).expect(201);
    const clientId = created.body.client_id as string;
    await hook(clientId, {
      event_type: 'add_registration',
      api_product_version_id: 'v-1',
      audience: 'https://api.example.com',
    }).expect(200);
    assert.deepEqual(bridge.driver.clients.get(clientId)!.apiAccess, [
      { apiProductVersionId: 'v-1', audience: 'https://api.example.com' },
    ]);
    await hook(clientId, { event_type: 'remove_registration', api_product_version_id: 'v-1' }).expect(200);
    assert.deepEqual(bridge.driver.clients.get(clientId)!.apiAccess, []);
  });

  it('answers an unknown event type 200 and logs it, so a newer portal never breaks the bridge', async () => {
    const created = await register({ client_name: 'future' }).expect(201);
    const response = await hook(created.body.client_id as string, {
      event_type: 'rename_universe',
      whatever: 1,
    }).expect(200);
    assert.deepEqual(response.body, { status: 'ignored' });
    assert.ok(bridge.logLines.some((line) => line.includes('event_hook.ignored') && line.includes('rename_universe')));
  });

  it('refuses an event without event_type, and events for unknown clients', async () => {
    const created = await register({ client_name: 'x' }).expect(201);
    assertErrorShape((await hook(created.body.client_id as string, {}).expect(400)).body, 'invalid_client_metadata');
    assertErrorShape(
      (await hook(created.body.client_id as string, { event_type: 7 }).expect(400)).body,
      'invalid_client_metadata',
    );
    assertErrorShape(
      (await hook('no-such-client', { event_type: 'update_application', redirect_uris: [] }).expect(404)).body,
      'client_not_found',
    );
    assertErrorShape(
      (await request(app).post('/no-such-client/new-secret').set('X-API-Key', bridge.apiKey).expect(404)).body,
      'client_not_found',
    );
  });

  it('refuses bad registration bodies in the error shape', async () => {
    const cases: [unknown, string][] = [
      [[], 'invalid_request'],
      ['"text"', 'invalid_request'],
      [{ redirect_uris: ['https://a.example.com/cb#x'] }, 'invalid_redirect_uri'],
      [{ redirect_uris: ['http://intranet.example.com/cb'] }, 'invalid_redirect_uri'],
      [{ redirect_uris: ['https://*'] }, 'invalid_redirect_uri'],
      [{ redirect_uris: ['https://app.example.com/*'] }, 'invalid_redirect_uri'],
      [{ token_endpoint_auth_method: 'mtls_magic' }, 'invalid_client_metadata'],
      [{ grant_types: 'bearer' }, 'invalid_client_metadata'],
      [{ client_name: ['a'] }, 'invalid_client_metadata'],
    ];
    for (const [body, code] of cases) {
      const response = await request(app)
        .post('/')
        .set('X-API-Key', bridge.apiKey)
        .set('Content-Type', 'application/json')
        .send(typeof body === 'string' ? body : JSON.stringify(body));
      assert.equal(response.status, 400, JSON.stringify(body));
      assertErrorShape(response.body, code);
    }
  });

  it('lists, adds and revokes secrets: metadata only with RFC 3339 times, 201 with the value once, 204 also when gone', async () => {
    const created = await register({ client_name: 'two keys', portal_id: 'p' }).expect(201);
    const clientId = created.body.client_id as string;
    const listed = await key(request(app).get(`/${clientId}/secrets`)).expect(200);
    assert.equal(listed.body.secrets.length, 1);
    const [first] = listed.body.secrets as Record<string, string>[];
    assert.deepEqual(Object.keys(first!).sort(), ['client_id', 'created_at', 'secret_id', 'status']);
    assert.equal(first!.client_id, clientId);
    assert.equal(first!.status, 'ACTIVE');
    assert.match(first!.created_at!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    assert.ok(Math.abs(Date.parse(first!.created_at!) - Date.now()) < 60_000);
    const added = await key(request(app).post(`/${clientId}/secrets`)).expect(201);
    assert.deepEqual(Object.keys(added.body).sort(), ['client_id', 'client_secret', 'created_at', 'secret_id']);
    assert.deepEqual(bridge.driver.secretsOf(clientId), [created.body.client_secret, added.body.client_secret]);
    const both = await key(request(app).get(`/${clientId}/secrets`)).expect(200);
    assert.deepEqual(
      (both.body.secrets as { secret_id: string }[]).map((secret) => secret.secret_id),
      [first!.secret_id, added.body.secret_id],
    );
    assert.ok(!both.text.includes(added.body.client_secret as string), 'a list never carries a value');
    await key(request(app).delete(`/${clientId}/secrets/${first!.secret_id}`)).expect(204);
    assert.deepEqual(bridge.driver.secretsOf(clientId), [added.body.client_secret]);
    await key(request(app).delete(`/${clientId}/secrets/${first!.secret_id}`)).expect(204);
    await key(request(app).post(`/${clientId}/secrets`).set('Content-Type', 'application/json').send('{}')).expect(201);
    assert.ok(
      !bridge.logLines.some((line) => line.includes(added.body.client_secret as string)),
      'an added secret is never in a log line',
    );
  });

  it('refuses past the limit and the last secret with 409 naming why, and an unknown client with 404', async () => {
    const created = await register({ client_name: 'limited' }).expect(201);
    const clientId = created.body.client_id as string;
    await key(request(app).post(`/${clientId}/secrets`)).expect(201);
    const limited = await key(request(app).post(`/${clientId}/secrets`)).expect(409);
    assertErrorShape(limited.body, 'conflict');
    assert.match(limited.body.error_description as string, /2 secrets/);
    assert.equal(bridge.driver.secretsOf(clientId).length, 2, 'the refused add created nothing');
    const [, second] = (await key(request(app).get(`/${clientId}/secrets`)).expect(200)).body.secrets as {
      secret_id: string;
    }[];
    await key(request(app).delete(`/${clientId}/secrets/${second!.secret_id}`)).expect(204);
    const [last] = (await key(request(app).get(`/${clientId}/secrets`)).expect(200)).body.secrets as {
      secret_id: string;
    }[];
    const refused = await key(request(app).delete(`/${clientId}/secrets/${last!.secret_id}`)).expect(409);
    assertErrorShape(refused.body, 'conflict');
    assert.match(refused.body.error_description as string, /last/);
    assert.deepEqual(bridge.driver.secretsOf(clientId), [created.body.client_secret], 'the last secret is kept');
    for (const call of [
      request(app).get('/no-such-client/secrets'),
      request(app).post('/no-such-client/secrets'),
      request(app).delete('/no-such-client/secrets/any-id'),
    ])
      assertErrorShape((await key(call).expect(404)).body, 'client_not_found');
  });

  it('checks the path ids and the body as the other calls do, and the key before anything', async () => {
    const created = await register({ client_name: 'strict' }).expect(201);
    const clientId = created.body.client_id as string;
    assertErrorShape((await request(app).get(`/${clientId}/secrets`).expect(401)).body, 'invalid_api_key');
    assertErrorShape((await request(app).post(`/${clientId}/secrets`).expect(401)).body, 'invalid_api_key');
    assertErrorShape((await request(app).delete(`/${clientId}/secrets/x`).expect(401)).body, 'invalid_api_key');
    const array = key(request(app).post(`/${clientId}/secrets`))
      .set('Content-Type', 'application/json')
      .send('[]');
    assertErrorShape((await array.expect(400)).body, 'invalid_request');
    assertErrorShape(
      (await key(request(app).delete(`/${clientId}/secrets/%2E%2E`)).expect(400)).body,
      'invalid_request',
    );
    assertErrorShape((await key(request(app).get('/clients/secrets')).expect(404)).body, 'client_not_found');
    assert.equal(bridge.driver.secretsOf(clientId).length, 1, 'nothing was added');
  });

  it('answers 501 not_implemented, saying so, when the driver cannot hold several secrets', async () => {
    const memory = new MemoryDriver();
    const driver = completeDriver(singleSecretDriver(memory));
    assert.equal(driver.listSecrets, undefined, 'completeDriver puts no silent default in their place');
    const other = await createTestApp(driver);
    try {
      const judged = contract.judge(other.app);
      const client = await memory.registerClient(
        {
          redirectUris: [],
          grantTypes: ['client_credentials'],
          responseTypes: [],
          tokenEndpointAuthMethod: 'client_secret_basic',
        },
        {},
      );
      for (const call of [
        request(judged).get(`/${client.clientId}/secrets`),
        request(judged).post(`/${client.clientId}/secrets`),
        request(judged).delete(`/${client.clientId}/secrets/any-id`),
        request(judged).get(`/clients/${client.clientId}/secrets`),
      ]) {
        const answer = await call.set('X-API-Key', other.apiKey).expect(501);
        assertErrorShape(answer.body, 'not_implemented');
        assert.match(answer.body.error_description as string, /single driver does not support multiple credentials/);
      }
      assert.deepEqual(memory.secretsOf(client.clientId), [client.clientSecret]);
    } finally {
      await other.close();
    }
  });
});
