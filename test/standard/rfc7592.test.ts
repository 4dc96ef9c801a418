/**
 * The standard DCR dialect held to the RFCs' text, against the local driver (whose clients really obtain tokens): each
 * MUST of RFC 7592 (and the RFC 7591 / RFC 6750 rules the endpoint relies on) is one test, named after its section.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call, localDriver, startStandardBridge, type StandardBridge } from './support.js';

const web = {
  client_name: 'rfc web',
  redirect_uris: ['https://app.example.com/cb'],
  grant_types: ['authorization_code', 'client_credentials'],
};

async function tokenWorks(bridge: StandardBridge, clientId: string, secret: string): Promise<boolean> {
  const response = await fetch(`${bridge.url}/local-idp/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: 'grant_type=client_credentials',
  });
  return response.status === 200;
}

describe('RFC 7591 registration at POST /register', () => {
  let bridge: StandardBridge;
  before(async () => {
    bridge = await startStandardBridge(localDriver);
  });
  after(() => bridge.stop());

  it('§3: without an initial access token the request is refused 401 per RFC 6750, before the body is read', async () => {
    const missing = await call(bridge.url, 'POST', '/register', undefined, '{not json');
    assert.equal(missing.status, 401);
    assert.equal(missing.body.error, 'invalid_token');
    assert.equal(
      missing.headers.get('www-authenticate'),
      'Bearer',
      'no error code when no token was sent (RFC 6750 §3.1)',
    );
    const wrong = await call(bridge.url, 'POST', '/register', 'not-a-portal-key-at-all', '{not json');
    assert.equal(wrong.status, 401);
    assert.equal(wrong.headers.get('www-authenticate'), 'Bearer error="invalid_token"');
    assert.deepEqual(Object.keys(wrong.body).sort(), ['error', 'error_description']);
  });

  it('§3.2.1: 201 with client_id, client_secret, both times, every registered member, and the RFC 7592 §3 members', async () => {
    const before = Math.floor(Date.now() / 1000);
    const created = await call(bridge.url, 'POST', '/register', bridge.apiKey, {
      ...web,
      scope: 'openid',
      contacts: ['ops@example.com'],
      unknown_member: 1,
    });
    assert.equal(created.status, 201);
    assert.equal(created.headers.get('cache-control'), 'no-store');
    const body = created.body;
    assert.equal(typeof body.client_id, 'string');
    assert.equal(typeof body.client_secret, 'string');
    assert.ok((body.client_id_issued_at as number) >= before);
    assert.equal(body.client_secret_expires_at, 0);
    assert.equal(body.client_name, 'rfc web');
    assert.deepEqual(body.redirect_uris, web.redirect_uris);
    assert.deepEqual(body.grant_types, web.grant_types);
    assert.deepEqual(body.response_types, ['code']);
    assert.equal(body.token_endpoint_auth_method, 'client_secret_basic');
    assert.equal(body.scope, 'openid');
    assert.deepEqual(body.contacts, ['ops@example.com']);
    assert.equal(body.unknown_member, undefined);
    assert.equal(body.registration_client_uri, `${bridge.url}/register/${body.client_id as string}`);
    const token = body.registration_access_token as string;
    assert.ok(Buffer.from(token, 'base64url').length >= 32, 'the registration access token carries at least 256 bits');
    assert.equal(
      await tokenWorks(bridge, body.client_id as string, body.client_secret as string),
      true,
      'the new client obtains a token',
    );
  });

  it('§2: without grant_types the client is an authorization_code client, authenticating with client_secret_basic', async () => {
    const created = await call(bridge.url, 'POST', '/register', bridge.apiKey, {
      redirect_uris: ['https://app.example.com/cb'],
    });
    assert.equal(created.status, 201);
    assert.deepEqual(created.body.grant_types, ['authorization_code']);
    assert.equal(created.body.token_endpoint_auth_method, 'client_secret_basic');
  });

  it('a public client (token_endpoint_auth_method none) gets no client_secret', async () => {
    const created = await call(bridge.url, 'POST', '/register', bridge.apiKey, {
      redirect_uris: ['http://127.0.0.1:8123/cb'],
      token_endpoint_auth_method: 'none',
    });
    assert.equal(created.status, 201);
    assert.equal(created.body.client_secret, undefined);
  });

  it('§3.2.2: invalid_redirect_uri for a redirect URI the bridge does not allow', async () => {
    const refused = await call(bridge.url, 'POST', '/register', bridge.apiKey, {
      redirect_uris: ['http://app.example.com/cb'],
    });
    assert.equal(refused.status, 400);
    assert.equal(refused.body.error, 'invalid_redirect_uri');
  });

  it('§3.2.2: invalid_client_metadata for a bad member, and for a body that is not client metadata at all', async () => {
    for (const body of [{ grant_types: ['magic'] }, { token_endpoint_auth_method: 7 }, '[1,2]', '{broken']) {
      const refused = await call(bridge.url, 'POST', '/register', bridge.apiKey, body);
      assert.equal(refused.status, 400, JSON.stringify(body));
      assert.equal(refused.body.error, 'invalid_client_metadata', JSON.stringify(body));
      assert.equal(typeof refused.body.error_description, 'string');
    }
  });

  it('§3.2.2: a software statement is unapproved (no issuer is trusted), or invalid when it is not a JWS', async () => {
    const jws = ['eyJhbGciOiJSUzI1NiJ9', 'eyJzb2Z0d2FyZV9pZCI6IngifQ', 'c2lnbmF0dXJl'].join('.');
    const unapproved = await call(bridge.url, 'POST', '/register', bridge.apiKey, { ...web, software_statement: jws });
    assert.equal(unapproved.status, 400);
    assert.equal(unapproved.body.error, 'unapproved_software_statement');
    const invalid = await call(bridge.url, 'POST', '/register', bridge.apiKey, {
      ...web,
      software_statement: 'not a jwt',
    });
    assert.equal(invalid.body.error, 'invalid_software_statement');
  });
});

describe('RFC 7592 client configuration endpoint', () => {
  let bridge: StandardBridge;
  before(async () => {
    bridge = await startStandardBridge(localDriver);
  });
  after(() => bridge.stop());

  async function register(metadata: Record<string, unknown> = web) {
    const created = await call(bridge.url, 'POST', '/register', bridge.apiKey, metadata);
    assert.equal(created.status, 201);
    return {
      clientId: created.body.client_id as string,
      secret: created.body.client_secret as string,
      token: created.body.registration_access_token as string,
      path: new URL(created.body.registration_client_uri as string).pathname,
      body: created.body,
    };
  }

  /** A full-replacement body as RFC 7592 §2.2 asks: what the last response returned, minus the server-set members. */
  function updateBody(
    information: Record<string, unknown>,
    changes: Record<string, unknown> = {},
  ): Record<string, unknown> {
    const {
      registration_access_token: _t,
      registration_client_uri: _u,
      client_id_issued_at: _i,
      client_secret_expires_at: _e,
      client_secret: _s,
      ...metadata
    } = information;
    return { ...metadata, ...changes };
  }

  it('§2: the registration access token is required, as a bearer token; without it 401 with WWW-Authenticate', async () => {
    const client = await register();
    for (const method of ['GET', 'PUT', 'DELETE']) {
      const response = await call(
        bridge.url,
        method,
        client.path,
        undefined,
        method === 'PUT' ? updateBody(client.body) : undefined,
      );
      assert.equal(response.status, 401, method);
      assert.equal(response.body.error, 'invalid_token');
      assert.match(response.headers.get('www-authenticate') ?? '', /^Bearer/);
    }
    assert.equal((await call(bridge.url, 'GET', client.path, client.token)).status, 200, 'the client still exists');
  });

  it('§2 / RFC 6750 §3.1: an invalid token is 401 Bearer error="invalid_token"; a portal key is not a registration access token', async () => {
    const client = await register();
    for (const token of ['x'.repeat(43), bridge.apiKey, client.secret]) {
      const response = await call(bridge.url, 'GET', client.path, token);
      assert.equal(response.status, 401);
      assert.equal(response.headers.get('www-authenticate'), 'Bearer error="invalid_token"');
    }
  });

  it('§2: a token for one client never opens another', async () => {
    const first = await register();
    const second = await register();
    for (const method of ['GET', 'PUT', 'DELETE']) {
      const response = await call(
        bridge.url,
        method,
        second.path,
        first.token,
        method === 'PUT' ? updateBody(second.body) : undefined,
      );
      assert.equal(response.status, 401, method);
    }
    assert.equal(
      (await call(bridge.url, 'GET', second.path, second.token)).status,
      200,
      'the other client was not touched',
    );
  });

  it('§2.1: a read returns every registered member and the registration members, but no secret', async () => {
    const client = await register({
      ...web,
      client_uri: 'https://app.example.com',
      logo_uri: 'https://app.example.com/logo.png',
    });
    const read = await call(bridge.url, 'GET', client.path, client.token);
    assert.equal(read.status, 200);
    assert.equal(read.headers.get('cache-control'), 'no-store');
    assert.equal(read.body.client_secret, undefined);
    assert.equal(read.body.registration_access_token, client.token);
    assert.equal(read.body.registration_client_uri, client.body.registration_client_uri);
    for (const member of [
      'client_id',
      'client_id_issued_at',
      'client_name',
      'redirect_uris',
      'grant_types',
      'client_uri',
      'logo_uri',
      'token_endpoint_auth_method',
    ]) {
      assert.deepEqual(read.body[member], client.body[member], member);
    }
  });

  it('§2.1: a client that does not exist is 401, not 404', async () => {
    const response = await call(bridge.url, 'GET', '/register/no-such-client', 'y'.repeat(43));
    assert.equal(response.status, 401);
    assert.equal(response.body.error, 'invalid_token');
  });

  it('a client registered through the API7 dialect has no registration access token: its configuration is 401', async () => {
    const api7 = await fetch(`${bridge.url}/clients`, {
      method: 'POST',
      headers: { 'x-api-key': bridge.apiKey, 'content-type': 'application/json' },
      body: '{}',
    });
    const clientId = ((await api7.json()) as { client_id: string }).client_id;
    assert.equal((await call(bridge.url, 'GET', `/register/${clientId}`, bridge.apiKey)).status, 401);
  });

  it('§2.2: an update replaces, not augments: omitted members are removed', async () => {
    const client = await register({ ...web, client_uri: 'https://app.example.com', contacts: ['a@example.com'] });
    const { client_uri: _c, contacts: _k, ...rest } = updateBody(client.body);
    const updated = await call(bridge.url, 'PUT', client.path, client.token, {
      ...rest,
      client_name: 'renamed',
      redirect_uris: ['https://other.example.com/cb'],
    });
    assert.equal(updated.status, 200);
    assert.equal(updated.body.client_name, 'renamed');
    assert.deepEqual(updated.body.redirect_uris, ['https://other.example.com/cb']);
    assert.equal(updated.body.client_uri, undefined);
    assert.equal(updated.body.contacts, undefined);
    const read = await call(bridge.url, 'GET', client.path, updated.body.registration_access_token as string);
    assert.equal(read.body.client_name, 'renamed');
    assert.equal(read.body.client_uri, undefined);
  });

  it('§2.2: a member the update leaves out that the server fills with a default is returned with that value', async () => {
    const client = await register();
    const { grant_types: _g, response_types: _r, token_endpoint_auth_method: _m, ...rest } = updateBody(client.body);
    const updated = await call(bridge.url, 'PUT', client.path, client.token, rest);
    assert.equal(updated.status, 200);
    assert.deepEqual(updated.body.grant_types, ['authorization_code']);
    assert.deepEqual(updated.body.response_types, ['code']);
    assert.equal(updated.body.token_endpoint_auth_method, 'client_secret_basic');
  });

  it("§2.2: the update must include the client_id, and it must be the client's own", async () => {
    const client = await register();
    const { client_id: _id, ...withoutId } = updateBody(client.body);
    const missing = await call(bridge.url, 'PUT', client.path, client.token, withoutId);
    assert.equal(missing.status, 400);
    assert.equal(missing.body.error, 'invalid_client_metadata');
    const other = await call(bridge.url, 'PUT', client.path, client.token, { ...withoutId, client_id: 'someone-else' });
    assert.equal(other.status, 400);
    assert.equal(other.body.error, 'invalid_client_metadata');
  });

  for (const member of [
    'registration_access_token',
    'registration_client_uri',
    'client_secret_expires_at',
    'client_id_issued_at',
  ]) {
    it(`§2.2: the update must not include ${member}`, async () => {
      const client = await register();
      const refused = await call(bridge.url, 'PUT', client.path, client.token, {
        ...updateBody(client.body),
        [member]: client.body[member],
      });
      assert.equal(refused.status, 400);
      assert.equal(refused.body.error, 'invalid_client_metadata');
      assert.equal(
        (await call(bridge.url, 'GET', client.path, client.token)).status,
        200,
        'the refused update rotated nothing',
      );
    });
  }

  it('§2.2: a client_secret in the update must match the current one; the client cannot choose its own', async () => {
    const client = await register();
    const chosen = await call(bridge.url, 'PUT', client.path, client.token, {
      ...updateBody(client.body),
      client_secret: 'my-own-chosen-secret',
    });
    assert.equal(chosen.status, 400);
    assert.equal(chosen.body.error, 'invalid_client_metadata');
    const same = await call(bridge.url, 'PUT', client.path, client.token, {
      ...updateBody(client.body),
      client_secret: client.secret,
    });
    assert.equal(same.status, 200);
    assert.equal(same.body.client_secret, undefined);
    assert.equal(await tokenWorks(bridge, client.clientId, client.secret), true, 'the secret is unchanged');
  });

  it('§2.2: invalid metadata in an update is 400 invalid_client_metadata / invalid_redirect_uri and changes nothing', async () => {
    const client = await register();
    const badUri = await call(
      bridge.url,
      'PUT',
      client.path,
      client.token,
      updateBody(client.body, { redirect_uris: ['javascript:alert(1)'] }),
    );
    assert.equal(badUri.body.error, 'invalid_redirect_uri');
    const badGrant = await call(
      bridge.url,
      'PUT',
      client.path,
      client.token,
      updateBody(client.body, { grant_types: ['magic'] }),
    );
    assert.equal(badGrant.body.error, 'invalid_client_metadata');
    assert.deepEqual((await call(bridge.url, 'GET', client.path, client.token)).body.redirect_uris, web.redirect_uris);
  });

  it('§2.2: with rotation on-update the response carries a new registration access token and the old one is discarded', async () => {
    const client = await register();
    const updated = await call(
      bridge.url,
      'PUT',
      client.path,
      client.token,
      updateBody(client.body, { client_name: 'rotated' }),
    );
    assert.equal(updated.status, 200);
    const newToken = updated.body.registration_access_token as string;
    assert.notEqual(newToken, client.token);
    assert.equal((await call(bridge.url, 'GET', client.path, client.token)).status, 401, 'the old token is dead');
    assert.equal((await call(bridge.url, 'GET', client.path, newToken)).status, 200);
  });

  it('§2.3: a delete answers 204; the client, its secret and its registration access token stop working', async () => {
    const client = await register();
    const deleted = await call(bridge.url, 'DELETE', client.path, client.token);
    assert.equal(deleted.status, 204);
    assert.equal(
      await tokenWorks(bridge, client.clientId, client.secret),
      false,
      'the client can no longer obtain tokens',
    );
    for (const method of ['GET', 'PUT', 'DELETE']) {
      const after = await call(
        bridge.url,
        method,
        client.path,
        client.token,
        method === 'PUT' ? updateBody(client.body) : undefined,
      );
      assert.equal(after.status, 401, method);
      assert.equal(after.headers.get('www-authenticate'), 'Bearer error="invalid_token"');
    }
  });
});

describe('DCR_REGISTRATION_TOKEN_ROTATION=never', () => {
  let bridge: StandardBridge;
  before(async () => {
    bridge = await startStandardBridge(localDriver, { tokenRotation: 'never' });
  });
  after(() => bridge.stop());

  it('an update answers the same registration access token, which keeps working', async () => {
    const created = await call(bridge.url, 'POST', '/register', bridge.apiKey, web);
    const token = created.body.registration_access_token as string;
    const path = new URL(created.body.registration_client_uri as string).pathname;
    const updated = await call(bridge.url, 'PUT', path, token, {
      ...web,
      client_id: created.body.client_id,
      client_name: 'kept',
    });
    assert.equal(updated.status, 200);
    assert.equal(updated.body.registration_access_token, token);
    assert.equal((await call(bridge.url, 'GET', path, token)).body.client_name, 'kept');
  });
});
