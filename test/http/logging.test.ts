import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import request from 'supertest';
import { IdpUnavailableError } from '../../src/errors.js';
import { createObservedApp } from './helpers.js';

describe('logs', () => {
  it('are JSON lines carrying the request id, and never a key, a secret or a body', async () => {
    const bridge = await createObservedApp();
    try {
      const secrets: string[] = [bridge.apiKey];
      const created = await request(bridge.app)
        .post('/clients')
        .set('X-API-Key', bridge.apiKey)
        .set('X-Request-Id', 'req-create-1')
        .send({ client_name: 'very-distinctive-client-name', redirect_uris: ['https://logged.example.com/cb'] })
        .expect(201);
      secrets.push(created.body.client_secret as string);
      const clientId = created.body.client_id as string;
      const rotated = await request(bridge.app)
        .post(`/clients/${clientId}/rotate-secret`)
        .set('Authorization', `Bearer ${bridge.apiKey}`)
        .expect(200);
      secrets.push(rotated.body.client_secret as string);
      const konnect = await request(bridge.app)
        .post('/')
        .set('X-API-Key', bridge.apiKey)
        .send({ client_name: 'k' })
        .expect(201);
      secrets.push(konnect.body.client_secret as string);
      const renewed = await request(bridge.app)
        .post(`/${konnect.body.client_id}/new-secret`)
        .set('X-API-Key', bridge.apiKey)
        .expect(200);
      secrets.push(renewed.body.client_secret as string);
      await request(bridge.app)
        .post('/clients')
        .set('X-API-Key', `${bridge.apiKey}-wrong`)
        .send({ client_secret: 'caller-sent-secret-value' })
        .expect(401);
      secrets.push(`${bridge.apiKey}-wrong`, 'caller-sent-secret-value');
      bridge.driver.failNext(new IdpUnavailableError());
      await request(bridge.app).delete(`/clients/${clientId}`).set('X-API-Key', bridge.apiKey).expect(503);

      assert.ok(bridge.logLines.length >= 10, `captured ${bridge.logLines.length} lines`);
      for (const line of bridge.logLines) {
        const entry = JSON.parse(line) as Record<string, unknown>;
        assert.equal(typeof entry.requestId, 'string', `request id on ${line}`);
        for (const secret of secrets)
          assert.ok(!line.includes(secret), `a secret reached a log line: ${line.slice(0, 80)}`);
        assert.doesNotMatch(line, /very-distinctive-client-name|logged\.example\.com|authorization|x-api-key/i);
      }
      const registered = bridge.logLines
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .find((entry) => entry.message === 'client.registered');
      assert.equal(registered?.requestId, 'req-create-1', 'events logged after body parsing keep the request id');
      assert.equal(registered?.clientId, clientId);
      assert.ok(bridge.logLines.some((line) => line.includes('"auth.failed"')));
    } finally {
      await bridge.close();
    }
  });
});

describe('the request log line', () => {
  it('is written at debug with the route template, status and duration', async () => {
    const bridge = await createObservedApp({}, { logLevel: 'debug' });
    try {
      const created = await request(bridge.app)
        .post('/clients')
        .set('X-API-Key', bridge.apiKey)
        .send({ client_name: 'logged' })
        .expect(201);
      await request(bridge.app)
        .get(`/clients/${created.body.client_id as string}`)
        .set('X-API-Key', bridge.apiKey)
        .set('X-Request-Id', 'req-read-1')
        .expect(200);
      const answered = bridge.logLines
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .filter((entry) => entry.message === 'request answered');
      assert.equal(answered.length, 2);
      const read = answered.find((entry) => entry.requestId === 'req-read-1');
      assert.equal(read?.level, 'http');
      assert.equal(read?.method, 'GET');
      assert.equal(read?.route, '/clients/:client_id');
      assert.equal(read?.status, '200');
      assert.equal(typeof read?.durationMs, 'number');
    } finally {
      await bridge.close();
    }
  });

  it('is not even formatted at info, while the request is still counted', async () => {
    const bridge = await createObservedApp({}, { logLevel: 'info' });
    const logger = bridge.logger;
    const transform = logger.format.transform.bind(logger.format);
    const formatted: string[] = [];
    logger.format.transform = (info, options) => {
      formatted.push(String(info.level));
      return transform(info, options);
    };
    try {
      const created = await request(bridge.app)
        .post('/clients')
        .set('X-API-Key', bridge.apiKey)
        .send({ client_name: 'quiet' })
        .expect(201);
      await request(bridge.app)
        .get(`/clients/${created.body.client_id as string}`)
        .set('X-API-Key', bridge.apiKey)
        .expect(200);
      assert.ok(formatted.includes('info'), 'the info lines (client.registered) pass through the format');
      assert.deepEqual(
        formatted.filter((level) => level === 'http'),
        [],
        'no http line reached the format',
      );
      assert.ok(!bridge.logLines.some((line) => line.includes('request answered')));
      const counted = await bridge.metrics.httpRequests.get();
      const read = counted.values.find(
        (sample) => sample.labels.route === '/clients/:client_id' && sample.labels.method === 'GET',
      );
      assert.equal(read?.value, 1);
      assert.equal(read?.labels.status, '200');
    } finally {
      await bridge.close();
    }
  });
});
