/**
 * Open registration (`DCR_OPEN_REGISTRATION=true`): POST /register without an initial access token, always under the
 * policy — allowed grants and auth methods, loopback/https/private-use redirect URIs, a per-address rate limit and a
 * cap — with each such client marked at the IdP so the operator can list and purge them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { OpenRegistrationPolicy } from '../../src/config.js';
import { call, localDriver, startStandardBridge, type StandardBridge } from './support.js';

const mcpClient = {
  client_name: 'mcp client',
  redirect_uris: ['http://127.0.0.1:53682/callback'],
  grant_types: ['authorization_code', 'refresh_token'],
  token_endpoint_auth_method: 'none',
};
const policy = (overrides: Partial<OpenRegistrationPolicy> = {}): OpenRegistrationPolicy => ({
  grantTypes: ['authorization_code', 'refresh_token'],
  tokenEndpointAuthMethods: ['none'],
  perAddressPerHour: 1000,
  maxClients: 1000,
  ...overrides,
});

async function operator(bridge: StandardBridge, method: 'GET' | 'DELETE') {
  const response = await fetch(`${bridge.url}/admin/open-registrations`, {
    method,
    headers: { 'x-api-key': bridge.apiKey },
  });
  return { status: response.status, body: (await response.json()) as { client_ids?: string[]; deleted?: number } };
}

describe('open registration policy', () => {
  let bridge: StandardBridge;
  before(async () => {
    bridge = await startStandardBridge(localDriver, { openRegistration: policy() });
  });
  after(() => bridge.stop());

  it('registers a public loopback client without an initial access token, with a working registration token', async () => {
    const created = await call(bridge.url, 'POST', '/register', undefined, mcpClient);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.client_secret, undefined);
    assert.equal(created.body.token_endpoint_auth_method, 'none');
    const read = await call(
      bridge.url,
      'GET',
      new URL(created.body.registration_client_uri as string).pathname,
      created.body.registration_access_token as string,
    );
    assert.equal(read.status, 200);
  });

  it('a wrong initial access token is still refused: open registration is for requests that send none', async () => {
    const refused = await call(bridge.url, 'POST', '/register', 'a-wrong-initial-access-token', mcpClient);
    assert.equal(refused.status, 401);
    assert.equal(refused.headers.get('www-authenticate'), 'Bearer error="invalid_token"');
  });

  it('an omitted token_endpoint_auth_method is the first allowed one, not client_secret_basic', async () => {
    const { token_endpoint_auth_method: _m, ...withoutMethod } = mcpClient;
    const created = await call(bridge.url, 'POST', '/register', undefined, withoutMethod);
    assert.equal(created.status, 201);
    assert.equal(created.body.token_endpoint_auth_method, 'none');
  });

  it('refuses grant types and auth methods outside the policy', async () => {
    const grant = await call(bridge.url, 'POST', '/register', undefined, {
      ...mcpClient,
      grant_types: ['client_credentials'],
    });
    assert.equal(grant.status, 400);
    assert.equal(grant.body.error, 'invalid_client_metadata');
    const method = await call(bridge.url, 'POST', '/register', undefined, {
      ...mcpClient,
      token_endpoint_auth_method: 'client_secret_basic',
    });
    assert.equal(method.status, 400);
    assert.equal(method.body.error, 'invalid_client_metadata');
    const noRedirect = await call(bridge.url, 'POST', '/register', undefined, { ...mcpClient, redirect_uris: [] });
    assert.equal(noRedirect.body.error, 'invalid_client_metadata');
  });

  it('allows loopback on any port, https and private-use schemes; refuses plain http elsewhere', async () => {
    for (const redirect_uris of [
      ['http://127.0.0.1:1/cb'],
      ['http://localhost:65535/cb'],
      ['http://[::1]:8080/cb'],
      ['https://app.example.com/cb'],
    ]) {
      assert.equal(
        (await call(bridge.url, 'POST', '/register', undefined, { ...mcpClient, redirect_uris })).status,
        201,
        redirect_uris[0],
      );
    }
    const native = await call(bridge.url, 'POST', '/register', undefined, {
      ...mcpClient,
      application_type: 'native',
      redirect_uris: ['com.example.app:/cb'],
    });
    assert.equal(native.status, 201);
    const plain = await call(bridge.url, 'POST', '/register', undefined, {
      ...mcpClient,
      redirect_uris: ['http://app.example.com/cb'],
    });
    assert.equal(plain.status, 400);
    assert.equal(plain.body.error, 'invalid_redirect_uri');
  });

  it("a client's own PUT is held to the policy it registered under (issue 23, item 3)", async () => {
    const created = await call(bridge.url, 'POST', '/register', undefined, mcpClient);
    assert.equal(created.status, 201);
    const path = new URL(created.body.registration_client_uri as string).pathname;
    let token = created.body.registration_access_token as string;
    const base = { ...mcpClient, client_id: created.body.client_id };
    for (const [escalation, changes] of [
      ['client_credentials with no credential', { grant_types: ['client_credentials'] }],
      ['a secret-based method', { token_endpoint_auth_method: 'client_secret_basic' }],
      ['implicit', { grant_types: ['authorization_code', 'implicit'] }],
      [
        "private_key_jwt with the caller's keys",
        { token_endpoint_auth_method: 'private_key_jwt', jwks_uri: 'https://attacker.example.com/jwks' },
      ],
      ['a jwks_uri on a public client', { jwks_uri: 'https://attacker.example.com/jwks' }],
      ['no redirect URI', { redirect_uris: [] }],
      ['plain http elsewhere than loopback', { redirect_uris: ['http://attacker.example.com/cb'] }],
    ] as const) {
      const refused = await call(bridge.url, 'PUT', path, token, { ...base, ...changes });
      assert.equal(refused.status, 400, `${escalation}: ${JSON.stringify(refused.body)}`);
      assert.match(String(refused.body.error), /^invalid_(client_metadata|redirect_uri)$/, escalation);
    }
    const read = await call(bridge.url, 'GET', path, token);
    assert.deepEqual(read.body.grant_types, mcpClient.grant_types, 'nothing changed');
    assert.equal(read.body.token_endpoint_auth_method, 'none');
    const allowed = await call(bridge.url, 'PUT', path, token, { ...base, client_name: 'renamed' });
    assert.equal(allowed.status, 200, JSON.stringify(allowed.body));
    token = allowed.body.registration_access_token as string;
    const { token_endpoint_auth_method: _m, ...withoutMethod } = base;
    const defaulted = await call(bridge.url, 'PUT', path, token, withoutMethod);
    assert.equal(defaulted.status, 200, 'an omitted method is the policy default, as at registration');
    assert.equal(defaulted.body.token_endpoint_auth_method, 'none');
  });

  it('with an initial access token the open policy does not apply', async () => {
    const created = await call(bridge.url, 'POST', '/register', bridge.apiKey, { grant_types: ['client_credentials'] });
    assert.equal(created.status, 201);
    assert.equal(typeof created.body.client_secret, 'string');
  });

  it('marks open-registered clients so the operator lists them — and only them — and purges them', async () => {
    const open = await call(bridge.url, 'POST', '/register', undefined, mcpClient);
    const portal = await call(bridge.url, 'POST', '/register', bridge.apiKey, { grant_types: ['client_credentials'] });
    const listed = await operator(bridge, 'GET');
    assert.equal(listed.status, 200);
    assert.ok(listed.body.client_ids!.includes(open.body.client_id as string));
    assert.ok(!listed.body.client_ids!.includes(portal.body.client_id as string));
    assert.equal((await fetch(`${bridge.url}/admin/open-registrations`)).status, 401, 'the listing needs a portal key');
    const purged = await operator(bridge, 'DELETE');
    assert.equal(purged.body.deleted, listed.body.client_ids!.length);
    assert.deepEqual((await operator(bridge, 'GET')).body.client_ids, []);
    const openPath = new URL(open.body.registration_client_uri as string).pathname;
    assert.equal(
      (await call(bridge.url, 'GET', openPath, open.body.registration_access_token as string)).status,
      401,
      'a purged client is gone',
    );
    const portalPath = new URL(portal.body.registration_client_uri as string).pathname;
    assert.equal(
      (await call(bridge.url, 'GET', portalPath, portal.body.registration_access_token as string)).status,
      200,
      'portal-registered clients stay',
    );
  });
});

describe('open registration limits', () => {
  it('a per-address rate limit answers 429 with Retry-After, and counts only open registrations', async () => {
    const bridge = await startStandardBridge(localDriver, { openRegistration: policy({ perAddressPerHour: 2 }) });
    try {
      assert.equal((await call(bridge.url, 'POST', '/register', undefined, mcpClient)).status, 201);
      assert.equal(
        (await call(bridge.url, 'POST', '/register', bridge.apiKey, mcpClient)).status,
        201,
        'a registration with a token is not counted',
      );
      assert.equal((await call(bridge.url, 'POST', '/register', undefined, mcpClient)).status, 201);
      const limited = await call(bridge.url, 'POST', '/register', undefined, mcpClient);
      assert.equal(limited.status, 429);
      assert.equal(limited.body.error, 'rate_limited');
      assert.ok(Number(limited.headers.get('retry-after')) > 0);
      assert.equal(
        (await call(bridge.url, 'POST', '/register', bridge.apiKey, mcpClient)).status,
        201,
        'initial access tokens still register',
      );
    } finally {
      await bridge.stop();
    }
  });

  it('a cap on open-registered clients: full is 429, and a deleted client frees its place', async () => {
    const bridge = await startStandardBridge(localDriver, { openRegistration: policy({ maxClients: 2 }) });
    try {
      const first = await call(bridge.url, 'POST', '/register', undefined, mcpClient);
      assert.equal((await call(bridge.url, 'POST', '/register', undefined, mcpClient)).status, 201);
      assert.equal(
        (await call(bridge.url, 'POST', '/register', bridge.apiKey, mcpClient)).status,
        201,
        'portal registrations do not count against the cap',
      );
      const full = await call(bridge.url, 'POST', '/register', undefined, mcpClient);
      assert.equal(full.status, 429);
      assert.equal(full.body.error, 'rate_limited');
      const firstPath = new URL(first.body.registration_client_uri as string).pathname;
      assert.equal(
        (await call(bridge.url, 'DELETE', firstPath, first.body.registration_access_token as string)).status,
        204,
      );
      assert.equal((await call(bridge.url, 'POST', '/register', undefined, mcpClient)).status, 201);
    } finally {
      await bridge.stop();
    }
  });

  it('a burst cannot pass the cap: 12 at once under a cap of 8 leave 8 clients (issue 23, item 5)', async () => {
    const bridge = await startStandardBridge(localDriver, { openRegistration: policy({ maxClients: 8 }) });
    try {
      const answers = await Promise.all(
        Array.from({ length: 12 }, () => call(bridge.url, 'POST', '/register', undefined, mcpClient)),
      );
      const statuses = answers.map((answer) => answer.status).sort();
      assert.deepEqual(statuses, [...Array(8).fill(201), ...Array(4).fill(429)]);
      assert.equal((await bridge.driver.listOpenRegistrations!(100)).length, 8);
      const again = await Promise.all(
        Array.from({ length: 4 }, () => call(bridge.url, 'POST', '/register', undefined, mcpClient)),
      );
      assert.deepEqual(
        again.map((answer) => answer.status),
        [429, 429, 429, 429],
      );
    } finally {
      await bridge.stop();
    }
  });

  it('the per-address limit counts accepted registrations, not refusals (issue 23, item 5)', async () => {
    const bridge = await startStandardBridge(localDriver, { openRegistration: policy({ perAddressPerHour: 2 }) });
    try {
      for (const refused of [
        { ...mcpClient, grant_types: ['client_credentials'] },
        { ...mcpClient, redirect_uris: ['http://attacker.example.com/cb'] },
        { ...mcpClient, token_endpoint_auth_method: 'client_secret_basic' },
      ]) {
        assert.equal((await call(bridge.url, 'POST', '/register', undefined, refused)).status, 400);
      }
      assert.equal((await call(bridge.url, 'POST', '/register', undefined, mcpClient)).status, 201);
      assert.equal((await call(bridge.url, 'POST', '/register', undefined, mcpClient)).status, 201);
      assert.equal((await call(bridge.url, 'POST', '/register', undefined, mcpClient)).status, 429);
    } finally {
      await bridge.stop();
    }
  });

  it('without DCR_OPEN_REGISTRATION a request without a token is 401', async () => {
    const bridge = await startStandardBridge(localDriver);
    try {
      assert.equal((await call(bridge.url, 'POST', '/register', undefined, mcpClient)).status, 401);
    } finally {
      await bridge.stop();
    }
  });
});
