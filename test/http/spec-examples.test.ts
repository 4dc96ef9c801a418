/**
 * The examples `/docs` shows are right: every example in spec/openapi.yaml is valid against the schema it stands
 * beside (the same Ajv the bridge validates with), and every registration example is accepted by the bridge.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import request from 'supertest';
import { parse } from 'yaml';
import { root } from '../fleet/bridge-process.js';
import { createObservedApp, type ObservedApp } from './helpers.js';

interface MediaType {
  schema?: Record<string, unknown>;
  example?: unknown;
}
interface Operation {
  operationId: string;
  requestBody?: { content: Record<string, MediaType> };
  responses: Record<string, { content?: Record<string, MediaType> }>;
}

const document = parse(readFileSync(join(root, 'spec', 'openapi.yaml'), 'utf8')) as {
  paths: Record<string, Record<string, Operation>>;
  components: Record<string, unknown>;
};

function examples(): {
  where: string;
  schema: Record<string, unknown>;
  example?: unknown;
  path: string;
  method: string;
}[] {
  return Object.entries(document.paths).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([method]) => ['get', 'put', 'post', 'delete'].includes(method))
      .flatMap(([method, operation]) => [
        ...Object.values(operation.requestBody?.content ?? {}).map((media) => ({
          where: `${operation.operationId} request`,
          ...media,
          path,
          method,
        })),
        ...Object.entries(operation.responses).flatMap(([status, response]) =>
          Object.values(response.content ?? {}).map((media) => ({
            where: `${operation.operationId} ${status}`,
            ...media,
            path,
            method,
          })),
        ),
      ])
      .filter(
        (entry): entry is typeof entry & { schema: Record<string, unknown> } =>
          entry.example !== undefined && entry.schema !== undefined,
      ),
  );
}

describe('the examples of spec/openapi.yaml', () => {
  let bridge: ObservedApp;
  before(async () => {
    bridge = await createObservedApp();
  });
  after(() => bridge.close());

  it('are many, and each is valid against its schema', () => {
    const ajv = new Ajv({ strict: false, allErrors: true });
    addFormats.default(ajv);
    ajv.addSchema({ components: document.components }, 'spec');
    const all = examples();
    assert.ok(all.length >= 25, `${all.length} examples`);
    for (const { where, schema, example } of all) {
      const rewritten = JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', '"spec#/components/'));
      const validate = ajv.compile(rewritten);
      assert.equal(validate(example), true, `${where}: ${JSON.stringify(validate.errors)}`);
    }
  });

  it('registration examples are accepted by the bridge', async () => {
    for (const { where, example, path, method } of examples()) {
      if (method !== 'post' || !where.endsWith(' request') || !['/clients', '/', '/register'].includes(path)) continue;
      const call = request(bridge.app)
        .post(path)
        .send(example as object);
      const response = await (path === '/register'
        ? call.set('Authorization', `Bearer ${bridge.apiKey}`)
        : call.set('X-API-Key', bridge.apiKey));
      assert.equal(response.status, 201, `${where}: ${JSON.stringify(response.body)}`);
    }
  });
});
