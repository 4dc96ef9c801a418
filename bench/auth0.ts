/**
 * Auth0 benchmark: register, get, rotate and delete through the bridge (the real app on 127.0.0.1, the Auth0 driver
 * granting each client an API) side by side with the same Management API calls made straight to the Auth0 emulator
 * with fetch, plus the admin token requests the bridge made per 1,000 operations.
 */
import { createAuth0Driver } from '../drivers/auth0.js';
import { startAuth0Emulator } from '../test/emulators/auth0.js';
import { compareOperations, jsonCaller, printComparison, startBridge, tokenEconomy, trustTestCa } from './support.js';

const CONCURRENCY = 16;
const COUNT = 200;
const BOUND_MS = 4000;
const SCOPES = ['read:things'];

export async function run(): Promise<void> {
  trustTestCa();
  const auth0 = await startAuth0Emulator({ tokenLifetimeSeconds: 86_400, rateLimitPerMinute: 1_000_000 });
  const driver = createAuth0Driver({
    domain: auth0.domain,
    clientId: auth0.adminClient.clientId,
    clientSecret: auth0.adminClient.clientSecret,
    audience: auth0.apiAudience,
    defaultScopes: SCOPES,
  });
  const bridge = await startBridge(driver);
  const direct = await directAuth0(auth0.emulator.url, auth0.managementAudience, auth0.adminClient, auth0.apiAudience);
  try {
    // Taken after the direct path fetched its own token: every token request from here on is the bridge's.
    const tokensBefore = auth0.tokenRequests();
    const { rows, bridgeOperations } = await compareOperations(bridge, direct, { concurrency: CONCURRENCY, count: COUNT, durationMs: BOUND_MS });
    printComparison('auth0 (client credentials; emulator over TLS on 127.0.0.1)', rows, [
      tokenEconomy(auth0.tokenRequests() - tokensBefore, bridgeOperations),
      'Management API calls per bridge operation: register 2 (client, client grant), get 1, rotate 2 (read, rotate-secret), delete 4 (read, list grants, delete grant, delete client)',
    ]);
  } finally {
    await bridge.close();
    await driver.close();
    await auth0.stop();
  }
}

/** The same Management API calls the driver makes for each operation, written out with fetch and one admin token. */
async function directAuth0(baseUrl: string, managementAudience: string, admin: { clientId: string; clientSecret: string }, apiAudience: string) {
  const issued = await fetch(`${baseUrl}/oauth/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: admin.clientId, client_secret: admin.clientSecret, audience: managementAudience }),
  });
  const { access_token: token } = (await issued.json()) as { access_token: string };
  const headers = { Authorization: `Bearer ${token}`, Accept: 'application/json', 'Content-Type': 'application/json' };
  const auth0 = jsonCaller(`${baseUrl}/api/v2`, headers);
  const get = (id: string) => auth0('GET', `/clients/${encodeURIComponent(id)}`);
  return {
    async register(): Promise<string> {
      const client = (await auth0('POST', '/clients', {
        name: 'bench client',
        app_type: 'non_interactive',
        grant_types: ['client_credentials'],
        token_endpoint_auth_method: 'client_secret_basic',
        client_metadata: { dcr_bridge_managed: 'true' },
      })) as { client_id: string };
      await auth0('POST', '/client-grants', { client_id: client.client_id, audience: apiAudience, scope: SCOPES });
      return client.client_id;
    },
    get,
    async rotate(id: string): Promise<void> {
      await get(id);
      await auth0('POST', `/clients/${encodeURIComponent(id)}/rotate-secret`);
    },
    async remove(id: string): Promise<void> {
      await get(id);
      const { client_grants: grants } = (await auth0('GET', `/client-grants?client_id=${encodeURIComponent(id)}&take=100&include_totals=true`)) as { client_grants: Array<{ id: string }> };
      for (const grant of grants) await auth0('DELETE', `/client-grants/${encodeURIComponent(grant.id)}`);
      await auth0('DELETE', `/clients/${encodeURIComponent(id)}`);
    },
  };
}
