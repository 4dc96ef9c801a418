/**
 * The standard dialect as one more surface of the bridge: described in spec/openapi.yaml (and its answers conform),
 * on /docs, counted in /metrics, and authenticated before any body is read.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ClientNotFoundError, IdpUnavailableError } from '../../src/errors.js';
import { loadApiSpec } from '../../src/http/spec.js';
import { call, localDriver, startStandardBridge, type StandardBridge } from './support.js';

const spec = loadApiSpec();

describe('the standard dialect as a bridge surface', () => {
  let bridge: StandardBridge;
  before(async () => {
    bridge = await startStandardBridge(localDriver, {}, { bodyLimitBytes: 2048 });
  });
  after(() => bridge.stop());

  it('answers what spec/openapi.yaml documents, success and error alike', async () => {
    const created = await call(bridge.url, 'POST', '/register', bridge.apiKey, {
      client_name: 'spec',
      grant_types: ['client_credentials'],
    });
    spec.validate('StandardClientInformation', created.body);
    const path = new URL(created.body.registration_client_uri as string).pathname;
    const read = await call(bridge.url, 'GET', path, created.body.registration_access_token as string);
    spec.validate('StandardClientInformation', read.body);
    assert.throws(
      () => spec.validate('StandardClientInformation', { ...read.body, registration_access_token: undefined }),
      'the schema requires the RFC 7592 members',
    );
    spec.validate(
      'AuthorizationServerMetadata',
      (await call(bridge.url, 'GET', '/.well-known/openid-configuration')).body,
    );
    for (const refused of [
      await call(bridge.url, 'POST', '/register', bridge.apiKey, { redirect_uris: ['ftp://x'] }),
      await call(bridge.url, 'GET', path, 'wrong'),
      await call(bridge.url, 'POST', '/register', bridge.apiKey, { software_statement: 'x' }),
    ]) {
      spec.validate('Error', refused.body);
    }
    for (const [route, method] of [
      ['/register', 'post'],
      ['/register/{client_id}', 'get'],
      ['/register/{client_id}', 'put'],
      ['/register/{client_id}', 'delete'],
      ['/.well-known/openid-configuration', 'get'],
      ['/.well-known/oauth-authorization-server', 'get'],
      ['/admin/open-registrations', 'get'],
    ] as const) {
      assert.ok(spec.document.paths[route]?.[method], `${method} ${route} is described`);
    }
  });

  it('checks the initial access token before reading the body: an unauthenticated oversized body is 401, not 413', async () => {
    const oversized = JSON.stringify({ client_name: 'x'.repeat(4096) });
    assert.equal((await call(bridge.url, 'POST', '/register', undefined, oversized)).status, 401);
    assert.equal((await call(bridge.url, 'POST', '/register', bridge.apiKey, oversized)).status, 413);
    assert.equal((await call(bridge.url, 'PUT', '/register/anything', 'wrong-token', oversized)).status, 401);
  });

  it('is in the description /docs renders (the browser test sees it rendered)', async () => {
    const page = await (await fetch(`${bridge.url}/docs`)).text();
    assert.match(page, /<script src="docs\/init\.js"><\/script>/);
    const description = await (await fetch(`${bridge.url}/openapi.yaml`)).text();
    assert.match(description, /\/register\/\{client_id\}/);
    assert.match(description, /RFC 7592/);
    assert.match(description, /oauth-authorization-server/);
  });

  it('is counted in /metrics by route template, event and driver operation, never by client id', async () => {
    const created = await call(bridge.url, 'POST', '/register', bridge.apiKey, { grant_types: ['client_credentials'] });
    const path = new URL(created.body.registration_client_uri as string).pathname;
    await call(bridge.url, 'GET', path, created.body.registration_access_token as string);
    await call(bridge.url, 'GET', path, 'wrong');
    const text = await (await fetch(`${bridge.url}/metrics`)).text();
    assert.match(text, /dcr_http_requests_total\{method="POST",route="\/register",status="201"\} [1-9]/);
    assert.match(text, /dcr_http_requests_total\{method="GET",route="\/register\/:client_id",status="200"\} [1-9]/);
    assert.match(text, /dcr_http_requests_total\{method="GET",route="\/register\/:client_id",status="401"\} [1-9]/);
    assert.match(text, /dcr_events_total\{event="client.registered"\} [1-9]/);
    assert.match(text, /dcr_events_total\{event="registration_token.refused"\} [1-9]/);
    assert.match(
      text,
      /dcr_driver_operations_total\{driver="local",operation="registerClient",outcome="success"\} [1-9]/,
    );
    assert.ok(!text.includes(created.body.client_id as string), 'no client id in a label');
    assert.ok(!text.includes(created.body.registration_access_token as string));
  });
});

describe('rate limits of the standard dialect', () => {
  it('a portal key registering and a client reading its configuration each have the per-key rate', async () => {
    const bridge = await startStandardBridge(localDriver, {}, { rateLimitPerMinute: 3 });
    try {
      const first = await call(bridge.url, 'POST', '/register', bridge.apiKey, { grant_types: ['client_credentials'] });
      const second = await call(bridge.url, 'POST', '/register', bridge.apiKey, {
        grant_types: ['client_credentials'],
      });
      const third = await call(bridge.url, 'POST', '/register', bridge.apiKey, { grant_types: ['client_credentials'] });
      assert.deepEqual([first.status, second.status, third.status], [201, 201, 201]);
      const limited = await call(bridge.url, 'POST', '/register', bridge.apiKey, {
        grant_types: ['client_credentials'],
      });
      assert.equal(limited.status, 429);
      assert.equal(limited.body.error, 'rate_limited');
      const path = new URL(first.body.registration_client_uri as string).pathname;
      const token = first.body.registration_access_token as string;
      const reads = [];
      for (let index = 0; index < 4; index += 1) reads.push((await call(bridge.url, 'GET', path, token)).status);
      assert.deepEqual(reads, [200, 200, 200, 429]);
      const otherPath = new URL(second.body.registration_client_uri as string).pathname;
      assert.equal(
        (await call(bridge.url, 'GET', otherPath, second.body.registration_access_token as string)).status,
        200,
        'another client has its own rate',
      );
    } finally {
      await bridge.stop();
    }
  });
});

describe('a registration that fails half-way', () => {
  it('deletes the new client again when its secret hash cannot be stored, so no client nobody can manage is left', async () => {
    const created: string[] = [];
    const bridge = await startStandardBridge(async (publicUrl) => {
      const driver = await localDriver(publicUrl);
      return {
        ...driver,
        async registerClient(metadata, context) {
          const client = await driver.registerClient(metadata, context);
          created.push(client.clientId);
          return client;
        },
        async updateClient() {
          throw new IdpUnavailableError();
        },
      };
    });
    try {
      const refused = await call(bridge.url, 'POST', '/register', bridge.apiKey, {
        grant_types: ['client_credentials'],
      });
      assert.equal(refused.status, 503);
      assert.equal(refused.body.error, 'idp_unavailable');
      assert.equal(created.length, 1);
      await assert.rejects(bridge.driver.getClient(created[0]!), ClientNotFoundError);
    } finally {
      await bridge.stop();
    }
  });
});
