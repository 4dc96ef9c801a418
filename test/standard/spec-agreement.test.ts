/**
 * Issue 23, item 12: where a fuzzer found the spec and the code disagreeing, they agree — an empty `client_name` is
 * the same as none (it was a 400 from the local IdP for a body the spec allowed), and `scope` with `scopes` is refused
 * by the schema itself (the spec allowed it and the code refused it).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { localDriver, startStandardBridge, type StandardBridge } from './support.js';

describe('the spec and the code agree (issue 23, item 12)', () => {
  let bridge: StandardBridge;
  before(async () => {
    bridge = await startStandardBridge(localDriver);
  });
  after(() => bridge.stop());

  const post = async (path: string, body: unknown) => {
    const response = await fetch(`${bridge.url}${path}`, {
      method: 'POST',
      headers: { 'x-api-key': bridge.apiKey, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  it('an empty client_name is no name, in Konnect and API7', async () => {
    const konnect = await post('/', { client_name: '' });
    assert.equal(konnect.status, 201, JSON.stringify(konnect.body));
    const api7 = await post('/clients', { client_name: '' });
    assert.equal(api7.status, 201, JSON.stringify(api7.body));
    assert.equal(api7.body.client_name, undefined);
  });

  it('scope with scopes is refused by the schema, naming the rule', async () => {
    const both = await post('/clients', { scope: 'openid', scopes: ['openid'] });
    assert.equal(both.status, 400);
    assert.equal(both.body.error, 'invalid_client_metadata');
    assert.match(String(both.body.error_description), /must not carry both scope and scopes/);
  });
});
