/**
 * Keycloak: the bridge with the Keycloak driver, beside the same admin calls made straight to the Keycloak emulator
 * with one service-account token.
 */
import { benchDriver, type DirectIdp } from './suite.js';
import { jsonCaller, type BenchOptions, type EmulatorProcess } from './support.js';

export const run = (options: BenchOptions) =>
  benchDriver(
    {
      driver: 'keycloak',
      title: 'keycloak (service account; emulator over TLS on 127.0.0.1, own process)',
      emulator: 'keycloak',
      direct: directKeycloak,
      notes: [
        'Keycloak admin calls per operation (both paths): register 2 (create, read secret), get 1 (find), update 2 (find, update), rotate 3 (find, regenerate, drop rotated), delete 2 (find, delete)',
      ],
    },
    options,
  );

async function directKeycloak(emulator: EmulatorProcess): Promise<DirectIdp> {
  const { realm, clientId: accountId, clientSecret } = emulator.direct;
  const tokenResponse = await fetch(`${emulator.url}/realms/${realm}/protocol/openid-connect/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${accountId}:${clientSecret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: 'grant_type=client_credentials',
  });
  const { access_token: token } = (await tokenResponse.json()) as { access_token: string };
  const admin = jsonCaller(`${emulator.url}/admin/realms/${encodeURIComponent(realm!)}`, {
    authorization: `Bearer ${token}`,
  });
  const idOf = async (clientId: string) =>
    ((await admin('GET', `/clients?clientId=${encodeURIComponent(clientId)}`)).body as Array<{ id: string }>)[0]!.id;
  let created = 0;
  return {
    async register() {
      const clientId = `direct-${process.pid}-${created++}`;
      const answer = await admin('POST', '/clients', {
        clientId,
        name: 'bench client',
        serviceAccountsEnabled: true,
        standardFlowEnabled: false,
        attributes: { 'dcr-bridge.managed': 'true' },
      });
      const id = String(answer.headers.location).split('/').pop()!;
      await admin('GET', `/clients/${id}/client-secret`);
      return clientId;
    },
    get: idOf,
    async update(clientId) {
      await admin('PUT', `/clients/${await idOf(clientId)}`, { clientId, name: 'bench client renamed' });
    },
    async rotate(clientId) {
      const id = await idOf(clientId);
      await admin('POST', `/clients/${id}/client-secret`);
      await admin('DELETE', `/clients/${id}/client-secret/rotated`);
    },
    async remove(clientId) {
      await admin('DELETE', `/clients/${await idOf(clientId)}`);
    },
  };
}
