import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { assertErrorShape, createObservedApp, type ObservedApp } from './helpers.js';

describe('API7 dialect', () => {
  let bridge: ObservedApp;
  const post = (body: unknown) =>
    request(bridge.app)
      .post('/clients')
      .set('X-API-Key', bridge.apiKey)
      .send(body as object);
  before(async () => {
    bridge = await createObservedApp({ bodyLimitBytes: 8 * 1024 });
  });
  after(() => bridge.close());

  it('registers a client with RFC 7591 members, integer epoch seconds and the secret, and passes camelCase metadata to the driver', async () => {
    const response = await post({
      client_name: 'Billing app',
      redirect_uris: [
        'https://billing.example.com/cb',
        'http://127.0.0.1:8080/cb',
        'http://localhost/cb',
        'http://[::1]:9000/cb',
      ],
      grant_types: ['authorization_code', 'refresh_token'],
      token_endpoint_auth_method: 'client_secret_post',
      scope: 'read:invoices write:invoices',
      client_uri: 'https://billing.example.com',
      contacts: ['ops@example.com'],
      some_future_member: { nested: true },
    }).expect(201);
    const body = response.body as Record<string, unknown>;
    assert.equal(typeof body.client_id, 'string');
    assert.equal(body.client_secret, bridge.driver.secretOf(body.client_id as string));
    assert.ok(
      Number.isInteger(body.client_id_issued_at) &&
        Math.abs((body.client_id_issued_at as number) - Date.now() / 1000) < 60,
    );
    assert.equal(body.client_secret_expires_at, 0);
    assert.deepEqual(body.response_types, ['code'], 'RFC 7591 default for authorization_code');
    assert.equal(body.scope, 'read:invoices write:invoices');
    assert.equal(body.some_future_member, undefined);
    const stored = bridge.driver.clients.get(body.client_id as string)!;
    assert.deepEqual(stored.client.metadata, {
      clientName: 'Billing app',
      redirectUris: [
        'https://billing.example.com/cb',
        'http://127.0.0.1:8080/cb',
        'http://localhost/cb',
        'http://[::1]:9000/cb',
      ],
      grantTypes: ['authorization_code', 'refresh_token'],
      responseTypes: ['code'],
      tokenEndpointAuthMethod: 'client_secret_post',
      scope: 'read:invoices write:invoices',
      clientUri: 'https://billing.example.com',
      contacts: ['ops@example.com'],
    });
    assert.deepEqual(stored.context, { portal: 'api7' });
  });

  it('defaults to a client_credentials client with client_secret_basic, and accepts a scopes array', async () => {
    const response = await post({ client_name: 'service', scopes: ['a', 'b', 'a'] }).expect(201);
    assert.deepEqual(response.body.grant_types, ['client_credentials']);
    assert.deepEqual(response.body.response_types, []);
    assert.equal(response.body.token_endpoint_auth_method, 'client_secret_basic');
    assert.equal(response.body.scope, 'a b');
    const empty = await request(bridge.app).post('/clients').set('X-API-Key', bridge.apiKey).expect(201);
    assert.deepEqual(empty.body.grant_types, ['client_credentials']);
  });

  it('accepts a private-use redirect scheme for a native app only', async () => {
    await post({
      application_type: 'native',
      redirect_uris: ['com.example.app:/oauth2redirect'],
      grant_types: ['authorization_code'],
    }).expect(201);
    const web = await post({ redirect_uris: ['com.example.app:/oauth2redirect'] }).expect(400);
    assertErrorShape(web.body, 'invalid_redirect_uri');
  });

  it('reads, replaces, rotates and deletes; the secret appears only on create and rotate', async () => {
    const created = await post({
      client_name: 'cycle',
      redirect_uris: ['https://cycle.example.com/cb'],
      grant_types: ['authorization_code'],
    }).expect(201);
    const clientId = created.body.client_id as string;
    const read = await request(bridge.app).get(`/clients/${clientId}`).set('X-API-Key', bridge.apiKey).expect(200);
    assert.equal(read.body.client_secret, undefined);
    assert.equal(read.body.client_name, 'cycle');
    const replaced = await request(bridge.app)
      .put(`/clients/${clientId}`)
      .set('X-API-Key', bridge.apiKey)
      .send({ client_name: 'cycle 2', redirect_uris: ['https://cycle.example.com/new'] })
      .expect(200);
    assert.equal(replaced.body.client_secret, undefined);
    assert.deepEqual(replaced.body.redirect_uris, ['https://cycle.example.com/new']);
    assert.deepEqual(
      replaced.body.grant_types,
      ['client_credentials'],
      'PUT replaces: omitted members fall back to defaults',
    );
    assert.equal(bridge.driver.secretOf(clientId), created.body.client_secret, 'an update keeps the secret');
    await request(bridge.app)
      .put(`/clients/${clientId}`)
      .set('X-API-Key', bridge.apiKey)
      .send({ client_id: clientId, client_name: 'cycle 3' })
      .expect(200);
    const mismatch = await request(bridge.app)
      .put(`/clients/${clientId}`)
      .set('X-API-Key', bridge.apiKey)
      .send({ client_id: 'someone-else', client_name: 'x' })
      .expect(400);
    assertErrorShape(mismatch.body, 'invalid_request');
    assert.equal(
      bridge.driver.clients.get(clientId)!.client.metadata.clientName,
      'cycle 3',
      'a mismatched PUT changes nothing',
    );
    const rotated = await request(bridge.app)
      .post(`/clients/${clientId}/rotate-secret`)
      .set('X-API-Key', bridge.apiKey)
      .send({})
      .expect(200);
    assert.deepEqual(Object.keys(rotated.body).sort(), ['client_id', 'client_secret', 'client_secret_expires_at']);
    assert.notEqual(rotated.body.client_secret, created.body.client_secret);
    assert.equal(bridge.driver.secretOf(clientId), rotated.body.client_secret);
    await request(bridge.app).delete(`/clients/${clientId}`).set('X-API-Key', bridge.apiKey).expect(204);
    assert.equal(bridge.driver.clients.has(clientId), false);
    await request(bridge.app).delete(`/clients/${clientId}`).set('X-API-Key', bridge.apiKey).expect(204);
  });

  it('answers 404 client_not_found for an unknown client and for a client this bridge did not create', async () => {
    for (const [method, path] of [
      ['get', '/clients/unknown-client'],
      ['put', '/clients/unknown-client'],
      ['post', '/clients/unknown-client/rotate-secret'],
    ] as const) {
      const response = await request(bridge.app)[method](path).set('X-API-Key', bridge.apiKey).send({});
      assert.equal(response.status, 404, `${method} ${path}`);
      assertErrorShape(response.body, 'client_not_found');
    }
    const foreign = await post({}).expect(201);
    bridge.driver.foreignClientIds.add(foreign.body.client_id as string);
    const refused = await request(bridge.app)
      .delete(`/clients/${foreign.body.client_id}`)
      .set('X-API-Key', bridge.apiKey)
      .expect(404);
    assertErrorShape(refused.body, 'client_not_found');
  });

  describe('bad input is a 400 in the error shape, and nothing reaches the driver', () => {
    const cases: [string, unknown, string][] = [
      ['an array body', [{ client_name: 'x' }], 'invalid_request'],
      ['a string body', 'client', 'invalid_request'],
      ['a null body', null, 'invalid_request'],
      ['client_name of the wrong type', { client_name: 42 }, 'invalid_client_metadata'],
      ['redirect_uris as a string', { redirect_uris: 'https://a.example.com/cb' }, 'invalid_client_metadata'],
      ['a redirect URI that is not a string', { redirect_uris: [7] }, 'invalid_client_metadata'],
      ['a redirect URI with a fragment', { redirect_uris: ['https://a.example.com/cb#frag'] }, 'invalid_redirect_uri'],
      ['a relative redirect URI', { redirect_uris: ['/cb'] }, 'invalid_redirect_uri'],
      ['a redirect URI that is not a URL', { redirect_uris: ['not a url'] }, 'invalid_redirect_uri'],
      ['a javascript: redirect URI', { redirect_uris: ['javascript:alert(1)'] }, 'invalid_redirect_uri'],
      [
        'a data: redirect URI',
        { application_type: 'native', redirect_uris: ['data:text/html,hi'] },
        'invalid_redirect_uri',
      ],
      [
        'a file: redirect URI',
        { application_type: 'native', redirect_uris: ['file:///etc/passwd'] },
        'invalid_redirect_uri',
      ],
      ['http on a non-loopback host', { redirect_uris: ['http://app.example.com/cb'] }, 'invalid_redirect_uri'],
      ['a wildcard host', { redirect_uris: ['https://*'] }, 'invalid_redirect_uri'],
      [
        'a trailing wildcard (Keycloak reads it as any path)',
        { redirect_uris: ['https://app.example.com/*'] },
        'invalid_redirect_uri',
      ],
      ['a wildcard subdomain', { redirect_uris: ['https://*.example.com/cb'] }, 'invalid_redirect_uri'],
      ['a percent-encoded wildcard', { redirect_uris: ['https://app.example.com/%2a'] }, 'invalid_redirect_uri'],
      ['a wildcard in a loopback redirect URI', { redirect_uris: ['http://127.0.0.1:*/cb'] }, 'invalid_redirect_uri'],
      [
        'a wildcard in a native redirect URI',
        { application_type: 'native', redirect_uris: ['com.example.app:/*'] },
        'invalid_redirect_uri',
      ],
      [
        'a wildcard post-logout redirect URI',
        { post_logout_redirect_uris: ['https://app.example.com/*'] },
        'invalid_redirect_uri',
      ],
      [
        'a bad post-logout redirect URI',
        { post_logout_redirect_uris: ['http://evil.example.com/'] },
        'invalid_redirect_uri',
      ],
      [
        'an unknown token_endpoint_auth_method',
        { token_endpoint_auth_method: 'client_secret_magic' },
        'invalid_client_metadata',
      ],
      ['an unknown grant type', { grant_types: ['client_credentials', 'bearer'] }, 'invalid_client_metadata'],
      ['an unknown application_type', { application_type: 'desktop' }, 'invalid_client_metadata'],
      ['a scope with a quote', { scope: 'read "write"' }, 'invalid_client_metadata'],
      ['both scope and scopes', { scope: 'a', scopes: ['b'] }, 'invalid_request'],
    ];
    for (const [name, body, code] of cases) {
      it(`${name} → ${code}`, async () => {
        const before = bridge.driver.clients.size;
        const response = await request(bridge.app)
          .post('/clients')
          .set('X-API-Key', bridge.apiKey)
          .set('Content-Type', 'application/json')
          .send(JSON.stringify(body));
        assert.equal(response.status, 400);
        assertErrorShape(response.body, code);
        assert.equal(bridge.driver.clients.size, before);
      });
    }

    it('malformed JSON → invalid_request', async () => {
      const response = await request(bridge.app)
        .post('/clients')
        .set('X-API-Key', bridge.apiKey)
        .set('Content-Type', 'application/json')
        .send('{"client_name": ');
      assert.equal(response.status, 400);
      assertErrorShape(response.body, 'invalid_request');
    });

    it('a rotate body that is not an object → invalid_request', async () => {
      const created = await post({}).expect(201);
      const response = await request(bridge.app)
        .post(`/clients/${created.body.client_id}/rotate-secret`)
        .set('X-API-Key', bridge.apiKey)
        .set('Content-Type', 'application/json')
        .send('"rotate"');
      assert.equal(response.status, 400);
      assertErrorShape(response.body, 'invalid_request');
      assert.equal(
        bridge.driver.secretOf(created.body.client_id as string),
        created.body.client_secret,
        'nothing rotated',
      );
    });

    it('a body over the limit → 413 request_too_large', async () => {
      const response = await post({ client_name: 'big', padding: 'x'.repeat(9 * 1024) });
      assert.equal(response.status, 413);
      assertErrorShape(response.body, 'request_too_large');
    });

    for (const [name, segment] of [
      ['an encoded slash', '%2F'],
      ['an encoded slash inside an id', 'abc%2Fdef'],
      ['an encoded dot-dot', '%2E%2E'],
      ['an encoded space', 'has%20space'],
      ['300 characters', 'a'.repeat(300)],
      ['a percent-encoded non-ASCII character', 'caf%C3%A9'],
    ] as const) {
      it(`a client_id with ${name} → invalid_request`, async () => {
        const response = await request(bridge.app).get(`/clients/${segment}`).set('X-API-Key', bridge.apiKey);
        assert.equal(response.status, 400);
        assertErrorShape(response.body, 'invalid_request');
      });
    }

    it('a raw dot-dot segment or a slash in the id is refused, not resolved to another route', async () => {
      const server = http.createServer(bridge.app);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as AddressInfo;
      const rawRequest = (method: string, path: string) =>
        new Promise<{ status: number; body: string }>((resolve, reject) => {
          const sent = http.request(
            { host: '127.0.0.1', port, method, path, headers: { 'X-API-Key': bridge.apiKey } },
            (response) => {
              let body = '';
              response.on('data', (chunk: Buffer) => (body += chunk.toString()));
              response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
            },
          );
          sent.on('error', reject);
          sent.end();
        });
      try {
        for (const [method, path] of [
          ['GET', '/clients/..'],
          ['DELETE', '/clients/.'],
          ['DELETE', '/..'],
        ] as const) {
          const response = await rawRequest(method, path);
          assert.equal(response.status, 400, `${method} ${path}`);
          assertErrorShape(JSON.parse(response.body), 'invalid_request');
        }
        for (const [method, path] of [
          ['GET', '/clients/a/b'],
          ['POST', '/../rotate-secret'],
        ] as const) {
          const response = await rawRequest(method, path);
          assert.equal(response.status, 404, `${method} ${path}`);
          assertErrorShape(JSON.parse(response.body), 'not_found');
        }
      } finally {
        await new Promise((resolve) => server.close(resolve));
      }
    });
  });
});

