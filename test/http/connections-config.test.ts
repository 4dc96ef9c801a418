/**
 * DCR_CONFIG_FILE as `loadConnections` reads it: the connections, their defaults and `${VAR}` references, and each
 * start-up refusal as the one line that names the connection and the setting (and never a key).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadConnections } from '../../src/connections.js';
import { ConfigurationError, type Env } from '../../src/env.js';

const dir = mkdtempSync(join(tmpdir(), 'dcr-connections-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
function fileWith(content: string): string {
  files += 1;
  const file = join(dir, `connections-${files}.yaml`);
  writeFileSync(file, content);
  return file;
}

const ref = (name: string): string => `\${${name}}`;
const partnersKey = 'partners-key-0123456789';
const staffKey = 'staff-key-0123456789';

function load(content: string, env: Env = {}) {
  return loadConnections({ DCR_CONFIG_FILE: fileWith(content), ...env });
}

/** The one line the start prints for `content`. */
function refusal(content: string, env: Env = {}): string {
  try {
    load(content, env);
  } catch (error) {
    assert.ok(error instanceof ConfigurationError, String(error));
    assert.ok(!error.message.includes('\n'), 'one line');
    return error.message;
  }
  assert.fail('the file was accepted');
}

const two = `
connections:
  - name: partners
    driver: okta
    api_keys: ${ref('PARTNERS_KEYS')}
    settings:
      OKTA_ORG_URL: https://partners.okta.example
      OKTA_API_TOKEN: ${ref('PARTNERS_OKTA_TOKEN')}
      DCR_RATE_LIMIT_PER_MINUTE: 30
  - name: staff
    driver: local
    path: /
    readiness: reported
    api_keys: [ "ops:${staffKey}" ]
`;

