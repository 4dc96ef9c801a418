/**
 * Auth0 benchmark: register, get, rotate and delete through the bridge (the real app on 127.0.0.1, the Auth0 driver
 * granting each client an API) side by side with the same Management API calls made straight to the Auth0 emulator
 * with fetch, plus the admin token requests the bridge made per 1,000 operations.
 */
import { createAuth0Driver } from '../drivers/auth0.js';
import { startAuth0Emulator } from '../test/emulators/auth0.js';
import { measure, printComparison, startBridge, trustTestCa, type ComparisonRow } from './support.js';

const CONCURRENCY = 16;
const COUNT = 200;
const BOUND_MS = 4000;
const SCOPES = ['read:things'];
const serviceClient = { client_name: 'bench client', grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_basic' };

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
  const options = { concurrency: CONCURRENCY, count: COUNT, durationMs: BOUND_MS };
  try {
    const viaBridge: string[] = [];
    const straight: string[] = [];
    const rows: ComparisonRow[] = [];
    let bridgeOperations = 0;
    const bridgeCall = (method: string, path: string, body?: unknown) => {
      bridgeOperations++;
      return bridge.call(method, path, body);
    };
    const pick = <T>(pool: T[], index: number): T => pool[(index % pool.length + pool.length) % pool.length]!;
    // Taken after the direct path fetched its own token: every token request from here on is the bridge's.
    const tokensBefore = auth0.tokenRequests();

    rows.push({
      operation: 'register',
      bridge: await measure('register', async () => viaBridge.push(((await bridgeCall('POST', '/clients', serviceClient)) as { client_id: string }).client_id), options),
      direct: await measure('register', async () => straight.push(await direct.register()), options),
    });
    rows.push({
      operation: 'get',
      bridge: await measure('get', (index) => bridgeCall('GET', `/clients/${pick(viaBridge, index)}`), options),
      direct: await measure('get', (index) => direct.get(pick(straight, index)), options),
    });
    // One rotation per client at a time: the same client rotated twice at once is a race at Auth0 too.
    const rotateOptions = { ...options, count: Math.min(COUNT, viaBridge.length, straight.length) - CONCURRENCY, warmup: CONCURRENCY };
    rows.push({
      operation: 'rotate',
      bridge: await measure('rotate', (index) => bridgeCall('POST', `/clients/${pick(viaBridge, index)}/rotate-secret`), rotateOptions),
      direct: await measure('rotate', (index) => direct.rotate(pick(straight, index)), rotateOptions),
    });
    const deleteOptions = { ...options, count: Math.min(viaBridge.length, straight.length) - CONCURRENCY, warmup: CONCURRENCY };
    rows.push({
      operation: 'delete',
      bridge: await measure('delete', (index) => bridgeCall('DELETE', `/clients/${pick(viaBridge, index)}`), deleteOptions),
      direct: await measure('delete', (index) => direct.remove(pick(straight, index)), deleteOptions),
    });
    const bridgeTokens = auth0.tokenRequests() - tokensBefore;
    printComparison('auth0 (client credentials; emulator over TLS on 127.0.0.1)', rows, [
      `admin token requests: ${bridgeTokens} for ${bridgeOperations} bridge operations = ${((bridgeTokens / bridgeOperations) * 1000).toFixed(2)} per 1,000`,
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
  const auth0 = async (method: string, path: string, body?: unknown): Promise<unknown> => {
    const response = await fetch(`${baseUrl}/api/v2${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}`);
    return text === '' ? undefined : (JSON.parse(text) as unknown);
  };
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
