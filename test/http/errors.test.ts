import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { ConflictError, IdpError, IdpTimeoutError, IdpUnavailableError } from '../../src/errors.js';
import { assertErrorShape, createObservedApp, type ObservedApp } from './helpers.js';

describe('driver errors are rendered in one shape', () => {
  let bridge: ObservedApp;
  before(async () => {
    bridge = await createObservedApp();
  });
  after(() => bridge.close());

  it('IdpUnavailableError → 503 idp_unavailable with Retry-After', async () => {
    bridge.driver.failNext(new IdpUnavailableError(undefined, { retryAfterSeconds: 7 }));
    const response = await request(bridge.app).post('/clients').set('X-API-Key', bridge.apiKey).send({});
    assert.equal(response.status, 503);
    assertErrorShape(response.body, 'idp_unavailable');
    assert.equal(response.headers['retry-after'], '7');
  });

  it('IdpTimeoutError → 504, IdpError → 502, ConflictError → 409, in both dialects', async () => {
    bridge.driver.failNext(new IdpTimeoutError());
    const timeout = await request(bridge.app).post('/').set('X-API-Key', bridge.apiKey).send({ client_name: 'a' });
    assert.equal(timeout.status, 504);
    assertErrorShape(timeout.body, 'idp_timeout');
    assert.equal(timeout.headers['retry-after'], undefined);
    bridge.driver.failNext(new IdpError());
    const upstream = await request(bridge.app).delete('/some-client').set('X-API-Key', bridge.apiKey);
    assert.equal(upstream.status, 502);
    assertErrorShape(upstream.body, 'idp_error');
    bridge.driver.failNext(new ConflictError());
    const conflict = await request(bridge.app)
      .post('/clients')
      .set('X-API-Key', bridge.apiKey)
      .send({ client_name: 'dup' });
    assert.equal(conflict.status, 409);
    assertErrorShape(conflict.body, 'conflict');
  });

  it('an unexpected error is 500 server_error with a fixed sentence: no message, no stack', async () => {
    const leaky = new Error('connect ECONNREFUSED idp.internal.corp:8443 secret=hunter2-hunter2');
    bridge.driver.failNext(leaky);
    const response = await request(bridge.app).get('/clients/abc').set('X-API-Key', bridge.apiKey);
    assert.equal(response.status, 500);
    assertErrorShape(response.body, 'server_error');
    assert.doesNotMatch(response.text, /ECONNREFUSED|idp\.internal|hunter2|at .*\.ts/);
    assert.ok(bridge.logLines.some((line) => line.includes('unexpected failure')));
    assert.ok(bridge.logLines.every((line) => !line.includes('hunter2') && !line.includes('idp.internal')));
  });

  it('driver failures are counted by driver, operation and outcome', async () => {
    const text = await bridge.metrics.registry.metrics();
    assert.match(
      text,
      /dcr_driver_operations_total\{driver="memory",operation="registerClient",outcome="idp_unavailable"\} 1/,
    );
    assert.match(text, /dcr_driver_operations_total\{driver="memory",operation="getClient",outcome="server_error"\} 1/);
  });
});
