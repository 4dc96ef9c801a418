/**
 * Isolation between connections, proven through the start itself (`runBridge`, in this process): one bridge with two
 * connections of the same driver kind (`alpha` under `/alpha` and `beta` at `/`, both the local IdP, each with its
 * own data directory and issuer) and one of another kind (`okta` under `/okta`, the Okta emulator), plus `down`, an
 * Okta that cannot be reached and only reported. Each connection is walked through every dialect with real tokens;
 * then every key is tried on every other connection's path, and every client through every other connection.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { runBridge } from '../../src/main.js';
import { startOktaEmulator, type OktaEmulator } from '../emulators/okta.js';
import { clientCredentialsWork } from '../process/compiled-bridge.js';
import { freeLoopbackPort } from '../support/free-port.js';

const ref = (name: string): string => `\${${name}}`;
const keys = {
  alpha: 'alpha-portal-key-0123456789',
  beta: 'beta-portal-key-0123456789',
  okta: 'okta-portal-key-0123456789',
  down: 'down-portal-key-0123456789',
} as const;
type Name = keyof typeof keys;
const paths: Record<Name, string> = { alpha: '/alpha', beta: '', okta: '/okta', down: '/down' };

interface Exchange {
  status: number;
  body: Record<string, unknown>;
}

describe('two connections of one driver kind and one of another, behind one bridge', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dcr-connections-'));
  const auditFile = join(dir, 'audit.jsonl');
  let okta: OktaEmulator;
  let origin = '';
  let stdout = '';
  let stop: (() => void) | undefined;
  let exited: Promise<number> | undefined;

  const base = (name: Name) => `${origin}${paths[name]}`;
  const call = async (
    method: string,
    url: string,
    options: { apiKey?: string; bearer?: string; body?: unknown } = {},
  ): Promise<Exchange> => {
    const response = await fetch(url, {
      method,
      headers: {
        ...(options.apiKey !== undefined ? { 'x-api-key': options.apiKey } : {}),
        ...(options.bearer !== undefined ? { authorization: `Bearer ${options.bearer}` } : {}),
        ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
    });
    const text = await response.text();
    return { status: response.status, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
  };
  const portal = (name: Name, method: string, path: string, body?: unknown) =>
    call(method, `${base(name)}${path}`, { apiKey: keys[name], ...(body !== undefined ? { body } : {}) });
  const secretWorks = (name: Name, clientId: string, secret: string): Promise<boolean> =>
    name === 'okta'
      ? okta.secretWorks(clientId, secret)
      : clientCredentialsWork(`${base(name)}/local-idp/token`, clientId, secret);

  before(async () => {
    okta = await startOktaEmulator();
    const port = await freeLoopbackPort();
    origin = `http://127.0.0.1:${port}`;
    const file = join(dir, 'connections.yaml');
    writeFileSync(
      file,
      `
connections:
  - name: alpha
    driver: local
    api_keys: ${ref('ALPHA_KEYS')}
    settings:
      DCR_OPEN_REGISTRATION: true
      DCR_OPEN_REGISTRATION_MAX_CLIENTS: 1
  - name: beta
    driver: local
    path: /
    api_keys: [ "portal-beta:${keys.beta}" ]
  - name: okta
    driver: okta
    api_keys: ${keys.okta}
    settings:
      OKTA_ORG_URL: ${okta.emulator.url}
      OKTA_API_TOKEN: ${ref('OKTA_TOKEN')}
      DCR_ROTATION_GRACE_SECONDS: 3600
  - name: down
    driver: okta
    readiness: reported
    api_keys: ${keys.down}
    settings:
      OKTA_ORG_URL: https://127.0.0.1:1
      OKTA_API_TOKEN: ${ref('OKTA_TOKEN')}
      DCR_IDP_TIMEOUT_MS: 200
      DCR_IDP_RETRY_BUDGET_MS: 300
      DCR_AUTH_FAILURE_LIMIT_PER_MINUTE: 3
`,
    );
    let exit!: (code: number) => void;
    exited = new Promise<number>((resolve) => (exit = resolve));
    const listeners = new Map<string, () => void>();
    await runBridge({
      env: {
        DCR_CONFIG_FILE: file,
        ALPHA_KEYS: keys.alpha,
        OKTA_TOKEN: okta.apiToken,
        PORT: String(port),
        HOST: '127.0.0.1',
        DCR_PUBLIC_URL: origin,
        DCR_LOCAL_DATA_DIR: dir,
        DCR_AUDIT_LOG: auditFile,
        LOG_LEVEL: 'info',
      },
      stdout: new Writable({
        write: (chunk: Buffer, _encoding, done) => {
          stdout += chunk.toString();
          done();
        },
      }),
      stderr: { write: (text: string) => assert.fail(`the start failed: ${text}`) },
      exit,
      onSignal: (signal, listener) => listeners.set(signal, listener),
    });
    stop = listeners.get('SIGTERM');
  });

  after(async () => {
    stop?.();
    if (exited) assert.equal(await exited, 0);
    await okta?.stop();
    okta?.emulator.assertNoViolations();
    rmSync(dir, { recursive: true, force: true });
  });

  /** One live client per connection and dialect, made by the walks, for the crossing checks. */
  const kept: Record<'alpha' | 'beta' | 'okta', { clientId: string; secret: string; token: string }> = {} as never;

  for (const name of ['alpha', 'beta', 'okta'] as const) {
    it(`${name}: API7, Konnect and standard DCR under its path, with secrets that really authenticate`, async () => {
      const created = await portal(name, 'POST', '/clients', {
        client_name: `${name} app`,
        grant_types: ['client_credentials'],
        redirect_uris: ['https://app.example.com/cb'],
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const clientId = created.body.client_id as string;
      const secret = created.body.client_secret as string;
      assert.equal(await secretWorks(name, clientId, secret), true);
      const rotated = await portal(name, 'POST', `/clients/${encodeURIComponent(clientId)}/rotate-secret`, {});
      assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
      const newSecret = rotated.body.client_secret as string;
      assert.equal(await secretWorks(name, clientId, newSecret), true);
      assert.equal(
        await secretWorks(name, clientId, secret),
        name === 'okta',
        "only okta's connection sets a rotation grace: its old secret stays valid, the local ones' do not",
      );
      assert.equal((await portal(name, 'DELETE', `/clients/${encodeURIComponent(clientId)}`)).status, 204);
      assert.equal(await secretWorks(name, clientId, newSecret), false);

      const konnect = await portal(name, 'POST', '/', {
        client_name: `${name} konnect app`,
        redirect_uris: ['https://portal.example.com/cb'],
        grant_types: ['bearer'],
        portal_id: 'portal-1',
        organization_id: 'org-1',
        developer_id: 'dev-1',
        dcr_provider_id: 'provider-1',
      });
      assert.equal(konnect.status, 201, JSON.stringify(konnect.body));
      const konnectId = konnect.body.client_id as string;
      const renewed = await portal(name, 'POST', `/${encodeURIComponent(konnectId)}/new-secret`);
      assert.equal(renewed.status, 200, JSON.stringify(renewed.body));
      assert.equal(await secretWorks(name, konnectId, renewed.body.client_secret as string), true);
      assert.equal((await portal(name, 'DELETE', `/${encodeURIComponent(konnectId)}`)).status, 204);

      const discovery = await call('GET', `${base(name)}/.well-known/openid-configuration`);
      assert.equal(discovery.status, 200, JSON.stringify(discovery.body));
      assert.equal(discovery.body.registration_endpoint, `${base(name)}/register`);
      if (name !== 'okta') assert.equal(discovery.body.issuer, `${base(name)}/local-idp`, 'its own issuer');
      const registered = await call('POST', `${base(name)}/register`, {
        bearer: keys[name],
        body: { client_name: `${name} service`, grant_types: ['client_credentials'] },
      });
      assert.equal(registered.status, 201, JSON.stringify(registered.body));
      const dcrId = registered.body.client_id as string;
      assert.equal(registered.body.registration_client_uri, `${base(name)}/register/${encodeURIComponent(dcrId)}`);
      const dcrSecret = registered.body.client_secret as string;
      assert.equal(await secretWorks(name, dcrId, dcrSecret), true);
      const read = await call('GET', registered.body.registration_client_uri as string, {
        bearer: registered.body.registration_access_token as string,
      });
      assert.equal(read.status, 200, JSON.stringify(read.body));
      kept[name] = { clientId: dcrId, secret: dcrSecret, token: registered.body.registration_access_token as string };
    });
  }

  it("refuses every key on every other connection's path: 401, whatever the dialect", async () => {
    for (const holder of Object.keys(keys) as Name[]) {
      // Not on down's path: its failed-authentication limit of 3 is the next test's.
      for (const target of ['alpha', 'beta', 'okta'] as const) {
        if (holder === target) continue;
        const api7 = await call('GET', `${base(target)}/clients/x`, { apiKey: keys[holder] });
        assert.equal(api7.status, 401, `${holder}'s key on ${target}'s API7 path`);
        const konnect = await call('POST', `${base(target)}/`, { apiKey: keys[holder], body: {} });
        assert.equal(konnect.status, 401, `${holder}'s key on ${target}'s Konnect path`);
        const register = await call('POST', `${base(target)}/register`, { bearer: keys[holder], body: {} });
        assert.equal(register.status, 401, `${holder}'s key as ${target}'s initial access token`);
      }
    }
  });

  it('no client crosses: another connection neither reads, rotates, deletes nor authenticates it', async () => {
    for (const owner of ['alpha', 'beta', 'okta'] as const) {
      const { clientId, secret, token } = kept[owner];
      for (const other of ['alpha', 'beta', 'okta'] as const) {
        if (other === owner) continue;
        const id = encodeURIComponent(clientId);
        assert.equal((await portal(other, 'GET', `/clients/${id}`)).status, 404, `${other} reads ${owner}'s client`);
        assert.equal(
          (await portal(other, 'POST', `/${id}/new-secret`)).status,
          404,
          `${other} renews ${owner}'s secret`,
        );
        assert.equal(
          (await portal(other, 'DELETE', `/clients/${id}`)).status,
          204,
          'a delete of an unknown client is idempotent',
        );
        assert.equal(
          (await call('GET', `${base(other)}/register/${id}`, { bearer: token })).status,
          401,
          `${owner}'s registration access token at ${other}`,
        );
        if (other !== 'okta' && owner !== 'okta')
          assert.equal(await secretWorks(other, clientId, secret), false, `${other}'s IdP authenticates ${owner}'s`);
      }
      assert.equal(await secretWorks(owner, clientId, secret), true, `${owner}'s client survived the others`);
      assert.equal((await portal(owner, 'GET', `/clients/${encodeURIComponent(clientId)}`)).status, 200);
    }
    assert.deepEqual(okta.ownedClientIds(), [kept.okta.clientId], "only okta's connection reached the Okta org");
    for (const local of ['alpha', 'beta'] as const) {
      const other = local === 'alpha' ? 'beta' : 'alpha';
      const files = readdirSync(join(dir, local), { recursive: true }).map(String).join(' ');
      assert.ok(files.includes(kept[local].clientId), `${local}'s client is in ${local}'s data directory`);
      assert.ok(!files.includes(kept[other].clientId), `${other}'s client is not`);
    }
  });

  it("keeps each connection's own limits: open registration's cap, the failed-authentication limit", async () => {
    const open = (name: Name) =>
      call('POST', `${base(name)}/register`, {
        body: { client_name: 'open', redirect_uris: ['http://127.0.0.1:5000/cb'] },
      });
    assert.equal((await open('alpha')).status, 201, 'alpha registers openly');
    const capped = await open('alpha');
    assert.notEqual(capped.status, 201, "alpha's cap of one is reached");
    assert.equal((await open('beta')).status, 401, 'beta has no open registration');
    for (let attempt = 0; attempt < 3; attempt += 1)
      assert.equal((await call('GET', `${base('down')}/clients/x`, { apiKey: 'wrong-key-0123456789' })).status, 401);
    assert.equal((await call('GET', `${base('down')}/clients/x`, { apiKey: 'wrong-key-0123456789' })).status, 429);
    assert.equal(
      (await call('GET', `${base('alpha')}/clients/x`, { apiKey: 'wrong-key-0123456789' })).status,
      401,
      'alpha counts its own failures',
    );
  });

  it('reports each connection at the root: readiness, metrics, logs and audit events carry its name', async () => {
    const ready = await call('GET', `${origin}/readyz`);
    assert.equal(ready.status, 200, 'down is only reported');
    const report = ready.body.connections as Record<string, string>;
    assert.deepEqual({ ...report, down: 'x' }, { alpha: 'ok', beta: 'ok', okta: 'ok', down: 'x' });
    assert.notEqual(report.down, 'ok');
    assert.equal((await call('GET', `${origin}/healthz`)).status, 200);
    assert.equal((await call('GET', `${origin}/alpha/readyz`, { apiKey: keys.alpha })).status, 404);
    const metrics = await (await fetch(`${origin}/metrics`)).text();
    assert.match(
      metrics,
      /dcr_driver_operations_total\{driver="okta",operation="registerClient",outcome="success",connection="okta"\} 3/,
    );
    assert.match(
      metrics,
      /dcr_driver_operations_total\{driver="local",operation="registerClient",outcome="success",connection="beta"\} 3/,
    );
    assert.equal(metrics.split('# TYPE dcr_http_requests_total').length, 2, 'one family, every connection in it');
    assert.match(stdout, /"connection":"down".*"message":"auth\.failed"|"message":"auth\.failed".*"connection":"down"/);
    assert.ok(existsSync(auditFile));
    const audit = readFileSync(auditFile, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const registers = audit.filter((record) => record.operation === 'register' && record.outcome === 'success');
    assert.deepEqual(
      [...new Set(registers.map((record) => record.connection))].sort(),
      ['alpha', 'beta', 'okta'],
      'each register names its connection',
    );
    assert.ok(audit.every((record) => typeof record.connection === 'string'));
    assert.ok(registers.some((record) => record.connection === 'beta' && record.apiKey === 'portal-beta'));
    for (const key of Object.values(keys)) assert.ok(!stdout.includes(key) && !JSON.stringify(audit).includes(key));
  });
});
