import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { assertErrorShape, createObservedApp, type ObservedApp } from './helpers.js';

const secondKey = 'second-portal-key-0123456789';

describe('API key check', () => {
  let bridge: ObservedApp;
  before(async () => {
    bridge = await createObservedApp({ apiKeys: ['first-portal-key-0123456789', secondKey] });
    bridge.apiKey = 'first-portal-key-0123456789';
  });
  after(() => bridge.close());

  it('accepts every configured key, in X-API-Key or as a Bearer token', async () => {
    await request(bridge.app).post('/clients').set('X-API-Key', bridge.apiKey).send({}).expect(201);
    await request(bridge.app).post('/clients').set('X-API-Key', secondKey).send({}).expect(201);
    await request(bridge.app).post('/clients').set('Authorization', `Bearer ${secondKey}`).send({}).expect(201);
    await request(bridge.app).post('/clients').set('Authorization', `bearer ${bridge.apiKey}`).send({}).expect(201);
  });

  it('refuses a missing key, a wrong key, a key prefix and a key in the wrong header with 401 invalid_api_key', async () => {
    const clientsBefore = bridge.driver.clients.size;
    const attempts = [
      request(bridge.app).post('/clients').send({}),
      request(bridge.app).post('/clients').set('X-API-Key', 'not-the-portal-key-at-all').send({}),
      request(bridge.app).post('/clients').set('X-API-Key', bridge.apiKey.slice(0, -1)).send({}),
      request(bridge.app).post('/clients').set('X-API-Key', `${bridge.apiKey}x`).send({}),
      request(bridge.app).post('/clients').set('X-Api-Token', bridge.apiKey).send({}),
      request(bridge.app).post('/clients').set('Authorization', `Basic ${bridge.apiKey}`).send({}),
      request(bridge.app).post('/clients').set('Authorization', bridge.apiKey).send({}),
    ];
    for (const response of await Promise.all(attempts)) {
      assert.equal(response.status, 401);
      assertErrorShape(response.body, 'invalid_api_key');
    }
    assert.equal(bridge.driver.clients.size, clientsBefore, 'no refused request reached the driver');
    assert.match(
      await bridge.metrics.registry.metrics(),
      /dcr_http_requests_total\{method="POST",route="unauthenticated",status="401"\} 7/,
    );
  });

  it('checks the key before the body: a bad key with malformed, non-object or oversized bodies is still 401', async () => {
    const malformed = await request(bridge.app)
      .post('/clients')
      .set('X-API-Key', 'wrong-key-0123456789')
      .set('Content-Type', 'application/json')
      .send('{"client_name":');
    assert.equal(malformed.status, 401);
    assertErrorShape(malformed.body, 'invalid_api_key');
    const array = await request(bridge.app).post('/').send([1, 2, 3]);
    assert.equal(array.status, 401);
    const oversized = await request(bridge.app)
      .put('/clients/some-client')
      .set('Content-Type', 'application/json')
      .send(JSON.stringify({ client_name: 'x'.repeat(200 * 1024) }));
    assert.equal(oversized.status, 401);
    assertErrorShape(oversized.body, 'invalid_api_key');
  });

  it('protects every dialect route, including unknown paths', async () => {
    const paths: [string, string][] = [
      ['get', '/clients/abc'],
      ['put', '/clients/abc'],
      ['delete', '/clients/abc'],
      ['post', '/clients/abc/rotate-secret'],
      ['delete', '/abc'],
      ['post', '/abc/new-secret'],
      ['post', '/abc/event-hook'],
      ['get', '/no/such/path'],
    ];
    for (const [method, path] of paths) {
      const response = await (request(bridge.app) as unknown as Record<string, (path: string) => request.Test>)[
        method
      ]!(path);
      assert.equal(response.status, 401, `${method} ${path}`);
    }
  });
});

