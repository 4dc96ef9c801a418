import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { ConfigurationError, type Env } from '../../src/env.js';

const validKeys = 'portal-key-one-000,portal-key-two-000';

function configurationError(env: Env): ConfigurationError {
  try {
    loadConfig(env);
  } catch (error) {
    assert.ok(error instanceof ConfigurationError, `expected a ConfigurationError, got ${String(error)}`);
    assert.doesNotMatch(error.message, /\n/, 'one line');
    return error;
  }
  assert.fail('loadConfig accepted a bad environment');
}

describe('configuration', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dcr-config-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('has the documented defaults', () => {
    const config = loadConfig({ DCR_DRIVER: 'keycloak', DCR_API_KEYS: validKeys });
    assert.equal(config.port, 3000);
    assert.equal(config.host, '0.0.0.0');
    assert.deepEqual(config.apiKeys, ['portal-key-one-000', 'portal-key-two-000']);
    assert.equal(config.apiKeyGenerated, false);
    assert.equal(config.logLevel, 'info');
    assert.equal(config.tls, undefined);
    assert.equal(config.publicUrl, 'http://localhost:3000');
    assert.equal(config.rotationGraceSeconds, 0);
    assert.equal(config.idpTimeoutMs, 10_000);
    assert.equal(config.idpRetryBudgetMs, 25_000);
    assert.equal(config.idpMaxConnections, 32);
    assert.equal(config.bodyLimitBytes, 64 * 1024);
    assert.equal(config.sweepIntervalSeconds, 60);
    assert.equal(config.sweepMaxIdpCalls, 1000);
    assert.ok(config.authFailureLimitPerMinute < config.rateLimitPerMinute, 'failed auth is limited more strictly');
  });

  it('generates a key only for the local driver, the default', () => {
    const local = loadConfig({});
    assert.equal(local.driverName, 'local');
    assert.equal(local.apiKeyGenerated, true);
    assert.match(local.apiKeys[0]!, /^[A-Za-z0-9_]{32,256}$/, 'a key Konnect accepts');
    assert.notEqual(loadConfig({}).apiKeys[0], local.apiKeys[0]);
    assert.equal(configurationError({ DCR_DRIVER: 'okta' }).variable, 'DCR_API_KEYS');
  });

  it('reports a bad DCR_DRIVER before anything else, keys included', () => {
    const error = configurationError({ DCR_DRIVER: 'foo' });
    assert.equal(error.variable, 'DCR_DRIVER');
    assert.match(
      error.message,
      /^DCR_DRIVER must be one of local, keycloak, okta, auth0, entra, cognito, example, rfc7591, azure$/,
    );
    assert.equal(configurationError({ DCR_DRIVER: 'foo', PORT: 'eighty' }).variable, 'DCR_DRIVER');
  });

  it('reads DCR_DRIVER once, through NAME_FILE like every variable, and resolves the alias', () => {
    const driverFile = join(dir, 'driver');
    writeFileSync(driverFile, 'Azure\n');
    const config = loadConfig({ DCR_DRIVER_FILE: driverFile, DCR_API_KEYS: validKeys });
    assert.equal(config.driverName, 'entra');
    assert.equal(configurationError({ DCR_DRIVER_FILE: join(dir, 'missing') }).variable, 'DCR_DRIVER_FILE');
  });

  it('refuses short keys, naming the variable and never echoing the keys', () => {
    const error = configurationError({ DCR_API_KEYS: 'long-enough-key-000,short' });
    assert.equal(error.variable, 'DCR_API_KEYS');
    assert.match(error.message, /^DCR_API_KEYS .*12 characters/);
    assert.doesNotMatch(error.message, /long-enough-key-000|short,/);
  });

  it('reads any variable from NAME_FILE, for container secrets', () => {
    const keysFile = join(dir, 'keys');
    writeFileSync(keysFile, `${validKeys}\n`);
    const config = loadConfig({ DCR_API_KEYS_FILE: keysFile, DCR_DRIVER: 'entra' });
    assert.deepEqual(config.apiKeys, ['portal-key-one-000', 'portal-key-two-000']);
    assert.equal(configurationError({ DCR_API_KEYS_FILE: join(dir, 'missing') }).variable, 'DCR_API_KEYS_FILE');
  });

  it('names the variable in one line for every bad value', () => {
    const cases: [Env, string][] = [
      [{ PORT: 'eighty' }, 'PORT'],
      [{ PORT: '70000' }, 'PORT'],
      [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
      [{ DCR_PUBLIC_URL: 'not a url' }, 'DCR_PUBLIC_URL'],
      [{ DCR_ROTATION_GRACE_SECONDS: '-5' }, 'DCR_ROTATION_GRACE_SECONDS'],
      [{ DCR_IDP_TIMEOUT_MS: '1.5' }, 'DCR_IDP_TIMEOUT_MS'],
      [{ DCR_IDP_RETRY_BUDGET_MS: 'soon' }, 'DCR_IDP_RETRY_BUDGET_MS'],
      [{ DCR_IDP_MAX_CONNECTIONS: '0' }, 'DCR_IDP_MAX_CONNECTIONS'],
      [{ DCR_IDP_MAX_CONNECTIONS: 'many' }, 'DCR_IDP_MAX_CONNECTIONS'],
      [{ DCR_IDP_MAX_CONNECTIONS: '5000' }, 'DCR_IDP_MAX_CONNECTIONS'],
      [{ DCR_BODY_LIMIT: 'huge' }, 'DCR_BODY_LIMIT'],
      [{ DCR_BODY_LIMIT: '1gb' }, 'DCR_BODY_LIMIT'],
      [{ DCR_RATE_LIMIT_PER_MINUTE: '0' }, 'DCR_RATE_LIMIT_PER_MINUTE'],
      [{ DCR_SWEEP_INTERVAL_SECONDS: '0' }, 'DCR_SWEEP_INTERVAL_SECONDS'],
      [{ DCR_SWEEP_MAX_IDP_CALLS: '5' }, 'DCR_SWEEP_MAX_IDP_CALLS'],
      [{ TLS_CERT_FILE: '/tmp/cert.pem' }, 'TLS_KEY_FILE'],
      [{ TLS_KEY_FILE: '/tmp/key.pem' }, 'TLS_CERT_FILE'],
    ];
    for (const [env, variable] of cases) {
      const error = configurationError({ DCR_API_KEYS: validKeys, ...env });
      assert.equal(error.variable, variable, JSON.stringify(env));
      assert.ok(error.message.startsWith(variable), error.message);
    }
  });

  it('parses sizes and switches the public URL to https with TLS', () => {
    assert.equal(loadConfig({ DCR_IDP_MAX_CONNECTIONS: '4' }).idpMaxConnections, 4);
    assert.equal(loadConfig({ DCR_BODY_LIMIT: '128kb' }).bodyLimitBytes, 128 * 1024);
    assert.equal(loadConfig({ DCR_BODY_LIMIT: '1mb' }).bodyLimitBytes, 1024 * 1024);
    const tls = loadConfig({ PORT: '8443', TLS_CERT_FILE: '/c.pem', TLS_KEY_FILE: '/k.pem' });
    assert.equal(tls.publicUrl, 'https://localhost:8443');
    assert.equal(loadConfig({ DCR_PUBLIC_URL: 'https://dcr.example.com/' }).publicUrl, 'https://dcr.example.com');
  });

  it('DCR_TRUST_PROXY: off by default, a hop count, or proxy addresses and CIDRs; never true', () => {
    assert.equal(loadConfig({}).trustProxy, false);
    assert.equal(loadConfig({ DCR_TRUST_PROXY: 'false' }).trustProxy, false);
    assert.equal(loadConfig({ DCR_TRUST_PROXY: '2' }).trustProxy, 2);
    assert.deepEqual(loadConfig({ DCR_TRUST_PROXY: 'loopback, 10.0.0.0/8,fd00::/8, 192.0.2.1' }).trustProxy, [
      'loopback',
      '10.0.0.0/8',
      'fd00::/8',
      '192.0.2.1',
    ]);
    for (const value of ['true', 'yes', '10.0.0.0/33', 'fd00::/129', 'proxy.example.com', '10.0.0.0/8/1', '999', ',']) {
      const error = configurationError({ DCR_TRUST_PROXY: value });
      assert.equal(error.variable, 'DCR_TRUST_PROXY', value);
      assert.match(error.message, /^DCR_TRUST_PROXY must be a hop count/);
    }
  });
});
