/**
 * Okta benchmark: register, get, rotate and delete through the bridge (the real app on 127.0.0.1, the Okta driver
 * in its OAuth service-app mode) side by side with the same admin calls made straight to the Okta emulator with
 * fetch, plus the admin token requests the bridge made per 1,000 operations.
 */
import { createOktaDriver } from '../drivers/okta.js';
import { startOktaEmulator } from '../test/emulators/okta.js';
import { measure, printComparison, startBridge, type ComparisonRow } from './support.js';

const CONCURRENCY = 16;
const COUNT = 200;
const BOUND_MS = 4000;
const serviceClient = { client_name: 'bench client', grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_basic' };

export async function run(): Promise<void> {
  const okta = await startOktaEmulator({ tokenLifetimeSeconds: 3600, rateLimitPerMinute: 1_000_000 });
  const { clientId, privateKeyPem, keyId } = okta.serviceApp;
  const driver = createOktaDriver({ orgUrl: okta.emulator.url, credentials: { clientId, privateKey: privateKeyPem, keyId } });
  const bridge = await startBridge(driver);
  const direct = directOkta(okta.emulator.url, okta.apiToken);
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
    // One rotation per client at a time: the same client rotated twice at once is a race at Okta too.
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
    printComparison('okta (OAuth service app; emulator over TLS on 127.0.0.1)', rows, [
      `admin token requests: ${okta.tokenRequests()} for ${bridgeOperations} bridge operations = ${((okta.tokenRequests() / bridgeOperations) * 1000).toFixed(2)} per 1,000`,
      `Okta admin calls per bridge operation: register 1, get 1, rotate 5 (find, list, create, deactivate, delete), delete 3 (find, deactivate, delete)`,
    ]);
  } finally {
    await bridge.close();
    await driver.close();
    await okta.stop();
  }
}

/** The same Okta admin calls the driver makes for each operation, written out with fetch and an API token. */
function directOkta(orgUrl: string, apiToken: string) {
  const headers = { Authorization: `SSWS ${apiToken}`, Accept: 'application/json', 'Content-Type': 'application/json' };
  const okta = async (method: string, path: string, body?: unknown): Promise<unknown> => {
    const response = await fetch(`${orgUrl}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}`);
    return text === '' ? undefined : (JSON.parse(text) as unknown);
  };
  const find = (id: string) => okta('GET', `/api/v1/apps?filter=${encodeURIComponent(`id eq "${id}"`)}&limit=2`);
  return {
    async register(): Promise<string> {
      const app = (await okta('POST', '/api/v1/apps?activate=true', {
        name: 'oidc_client',
        signOnMode: 'OPENID_CONNECT',
        label: 'bench client',
        credentials: { oauthClient: { token_endpoint_auth_method: 'client_secret_basic', autoKeyRotation: true } },
        settings: { oauthClient: { application_type: 'service', grant_types: ['client_credentials'], response_types: ['token'], redirect_uris: [] } },
      })) as { id: string };
      return app.id;
    },
    get: find,
    async rotate(id: string): Promise<void> {
      await find(id);
      const base = `/api/v1/apps/${id}/credentials/secrets`;
      const [old] = (await okta('GET', base)) as Array<{ id: string }>;
      await okta('POST', base, {});
      await okta('POST', `${base}/${old!.id}/lifecycle/deactivate`);
      await okta('DELETE', `${base}/${old!.id}`);
    },
    async remove(id: string): Promise<void> {
      await find(id);
      await okta('POST', `/api/v1/apps/${id}/lifecycle/deactivate`);
      await okta('DELETE', `/api/v1/apps/${id}`);
    },
  };
}
