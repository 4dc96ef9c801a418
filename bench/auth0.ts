/**
 * Auth0: the bridge with the Auth0 driver (granting each client an API), beside the same Management API calls made
 * straight to the Auth0 emulator with one admin token.
 */
import { benchDriver, type DirectIdp } from './suite.js';
import { jsonCaller, type BenchOptions, type EmulatorProcess } from './support.js';

const SCOPES = ['read:things'];

export const run = (options: BenchOptions) =>
  benchDriver(
    {
      driver: 'auth0',
      title: 'auth0 (client credentials; emulator over TLS on 127.0.0.1, own process)',
      emulator: 'auth0',
      direct: directAuth0,
      notes: [
        'Management API calls per operation (both paths): register 2 (client, client grant), get 1, update 2 (read, patch), rotate 2 (read, rotate-secret), delete 4 (read, list grants, delete grant, delete client)',
      ],
    },
    options,
  );

async function directAuth0(emulator: EmulatorProcess): Promise<DirectIdp> {
  const { managementAudience, clientId, clientSecret, apiAudience } = emulator.direct;
  const issued = await fetch(`${emulator.url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: clientId!,
      client_secret: clientSecret!,
      audience: managementAudience!,
    }),
  });
  const { access_token: token } = (await issued.json()) as { access_token: string };
  const auth0 = jsonCaller(`${emulator.url}/api/v2`, { authorization: `Bearer ${token}` });
  const get = (id: string) => auth0('GET', `/clients/${encodeURIComponent(id)}`);
  return {
    async register() {
      const client = (
        await auth0('POST', '/clients', {
          name: 'bench client',
          app_type: 'non_interactive',
          grant_types: ['client_credentials'],
          token_endpoint_auth_method: 'client_secret_basic',
          client_metadata: { dcr_bridge_managed: 'true' },
        })
      ).body as { client_id: string };
      await auth0('POST', '/client-grants', { client_id: client.client_id, audience: apiAudience, scope: SCOPES });
      return client.client_id;
    },
    get,
    async update(id) {
      await get(id);
      await auth0('PATCH', `/clients/${encodeURIComponent(id)}`, { name: 'bench client renamed' });
    },
    async rotate(id) {
      await get(id);
      await auth0('POST', `/clients/${encodeURIComponent(id)}/rotate-secret`);
    },
    async remove(id) {
      await get(id);
      const { client_grants: grants } = (
        await auth0('GET', `/client-grants?client_id=${encodeURIComponent(id)}&take=100&include_totals=true`)
      ).body as { client_grants: Array<{ id: string }> };
      for (const grant of grants) await auth0('DELETE', `/client-grants/${encodeURIComponent(grant.id)}`);
      await auth0('DELETE', `/clients/${encodeURIComponent(id)}`);
    },
  };
}