describe('rate limits', () => {
  it('answers 429 rate_limited with Retry-After once a key is over its rate, and other keys keep working', async () => {
    const bridge = await createObservedApp({
      apiKeys: ['limited-portal-key-0001', 'other-portal-key-00002'],
      rateLimitPerMinute: 3,
    });
    try {
      for (let index = 0; index < 3; index += 1) {
        await request(bridge.app)
          .get('/clients/unknown-client')
          .set('X-API-Key', 'limited-portal-key-0001')
          .expect(404);
      }
      const limited = await request(bridge.app).post('/clients').set('X-API-Key', 'limited-portal-key-0001').send({});
      assert.equal(limited.status, 429);
      assertErrorShape(limited.body, 'rate_limited');
      const retryAfter = Number(limited.headers['retry-after']);
      assert.ok(
        Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60,
        `Retry-After ${limited.headers['retry-after']}`,
      );
      assert.equal(bridge.driver.clients.size, 0, 'the limited request did not reach the driver');
      await request(bridge.app).post('/clients').set('X-API-Key', 'other-portal-key-00002').send({}).expect(201);
      const metrics = await bridge.metrics.registry.metrics();
      assert.match(metrics, /dcr_http_requests_total\{method="POST",route="rate_limited",status="429"\} 1/);
    } finally {
      await bridge.close();
    }
  });

  it('limits failed authentications more strictly, without locking out a correct key', async () => {
    const bridge = await createObservedApp({ authFailureLimitPerMinute: 2 });
    try {
      await request(bridge.app).get('/clients/x').set('X-API-Key', 'guess-number-one-000').expect(401);
      await request(bridge.app).get('/clients/x').set('X-API-Key', 'guess-number-two-000').expect(401);
      const limited = await request(bridge.app).get('/clients/x').set('X-API-Key', 'guess-number-three-0');
      assert.equal(limited.status, 429);
      assertErrorShape(limited.body, 'rate_limited');
      assert.ok(Number(limited.headers['retry-after']) >= 1);
      await request(bridge.app).get('/clients/unknown').set('X-API-Key', bridge.apiKey).expect(404);
    } finally {
      await bridge.close();
    }
  });

  it('counts failed authentications by the real client address only behind DCR_TRUST_PROXY', async () => {
    for (const trustProxy of [1, ['loopback'], ['127.0.0.1/8', '::1']] as const) {
      const bridge = await createObservedApp({
        authFailureLimitPerMinute: 2,
        trustProxy: trustProxy as number | string[],
      });
      try {
        const guess = (address: string) =>
          request(bridge.app)
            .get('/clients/x')
            .set('X-Forwarded-For', address)
            .set('X-API-Key', 'wrong-key-behind-proxy');
        await guess('203.0.113.7').expect(401);
        await guess('203.0.113.7').expect(401);
        assertErrorShape((await guess('203.0.113.7').expect(429)).body, 'rate_limited');
        await guess('198.51.100.20').expect(401);
      } finally {
        await bridge.close();
      }
    }
    const untrusting = await createObservedApp({ authFailureLimitPerMinute: 2 });
    try {
      const guess = (address: string) =>
        request(untrusting.app)
          .get('/clients/x')
          .set('X-Forwarded-For', address)
          .set('X-API-Key', 'wrong-key-behind-proxy');
      await guess('203.0.113.7').expect(401);
      await guess('198.51.100.20').expect(401);
      await guess('192.0.2.1').expect(429);
    } finally {
      await untrusting.close();
    }
    const wrongProxy = await createObservedApp({ authFailureLimitPerMinute: 2, trustProxy: ['10.0.0.0/8'] });
    try {
      const guess = (address: string) =>
        request(wrongProxy.app)
          .get('/clients/x')
          .set('X-Forwarded-For', address)
          .set('X-API-Key', 'wrong-key-behind-proxy');
      await guess('203.0.113.7').expect(401);
      await guess('198.51.100.20').expect(401);
      await guess('192.0.2.1').expect(429);
    } finally {
      await wrongProxy.close();
    }
  });

  it('behind a proxy (X-Forwarded-For) writes nothing outside the JSON logs', async () => {
    const bridge = await createObservedApp({ authFailureLimitPerMinute: 1 });
    const written: unknown[] = [];
    const originalError = console.error;
    const originalWarn = console.warn;
    console.error = (...args: unknown[]) => void written.push(args);
    console.warn = (...args: unknown[]) => void written.push(args);
    try {
      await request(bridge.app)
        .get('/clients/x')
        .set('X-Forwarded-For', '203.0.113.7')
        .set('X-API-Key', 'wrong-key-behind-proxy')
        .expect(401);
      await request(bridge.app)
        .get('/clients/x')
        .set('X-Forwarded-For', '203.0.113.8')
        .set('X-API-Key', 'wrong-key-behind-proxy')
        .expect(429);
      await request(bridge.app)
        .get('/clients/x')
        .set('X-Forwarded-For', '203.0.113.7')
        .set('X-API-Key', bridge.apiKey)
        .expect(404);
    } finally {
      console.error = originalError;
      console.warn = originalWarn;
      await bridge.close();
    }
    assert.deepEqual(written, []);
  });
});
