/**
 * Okta benchmark: register, get, rotate and delete through the bridge (the real app on 127.0.0.1, the Okta driver
 * in its OAuth service-app mode) side by side with the same admin calls made straight to the Okta emulator with
 * fetch, plus the admin token requests the bridge made per 1,000 operations.
 */
import { createOktaDriver } from '../drivers/okta.js';
import { startOktaEmulator } from '../test/emulators/okta.js';
import { compareOperations, jsonCaller, printComparison, startBridge, tokenEconomy } from './support.js';

const CONCURRENCY = 16;
const COUNT = 200;
const BOUND_MS = 4000;

export async function run(): Promise<void> {
  const okta = await startOktaEmulator({ tokenLifetimeSeconds: 3600, rateLimitPerMinute: 1_000_000 });
  const { clientId, privateKeyPem, keyId } = okta.serviceApp;
  const driver = createOktaDriver({ orgUrl: okta.emulator.url, credentials: { clientId, privateKey: privateKeyPem, keyId } });
  const bridge = await startBridge(driver);
  const direct = directOkta(okta.emulator.url, okta.apiToken);
  try {
    const { rows, bridgeOperations } = await compareOperations(bridge, direct, { concurrency: CONCURRENCY, count: COUNT, durationMs: BOUND_MS });
    printComparison('okta (OAuth service app; emulator over TLS on 127.0.0.1)', rows, [
      tokenEconomy(okta.tokenRequests(), bridgeOperations),
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
  const okta = jsonCaller(orgUrl, headers);
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