describe('API7 dialect: multiple credentials under /clients/{client_id}/secrets', () => {
  let bridge: ObservedApp;
  const key = (test: request.Test) => test.set('X-API-Key', bridge.apiKey);
  before(async () => {
    bridge = await createObservedApp();
  });
  after(() => bridge.close());

  it('lists, adds and revokes with the meaning and wire shape of the Konnect calls', async () => {
    const created = await key(request(bridge.app).post('/clients')).send({ client_name: 'api7 keys' }).expect(201);
    const clientId = created.body.client_id as string;
    const added = await key(request(bridge.app).post(`/clients/${clientId}/secrets`)).expect(201);
    assert.deepEqual(Object.keys(added.body).sort(), ['client_id', 'client_secret', 'created_at', 'secret_id']);
    assert.equal(typeof added.body.created_at, 'string', "RFC 3339, as in Kong's contract");
    const listed = await key(request(bridge.app).get(`/clients/${clientId}/secrets`)).expect(200);
    const ids = (listed.body.secrets as { secret_id: string; status: string }[]).map((secret) => secret.secret_id);
    assert.equal(ids.length, 2);
    assert.ok(
      !listed.text.includes(created.body.client_secret as string) &&
        !listed.text.includes(added.body.client_secret as string),
    );
    assertErrorShape(
      (await key(request(bridge.app).post(`/clients/${clientId}/secrets`)).expect(409)).body,
      'conflict',
    );
    await key(request(bridge.app).delete(`/clients/${clientId}/secrets/${ids[0]}`)).expect(204);
    await key(request(bridge.app).delete(`/clients/${clientId}/secrets/${ids[0]}`)).expect(204);
    assert.deepEqual(bridge.driver.secretsOf(clientId), [added.body.client_secret]);
    assertErrorShape(
      (await key(request(bridge.app).delete(`/clients/${clientId}/secrets/${ids[1]}`)).expect(409)).body,
      'conflict',
    );
    assertErrorShape(
      (await key(request(bridge.app).get('/clients/no-such-client/secrets')).expect(404)).body,
      'client_not_found',
    );
    assertErrorShape(
      (await request(bridge.app).get(`/clients/${clientId}/secrets`).expect(401)).body,
      'invalid_api_key',
    );
  });
});
