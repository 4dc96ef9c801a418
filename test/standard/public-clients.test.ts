/**
 * Issue 23, item 4: a `client_credentials` client with `token_endpoint_auth_method: none` would let anyone who knows
 * its id mint tokens, so every dialect refuses it (400, nothing created); and a `none` client is never handed a
 * secret — the standard dialect leaves the member out, the portal dialects (which require it) answer "".
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call, localDriver, startStandardBridge, type StandardBridge } from './support.js';

async function portalCall(bridge: StandardBridge, method: string, path: string, body?: unknown) {
  const response = await fetch(`${bridge.url}${path}`, {
    method,
    headers: { 'x-api-key': bridge.apiKey, 'content-type': 'application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await response.text();
  return { status: response.status, body: (text === '' ? {} : JSON.parse(text)) as Record<string, unknown> };
}

describe('public clients in every dialect (issue 23, item 4)', () => {
  let bridge: StandardBridge;
  before(async () => {
    bridge = await startStandardBridge(localDriver, {
      openRegistration: {
        grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'],
        tokenEndpointAuthMethods: ['none'],
        perAddressPerHour: 1000,
        maxClients: 1000,
      },
    });
  });
  after(() => bridge.stop());

  const publicMachine = { grant_types: ['client_credentials'], token_endpoint_auth_method: 'none' };
  const publicBrowser = {
    redirect_uris: ['http://127.0.0.1:8080/cb'],
    grant_types: ['authorization_code'],
    token_endpoint_auth_method: 'none',
  };

  it('client_credentials with auth method none is refused 400 by API7, Konnect and RFC 7591, openly or not', async () => {
    const before = await bridge.driver.listOpenRegistrations!(1000);
    const answers = {
      api7: await portalCall(bridge, 'POST', '/clients', publicMachine),
      konnect: await portalCall(bridge, 'POST', '/', publicMachine),
      konnectBearer: await portalCall(bridge, 'POST', '/', { ...publicMachine, grant_types: ['bearer'] }),
      standard: await call(bridge.url, 'POST', '/register', bridge.apiKey, publicMachine),
      standardOpen: await call(bridge.url, 'POST', '/register', undefined, publicMachine),
      standardOpenDefaultMethod: await call(bridge.url, 'POST', '/register', undefined, {
        grant_types: ['client_credentials'],
      }),
    };
    for (const [dialect, answer] of Object.entries(answers)) {
      assert.equal(answer.status, 400, `${dialect}: ${JSON.stringify(answer.body)}`);
      assert.equal(answer.body.error, 'invalid_client_metadata', dialect);
      assert.match(String(answer.body.error_description), /client_credentials/, dialect);
    }
    assert.deepEqual(await bridge.driver.listOpenRegistrations!(1000), before, 'nothing was created');
  });

  it('an update to client_credentials with none is refused too', async () => {
    const created = await portalCall(bridge, 'POST', '/clients', publicBrowser);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const updated = await portalCall(bridge, 'PUT', `/clients/${created.body.client_id}`, publicMachine);
    assert.equal(updated.status, 400);
    assert.equal(updated.body.error, 'invalid_client_metadata');
  });

  it('a none client is never handed a secret', async () => {
    const api7 = await portalCall(bridge, 'POST', '/clients', publicBrowser);
    assert.equal(api7.status, 201, JSON.stringify(api7.body));
    assert.equal(api7.body.client_secret, '');
    const konnect = await portalCall(bridge, 'POST', '/', publicBrowser);
    assert.equal(konnect.status, 201);
    assert.equal(konnect.body.client_secret, '');
    const standard = await call(bridge.url, 'POST', '/register', bridge.apiKey, publicBrowser);
    assert.equal(standard.status, 201);
    assert.equal(standard.body.client_secret, undefined);
    const confidential = await portalCall(bridge, 'POST', '/clients', { grant_types: ['client_credentials'] });
    assert.ok(String(confidential.body.client_secret).length > 20, 'a confidential client still gets its secret');
  });
});
