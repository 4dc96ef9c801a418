/**
 * Issue 23, item 13: an IdP failure logs its cause — the error's class, code and message — not only a class name
 * such as `InvalidArgumentError`; never a secret-like run of characters the message may quote, never a line break.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { IdpError } from '../../src/errors.js';
import { createObservedApp, type ObservedApp } from './helpers.js';

const secretLike = 'dGhpcy1pcy1hLXNlY3JldC10aGF0LW11c3QtbmV2ZXItYmUtbG9nZ2Vk';

describe('the log line of an IdP failure (issue 23, item 13)', () => {
  let bridge: ObservedApp;
  before(async () => {
    bridge = await createObservedApp();
  });
  after(() => bridge.close());

  it('names the cause by class, code and message, without a secret or a line break', async () => {
    const cause = Object.assign(new Error(`invalid header value\nAuthorization: Bearer ${secretLike}`), {
      name: 'InvalidArgumentError',
      code: 'UND_ERR_INVALID_ARG',
    });
    bridge.driver.failNext(new IdpError('The identity provider answered in a way the bridge cannot use.', { cause }));
    const response = await request(bridge.app).post('/clients').set('X-API-Key', bridge.apiKey).send({});
    assert.equal(response.status, 502);
    const line = bridge.logLines.find((text) => text.includes('request failed at the identity provider'));
    assert.ok(line, bridge.logLines.join(''));
    const entry = JSON.parse(line) as Record<string, unknown>;
    assert.equal(entry.cause, 'InvalidArgumentError');
    assert.equal(entry.causeCode, 'UND_ERR_INVALID_ARG');
    assert.match(String(entry.causeMessage), /^invalid header value Authorization: Bearer \[redacted\]$/);
    assert.ok(!line.includes(secretLike));
  });
});
