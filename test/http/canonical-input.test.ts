/**
 * Issue 23, item 8: input the bridge would have stored as sent. A redirect URI is stored only when every parser reads
 * it alike (printable ASCII, no backslash, no user information, the canonical form the URL standard gives it);
 * names and descriptions with control characters or bidirectional overrides are refused — in every dialect.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { checkRedirectUri } from '../../src/metadata.js';
import { InvalidRedirectUriError } from '../../src/errors.js';
import { assertErrorShape, createObservedApp, type ObservedApp } from './helpers.js';

const refusedRedirectUris = [
  'https://a.example.com\\@evil.com/cb',
  'https://user@app.example.com/cb',
  'https://user:password@app.example.com/cb',
  'https://app.example.com/cb\u0000',
  'https://app.example.com/c\u0001b',
  'https://evil\u3002com/cb',
  'https://\u0430pp.example.com/cb',
  'https://app.example.com/caf\u00e9',
  'http://127.1/cb',
  'http://2130706433/cb',
  'http://0x7f.0.0.1/cb',
  'http://127.000.000.001/cb',
  'HTTPS://app.example.com/cb',
  'https://APP.example.com/cb',
  'https://app.example.com/a/../cb',
  'https://app.example.com:443/cb',
];

const acceptedRedirectUris = [
  'https://app.example.com/cb',
  'https://app.example.com',
  'https://app.example.com/cb?x=1&y=%20z',
  'http://127.0.0.1:8080/cb',
  'http://localhost:1/cb',
  'http://[::1]:8080/cb',
];

describe('redirect URIs stored only in canonical form (issue 23, item 8)', () => {
  it('refuses what parsers could read differently', () => {
    for (const uri of refusedRedirectUris)
      assert.throws(() => checkRedirectUri(uri, 'web'), InvalidRedirectUriError, JSON.stringify(uri));
  });

  it('accepts what is already canonical', () => {
    for (const uri of acceptedRedirectUris) assert.doesNotThrow(() => checkRedirectUri(uri, 'web'), uri);
    assert.doesNotThrow(() => checkRedirectUri('com.example.app:/cb', 'native'));
  });
});

describe('hostile input in every dialect (issue 23, item 8)', () => {
  let bridge: ObservedApp;
  before(async () => {
    bridge = await createObservedApp();
  });
  after(() => bridge.close());

  const post = (path: string, body: unknown) =>
    request(bridge.app)
      .post(path)
      .set('X-API-Key', bridge.apiKey)
      .send(body as object);

  it('refuses the redirect URIs through API7 and Konnect, and creates nothing', async () => {
    const before = bridge.driver.clients.size;
    for (const uri of refusedRedirectUris) {
      for (const path of ['/clients', '/']) {
        const response = await post(path, { grant_types: ['authorization_code'], redirect_uris: [uri] });
        assert.equal(response.status, 400, `${path} ${JSON.stringify(uri)}: ${response.text}`);
        assertErrorShape(response.body, 'invalid_redirect_uri');
      }
    }
    assert.equal(bridge.driver.clients.size, before);
  });

  it('refuses names and descriptions with control characters or bidirectional overrides', async () => {
    for (const name of ['evil\u202Egnp.exe', 'a\u2066b', 'line\nbreak', 'nul\u0000', 'esc\u001b[31m', 'c1\u0085']) {
      for (const [path, body] of [
        ['/clients', { client_name: name }],
        ['/', { client_name: name }],
        ['/', { application_description: name }],
      ] as const) {
        const response = await post(path, body);
        assert.equal(response.status, 400, `${path} ${JSON.stringify(body)}`);
        assertErrorShape(response.body, 'invalid_client_metadata');
        assert.match(response.body.error_description, /control characters or bidirectional overrides/);
      }
    }
    const fine = await post('/clients', { client_name: 'Café — ünïcödé 名前 👍' });
    assert.equal(fine.status, 201, 'ordinary Unicode names stay welcome');
  });
});
