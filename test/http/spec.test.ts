import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { loadApiSpec } from '../../src/http/spec.js';
import { createObservedApp, type ObservedApp } from './helpers.js';

interface MediaType {
  schema?: { $ref?: string };
}
interface ResponseObject {
  $ref?: string;
  content?: Record<string, MediaType>;
}
interface OperationObject {
  responses: Record<string, ResponseObject>;
}

const spec = loadApiSpec();
const sharedResponses = (spec.document.components as unknown as { responses: Record<string, ResponseObject> })
  .responses;

/** The schema name the spec documents for this operation and status, or undefined for a body-less answer. */
function documentedSchema(path: string, method: string, status: number): string | undefined {
  const operation = spec.document.paths[path]?.[method] as OperationObject | undefined;
  assert.ok(operation, `${method.toUpperCase()} ${path} is in the spec`);
  let response = operation.responses[String(status)];
  assert.ok(response, `${method.toUpperCase()} ${path} documents status ${status}`);
  if (response.$ref) response = sharedResponses[response.$ref.split('/').pop()!]!;
  const ref = response.content?.['application/json']?.schema?.$ref;
  return ref?.split('/').pop();
}

describe('the running app matches spec/openapi.yaml', () => {
  let bridge: ObservedApp;
  let api7Id: string;
  let konnectId: string;
  before(async () => {
    bridge = await createObservedApp();
  });
  after(() => bridge.close());

  const exchange = async (
    specPath: string,
    method: 'get' | 'post' | 'put' | 'delete',
    url: string,
    body?: object,
    withKey = true,
  ) => {
    let call = request(bridge.app)[method](url);
    if (withKey) call = call.set('X-API-Key', bridge.apiKey);
    const response = body === undefined ? await call : await call.send(body);
    const schema = documentedSchema(specPath, method, response.status);
    if (schema) spec.validate(schema, response.body);
    else if (response.status !== 204) assert.ok(response.text.length > 0);
    return response;
  };

  it('documents and conforms for every success answer of both dialects', async () => {
    assert.throws(
      () => spec.validate('KonnectNewSecret', { client_id: 'only an id' }),
      'the response schemas really constrain',
    );
    assert.throws(() =>
      spec.validate('Api7RegisteredClient', { client_id: 'x', client_id_issued_at: '2026-01-01T00:00:00Z' }),
    );
    const created = await exchange('/clients', 'post', '/clients', {
      client_name: 'spec',
      redirect_uris: ['https://spec.example.com/cb'],
      grant_types: ['authorization_code'],
    });
    assert.equal(created.status, 201);
    api7Id = created.body.client_id as string;
    assert.equal((await exchange('/clients/{client_id}', 'get', `/clients/${api7Id}`)).status, 200);
    assert.equal(
      (await exchange('/clients/{client_id}', 'put', `/clients/${api7Id}`, { client_name: 'spec 2' })).status,
      200,
    );
    assert.equal(
      (await exchange('/clients/{client_id}/rotate-secret', 'post', `/clients/${api7Id}/rotate-secret`, {})).status,
      200,
    );
    const konnect = await exchange('/', 'post', '/', {
      client_name: 'spec',
      grant_types: ['bearer'],
      portal_id: '6a1f7c52-3d0e-4b8a-9c51-0e2f4d7b9a33',
    });
    assert.equal(konnect.status, 201);
    konnectId = konnect.body.client_id as string;
    assert.equal((await exchange('/{client_id}/new-secret', 'post', `/${konnectId}/new-secret`)).status, 200);
    assert.equal(
      (
        await exchange('/{client_id}/event-hook', 'post', `/${konnectId}/event-hook`, {
          event_type: 'add_registration',
          api_product_version_id: 'p',
        })
      ).status,
      200,
    );
    assert.equal(
      (await exchange('/{client_id}/event-hook', 'post', `/${konnectId}/event-hook`, { event_type: 'something_new' }))
        .status,
      200,
    );
    assert.equal((await exchange('/{client_id}', 'delete', `/${konnectId}`)).status, 204);
    assert.equal((await exchange('/clients/{client_id}', 'delete', `/clients/${api7Id}`)).status, 204);
    assert.equal((await exchange('/healthz', 'get', '/healthz', undefined, false)).status, 200);
    assert.equal((await exchange('/readyz', 'get', '/readyz', undefined, false)).status, 200);
  });

  it('documents and conforms for the error answers', async () => {
    assert.equal((await exchange('/clients', 'post', '/clients', {}, false)).status, 401);
    assert.equal((await exchange('/clients', 'post', '/clients', { redirect_uris: ['ftp://x'] })).status, 400);
    assert.equal((await exchange('/clients/{client_id}', 'get', '/clients/gone-client')).status, 404);
    assert.equal((await exchange('/{client_id}/new-secret', 'post', '/gone-client/new-secret')).status, 404);
    assert.equal((await exchange('/{client_id}', 'delete', '/..%2F')).status, 400);
  });

  it('serves what it documents: every path and method in the spec is routed', async () => {
    for (const [path, item] of Object.entries(spec.document.paths)) {
      for (const method of ['get', 'post', 'put', 'delete'] as const) {
        if (!item[method]) continue;
        const url = path.replace('{client_id}', 'routing-probe');
        const response = await request(bridge.app)
          [method](url)
          .set('X-API-Key', bridge.apiKey)
          .send(method === 'post' && path.endsWith('event-hook') ? { event_type: 'probe' } : {});
        assert.notEqual(
          response.body?.error_description,
          'No bridge endpoint has this path and method.',
          `${method} ${path}`,
        );
        assert.ok(response.status < 500, `${method} ${path}: ${response.status}`);
      }
    }
  });
});

describe('spec/openapi.yaml schemas', () => {
  it('every component schema compiles, though the start compiles only those a route validates against', () => {
    const names = Object.keys(spec.document.components.schemas);
    assert.ok(names.length >= 10, `${names.length} schemas`);
    for (const name of names) assert.doesNotThrow(() => spec.validator(name), `schema ${name}`);
    assert.throws(() => spec.validator('NoSuchSchema'), /no schema NoSuchSchema/);
  });
});
