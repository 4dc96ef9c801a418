/**
 * `npm start` with DCR_CONFIG_FILE: the compiled bridge serving two connections, both the local driver — `partners`
 * under `/partners` (walked through every dialect by the process suite, its secrets tried at its own
 * `/partners/local-idp`), and `staff` at `/`, each with its own keys, data directory and issuer. Then what only a
 * process shows: the operations endpoints at the root for both, a key of one refused on the other's path, and a bad
 * file stopping the start with its one line and exit code 1.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startFlags } from '../../scripts/start-arguments.js';
import { root, startBridgeProcess, until, type BridgeProcess } from '../fleet/bridge-process.js';
import { compiledMain, ensureBuilt } from '../support/built.js';
import { clientCredentialsWork, describeCompiledBridge } from './compiled-bridge.js';

const staffKey = 'staff-portal-key-0123456789';
/** `${NAME}` as the file writes it: read from the bridge's environment. */
const fromEnv = (name: string): string => `\${${name}}`;

/** Two local connections; the suite's own key (DCR_API_KEYS, which it sets) is read into `partners` by `${…}`. */
function twoLocalConnections(dir: string): string {
  const file = join(dir, 'connections.yaml');
  writeFileSync(
    file,
    [
      'connections:',
      '  - name: partners',
      '    driver: local',
      `    api_keys: ${fromEnv('DCR_API_KEYS')}`,
      '  - name: staff',
      '    driver: local',
      '    path: /',
      `    api_keys: [ "${fromEnv('STAFF_KEY')}" ]`,
      '',
    ].join('\n'),
  );
  return file;
}

describeCompiledBridge(
  'the local IdP as one of two connections, under /partners',
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dcr-process-connections-'));
    return {
      env: { DCR_CONFIG_FILE: twoLocalConnections(dir), DCR_LOCAL_DATA_DIR: dir, STAFF_KEY: staffKey },
      // `publicUrl` is where the suite reaches the connection: DCR_PUBLIC_URL + /partners.
      issuer: (publicUrl) => `${publicUrl}/local-idp`,
      secretWorks: (publicUrl, clientId, secret) =>
        clientCredentialsWork(`${publicUrl}/local-idp/token`, clientId, secret),
      stop: async () => rmSync(dir, { recursive: true, force: true }),
    };
  },
  { path: '/partners' },
);

describe('npm start with two connections: what crosses between them', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dcr-process-connections-'));
  const partnersKey = 'partners-portal-key-0123456789';
  let bridge: BridgeProcess | undefined;
  let url = '';

  const register = (path: string, key: string) =>
    fetch(`${url}${path}`, {
      method: 'POST',
      headers: { 'x-api-key': key, 'content-type': 'application/json' },
      body: JSON.stringify({ client_name: 'crossing', grant_types: ['client_credentials'] }),
    });

  before(async () => {
    bridge = await startBridgeProcess({
      DCR_CONFIG_FILE: twoLocalConnections(dir),
      DCR_LOCAL_DATA_DIR: dir,
      DCR_API_KEYS: partnersKey,
      STAFF_KEY: staffKey,
    });
    url = bridge.baseUrl;
    await until(async () => (await fetch(`${url}/readyz`)).status === 200, 'the bridge is ready');
  });

  after(async () => {
    await bridge?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('says which connections it serves, where, and reports each on /readyz', async () => {
    assert.match(bridge!.stdout(), /"connections":\[\{"driver":"local","name":"partners","path":"\/partners"\}/);
    const ready = await fetch(`${url}/readyz`);
    assert.deepEqual(await ready.json(), { status: 'ok', connections: { partners: 'ok', staff: 'ok' } });
  });

  it("refuses a key on the other connection's path, and no client or secret crosses", async () => {
    assert.equal((await register('/partners/clients', staffKey)).status, 401, "staff's key on /partners");
    assert.equal((await register('/clients', partnersKey)).status, 401, "partners' key at the root connection");
    const created = await register('/partners/clients', partnersKey);
    assert.equal(created.status, 201);
    const { client_id: clientId, client_secret: secret } = (await created.json()) as Record<string, string>;
    assert.equal(await clientCredentialsWork(`${url}/partners/local-idp/token`, clientId!, secret!), true);
    assert.equal(
      await clientCredentialsWork(`${url}/local-idp/token`, clientId!, secret!),
      false,
      "staff's IdP does not know the client",
    );
    const fromStaff = await fetch(`${url}/clients/${encodeURIComponent(clientId!)}`, {
      headers: { 'x-api-key': staffKey },
    });
    assert.equal(fromStaff.status, 404, "staff's own key does not reach partners' client");
    const metrics = await (await fetch(`${url}/metrics`)).text();
    assert.match(
      metrics,
      /dcr_http_requests_total\{method="POST",route="\/clients",status="201",connection="partners"\} 1/,
    );
    assert.match(bridge!.stdout(), /"type":"audit".*"operation":"register".*"connection":"partners"/);
  });
});

describe('npm start with a bad DCR_CONFIG_FILE', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dcr-process-bad-connections-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** The compiled bridge's exit code and stderr for `file`'s content. */
  const startWith = async (content: string | undefined): Promise<{ code: number | null; stderr: string }> => {
    await ensureBuilt();
    const file = join(dir, `c-${Math.random().toString(16).slice(2)}.yaml`);
    if (content !== undefined) writeFileSync(file, content);
    const child = spawn(process.execPath, [...startFlags(), compiledMain], {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', PORT: '0', HOST: '127.0.0.1', DCR_CONFIG_FILE: file, OKTA_KEY: 'k' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    return { code, stderr };
  };

  it('an unreadable file, and a connection whose driver settings are incomplete: one line each, exit 1', async () => {
    const missing = await startWith(undefined);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^DCR_CONFIG_FILE must name a readable file: .* \(no such file or directory\)\n$/);

    const incomplete = await startWith(
      `connections:\n  - name: partners\n    driver: okta\n    api_keys: partners-portal-key-01\n    settings: { OKTA_API_TOKEN: "${fromEnv('OKTA_KEY')}" }\n`,
    );
    assert.equal(incomplete.code, 1);
    assert.match(incomplete.stderr, /^connection partners: settings\.OKTA_ORG_URL is required: .*\n$/);
  });
});
