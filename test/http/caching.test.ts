/**
 * Answers about clients carry secrets and registration access tokens: no cache may keep one (Cache-Control: no-store)
 * and none is validated by an ETag, in both portal dialects and standard DCR alike.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { createObservedApp, type ObservedApp } from './helpers.js';

function assertUncached(response: request.Response, what: string): void {
  assert.equal(response.headers['cache-control'], 'no-store', `${what}: Cache-Control`);
  assert.equal(response.headers.etag, undefined, `${what}: no ETag`);
}

describe('client answers are never cached', () => {
  let bridge: ObservedApp;
  const withKey = (test: request.Test) => test.set('X-API-Key', bridge.apiKey);
  before(async () => {
    bridge = await createObservedApp();
  });
  after(() => bridge.close());

  it('API7: register, read, replace and rotate answer no-store without an ETag', async () => {
    const created = await withKey(request(bridge.app).post('/clients')).send({ client_name: 'cached?' }).expect(201);
    assertUncached(created, 'POST /clients');
    const clientId = created.body.client_id as string;
    assertUncached(await withKey(request(bridge.app).get(`/clients/${clientId}`)).expect(200), 'GET /clients/{id}');
    assertUncached(
      await withKey(request(bridge.app).put(`/clients/${clientId}`))
        .send({ client_name: 'renamed' })
        .expect(200),
      'PUT /clients/{id}',
    );
    assertUncached(
      await withKey(request(bridge.app).post(`/clients/${clientId}/rotate-secret`)).expect(200),
      'POST /clients/{id}/rotate-secret',
    );
    // A conditional request cannot turn a secret-bearing answer into a 304.
    const again = await withKey(request(bridge.app).get(`/clients/${clientId}`))
      .set('If-None-Match', '*')
      .expect(200);
    assert.equal(again.body.client_id, clientId);
  });

  it('Konnect: register, new secret and event hook answer no-store without an ETag', async () => {
    const created = await withKey(request(bridge.app).post('/'))
      .send({ client_name: 'konnect', redirect_uris: ['https://k.example.com/cb'] })
      .expect(201);
    assertUncached(created, 'POST /');
    const clientId = created.body.client_id as string;
    assertUncached(
      await withKey(request(bridge.app).post(`/${clientId}/new-secret`)).expect(200),
      'POST /{id}/new-secret',
    );
    const hook = await withKey(request(bridge.app).post(`/${clientId}/event-hook`))
      .send({ event_type: 'update_application', application_name: 'renamed' })
      .expect(200);
    assertUncached(hook, 'POST /{id}/event-hook');
  });

  it('standard DCR: register, read and update answer no-store without an ETag', async () => {
    const created = await request(bridge.app)
      .post('/register')
      .set('Authorization', `Bearer ${bridge.apiKey}`)
      .send({ client_name: 'standard', grant_types: ['client_credentials'] })
      .expect(201);
    assertUncached(created, 'POST /register');
    const { client_id: clientId, registration_access_token: token } = created.body as {
      client_id: string;
      registration_access_token: string;
    };
    const read = await request(bridge.app)
      .get(`/register/${clientId}`)
      .set('Authorization', `Bearer ${token}`)
      .expect(200);
    assertUncached(read, 'GET /register/{id}');
    const {
      registration_access_token: _token,
      registration_client_uri: _uri,
      client_id_issued_at: _issued,
      client_secret_expires_at: _expires,
      client_secret: _secret,
      ...metadata
    } = read.body as Record<string, unknown>;
    const updated = await request(bridge.app)
      .put(`/register/${clientId}`)
      .set('Authorization', `Bearer ${token}`)
      .send({ ...metadata, client_name: 'standard renamed' })
      .expect(200);
    assertUncached(updated, 'PUT /register/{id}');
  });

  it('refusals of client routes are no-store too', async () => {
    assertUncached(
      await request(bridge.app).get('/clients/someone').set('X-API-Key', 'not-the-key').expect(401),
      'GET /clients/{id} without the key',
    );
    assertUncached(
      await withKey(request(bridge.app).get('/clients/nobody-here')).expect(404),
      'GET /clients/{id} of no client',
    );
  });
});
