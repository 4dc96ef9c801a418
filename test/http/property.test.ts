import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import request from 'supertest';
import { createObservedApp, type ObservedApp } from './helpers.js';

const routes: { method: 'get' | 'post' | 'put' | 'delete'; path: (id: string) => string }[] = [
  { method: 'post', path: () => '/clients' },
  { method: 'get', path: (id) => `/clients/${id}` },
  { method: 'put', path: (id) => `/clients/${id}` },
  { method: 'delete', path: (id) => `/clients/${id}` },
  { method: 'post', path: (id) => `/clients/${id}/rotate-secret` },
  { method: 'post', path: () => '/' },
  { method: 'delete', path: (id) => `/${id}` },
  { method: 'post', path: (id) => `/${id}/new-secret` },
  { method: 'post', path: (id) => `/${id}/event-hook` },
  { method: 'get', path: () => '/readyz' },
  { method: 'post', path: () => '/register' },
  { method: 'get', path: (id) => `/register/${id}` },
  { method: 'put', path: (id) => `/register/${id}` },
  { method: 'delete', path: (id) => `/register/${id}` },
  { method: 'get', path: () => '/.well-known/openid-configuration' },
];

const printable = fc.string({ unit: 'grapheme-ascii', maxLength: 40 });

const metadataLike = fc.record(
  {
    client_name: fc.oneof(printable, fc.integer(), fc.constant(null)),
    redirect_uris: fc.oneof(
      fc.array(
        fc.oneof(
          fc.webUrl({ withFragments: true, withQueryParameters: true }),
          printable,
          fc.constantFrom('javascript:alert(1)', 'com.example.app:/cb', 'http://localhost:1/cb'),
        ),
        { maxLength: 3 },
      ),
      printable,
    ),
    grant_types: fc.array(
      fc.constantFrom('client_credentials', 'authorization_code', 'bearer', 'session', 'implicit', 'nope'),
      { maxLength: 3 },
    ),
    token_endpoint_auth_method: fc.constantFrom('client_secret_basic', 'none', 'private_key_jwt', 'bogus'),
    scope: fc.oneof(printable, fc.integer()),
    scopes: fc.array(printable, { maxLength: 3 }),
    application_type: fc.constantFrom('web', 'native', 'tv'),
    event_type: fc.constantFrom('update_application', 'add_registration', 'remove_registration', 'unknown_event'),
    api_product_version_id: printable,
    portal_id: printable,
    client_id: printable,
    client_secret: printable,
    software_statement: fc.oneof(printable, fc.constant('eyJhbGciOiJIUzI1NiJ9.e30.c2ln')),
    registration_access_token: printable,
    client_id_issued_at: fc.integer(),
  },
  { requiredKeys: [] },
);

/** A raw path segment that is not valid percent-encoding: a stray `%`, non-hex digits, a truncated UTF-8 sequence. */
const badEscape = fc
  .tuple(
    fc.stringMatching(/^[A-Za-z0-9._~-]{0,6}$/),
    fc.oneof(
      fc.constant('%'),
      fc.stringMatching(/^%[0-9A-Fa-f]?$/),
      fc.stringMatching(/^%[G-Zg-z][0-9A-Za-z]$/),
      fc.stringMatching(/^%[0-9A-Fa-f][G-Zg-z]$/),
      fc.constantFrom('%C3', '%E0%A4', '%E0%A4%A', '%F0%9F%98', '%FF', '%C0%AF', '%ED%A0%80'),
    ),
    // A tail starting with a hex digit could complete the escape.
    fc.stringMatching(/^([G-Zg-z._~-][A-Za-z0-9._~-]{0,5})?$/),
  )
  .map(([head, badEscape, tail]) => `${head}${badEscape}${tail}`);

/** Raw paths with a bad escape somewhere, on routes that exist and routes that do not. */
const badPath = fc
  .tuple(
    fc.constantFrom(
      '/{}',
      '/clients/{}',
      '/clients/{}/rotate-secret',
      '/{}/new-secret',
      '/{}/event-hook',
      '/healthz/{}',
      '/{}/{}',
    ),
    badEscape,
    badEscape,
  )
  .map(([template, first, second]) => template.replace('{}', first).replace('{}', second));

const contentEncoding = fc.constantFrom(
  undefined,
  undefined,
  'identity',
  'gzip',
  'deflate',
  'br',
  'GZIP',
  'compress',
  'x-gzip',
  'gzip, br',
  'zstd',
  '*',
);

const body = fc.oneof(
  metadataLike.map((value) => JSON.stringify(value)),
  fc.json({ maxDepth: 3 }),
  fc.jsonValue({ maxDepth: 2 }).map((value) => JSON.stringify(value)),
  printable,
  fc.constant(''),
);

