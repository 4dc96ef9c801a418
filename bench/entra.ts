/**
 * Entra: the bridge with the Entra driver (MSAL and Graph), beside the same Graph calls made straight to the Entra
 * emulator with one admin token.
 */
import { benchDriver, type DirectIdp } from './suite.js';
import { jsonCaller, type BenchOptions, type EmulatorProcess } from './support.js';

export const run = (options: BenchOptions) =>
  benchDriver(
    {
      driver: 'entra',
      title: 'entra (MSAL client credentials + Graph v1.0; emulator over TLS on 127.0.0.1, own process)',
      emulator: 'entra',
      direct: directGraph,
      notes: [
        'Graph calls per operation (both paths): register 4 (create app, addPassword, create service principal, read back), get 1, update 2 (read, patch), rotate 3 (read, addPassword, removePassword), delete 2 (read, delete)',
      ],
    },
    options,
  );

async function directGraph(emulator: EmulatorProcess): Promise<DirectIdp> {
  const { tenantId, clientId, clientSecret } = emulator.direct;
  const tokenResponse = await fetch(`${emulator.url}/${tenantId}/oauth2/v2.0/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: clientId!,
      client_secret: clientSecret!,
      scope: `${emulator.url}/.default`,
    }),
  });
  const { access_token: token } = (await tokenResponse.json()) as { access_token: string };
  const graph = jsonCaller(`${emulator.url}/v1.0`, { authorization: `Bearer ${token}` });
  const get = async (appId: string) =>
    (await graph('GET', `/applications(appId='${encodeURIComponent(appId)}')`)).body as {
      id: string;
      passwordCredentials: Array<{ keyId: string }>;
    };
  return {
    async register() {
      const app = (
        await graph('POST', '/applications', {
          displayName: 'bench client',
          signInAudience: 'AzureADMyOrg',
          tags: ['dcr-bridge:managed'],
        })
      ).body as { id: string; appId: string };
      await graph('POST', `/applications/${app.id}/addPassword`, { passwordCredential: { displayName: 'bench' } });
      await graph('POST', '/servicePrincipals', { appId: app.appId });
      await get(app.appId);
      return app.appId;
    },
    get,
    async update(appId) {
      const app = await get(appId);
      await graph('PATCH', `/applications/${app.id}`, { displayName: 'bench client renamed' });
    },
    async rotate(appId) {
      const app = await get(appId);
      await graph('POST', `/applications/${app.id}/addPassword`, { passwordCredential: { displayName: 'bench' } });
      for (const password of app.passwordCredentials)
        await graph('POST', `/applications/${app.id}/removePassword`, { keyId: password.keyId });
    },
    async remove(appId) {
      const app = await get(appId);
      await graph('DELETE', `/applications/${app.id}`);
    },
  };
}
