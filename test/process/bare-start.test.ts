/**
 * A bare `npm start` on a fresh machine, as the README's quick start runs it: no variable but the port, so the local
 * IdP keeps its data under ./data of the working directory, the public URL is http://localhost:PORT, a portal key is
 * generated and printed, and open registration is off. The first things a new user tries must answer.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBridgeProcess, until, type BridgeProcess } from '../fleet/bridge-process.js';
import { freeLoopbackPort } from '../support/free-port.js';
import { clientCredentialsWork } from './compiled-bridge.js';

describe('a bare npm start', () => {
  const workingDir = mkdtempSync(join(tmpdir(), 'dcr-process-bare-'));
  let bridge: BridgeProcess | undefined;
  let url = '';
  let publicUrl = '';
  let apiKey = '';

  before(async () => {
    const port = await freeLoopbackPort();
    url = `http://127.0.0.1:${port}`;
    publicUrl = `http://localhost:${port}`;
    bridge = await startBridgeProcess({ PORT: String(port) }, { cwd: workingDir });
    await until(async () => (await fetch(`${url}/readyz`)).status === 200, 'the bridge answers 200 on /readyz');
    apiKey = /generated API key for this run: (\S+)/.exec(bridge.stdout())?.[1] ?? '';
  });

  after(async () => {
    await bridge?.stop();
    rmSync(workingDir, { recursive: true, force: true });
  });

  it('prints a generated key that registers a client at the local IdP, whose secret gets a token', async () => {
    assert.match(apiKey, /^[0-9a-f]{48}$/, bridge!.stdout());
    const created = await fetch(`${url}/clients`, {
      method: 'POST',
      headers: { 'x-api-key': apiKey, 'content-type': 'application/json' },
      body: JSON.stringify({ client_name: 'first try' }),
    });
    assert.equal(created.status, 201);
    const client = (await created.json()) as { client_id: string; client_secret: string };
    assert.equal(await clientCredentialsWork(`${url}/local-idp/token`, client.client_id, client.client_secret), true);
    assert.ok(existsSync(join(workingDir, 'data')), 'the local IdP keeps its data in ./data');
  });

  it("serves discovery at the root and at the issuer's path, with the registration endpoint under the default public URL", async () => {
    for (const path of [
      '/.well-known/openid-configuration',
      '/.well-known/oauth-authorization-server',
      '/local-idp/.well-known/openid-configuration',
      '/.well-known/oauth-authorization-server/local-idp',
    ]) {
      const response = await fetch(`${url}${path}`);
      const document = (await response.json()) as Record<string, unknown>;
      assert.equal(response.status, 200, `${path}: ${JSON.stringify(document)}`);
      assert.equal(document.issuer, `${publicUrl}/local-idp`, path);
      assert.equal(document.registration_endpoint, `${publicUrl}/register`, path);
    }
  });

  it('keeps open registration off, while the operator can still list open-registered clients (none)', async () => {
    const open = await fetch(`${url}/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ redirect_uris: ['http://127.0.0.1:53682/cb'], token_endpoint_auth_method: 'none' }),
    });
    assert.equal(open.status, 401);
    assert.equal(open.headers.get('www-authenticate'), 'Bearer');
    const listed = await fetch(`${url}/admin/open-registrations`, { headers: { 'x-api-key': apiKey } });
    const body = (await listed.json()) as Record<string, unknown>;
    assert.equal(listed.status, 200, JSON.stringify(body));
    assert.deepEqual(body, { client_ids: [] });
  });
});
