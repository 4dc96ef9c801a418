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
      const rotated = await request(bridge.app).post(`/clients/${clientId}/rotate-secret`).set('Authorization', `Bearer ${bridge.apiKey}`).expect(200);
      secrets.push(rotated.body.client_secret as string);
      const konnect = await request(bridge.app).post('/').set('X-API-Key', bridge.apiKey).send({ client_name: 'k' }).expect(201);
      secrets.push(konnect.body.client_secret as string);
      const renewed = await request(bridge.app).post(`/${konnect.body.client_id}/new-secret`).set('X-API-Key', bridge.apiKey).expect(200);
      secrets.push(renewed.body.client_secret as string);
      await request(bridge.app).post('/clients').set('X-API-Key', `${bridge.apiKey}-wrong`).send({ client_secret: 'caller-sent-secret-value' }).expect(401);
      secrets.push(`${bridge.apiKey}-wrong`, 'caller-sent-secret-value');
      bridge.driver.failNext(new IdpUnavailableError());
      await request(bridge.app).delete(`/clients/${clientId}`).set('X-API-Key', bridge.apiKey).expect(503);

      assert.ok(bridge.logLines.length >= 10, `captured ${bridge.logLines.length} lines`);
      for (const line of bridge.logLines) {
        const entry = JSON.parse(line) as Record<string, unknown>;
        assert.equal(typeof entry.requestId, 'string', `request id on ${line}`);
        for (const secret of secrets) assert.ok(!line.includes(secret), `a secret reached a log line: ${line.slice(0, 80)}`);
        assert.doesNotMatch(line, /very-distinctive-client-name|logged\.example\.com|authorization|x-api-key/i);
      }
      const registered = bridge.logLines.map((line) => JSON.parse(line) as Record<string, unknown>).find((entry) => entry.message === 'client.registered');
      assert.equal(registered?.requestId, 'req-create-1', 'events logged after body parsing keep the request id');
      assert.equal(registered?.clientId, clientId);
      assert.ok(bridge.logLines.some((line) => line.includes('"auth.failed"')));
    } finally {
      await bridge.close();
    }
  });
});
