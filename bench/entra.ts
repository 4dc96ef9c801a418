/**
 * Entra benchmark: register, get, rotate and delete through the bridge (the real app on 127.0.0.1, the Entra driver
 * with MSAL and Graph) side by side with the same Graph calls made straight to the Entra emulator with fetch, plus
 * the admin token requests the bridge made per 1,000 operations.
 */
import { createEntraDriver } from '../drivers/entra.js';
import { measure, printComparison, startBridge, startEmulatorInWorker, trustTestCa, type ComparisonRow } from './support.js';

const CONCURRENCY = 16;
const COUNT = 200;
const BOUND_MS = 4000;
const serviceClient = { client_name: 'bench client', grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_basic' };

export async function run(): Promise<void> {
  trustTestCa();
  // The emulator runs on a thread of its own, as a real IdP does not share the bridge's event loop.
  const entra = await startEmulatorInWorker('entra');
  const env = entra.driverEnv;
  const tokenRequests = () => entra.requestCount('POST /:tenant/oauth2/v2.0/token');
  const driver = createEntraDriver({
    tenantId: env.ENTRA_TENANT_ID!,
    clientId: env.ENTRA_CLIENT_ID!,
    credential: { clientSecret: env.ENTRA_CLIENT_SECRET! },
    authorityHost: env.ENTRA_AUTHORITY_HOST!,
    graphUrl: env.ENTRA_GRAPH_URL!,
  });
  const bridge = await startBridge(driver);
  const direct = await directGraph(entra.url, env.ENTRA_TENANT_ID!, env.ENTRA_CLIENT_ID!, env.ENTRA_CLIENT_SECRET!);
  const tokensBefore = await tokenRequests();
  const options = { concurrency: CONCURRENCY, count: COUNT, durationMs: BOUND_MS };
  try {
    const viaBridge: string[] = [];
    const straight: Array<{ id: string; appId: string }> = [];
    const rows: ComparisonRow[] = [];
    let bridgeOperations = 0;
    const bridgeCall = (method: string, path: string, body?: unknown) => {
      bridgeOperations++;
      return bridge.call(method, path, body);
    };
    const pick = <T>(pool: T[], index: number): T => pool[(index % pool.length + pool.length) % pool.length]!;

    rows.push({
      operation: 'register',
      bridge: await measure('register', async () => viaBridge.push(((await bridgeCall('POST', '/clients', serviceClient)) as { client_id: string }).client_id), options),
      direct: await measure('register', async () => straight.push(await direct.register()), options),
    });
    rows.push({
      operation: 'get',
      bridge: await measure('get', (index) => bridgeCall('GET', `/clients/${pick(viaBridge, index)}`), options),
      direct: await measure('get', (index) => direct.get(pick(straight, index).appId), options),
    });
    // One rotation per client at a time: the same client rotated twice at once races at Entra too.
    const rotateOptions = { ...options, count: Math.min(COUNT, viaBridge.length, straight.length) - CONCURRENCY, warmup: CONCURRENCY };
    rows.push({
      operation: 'rotate',
      bridge: await measure('rotate', (index) => bridgeCall('POST', `/clients/${pick(viaBridge, index)}/rotate-secret`), rotateOptions),
      direct: await measure('rotate', (index) => direct.rotate(pick(straight, index).appId), rotateOptions),
    });
    const deleteOptions = { ...options, count: Math.min(viaBridge.length, straight.length) - CONCURRENCY, warmup: CONCURRENCY };
    rows.push({
      operation: 'delete',
      bridge: await measure('delete', (index) => bridgeCall('DELETE', `/clients/${pick(viaBridge, index)}`), deleteOptions),
      direct: await measure('delete', (index) => direct.remove(pick(straight, index).appId), deleteOptions),
    });
    const bridgeTokens = (await tokenRequests()) - tokensBefore;
    printComparison('entra (MSAL client credentials + Graph v1.0; emulator over TLS on 127.0.0.1, own thread)', rows, [
      `admin token requests: ${bridgeTokens} for ${bridgeOperations} bridge operations = ${((bridgeTokens / bridgeOperations) * 1000).toFixed(2)} per 1,000`,
      'Graph calls per bridge operation: register 4 (create app, addPassword, create service principal, read back), get 1, rotate 3 (read, addPassword, removePassword), delete 2 (read, delete)',
    ]);
  } finally {
    await bridge.close();
    await driver.close();
    await entra.stop();
  }
}

/** The same Graph calls the driver makes for each operation, written out with fetch and one admin token. */
async function directGraph(baseUrl: string, tenantId: string, clientId: string, clientSecret: string) {
  const tokenResponse = await fetch(`${baseUrl}/${tenantId}/oauth2/v2.0/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret, scope: `${baseUrl}/.default` }),
  });
  const { access_token: token } = (await tokenResponse.json()) as { access_token: string };
  const headers = { authorization: `Bearer ${token}`, accept: 'application/json', 'content-type': 'application/json' };
  const graph = async (method: string, path: string, body?: unknown): Promise<unknown> => {
    const response = await fetch(`${baseUrl}/v1.0${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}`);
    return text === '' ? undefined : (JSON.parse(text) as unknown);
  };
  const get = (appId: string) => graph('GET', `/applications(appId='${encodeURIComponent(appId)}')`) as Promise<{ id: string; passwordCredentials: Array<{ keyId: string }> }>;
  return {
    async register(): Promise<{ id: string; appId: string }> {
      const app = (await graph('POST', '/applications', { displayName: 'bench client', signInAudience: 'AzureADMyOrg', tags: ['dcr-bridge:managed'] })) as { id: string; appId: string };
      await graph('POST', `/applications/${app.id}/addPassword`, { passwordCredential: { displayName: 'bench' } });
      await graph('POST', '/servicePrincipals', { appId: app.appId });
      await get(app.appId);
      return app;
    },
    get,
    async rotate(appId: string): Promise<void> {
      const app = await get(appId);
      await graph('POST', `/applications/${app.id}/addPassword`, { passwordCredential: { displayName: 'bench' } });
      for (const password of app.passwordCredentials) await graph('POST', `/applications/${app.id}/removePassword`, { keyId: password.keyId });
    },
    async remove(appId: string): Promise<void> {
      const app = await get(appId);
      await graph('DELETE', `/applications/${app.id}`);
    },
  };
}
