/**
 * Issue 23, item 9: request bodies must be labelled JSON (a `text/plain` body is what a browser may send cross-site
 * without a preflight; with open registration that would be a CSRF path), a right key does not excuse a wrong one
 * beside it, `TRACE` is a 405, and an unmeetable `Expect` is answered in the JSON error shape.
 */
import assert from 'node:assert/strict';
import { request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { createBridgeServer } from '../../src/server.js';
import { testConfig } from '../support/app.js';
import { assertErrorShape, createObservedApp, type ObservedApp } from './helpers.js';
import { localDriver, startStandardBridge, type StandardBridge } from '../standard/support.js';

const body = JSON.stringify({ client_name: 'x', grant_types: ['client_credentials'] });

describe('hostile requests (issue 23, item 9)', () => {
  let bridge: ObservedApp;
  before(async () => {
    bridge = await createObservedApp();
  });
  after(() => bridge.close());

  it('a body that is not labelled JSON is 415 unsupported_media_type, and nothing is created', async () => {
    const before = bridge.driver.clients.size;
    for (const type of [
      'text/plain',
      'text/plain;charset=UTF-8',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/vnd.foo',
      'application/jsonx',
      'text/json',
      undefined,
    ]) {
      let call = request(bridge.app).post('/clients').set('X-API-Key', bridge.apiKey);
      if (type !== undefined) call = call.set('Content-Type', type);
      // supertest labels a string body itself unless told; a Buffer goes out with no label at all.
      const response = await call.send(type === undefined ? Buffer.from(body) : body);
      assert.equal(response.status, 415, `${type}: ${response.text}`);
      assertErrorShape(response.body, 'unsupported_media_type');
    }
    assert.equal(bridge.driver.clients.size, before, 'no refused request reached the driver');
  });

  it('application/json, its parameters, +json types and an empty body are read', async () => {
    for (const type of ['application/json', 'Application/JSON; charset=utf-8', 'application/vnd.portal+json']) {
      const response = await request(bridge.app)
        .post('/clients')
        .set('X-API-Key', bridge.apiKey)
        .set('Content-Type', type)
        .send(body);
      assert.equal(response.status, 201, `${type}: ${response.text}`);
    }
    const created = await request(bridge.app).post('/clients').set('X-API-Key', bridge.apiKey).send(JSON.parse(body));
    const rotated = await request(bridge.app)
      .post(`/clients/${created.body.client_id}/rotate-secret`)
      .set('X-API-Key', bridge.apiKey);
    assert.equal(rotated.status, 200, 'no body needs no label');
  });

  it('both X-API-Key and Authorization: Bearer sent with one of them wrong is 401', async () => {
    for (const [xApiKey, bearer] of [
      [bridge.apiKey, 'a-wrong-portal-key-000000'],
      ['a-wrong-portal-key-000000', bridge.apiKey],
    ]) {
      const response = await request(bridge.app)
        .post('/clients')
        .set('X-API-Key', xApiKey!)
        .set('Authorization', `Bearer ${bearer}`)
        .send({});
      assert.equal(response.status, 401);
      assertErrorShape(response.body, 'invalid_api_key');
    }
    const both = await request(bridge.app)
      .post('/clients')
      .set('X-API-Key', bridge.apiKey)
      .set('Authorization', `Bearer ${bridge.apiKey}`)
      .send({});
    assert.equal(both.status, 201, 'both right is fine');
  });

  it('TRACE is 405 on every path, with or without a key', async () => {
    for (const path of ['/', '/clients', '/clients/x', '/register', '/healthz', '/local-idp/token', '/nowhere']) {
      const response = await request(bridge.app).trace(path).set('X-API-Key', bridge.apiKey);
      assert.equal(response.status, 405, `${path}: ${response.status}`);
      assert.match(String(response.headers.allow), /GET/);
    }
  });
});

describe('open registration refuses a cross-site text/plain body (issue 23, item 9)', () => {
  let bridge: StandardBridge;
  before(async () => {
    bridge = await startStandardBridge(localDriver, {
      openRegistration: {
        grantTypes: ['authorization_code', 'refresh_token'],
        tokenEndpointAuthMethods: ['none'],
        perAddressPerHour: 1000,
        maxClients: 1000,
      },
    });
  });
  after(() => bridge.stop());

  it('a form a browser could post is 415 and registers nothing', async () => {
    const response = await fetch(`${bridge.url}/register`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: JSON.stringify({ redirect_uris: ['http://127.0.0.1:1/cb'], token_endpoint_auth_method: 'none' }),
    });
    assert.equal(response.status, 415);
    assert.equal(((await response.json()) as { error: string }).error, 'unsupported_media_type');
    assert.deepEqual(await bridge.driver.listOpenRegistrations!(10), []);
  });
});

describe('an unmeetable Expect header (issue 23, item 9)', () => {
  let bridge: ObservedApp;
  let server: Server;
  let url: string;
  before(async () => {
    bridge = await createObservedApp();
    server = createBridgeServer({ ...testConfig(), apiKeys: [bridge.apiKey] }, bridge.app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await bridge.close();
  });

  it('is 417 in the JSON error shape', async () => {
    // fetch refuses to send Expect; node:http sends what it is given.
    const answer = await new Promise<{ status: number; type: string; text: string }>((resolve, reject) => {
      const call = httpRequest(`${url}/healthz`, { headers: { expect: '999-weird' } }, (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => {
          text += chunk.toString();
        });
        response.on('end', () =>
          resolve({ status: response.statusCode!, type: String(response.headers['content-type']), text }),
        );
      });
      call.on('error', reject);
      call.end();
    });
    assert.equal(answer.status, 417);
    assert.match(answer.type, /^application\/json/);
    assertErrorShape(JSON.parse(answer.text), 'invalid_request');
  });
});
