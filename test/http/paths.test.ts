/**
 * What a hostile or sloppy caller sends below the JSON: raw paths with bad percent-encoding, bodies whose
 * Content-Encoding lies, paths the bridge serves itself used as Konnect client ids, and a browser's favicon request.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import type { RequestHandler } from 'express';
import request from 'supertest';
import { createTestApp } from '../support/app.js';
import { MemoryDriver } from '../support/memory-driver.js';
import { assertErrorShape, createObservedApp, type ObservedApp } from './helpers.js';

interface RawAnswer {
  status: number;
  body: string;
}

/** Sends `path` byte for byte (no client library re-encodes it). */
function rawRequest(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const sent = http.request({ host: '127.0.0.1', port, method, path, headers }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    sent.on('error', reject);
    sent.end();
  });
}

class DriverWithPublicRoutes extends MemoryDriver {
  readonly publicRoutes = {
    path: '/local-idp',
    handler: ((_req, res) => void res.json({ served: true })) as RequestHandler,
  };
}

describe('raw paths', () => {
  let bridge: ObservedApp;
  let server: http.Server;
  let port: number;
  before(async () => {
    bridge = await createObservedApp();
    const withIdp = await createTestApp(new DriverWithPublicRoutes(), { apiKeys: [bridge.apiKey] });
    server = http.createServer((req, res) =>
      req.url?.startsWith('/local-idp') ? withIdp.app(req, res) : bridge.app(req, res),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    await new Promise((resolve) => server.close(resolve));
    await bridge.close();
  });

  for (const [method, path] of [
    ['DELETE', '/%ZZ'],
    ['GET', '/clients/%ZZ'],
    ['DELETE', '/clients/abc%'],
    ['POST', '/%E0%A4%A/new-secret'],
    ['POST', '/clients/%C3/rotate-secret'],
    ['GET', '/local-idp/%ZZ'],
    ['GET', '/healthz/%'],
    ['POST', '/%ZZ?x=1'],
  ] as const) {
    it(`${method} ${path} (bad percent-encoding) → 400 invalid_request, with or without a key`, async () => {
      for (const headers of [{ 'X-API-Key': bridge.apiKey }, {}] as Record<string, string>[]) {
        const answer = await rawRequest(port, method, path, headers);
        assert.equal(answer.status, 400, answer.body);
        assertErrorShape(JSON.parse(answer.body), 'invalid_request');
      }
    });
  }

  it('a well-encoded path still reaches its route', async () => {
    assert.equal((await rawRequest(port, 'GET', '/local-idp/%2Ejwks')).status, 200);
    assert.equal(
      (await rawRequest(port, 'DELETE', '/caf%C3%A9', { 'X-API-Key': bridge.apiKey })).status,
      400,
      'refused by the id rule, not the decoder',
    );
    assert.equal((await rawRequest(port, 'DELETE', '/no-such-client', { 'X-API-Key': bridge.apiKey })).status, 204);
  });
});

describe('Content-Encoding', () => {
  let bridge: ObservedApp;
  before(async () => {
    bridge = await createObservedApp();
  });
  after(() => bridge.close());

  const post = (path: string, encoding: string, body: string | Buffer) =>
    request(bridge.app)
      .post(path)
      .set('X-API-Key', bridge.apiKey)
      .set('Content-Type', 'application/json')
      .set('Content-Encoding', encoding)
      .send(body);

  for (const encoding of ['gzip', 'deflate', 'br', 'GZIP']) {
    it(`${encoding} on a body that is not compressed → 400 invalid_request, and nothing is registered`, async () => {
      for (const path of ['/clients', '/']) {
        const before = bridge.driver.clients.size;
        const response = await post(path, encoding, '{"client_name":"plain"}');
        assert.equal(response.status, 400, `${path}: ${response.text}`);
        assertErrorShape(response.body, 'invalid_request');
        assert.equal(bridge.driver.clients.size, before);
      }
    });
  }

  it('gzip on an empty rotation body → 400 invalid_request', async () => {
    const created = await request(bridge.app).post('/clients').set('X-API-Key', bridge.apiKey).send({}).expect(201);
    const response = await request(bridge.app)
      .post(`/${created.body.client_id}/new-secret`)
      .set('X-API-Key', bridge.apiKey)
      .set('Content-Encoding', 'gzip')
      .send('');
    assert.equal(response.status, 400);
    assertErrorShape(response.body, 'invalid_request');
    assert.equal(
      bridge.driver.secretOf(created.body.client_id as string),
      created.body.client_secret,
      'nothing rotated',
    );
  });

  for (const encoding of ['compress', 'x-gzip', 'gzip, br', 'zstd']) {
    it(`an unsupported encoding (${encoding}) → 415 unsupported_content_encoding`, async () => {
      const response = await post('/clients', encoding, '{}');
      assert.equal(response.status, 415);
      assertErrorShape(response.body, 'unsupported_content_encoding');
    });
  }

  it('a body really compressed with gzip is read', async () => {
    // The identity serializer keeps the client library from re-serialising the compressed bytes as JSON.
    const response = await request(bridge.app)
      .post('/clients')
      .set('X-API-Key', bridge.apiKey)
      .set('Content-Type', 'application/json')
      .set('Content-Encoding', 'gzip')
      .serialize((bytes: unknown) => bytes as string)
      .send(gzipSync('{"client_name":"compressed"}'));
    assert.equal(response.status, 201, response.text);
    assert.equal(response.body.client_name, 'compressed');
  });

  it('without a key the answer is still 401: the key is checked before the body is decoded', async () => {
    const response = await request(bridge.app).post('/clients').set('Content-Encoding', 'compress').send('{}');
    assert.equal(response.status, 401);
  });
});

describe('paths the bridge serves itself', () => {
  let bridge: ObservedApp;
  before(async () => {
    bridge = await createObservedApp({ authFailureLimitPerMinute: 3 });
  });
  after(() => bridge.close());

  it('are never Konnect client ids: DELETE, new-secret and event-hook on them are 404 not_found and reach no client', async () => {
    // A client at the IdP that happens to carry such an id must be untouched.
    const placeholder = await request(bridge.app)
      .post('/')
      .set('X-API-Key', bridge.apiKey)
      .send({ client_name: 'x' })
      .expect(201);
    const stored = bridge.driver.clients.get(placeholder.body.client_id as string)!;
    for (const segment of [
      'clients',
      'register',
      'healthz',
      'readyz',
      'metrics',
      'docs',
      'openapi.yaml',
      'local-idp',
      '.well-known',
    ]) {
      bridge.driver.clients.set(segment, { ...stored, client: { ...stored.client, clientId: segment } });
    }
    const paths = [
      '/clients',
      '/clients/',
      '/CLIENTS',
      '/Clients/',
      '/register',
      '/healthz',
      '/readyz',
      '/metrics',
      '/docs',
      '/openapi.yaml',
      '/local-idp',
      '/.well-known',
    ];
    for (const path of paths) {
      const deleted = await request(bridge.app).delete(path).set('X-API-Key', bridge.apiKey);
      assert.equal(deleted.status, 404, `DELETE ${path}`);
      assertErrorShape(deleted.body, 'not_found');
    }
    for (const path of [
      '/clients/new-secret',
      '/healthz/new-secret',
      '/register/event-hook',
      '/.well-known/event-hook',
    ]) {
      const response = await request(bridge.app)
        .post(path)
        .set('X-API-Key', bridge.apiKey)
        .send({ event_type: 'update_application' });
      assert.equal(response.status, 404, `POST ${path}`);
      assertErrorShape(response.body, 'not_found');
    }
    for (const segment of ['clients', 'register', 'healthz', 'docs', '.well-known'])
      assert.ok(bridge.driver.clients.has(segment), `${segment} kept`);
    assert.ok(!bridge.logLines.some((line) => line.includes('client.deleted') || line.includes('client.rotated')));
  });

  it('/favicon.ico is a 404 in the error shape and never counts as a failed authentication', async () => {
    for (let attempt = 0; attempt < 6; attempt += 1) {
      const response = await request(bridge.app).get('/favicon.ico');
      assert.equal(response.status, 404);
      assertErrorShape(response.body, 'not_found');
    }
    assert.ok(!bridge.logLines.some((line) => line.includes('auth.failed')), 'no failed authentication was logged');
    // The failed-authentication limit (3 per minute) is still untouched: three wrong keys are 401, the fourth 429.
    for (let attempt = 0; attempt < 3; attempt += 1)
      assert.equal((await request(bridge.app).get('/clients/x').set('X-API-Key', 'wrong-key-000000')).status, 401);
    assert.equal((await request(bridge.app).get('/clients/x').set('X-API-Key', 'wrong-key-000000')).status, 429);
  });
});
