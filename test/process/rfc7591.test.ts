/**
 * `npm start` with DCR_DRIVER=rfc7591 in front of node-oidc-provider run as a server of its own, its registration
 * endpoint found through RFC7591_ISSUER, the state store the default SQLite file in DCR_DATA_DIR; and a store it cannot
 * open stopping the start with one line.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openStateStore } from '../../src/driver/index.js';
import { startBridgeProcess } from '../fleet/bridge-process.js';
import { startOidcProvider } from '../rfc7591/oidc-provider.js';
import { clientCredentialsWork, describeCompiledBridge } from './compiled-bridge.js';

describeCompiledBridge(
  'node-oidc-provider (rfc7591)',
  async () => {
    const idp = await startOidcProvider();
    const dataDir = mkdtempSync(join(tmpdir(), 'dcr-rfc7591-process-'));
    return {
      env: {
        DCR_DRIVER: 'rfc7591',
        RFC7591_ISSUER: idp.issuer,
        RFC7591_INITIAL_ACCESS_TOKEN: idp.initialAccessToken,
        DCR_DATA_DIR: dataDir,
      },
      issuer: () => idp.issuer,
      secretWorks: (_publicUrl, clientId, secret) => clientCredentialsWork(`${idp.issuer}/token`, clientId, secret),
      async stop() {
        await idp.stop();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  },
  { secretRotation: 'unsupported', operatorListing: true },
);

describe('npm start with a state store it cannot open', () => {
  it('stops with one line naming DCR_STATE_URL, for a file that is no SQLite database and for an unreachable PostgreSQL', async () => {
    const idp = await startOidcProvider();
    const dir = mkdtempSync(join(tmpdir(), 'dcr-rfc7591-badstore-'));
    const notADatabase = join(dir, 'state.sqlite');
    writeFileSync(notADatabase, 'this is not a SQLite database, and it is longer than a header would be '.repeat(20));
    try {
      for (const url of [`sqlite:${notADatabase}`, 'postgres://bridge:secret-password@127.0.0.1:1/state']) {
        const started = startBridgeProcess({
          DCR_API_KEYS: 'process-key-0123456789',
          DCR_DRIVER: 'rfc7591',
          RFC7591_REGISTRATION_ENDPOINT: idp.registrationEndpoint,
          DCR_STATE_URL: url,
        });
        await assert.rejects(started, (error: unknown) => {
          const lines = (error as Error).message
            .replace(/^the bridge did not start: /, '')
            .trim()
            .split('\n');
          assert.equal(lines.length, 1, lines.join('\n'));
          assert.match(lines[0]!, /^DCR_STATE_URL names a state store the bridge cannot open/);
          assert.equal(lines[0]!.includes('secret-password'), false, 'no credentials in the line');
          return true;
        });
      }
    } finally {
      await idp.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('npm start with DCR_DRIVER=rfc7591, restarted on the same data directory', () => {
  it('still manages the clients registered before the restart', async () => {
    const idp = await startOidcProvider();
    const dataDir = mkdtempSync(join(tmpdir(), 'dcr-rfc7591-restart-'));
    const apiKey = 'process-key-restart-0123456789';
    const env = {
      DCR_API_KEYS: apiKey,
      DCR_DRIVER: 'rfc7591',
      RFC7591_ISSUER: idp.issuer,
      RFC7591_INITIAL_ACCESS_TOKEN: idp.initialAccessToken,
      DCR_DATA_DIR: dataDir,
    };
    const call = async (base: string, method: string, path: string, body?: unknown) => {
      const response = await fetch(`${base}${path}`, {
        method,
        headers: { 'x-api-key': apiKey, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: response.status, body: (await response.text()) || '{}' };
    };
    const app = { client_name: 'restart app', grant_types: ['client_credentials'] };
    try {
      const first = await startBridgeProcess(env);
      const created = await call(first.baseUrl, 'POST', '/clients', app);
      assert.equal(created.status, 201, created.body);
      const { client_id: clientId, client_secret: secret } = JSON.parse(created.body) as Record<string, string>;
      // An update rotates the registration access token at the provider: the restarted bridge must hold the new one.
      assert.equal(
        (await call(first.baseUrl, 'PUT', `/clients/${clientId}`, { ...app, client_name: 'before' })).status,
        200,
      );
      assert.equal(await first.stop(), 0);
      const store = await openStateStore({ dataDir });
      const [stored] = await store.list(idp.registrationEndpoint, 10);
      await store.close();
      assert.equal(stored?.clientId, clientId, 'the first bridge left the client in the store');
      const second = await startBridgeProcess(env);
      try {
        const read = await call(second.baseUrl, 'GET', `/clients/${clientId}`);
        assert.equal(read.status, 200, read.body);
        assert.equal((JSON.parse(read.body) as { client_name: string }).client_name, 'before');
        assert.equal(
          (await call(second.baseUrl, 'PUT', `/clients/${clientId}`, { ...app, client_name: 'after' })).status,
          200,
        );
        assert.equal((await call(second.baseUrl, 'DELETE', `/clients/${clientId}`)).status, 204);
        assert.equal(await idp.secretWorks(clientId!, secret!), false);
        for (const output of [second.stdout(), second.stderr(), first.stdout(), first.stderr()])
          for (const value of [secret!, stored!.registrationAccessToken])
            assert.equal(output.includes(value), false, 'no secret and no registration access token in the logs');
      } finally {
        await second.stop();
      }
    } finally {
      await idp.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
