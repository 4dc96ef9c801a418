/**
 * Entra benchmark: register, get, rotate and delete through the bridge (the real app on 127.0.0.1, the Entra driver
 * with MSAL and Graph) side by side with the same Graph calls made straight to the Entra emulator with fetch, plus
 * the admin token requests the bridge made per 1,000 operations.
 */
import { createEntraDriver } from '../drivers/entra.js';
import { compareOperations, jsonCaller, printComparison, startBridge, startEmulatorInWorker, tokenEconomy, trustTestCa } from './support.js';

const CONCURRENCY = 16;
const COUNT = 200;
const BOUND_MS = 4000;

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
  try {
    const tokensBefore = await tokenRequests();
    const { rows, bridgeOperations } = await compareOperations(bridge, direct, { concurrency: CONCURRENCY, count: COUNT, durationMs: BOUND_MS });
    printComparison('entra (MSAL client credentials + Graph v1.0; emulator over TLS on 127.0.0.1, own thread)', rows, [
      tokenEconomy((await tokenRequests()) - tokensBefore, bridgeOperations),
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
  const graph = jsonCaller(`${baseUrl}/v1.0`, headers);
  const get = (appId: string) => graph('GET', `/applications(appId='${encodeURIComponent(appId)}')`) as Promise<{ id: string; passwordCredentials: Array<{ keyId: string }> }>;
  return {
    async register(): Promise<string> {
      const app = (await graph('POST', '/applications', { displayName: 'bench client', signInAudience: 'AzureADMyOrg', tags: ['dcr-bridge:managed'] })) as { id: string; appId: string };
      await graph('POST', `/applications/${app.id}/addPassword`, { passwordCredential: { displayName: 'bench' } });
      await graph('POST', '/servicePrincipals', { appId: app.appId });
      await get(app.appId);
      return app.appId;
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
