/**
 * Keycloak benchmark: register, get, rotate and delete through the bridge (the real app on 127.0.0.1 with the
 * Keycloak driver) side by side with the same admin calls made straight to the Keycloak emulator with fetch, plus the
 * admin token requests the bridge made per 1,000 operations.
 */
import { createKeycloakDriver } from '../drivers/keycloak.js';
import { compareOperations, printComparison, startBridge, startEmulatorInWorker, tokenEconomy, trustTestCa } from './support.js';

const CONCURRENCY = 16;
const COUNT = 400;
const SEQUENTIAL_COUNT = 150;
const BOUND_MS = 4_000;
const TOKEN_ROUTE = 'POST /realms/:realm/protocol/openid-connect/token';

export async function run(): Promise<void> {
  trustTestCa();
  const keycloak = await startEmulatorInWorker('keycloak');
  const env = keycloak.driverEnv;
  const account = { clientId: env.KEYCLOAK_CLIENT_ID!, clientSecret: env.KEYCLOAK_CLIENT_SECRET! };
  const driver = createKeycloakDriver({ url: keycloak.url, realm: env.KEYCLOAK_REALM!, ...account, rotationGraceSeconds: 0 });
  const bridge = await startBridge(driver);
  const direct = await directKeycloak(keycloak.url, env.KEYCLOAK_REALM!, account);
  try {
    const tokenRequestsBefore = await keycloak.requestCount(TOKEN_ROUTE);
    const concurrent = await compareOperations(bridge, direct, { concurrency: CONCURRENCY, count: COUNT, durationMs: BOUND_MS });
    const sequential = await compareOperations(bridge, direct, { concurrency: 1, count: SEQUENTIAL_COUNT, durationMs: BOUND_MS });
    const tokenRequests = (await keycloak.requestCount(TOKEN_ROUTE)) - tokenRequestsBefore;
    printComparison(`keycloak, ${CONCURRENCY} concurrent (emulator on its own thread, TLS on 127.0.0.1)`, concurrent.rows);
    printComparison('keycloak, one at a time (what the bridge adds without queueing behind other requests)', sequential.rows, [
      tokenEconomy(tokenRequests, concurrent.bridgeOperations + sequential.bridgeOperations),
      'Keycloak admin calls per operation (both paths): register 2 (create, read secret), get 1 (find), rotate 3 (find, regenerate, drop rotated), delete 2 (find, delete)',
    ]);
  } finally {
    await bridge.close();
    await driver.close();
    await keycloak.stop();
  }
}

/** The admin calls the driver makes for each operation, written out with fetch and one service-account token. */
async function directKeycloak(baseUrl: string, realm: string, account: { clientId: string; clientSecret: string }) {
  const tokenResponse = await fetch(`${baseUrl}/realms/${realm}/protocol/openid-connect/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${account.clientId}:${account.clientSecret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: 'grant_type=client_credentials',
  });
  const { access_token: token } = (await tokenResponse.json()) as { access_token: string };
  const clients = `${baseUrl}/admin/realms/${encodeURIComponent(realm)}/clients`;
  const admin = async (method: string, url: string, body?: unknown): Promise<Response> => {
    const response = await fetch(url, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`${method} answered ${response.status}`);
    return response;
  };
  const idOf = async (clientId: string): Promise<string> => {
    const found = (await (await admin('GET', `${clients}?clientId=${encodeURIComponent(clientId)}`)).json()) as Array<{ id: string }>;
    return found[0]!.id;
  };
  let created = 0;
  return {
    async register(): Promise<string> {
      const clientId = `direct-${process.pid}-${created++}`;
      const response = await admin('POST', clients, {
        clientId,
        name: 'bench client',
        serviceAccountsEnabled: true,
        standardFlowEnabled: false,
        attributes: { 'dcr-bridge.managed': 'true' },
      });
      const id = response.headers.get('location')!.split('/').pop()!;
      await (await admin('GET', `${clients}/${id}/client-secret`)).json();
      return clientId;
    },
    async get(clientId: string): Promise<void> {
      await idOf(clientId);
    },
    async rotate(clientId: string): Promise<void> {
      const id = await idOf(clientId);
      await (await admin('POST', `${clients}/${id}/client-secret`)).json();
      await admin('DELETE', `${clients}/${id}/client-secret/rotated`);
    },
    async remove(clientId: string): Promise<void> {
      await admin('DELETE', `${clients}/${await idOf(clientId)}`);
    },
  };
}
