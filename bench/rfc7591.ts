/**
 * RFC 7591/7592: the bridge with the rfc7591 driver (its SQLite state store in a fresh data directory per run) in front
 * of node-oidc-provider run as the tests run it (a server of its own, test/rfc7591/oidc-provider.ts), beside the same
 * registration and management calls made straight to the provider. node-oidc-provider keeps a client's secret on an
 * RFC 7592 update, so the bridge refuses every rotation with a 409 after its read and update: the rotate row counts
 * them failed, and its CPU is that of a refused rotation; the direct rotate makes the same read and update.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchDriver, type DirectIdp } from './suite.js';
import type { BenchOptions, EmulatorProcess } from './support.js';

export const run = (options: BenchOptions) =>
  benchDriver(
    {
      driver: 'rfc7591',
      title: 'rfc7591 (node-oidc-provider over HTTP on 127.0.0.1, own process; SQLite state store)',
      emulator: 'rfc7591',
      async prepareRun() {
        const dataDir = await mkdtemp(join(tmpdir(), 'dcr-bench-rfc7591-'));
        return {
          env: { DCR_DATA_DIR: dataDir },
          cleanup: () => rm(dataDir, { recursive: true, force: true }),
        };
      },
      direct: directRfc7591,
      notes: [
        'provider calls per operation (both paths): register 1 (POST /reg), get 1 (GET), update 1 (PUT, a new registration access token kept), rotate 2 (GET, PUT; the bridge then answers 409: node-oidc-provider keeps the secret), delete 1 (DELETE)',
        'the bridge also writes the SQLite store: register 1 insert, update and rotate 1 replace (the rotated token), delete 1 remove; "emu" is the provider process',
      ],
    },
    options,
  );

async function directRfc7591(emulator: EmulatorProcess): Promise<DirectIdp> {
  const { registrationEndpoint, initialAccessToken } = emulator.direct;
  /** Each client's management pair, replaced when the provider rotates the token (on every update). */
  const held = new Map<string, { token: string; uri: string }>();
  const call = async (url: string, method: string, token: string, body?: unknown) => {
    const answer = await fetch(url, {
      method,
      headers: {
        accept: 'application/json',
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (!answer.ok) throw new Error(`${method} answered ${answer.status}`);
    return answer.status === 204 ? {} : ((await answer.json()) as Record<string, unknown>);
  };
  const client = {
    client_name: 'bench client',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
  };
  const pair = (clientId: string) => held.get(clientId) ?? { token: '', uri: '' };
  const update = async (clientId: string, name: string) => {
    const { token, uri } = pair(clientId);
    const answer = await call(uri, 'PUT', token, { ...client, client_id: clientId, client_name: name });
    if (typeof answer.registration_access_token === 'string')
      held.set(clientId, { token: answer.registration_access_token, uri });
  };
  return {
    async register() {
      const answer = await call(registrationEndpoint!, 'POST', initialAccessToken!, client);
      const clientId = String(answer.client_id);
      held.set(clientId, {
        token: String(answer.registration_access_token),
        uri: String(answer.registration_client_uri),
      });
      return clientId;
    },
    get: (clientId) => call(pair(clientId).uri, 'GET', pair(clientId).token),
    update: (clientId) => update(clientId, 'bench client renamed'),
    async rotate(clientId) {
      await call(pair(clientId).uri, 'GET', pair(clientId).token);
      await update(clientId, 'bench client renamed');
    },
    async remove(clientId) {
      await call(pair(clientId).uri, 'DELETE', pair(clientId).token);
      held.delete(clientId);
    },
  };
}