describe('DCR_CONFIG_FILE', () => {
  it('is optional: without it the bridge is one connection from the environment', () => {
    assert.equal(loadConnections({}), undefined);
  });

  it('reads each connection: driver, path (default /<name>), keys, settings with VAR references (and VAR_FILE), readiness', () => {
    const tokenFile = join(dir, 'okta-token');
    writeFileSync(tokenFile, 'token-from-a-file\n');
    const loaded = load(two, {
      PARTNERS_KEYS: `${partnersKey}, second-partners-key-01`,
      PARTNERS_OKTA_TOKEN_FILE: tokenFile,
      DCR_PUBLIC_URL: 'https://bridge.example.com',
      DCR_LOCAL_DATA_DIR: join(dir, 'data'),
      DCR_RATE_LIMIT_PER_MINUTE: '600',
    });
    assert.ok(loaded);
    const [partners, staff] = loaded.connections;
    assert.equal(loaded.config.publicUrl, 'https://bridge.example.com');
    assert.equal(partners!.path, '/partners');
    assert.equal(partners!.driverName, 'okta');
    assert.equal(partners!.config.publicUrl, 'https://bridge.example.com/partners');
    assert.deepEqual(partners!.config.apiKeys, [partnersKey, 'second-partners-key-01']);
    assert.equal(partners!.config.rateLimitPerMinute, 30, "the connection's own limit");
    assert.equal(partners!.readiness, 'required');
    assert.deepEqual(partners!.driverEnv, {
      OKTA_ORG_URL: 'https://partners.okta.example',
      OKTA_API_TOKEN: 'token-from-a-file',
      DCR_RATE_LIMIT_PER_MINUTE: '30',
    });
    assert.equal(staff!.path, '/');
    assert.equal(staff!.config.publicUrl, 'https://bridge.example.com');
    assert.equal(staff!.config.rateLimitPerMinute, 600, "the environment's, where the connection sets none");
    assert.deepEqual(staff!.config.apiKeyNames, ['ops']);
    assert.equal(staff!.readiness, 'reported');
    assert.equal(staff!.driverEnv.DCR_LOCAL_DATA_DIR, join(dir, 'data', 'staff'), 'a data directory per connection');
    assert.deepEqual(
      [partners!.config.pendingRegistrations?.journalFile, staff!.config.pendingRegistrations?.journalFile],
      [
        join(dir, 'data', 'pending-registrations.partners.jsonl'),
        join(dir, 'data', 'pending-registrations.staff.jsonl'),
      ],
      'a pending-registrations journal per connection',
    );
  });

  it('reads JSON too, and a driver never sees the process environment', () => {
    const loaded = load(
      JSON.stringify({ connections: [{ name: 'one', driver: 'azure', api_keys: [partnersKey], settings: {} }] }),
      { ENTRA_TENANT_ID: 'from-the-process' },
    );
    assert.equal(loaded?.connections[0]?.driverName, 'entra');
    assert.equal(loaded?.connections[0]?.driverEnv.ENTRA_TENANT_ID, undefined);
  });

  const refusals: [string, string, Env, RegExp][] = [
    ['an invalid file', 'connections: [ {', {}, /^DCR_CONFIG_FILE must be valid YAML or JSON: .* does not parse/],
    ['no connections', 'connections: []', {}, /^DCR_CONFIG_FILE connections is required/],
    ['an unknown top-level setting', 'connection: []', {}, /^DCR_CONFIG_FILE connection is not a setting of the file/],
    [
      'an unknown driver',
      `connections: [ { name: a, driver: ping, api_keys: ${partnersKey} } ]`,
      {},
      /^connection a: driver must be one of local, keycloak/,
    ],
    [
      'a bad name',
      `connections: [ { name: "A B", driver: local, api_keys: ${partnersKey} } ]`,
      {},
      /^DCR_CONFIG_FILE connections\[0\]: name is required: 1 to 32/,
    ],
    [
      'a duplicate name',
      `connections: [ { name: a, driver: local, api_keys: ${partnersKey} }, { name: a, driver: local, path: /b, api_keys: ${staffKey} } ]`,
      {},
      /^connection a: name is used by another connection/,
    ],
    [
      'a duplicate path',
      `connections: [ { name: a, driver: local, path: /, api_keys: ${partnersKey} }, { name: b, driver: local, path: /, api_keys: ${staffKey} } ]`,
      {},
      /^connection b: path \/ is already connection a's/,
    ],
    [
      'a path inside another',
      `connections: [ { name: a, driver: local, api_keys: ${partnersKey} }, { name: b, driver: local, path: /a/b, api_keys: ${staffKey} } ]`,
      {},
      /^connection b: path \/a\/b and connection a's \/a must not lie one inside the other/,
    ],
    [
      'a path the bridge serves itself',
      `connections: [ { name: a, driver: local, path: /clients, api_keys: ${partnersKey} } ]`,
      {},
      /^connection a: path must not start with \/clients/,
    ],
    [
      'a key of another connection',
      `connections: [ { name: a, driver: local, api_keys: ${partnersKey} }, { name: b, driver: local, api_keys: "x:${partnersKey}" } ]`,
      {},
      /^connection b: api_keys holds a key of connection a: a key belongs to one connection$/,
    ],
    ['no keys', 'connections: [ { name: a, driver: local } ]', {}, /^connection a: api_keys is required/],
    [
      'a short key',
      'connections: [ { name: a, driver: local, api_keys: short } ]',
      {},
      /^connection a: api_keys must be comma-separated keys/,
    ],
    [
      'an unset reference',
      `connections: [ { name: a, driver: okta, api_keys: ${partnersKey}, settings: { OKTA_API_TOKEN: "${ref('NOPE')}" } } ]`,
      {},
      /^connection a: settings\.OKTA_API_TOKEN reads \$\{NOPE\}, which is not set in the environment$/,
    ],
    [
      'a setting of the whole process',
      `connections: [ { name: a, driver: local, api_keys: ${partnersKey}, settings: { PORT: 8080 } } ]`,
      {},
      /^connection a: settings\.PORT is a setting of the whole bridge/,
    ],
    [
      'a bad per-connection bridge setting',
      `connections: [ { name: a, driver: local, api_keys: ${partnersKey}, settings: { DCR_RATE_LIMIT_PER_MINUTE: lots } } ]`,
      {},
      /^connection a: settings\.DCR_RATE_LIMIT_PER_MINUTE must be a whole number/,
    ],
    [
      'an unknown connection field',
      `connections: [ { name: a, driver: local, api_keys: ${partnersKey}, paths: /x } ]`,
      {},
      /^connection a: paths is not a connection setting/,
    ],
    [
      'two local connections on one data directory',
      `connections: [ { name: a, driver: local, api_keys: ${partnersKey}, settings: { DCR_LOCAL_DATA_DIR: /tmp/x } }, { name: b, driver: local, api_keys: ${staffKey}, settings: { DCR_LOCAL_DATA_DIR: /tmp/x/ } } ]`,
      {},
      /^connection b: settings\.DCR_LOCAL_DATA_DIR is connection a's too/,
    ],
  ];
  for (const [what, content, env, line] of refusals) {
    it(`stops the start on ${what}, with one line naming where`, () => {
      const message = refusal(content, env);
      assert.match(message, line);
      assert.ok(!message.includes(partnersKey) && !message.includes(staffKey), 'no key in the line');
    });
  }

  it('stops the start on an unreadable file, naming it', () => {
    assert.match(
      refusal('', { DCR_CONFIG_FILE: join(dir, 'absent.yaml') }).replace(/\\/g, '/'),
      /^DCR_CONFIG_FILE must name a readable file: .*absent\.yaml \(no such file or directory\)$/,
    );
  });

  it('an rfc7591 connection uses the process state store: DCR_STATE_URL and DCR_DATA_DIR from the environment', () => {
    const loaded = load(
      `connections: [ { name: std, driver: rfc7591, api_keys: ${partnersKey}, settings: { RFC7591_REGISTRATION_ENDPOINT: https://idp.example.com/reg } } ]`,
      { DCR_STATE_URL: 'postgres://bridge@127.0.0.1:5432/state', DCR_DATA_DIR: '/var/lib/dcr' },
    );
    const std = loaded!.connections.find((connection) => connection.name === 'std')!;
    assert.equal(std.driverEnv.DCR_STATE_URL, 'postgres://bridge@127.0.0.1:5432/state');
    assert.equal(std.driverEnv.DCR_DATA_DIR, '/var/lib/dcr');
  });
});
