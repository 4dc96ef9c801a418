/**
 * The example driver, for a small generic IdP admin API (test/vendor-specs/example/example-idp-admin.yaml): JSON
 * clients under /clients, IdP-generated secrets (at most two per client, each under its own id), a bearer admin token from a client-credentials token
 * endpoint. Only translation lives here; the kit (src/driver/) gives the admin-call wrapper and its JSON requests, the
 * token fetcher, the ownership mark and gate, the recoveries. `npm run new-driver` copies this file as the start of a
 * new one (docs/writing-a-driver.md).
 */
import {
  type AddedClientSecret,
  type AdminCallSettings,
  type CallSafety,
  checkClientId,
  chosenClientId,
  cleanUpIfApplied,
  clientCredentialsGrant,
  type ClientSecretInfo,
  createAdminCall,
  deleteOwned,
  type DriverFactory,
  type DriverImplementation,
  flatMark,
  foundOrUndefined,
  goneIsDone,
  ownedClientSummary,
  pageOfOwnedClients,
  registeredClient,
  type RegisteredClient,
  requireOwned,
  undoOnFailure,
  usableAnswer,
} from '../src/driver/index.js';
import { requiredEnv, urlEnv } from '../src/env.js';
import { ConflictError } from '../src/errors.js';
import { clientMetadataFromWire, clientMetadataToWire } from '../src/metadata.js';
import { hasStrings } from '../src/records.js';

export interface ExampleDriverOptions extends AdminCallSettings {
  /** Base URL of the IdP. */
  url: string;
  /** The bridge's own admin client at the IdP's token endpoint. */
  clientId: string;
  clientSecret: string;
}

/** A client as the IdP stores it (snake_case RFC 7591 names, plus free-form `metadata` strings). */
type ExampleClient = Record<string, unknown> & {
  client_id: string;
  metadata: Record<string, string>;
  created_at: number;
};

/** The ownership mark, as `dcr_bridge.*` members of the client's `metadata`. */
const mark = flatMark({ prefix: 'dcr_bridge.' });
const isClient = (value: unknown): value is ExampleClient =>
  hasStrings('client_id')(value) && typeof value.metadata === 'object' && value.metadata !== null;
const isSecret = hasStrings('client_secret');
type ExampleSecret = Record<string, unknown> & { id: string; created_at: number };
const isSecretInfo = (value: unknown): value is ExampleSecret =>
  hasStrings('id')(value) && typeof value.created_at === 'number';
const isSecretList = (value: unknown): value is { secrets: ExampleSecret[] } =>
  typeof value === 'object' &&
  value !== null &&
  Array.isArray((value as { secrets?: unknown }).secrets) &&
  (value as { secrets: unknown[] }).secrets.every(isSecretInfo);
/** The IdP's documented limit of secrets per client. */
const SECRET_LIMIT = 2;