describe('random requests against every route', () => {
  let bridge: ObservedApp;
  let knownIds: string[] = [];
  const issuedSecrets = new Set<string>();
  /** Registration access tokens: a response may echo the one presented, but no log line ever carries one. */
  const registrationTokens: string[] = [];
  before(async () => {
    bridge = await createObservedApp({ bodyLimitBytes: 4 * 1024 });
    for (let index = 0; index < 3; index += 1) {
      const created = await request(bridge.app)
        .post('/clients')
        .set('X-API-Key', bridge.apiKey)
        .send({ client_name: `seed ${index}` })
        .expect(201);
      knownIds.push(created.body.client_id as string);
      issuedSecrets.add(created.body.client_secret as string);
    }
    for (let index = 0; index < 2; index += 1) {
      const created = await request(bridge.app)
        .post('/register')
        .set('Authorization', `Bearer ${bridge.apiKey}`)
        .send({ client_name: `standard ${index}`, grant_types: ['client_credentials'] })
        .expect(201);
      knownIds.push(created.body.client_id as string);
      issuedSecrets.add(created.body.client_secret as string);
      registrationTokens.push(created.body.registration_access_token as string);
    }
  });
  after(() => bridge.close());

  it('never answer 500, never show a stack, and never leak a secret in a response or a log line', async () => {
    const clientId = fc.oneof(
      fc.constantFrom(...knownIds),
      printable.map((value) => encodeURIComponent(value)),
      fc.constantFrom(
        '..',
        '.',
        '%2E%2E',
        '%2F',
        'a%2Fb',
        'x'.repeat(300),
        '~',
        'no-such-client',
        'clients',
        'healthz',
        '.well-known',
      ),
      badEscape,
    );
    const auth = fc.constantFrom(
      'x-api-key',
      'x-api-key',
      'x-api-key',
      'bearer',
      'bearer',
      'wrong',
      'none',
      'wrong-header',
      'registration-token',
      'registration-token',
    );
    const contentType = fc.constantFrom(
      'application/json',
      'text/plain',
      'application/x-www-form-urlencoded',
      'application/json; charset=utf-16',
      undefined,
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...routes),
        clientId,
        body,
        auth,
        contentType,
        printable,
        contentEncoding,
        async (route, id, payload, authMode, type, requestId, encoding) => {
          let call = request(bridge.app)[route.method](route.path(id)).set('X-Request-Id', requestId);
          if (encoding !== undefined) call = call.set('Content-Encoding', encoding);
          if (authMode === 'x-api-key') call = call.set('X-API-Key', bridge.apiKey);
          if (authMode === 'bearer') call = call.set('Authorization', `Bearer ${bridge.apiKey}`);
          if (authMode === 'wrong') call = call.set('X-API-Key', `${bridge.apiKey.slice(1)}!`);
          if (authMode === 'wrong-header') call = call.set('X-Api-Token', bridge.apiKey);
          if (authMode === 'registration-token')
            call = call.set(
              'Authorization',
              `Bearer ${registrationTokens[requestId.length % registrationTokens.length]!}`,
            );
          if (type !== undefined) call = call.set('Content-Type', type);
          const response = route.method === 'get' || route.method === 'delete' ? await call : await call.send(payload);

          assert.notEqual(response.status, 500, `${route.method} ${route.path(id)} ${payload}`);
          assert.ok(response.status < 500 || response.status === 503, `status ${response.status}`);
          assert.doesNotMatch(response.text, /\bat [^\n]+:\d+:\d+|Error:|node_modules/);
          assert.ok(!response.text.includes(bridge.apiKey), 'the API key never appears in a response');
          const returned =
            typeof response.body?.client_secret === 'string' ? (response.body.client_secret as string) : undefined;
          for (const secret of issuedSecrets)
            assert.ok(!response.text.includes(secret), 'an earlier secret never appears again');
          if (returned) issuedSecrets.add(returned);
          if (typeof response.body?.client_id === 'string' && route.method === 'post' && response.status === 201)
            knownIds = [...knownIds, response.body.client_id as string];
          if (
            typeof response.body?.registration_access_token === 'string' &&
            !registrationTokens.includes(response.body.registration_access_token as string)
          ) {
            registrationTokens.push(response.body.registration_access_token as string);
          }
          if (response.status >= 400) {
            assert.deepEqual(Object.keys(response.body as object).sort(), ['error', 'error_description']);
            assert.equal(typeof response.body.error_description, 'string');
          }
          if (isBadlyEscaped(route.path(id)))
            assert.deepEqual([response.status, response.body.error], [400, 'invalid_request'], route.path(id));
          if (response.status === 415)
            assert.ok(['unsupported_content_encoding', 'unsupported_media_type'].includes(response.body.error));
        },
      ),
      { numRuns: 300 },
    );
    for (const line of bridge.logLines) {
      assert.ok(!line.includes(bridge.apiKey), 'the API key never reaches a log line');
      for (const secret of issuedSecrets) assert.ok(!line.includes(secret), 'a client secret never reaches a log line');
      for (const token of registrationTokens)
        assert.ok(!line.includes(token), 'a registration access token never reaches a log line');
    }
    assert.ok(bridge.logLines.length >= 300);
  });

  it('answer 400 invalid_request to any raw path that is not valid percent-encoding, whatever the method, key and encoding', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('get', 'post', 'put', 'delete'),
        badPath,
        fc.boolean(),
        contentEncoding,
        async (method, path, withKey, encoding) => {
          assert.ok(isBadlyEscaped(path), path);
          let call = request(bridge.app)[method](path);
          if (withKey) call = call.set('X-API-Key', bridge.apiKey);
          if (encoding !== undefined) call = call.set('Content-Encoding', encoding);
          const response = method === 'post' || method === 'put' ? await call.send('{}') : await call;
          assert.equal(response.status, 400, `${method} ${path}: ${response.text}`);
          assert.deepEqual(Object.keys(response.body as object).sort(), ['error', 'error_description']);
          assert.equal(response.body.error, 'invalid_request');
        },
      ),
      { numRuns: 150 },
    );
  });
});

function isBadlyEscaped(path: string): boolean {
  try {
    decodeURIComponent(path);
    return false;
  } catch {
    return true;
  }
}
