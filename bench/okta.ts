/**
 * Okta: the bridge with the Okta driver in its OAuth service-app mode, beside the same admin calls made straight to
 * the Okta emulator with an API token.
 */
import { benchDriver, type DirectIdp } from './suite.js';
import { jsonCaller, type BenchOptions, type EmulatorProcess } from './support.js';

export const run = (options: BenchOptions) =>
  benchDriver(
    {
      driver: 'okta',
      title: 'okta (OAuth service app; emulator over TLS on 127.0.0.1, own process)',
      emulator: 'okta',
      direct: directOkta,
      notes: [
        'Okta admin calls per operation (both paths): register 1, get 1 (find), update 2 (find, replace), rotate 5 (find, list, create, deactivate, delete), delete 3 (find, deactivate, delete)',
      ],
    },
    options,
  );

async function directOkta(emulator: EmulatorProcess): Promise<DirectIdp> {
  const okta = jsonCaller(emulator.url, { authorization: `SSWS ${emulator.direct.apiToken!}` });
  const find = async (id: string) =>
    (
      (await okta('GET', `/api/v1/apps?filter=${encodeURIComponent(`id eq "${id}"`)}&limit=2`)).body as Array<{
        id: string;
      }>
    )[0]!;
  const app = (label: string) => ({
    name: 'oidc_client',
    signOnMode: 'OPENID_CONNECT',
    label,
    credentials: { oauthClient: { token_endpoint_auth_method: 'client_secret_basic', autoKeyRotation: true } },
    settings: {
      oauthClient: {
        application_type: 'service',
        grant_types: ['client_credentials'],
        response_types: ['token'],
        redirect_uris: [],
      },
    },
  });
  return {
    register: async () =>
      ((await okta('POST', '/api/v1/apps?activate=true', app('bench client'))).body as { id: string }).id,
    get: find,
    async update(id) {
      await find(id);
      await okta('PUT', `/api/v1/apps/${id}`, app('bench client renamed'));
    },
    async rotate(id) {
      await find(id);
      const base = `/api/v1/apps/${id}/credentials/secrets`;
      const [old] = (await okta('GET', base)).body as Array<{ id: string }>;
      await okta('POST', base, {});
      await okta('POST', `${base}/${old!.id}/lifecycle/deactivate`);
      await okta('DELETE', `${base}/${old!.id}`);
    },
    async remove(id) {
      await find(id);
      await okta('POST', `/api/v1/apps/${id}/lifecycle/deactivate`);
      await okta('DELETE', `/api/v1/apps/${id}`);
    },
  };
}