export function createExampleDriver(options: ExampleDriverOptions): DriverImplementation {
  const base = options.url.replace(/\/+$/, '');
  const fetchToken = clientCredentialsGrant(`${base}/oauth/token`, {
    client_id: options.clientId,
    client_secret: options.clientSecret,
  });
  const call = createAdminCall({
    host: new URL(base).host,
    fetchToken,
    idpCallPolicy: options.idpCallPolicy,
    onIdpFailure: options.onIdpFailure,
    idpMaxConnections: options.idpMaxConnections,
  });

  /** One admin request over the kit's HTTP client; a non-2xx answer keeps its status for the retry layer and the error mapping. */
  const send = (
    operation: string,
    safety: CallSafety,
    method: string,
    path: string,
    body?: unknown,
  ): Promise<unknown> =>
    call(operation, safety, (signal, token) =>
      call.http.requestJson(`${base}${path}`, { method, token, body, signal }),
    );
  const path = (clientId: string) => `/clients/${encodeURIComponent(clientId)}`;
  const isOwned = (client: ExampleClient) => mark.read(client.metadata) !== undefined;
  const findClient = async (clientId: string) => {
    checkClientId(clientId);
    return foundOrUndefined(
      send('read client', 'idempotent', 'GET', path(clientId)).then((answer) =>
        usableAnswer(answer, isClient, 'a client read'),
      ),
    );
  };
  const ownedClient = async (clientId: string) => requireOwned(await findClient(clientId), isOwned);
  const issueSecret = async (clientId: string) =>
    usableAnswer(
      await send('regenerate secret', 'unsafe', 'POST', `${path(clientId)}/secret`),
      isSecret,
      'a new secret',
    ).client_secret;
  const removeClient = (clientId: string) => goneIsDone(send('delete client', 'idempotent', 'DELETE', path(clientId)));
  const listOwnedSecrets = async (clientId: string): Promise<ClientSecretInfo[]> => {
    await ownedClient(clientId);
    const answer = await send('list secrets', 'idempotent', 'GET', `${path(clientId)}/secrets`);
    return usableAnswer(answer, isSecretList, 'a secret list').secrets.map((secret) => ({
      secretId: secret.id,
      clientId,
      status: 'ACTIVE',
      createdAt: secret.created_at,
    }));
  };
  const removeSecret = (clientId: string, secretId: string) =>
    goneIsDone(
      send('delete secret', 'idempotent', 'DELETE', `${path(clientId)}/secrets/${encodeURIComponent(secretId)}`),
    );
  const limitReached = () =>
    new ConflictError(
      `The identity provider holds at most ${SECRET_LIMIT} secrets per client; revoke one before adding another.`,
    );

  return {
    name: 'example',
    capabilities: { rotationGrace: false, apiAccessGrants: false },

    async registerClient(metadata, context) {
      const clientId = chosenClientId();
      const stamp = mark.create(context);
      const body = { client_id: clientId, ...clientMetadataToWire(metadata), metadata: mark.write(stamp) };
      try {
        // The id is this call's own: a repeat after a lost answer meets a 409 rather than making a second client; if
        // no repeat gets through, whatever the first attempt made is removed.
        const create = async () =>
          usableAnswer(
            await send('create client', 'idempotent', 'POST', '/clients', body),
            (value) => isClient(value) && isSecret(value),
            'a client creation',
          );
        const client = await cleanUpIfApplied(create, () => removeClient(clientId));
        return { ...toRegistered(client), clientSecret: client.client_secret };
      } catch (error) {
        if (!(error instanceof ConflictError)) throw error;
        // The first attempt made the client and its answer, with the only copy of the secret, was lost: adopt the
        // client (this registration's, by its mark) and issue it a secret the caller will hold.
        const adopted = await ownedClient(clientId);
        if (mark.read(adopted.metadata)?.registrationId !== stamp.registrationId) throw error;
        return {
          ...toRegistered(adopted),
          clientSecret: await undoOnFailure(
            () => issueSecret(clientId),
            () => removeClient(clientId),
          ),
        };
      }
    },

    getClient: async (clientId) => toRegistered(await ownedClient(clientId)),

    async updateClient(clientId, metadata, changes) {
      // Replaces the metadata; the mark (with a new standard registration, when the change has one), and whatever
      // else the IdP's operators keep in `metadata`, stays.
      const kept = (await ownedClient(clientId)).metadata;
      const body = {
        ...clientMetadataToWire(metadata),
        metadata: { ...kept, ...(changes?.registration ? mark.write(mark.read(kept)!, changes) : {}) },
      };
      return toRegistered(
        usableAnswer(
          await send('update client', 'idempotent', 'PUT', path(clientId), body),
          isClient,
          'a client update',
        ),
      );
    },

    deleteClient: async (clientId) =>
      deleteOwned(await findClient(clientId), isOwned, async () => void (await removeClient(clientId))),

    // The new secret replaces every secret of the client at once. A lost or unusable answer is an error; repeating the rotation recovers.
    async rotateSecret(clientId) {
      await ownedClient(clientId);
      return { clientId, clientSecret: await issueSecret(clientId), clientSecretExpiresAt: 0 };
    },

    listSecrets: listOwnedSecrets,

    // Under an id chosen here, so a secret made behind a lost answer (its value gone with it) is found and removed.
    async addSecret(clientId): Promise<AddedClientSecret> {
      if ((await listOwnedSecrets(clientId)).length >= SECRET_LIMIT) throw limitReached();
      const secretId = chosenClientId();
      const add = async () =>
        usableAnswer(
          await send('add secret', 'unsafe', 'POST', `${path(clientId)}/secrets`, { id: secretId }),
          (value) => isSecretInfo(value) && isSecret(value),
          'a new secret',
        );
      try {
        const added = await cleanUpIfApplied(add, () => removeSecret(clientId, secretId));
        return { secretId, clientId, status: 'ACTIVE', createdAt: added.created_at, clientSecret: added.client_secret };
      } catch (error) {
        // Another add reached the limit between the list and this call.
        throw error instanceof ConflictError ? limitReached() : error;
      }
    },

    async revokeSecret(clientId, secretId) {
      const secrets = await listOwnedSecrets(clientId);
      if (!secrets.some((secret) => secret.secretId === secretId)) return;
      if (secrets.length === 1)
        throw new ConflictError("This is the client's last secret, so it is not revoked; delete the client instead.");
      await removeSecret(clientId, secretId);
    },

    // The operator's view: the example API lists at most 100 clients and has no paging, so that is what is seen.
    listClients: async (options) => {
      const listed = usableAnswer(
        await send('list clients', 'idempotent', 'GET', '/clients?limit=100'),
        (answer): answer is { clients: ExampleClient[] } =>
          typeof answer === 'object' && answer !== null && Array.isArray((answer as { clients?: unknown }).clients),
        'the client listing',
      );
      return pageOfOwnedClients(listed.clients.filter(isClient), options, (client) => {
        const found = mark.read(client.metadata);
        return found
          ? ownedClientSummary(client.client_id, found, {
              clientName: typeof client.client_name === 'string' ? client.client_name : undefined,
              createdAt: client.created_at,
            })
          : undefined;
      });
    },

    checkReadiness: async () => void (await send('readiness', 'idempotent', 'GET', '/clients?limit=1')),

    close: () => call.close(),
  };
}

function toRegistered(client: ExampleClient): RegisteredClient {
  const metadata = clientMetadataFromWire(client, { grantTypes: ['client_credentials'] });
  const stamp = mark.read(client.metadata);
  return registeredClient(client.client_id, metadata, stamp, { issuedAt: stamp?.issuedAt ?? client.created_at });
}

export const createDriverFromEnv: DriverFactory = async (env, settings) =>
  createExampleDriver({
    url: urlEnv(env, 'EXAMPLE_URL'),
    clientId: requiredEnv(env, 'EXAMPLE_CLIENT_ID', "the client id of the bridge's admin client at the IdP"),
    clientSecret: requiredEnv(env, 'EXAMPLE_CLIENT_SECRET', "the secret of the bridge's admin client"),
    ...settings,
  });
