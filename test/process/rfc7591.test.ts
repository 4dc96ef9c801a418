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
  { secretRotation: 'unsupported' },
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
