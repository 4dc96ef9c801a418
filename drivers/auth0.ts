/**
 * Auth0: each client is an Auth0 application (`/api/v2/clients`) — created, read, updated, rotated and deleted on the
 * wire (`managementCall`: the kit's pooled client, the Management API token, JSON), listed through the `auth0` SDK's
 * ManagementClient, loaded with the first listing — marked as the bridge's in `client_metadata` (string values, at most 10 keys of 255
 * characters), which also keeps the RFC 7591 fields Auth0 has no field for. With `AUTH0_AUDIENCE`, a client that
 * uses client credentials is granted that API (a client grant); Konnect's registration events grant and revoke only
 * the APIs of `AUTH0_ALLOWED_AUDIENCES`, never the Management API. Auth0 holds one secret per client, so rotation
 * (`rotate-secret`) is immediate, and of the multiple-credentials calls only the listing does something.
 */
import type * as Auth0Sdk from 'auth0';
import { ConfigurationError, envValue, requiredEnv } from '../src/env.js';
import {
  ClientNotFoundError,
  ConflictError,
  IdpError,
  InvalidClientMetadataError,
  InvalidRequestError,
  type BridgeError,
} from '../src/errors.js';
import { fetchDiscoveryJson } from '../src/discovery.js';
import { hasStrings, isRecordArray, withoutUndefined } from '../src/records.js';
import {
  type AdminCallSettings,
  type CallSafety,
  checkClientId,
  checkHasSecret,
  cleanUpIfApplied,
  clientCredentialsGrant,
  type ClientMetadata,
  type ClientSecretInfo,
  createAdminCall,
  deleteOwned,
  derivedSecretId,
  type DriverFactory,
  type DriverImplementation,
  findByRegistration,
  flatMark,
  foundOrUndefined,
  goneIsDone,
  loadSdk,
  members,
  openRegistrations,
  ownedClientSummary,
  pageOfOwnedClients,
  pages,
  regeneratedSecret,
  registeredClient,
  type RegisteredClient,
  requireOwned,
  rereadIfUnusable,
  revokeListedSecret,
  secretLimitReached,
  statusFailure,
  undoOnFailure,
  usableAnswer,
} from '../src/driver/index.js';

const AUTH0_GRANT_TYPES = new Set([
  'authorization_code',
  'implicit',
  'refresh_token',
  'client_credentials',
  'password',
  'urn:ietf:params:oauth:grant-type:device_code',
]);
const AUTH0_AUTH_METHODS = new Set(['none', 'client_secret_basic', 'client_secret_post']);
const INTERACTIVE_GRANTS = new Set([
  'authorization_code',
  'implicit',
  'password',
  'urn:ietf:params:oauth:grant-type:device_code',
]);
/** With the 5 RFC 7591 keys, the mark's 5 reach Auth0's 10 `client_metadata` keys (standard DCR: its registration, no portal ids). */
const MARK = flatMark({ prefix: 'dcr_bridge_', omit: ['portal', 'organizationId'] });

export interface Auth0DriverOptions extends AdminCallSettings {
  /** The tenant's domain, e.g. `example.eu.auth0.com` (no scheme). */
  domain: string;
  /** The bridge's machine-to-machine application, granted the Management API. */
  clientId: string;
  clientSecret: string;
  /** An API every client that uses client credentials is granted at registration. */
  audience?: string;
  /** Scopes of that grant. */
  defaultScopes?: string[];
  /** The APIs Konnect's `add_registration` may grant (`AUTH0_ALLOWED_AUDIENCES`); default only `audience`. */
  allowedAudiences?: string[];
}

/** The parts of an Auth0 client the bridge reads. */
interface Auth0Client {
  client_id: string;
  client_secret?: string;
  name?: string;
  app_type?: string;
  callbacks?: string[];
  allowed_logout_urls?: string[];
  grant_types?: string[];
  token_endpoint_auth_method?: string;
  logo_uri?: string;
  client_metadata?: Record<string, unknown>;
}

type RequestOptions = { abortSignal: AbortSignal; maxRetries: 0; timeoutInSeconds: number };
export function describeAuth0Error(error: unknown) {
  const { statusCode, rawResponse, name } = error as {
    statusCode?: unknown;
    rawResponse?: { headers?: Headers };
    name?: unknown;
  };
  return typeof statusCode === 'number'
    ? statusFailure(statusCode, rawResponse?.headers)
    : name === 'ManagementTimeoutError'
      ? { kind: 'timeout' as const }
      : undefined;
}

const isClient = (value: unknown): value is Auth0Client => hasStrings('client_id')(value);
const isClientList = (value: unknown): value is Auth0Client[] => isRecordArray(value) && value.every(isClient);
const isOwned = (client: Auth0Client) => MARK.read(client.client_metadata) !== undefined;

/** The Management API itself is never grantable: a client holding it could administer the whole tenant. */
export const managementAudience = (domain: string) => `https://${domain}/api/v2/`;

export function createAuth0Driver(options: Auth0DriverOptions): DriverImplementation {
  const allowedAudiences = options.allowedAudiences ?? (options.audience ? [options.audience] : []);
  if (
    [...allowedAudiences, options.audience].some(
      (audience) => audience?.replace(/\/*$/, '/') === managementAudience(options.domain),
    )
  ) {
    throw new ConfigurationError(
      'AUTH0_ALLOWED_AUDIENCES',
      `must not name the Management API (${managementAudience(options.domain)}), nor AUTH0_AUDIENCE`,
    );
  }
  const adminCall = createAdminCall({
    ...options,
    host: options.domain,
    describe: describeAuth0Error,
    fetchToken: clientCredentialsGrant(`https://${options.domain}/oauth/token`, {
      client_id: options.clientId,
      client_secret: options.clientSecret,
      audience: managementAudience(options.domain),
    }),
  });
  const timeoutInSeconds = adminCall.policy.timeoutMs / 1000;
  /**
   * The SDK, for the client listing it pages: from its one-file bundle (src/driver/call/sdk.ts), on the first listing
   * rather than at start (the bundle is most of this driver's start). Its public `fetch` option sends its requests
   * through the kit's pool.
   */
  let sdk: Auth0Sdk.ManagementClient | undefined;
  const managementClient = () => {
    if (sdk) return sdk;
    const { ManagementClient } = loadSdk<typeof Auth0Sdk>('auth0');
    sdk = new ManagementClient({
      domain: options.domain,
      token: () => adminCall.tokens!.get(),
      maxRetries: 0,
      timeoutInSeconds,
      fetch: adminCall.http.fetch,
    });
    return sdk;
  };

  const managementApi = `https://${options.domain}/api/v2`;
  /**
   * One Management API call on the wire: the kit's pooled client, the admin token as the bearer, the body as JSON, a
   * non-2xx answer an `IdpStatusError`; `answer` checks the JSON inside the attempt.
   */
  function managementCall<T = unknown>(
    operation: string,
    safety: CallSafety,
    method: string,
    path: string,
    { body, answer }: { body?: Record<string, unknown>; answer?: (value: unknown) => T } = {},
  ): Promise<T> {
    const url = `${managementApi}${path}`;
    return adminCall(operation, safety, async (signal, token) => {
      const json = await adminCall.http.requestJson(url, {
        method,
        token,
        signal,
        ...(body === undefined ? {} : { body }),
        // An answer the driver does not read (a delete, a lifecycle step) is not parsed, as the SDK did not.
        answerUnused: !answer,
      });
      return answer ? answer(json) : (json as T);
    });
  }
  const clientPath = (clientId: string) => `/clients/${encodeURIComponent(clientId)}`;

  /** One admin call: the SDK's retries off, the call layer's signal on. */
  const call = <T>(
    operation: string,
    safety: CallSafety,
    attempt: (request: RequestOptions) => Promise<T>,
  ): Promise<T> =>
    adminCall(operation, safety, (abortSignal) => attempt({ abortSignal, maxRetries: 0, timeoutInSeconds }));

  async function findClient(clientId: string): Promise<Auth0Client | undefined> {
    checkClientId(clientId);
    return foundOrUndefined(
      managementCall('read client', 'idempotent', 'GET', clientPath(clientId), {
        answer: (value) => usableAnswer(value, isClient, 'the client lookup'),
      }),
    );
  }

  const findOwnedClient = async (clientId: string) => requireOwned(await findClient(clientId), isOwned);

  /** The bridge's own client, and the audience of its registration event: the event's, else `AUTH0_AUDIENCE`; not allowed is 400. */
  async function grantableFor(clientId: string, access: { audience?: string }): Promise<string | undefined> {
    await findOwnedClient(clientId);
    const audience = access.audience ?? options.audience;
    if (audience !== undefined && !allowedAudiences.includes(audience))
      throw new InvalidRequestError('This audience is not one the bridge may grant (AUTH0_ALLOWED_AUDIENCES).');
    return audience;
  }

  async function revokeGrants(clientId: string, audience?: string): Promise<void> {
    // The first 100 (checkpoint pagination): a client has a grant per API at most.
    const query = new URLSearchParams({ client_id: clientId, ...(audience ? { audience } : {}), take: '100' });
    const grants = await managementCall('list grants', 'idempotent', 'GET', `/client-grants?${query}`, {
      answer: (value) =>
        usableAnswer(
          (value as { client_grants?: unknown } | undefined)?.client_grants,
          (value): value is Array<{ id?: string }> => isRecordArray(value),
          'the grant listing',
        ),
    });
    for (const grant of grants)
      if (grant.id)
        await managementCall(
          'revoke api access',
          'idempotent',
          'DELETE',
          `/client-grants/${encodeURIComponent(grant.id)}`,
        );
  }

  /** Grants the API; a grant that already exists is fine (Auth0 answers 409), so a repeated create is harmless. */
  const ensureGrant = (clientId: string, audience: string, noSuchApi: BridgeError) =>
    existingIsDone(
      managementCall('grant api access', 'idempotent', 'POST', '/client-grants', {
        body: { client_id: clientId, audience, scope: options.defaultScopes ?? [] },
      }),
    ).catch((error: unknown) => {
      throw error instanceof ClientNotFoundError ? noSuchApi : error;
    });

  const removeClient = async (clientId: string) => {
    await revokeGrants(clientId);
    await goneIsDone(managementCall('delete client', 'idempotent', 'DELETE', clientPath(clientId)));
  };

  const listClients = (operation: string, page: number, perPage: number, fields: string) => {
    // Loaded before the call: a bundle that fails to load is no failed attempt at the IdP.
    const auth0 = managementClient();
    return call(operation, 'idempotent', async (request) =>
      usableAnswer(
        (
          await auth0.clients.list(
            { page, per_page: perPage, include_totals: true, fields, include_fields: true },
            request,
          )
        ).data,
        isClientList,
        'the client listing',
      ),
    );
  };

  const markedClients = (operation: string, maxPages: number) =>
    pages.byOffset(100, maxPages, (offset, limit) =>
      listClients(operation, offset / limit, limit, 'client_id,client_metadata'),
    );

  /** After a create whose answer was lost: the client may exist, found by the registration id set before the create. */
  async function removeUnconfirmedRegistration(registrationId: string): Promise<void> {
    const lost = await findByRegistration(markedClients('find unconfirmed client', 20), registrationId, (client) =>
      MARK.read(client.client_metadata),
    );
    if (lost) await removeClient(lost.client_id);
  }

  return {
    name: 'auth0',
    capabilities: { rotationGrace: false, apiAccessGrants: true },

    async registerClient(metadata, context) {
      const mark = MARK.create(context);
      const body = toAuth0Client(metadata, MARK.write(mark), context.applicationDescription);
      // A client without the credentials it needs is an unusable answer: the client found by its mark is removed.
      const withCredentials = (value: unknown): value is Auth0Client =>
        isClient(value) && (metadata.tokenEndpointAuthMethod === 'none' || typeof value.client_secret === 'string');
      const created = await cleanUpIfApplied(
        () =>
          managementCall('register client', 'unsafe', 'POST', '/clients', {
            body,
            answer: (value) => usableAnswer(value, withCredentials, 'the client creation'),
          }),
        () => removeUnconfirmedRegistration(mark.registrationId),
      );
      const clientId = created.client_id;
      if (options.audience && metadata.grantTypes.includes('client_credentials')) {
        await undoOnFailure(
          () =>
            ensureGrant(
              clientId,
              options.audience!,
              new IdpError('Auth0 has no API with the configured AUTH0_AUDIENCE.'),
            ),
          () => removeClient(clientId),
        );
      }
      return { ...toRegisteredClient(created), clientSecret: created.client_secret ?? '' };
    },

    getClient: async (clientId) => toRegisteredClient(await findOwnedClient(clientId)),

    async updateClient(clientId, metadata, changes) {
      const existing = await findOwnedClient(clientId);
      const owned = Object.fromEntries(
        Object.entries(members.strings(existing.client_metadata)).filter(([key]) => MARK.owns(key)),
      );
      const kept = { ...owned, ...(changes?.registration ? MARK.write(MARK.read(owned)!, changes) : {}) };
      const body = toAuth0Client(metadata, kept, undefined);
      // Auth0 merges client_metadata on update; a key is removed by sending it as null.
      const update = {
        ...body,
        client_metadata: members.replacing(existing.client_metadata, body.client_metadata, null),
      };
      const updated = () =>
        managementCall('update client', 'idempotent', 'PATCH', clientPath(clientId), {
          body: update,
          answer: (value) => usableAnswer(value, isClient, 'the client update'),
        });
      return toRegisteredClient(await rereadIfUnusable(updated, () => findOwnedClient(clientId)));
    },

    deleteClient: async (clientId) =>
      deleteOwned(await findClient(clientId), isOwned, (client) => removeClient(client.client_id)),

    async rotateSecret(clientId) {
      const client = await findOwnedClient(clientId);
      checkHasSecret(client.token_endpoint_auth_method ?? 'client_secret_post');
      // Never repeated (a second rotate would replace the secret the first issued): after an unusable answer, the new one is re-read.
      const rotate = async () =>
        (
          await managementCall('rotate secret', 'unsafe', 'POST', `${clientPath(clientId)}/rotate-secret`, {
            answer: (value) => usableAnswer(value, hasStrings('client_secret'), 'the secret rotation'),
          })
        ).client_secret;
      const rotated = await regeneratedSecret(
        rotate,
        client.client_secret,
        async () => (await findClient(clientId))?.client_secret,
        { after: 'unusable answer' },
      );
      return { clientId, clientSecret: rotated, clientSecretExpiresAt: 0 };
    },

    // Multiple credentials: Auth0 holds one secret per client, so there is one to list and none to add or revoke.
    listSecrets: async (clientId) => secretsOf(await findOwnedClient(clientId)),

    async addSecret(clientId) {
      const client = await findOwnedClient(clientId);
      checkHasSecret(client.token_endpoint_auth_method ?? 'client_secret_post');
      throw secretLimitReached('Auth0 holds one client secret per application (limit 1)');
    },

    revokeSecret: async (clientId, secretId) =>
      revokeListedSecret(secretsOf(await findOwnedClient(clientId)), secretId, async () => {
        throw new IdpError('Auth0 cannot remove the one secret of an application.');
      }),

    listOpenRegistrations: (limit) =>
      openRegistrations(
        markedClients('list open registrations', 50),
        limit,
        (client) => MARK.read(client.client_metadata),
        (client) => client.client_id,
      ),

    // The operator's view: the tenant's clients that carry the mark, 100 a call, in Auth0's order.
    listClients: (options) =>
      pageOfOwnedClients(
        pages.byOffset(100, 1_000, (offset, limit) =>
          listClients('list clients', offset / limit, limit, 'client_id,client_metadata,name'),
        ),
        options,
        (client) => {
          const mark = MARK.read(client.client_metadata);
          return mark ? ownedClientSummary(client.client_id, mark, { clientName: client.name }) : undefined;
        },
      ),

    fetchDiscoveryDocument: () =>
      fetchDiscoveryJson(
        adminCall.http,
        `https://${options.domain}/.well-known/openid-configuration`,
        adminCall.policy.timeoutMs,
      ),

    checkReadiness: async () =>
      void (await managementCall('readiness', 'idempotent', 'GET', '/clients?page=0&per_page=1&fields=client_id', {
        answer: (value) => usableAnswer(value, isClientList, 'the client listing'),
      })),

    async grantApiAccess(clientId, access) {
      const audience = await grantableFor(clientId, access);
      if (audience)
        await ensureGrant(clientId, audience, new InvalidRequestError('Auth0 has no API with this audience.'));
    },

    async revokeApiAccess(clientId, access) {
      const audience = await grantableFor(clientId, access);
      if (audience) await revokeGrants(clientId, audience);
    },

    close: () => adminCall.close(),
  };
}

function toAuth0Client(metadata: ClientMetadata, mark: Record<string, string>, description: string | undefined) {
  const unsupported = metadata.grantTypes.find((grant) => !AUTH0_GRANT_TYPES.has(grant));
  if (unsupported) throw new InvalidClientMetadataError(`Auth0 does not support the grant type ${unsupported}.`);
  if (!AUTH0_AUTH_METHODS.has(metadata.tokenEndpointAuthMethod))
    throw new InvalidClientMetadataError(
      'Auth0 supports the token endpoint auth methods client_secret_basic, client_secret_post and none.',
    );
  if (metadata.clientName !== undefined && /[<>]/.test(metadata.clientName))
    throw new InvalidClientMetadataError('Auth0 does not allow < or > in a client name.');
  const clientMetadata: Record<string, string> = {
    ...mark,
    ...withoutUndefined({
      response_types: members.join(metadata.responseTypes, ' '),
      scope: metadata.scope,
      client_uri: metadata.clientUri,
      contacts: members.join(metadata.contacts, ' '),
      jwks_uri: metadata.jwksUri,
    }),
  };
  members.refuseOverlong(clientMetadata, 255, 'Auth0');
  return {
    name: metadata.clientName ?? 'dcr-bridge client',
    ...(description ? { description: description.slice(0, 140) } : {}),
    app_type: appType(metadata),
    callbacks: metadata.redirectUris,
    allowed_logout_urls: metadata.postLogoutRedirectUris ?? [],
    grant_types: metadata.grantTypes,
    token_endpoint_auth_method: metadata.tokenEndpointAuthMethod,
    logo_uri: metadata.logoUri ?? '',
    client_metadata: clientMetadata,
  };
}

/** Auth0's application type, derived from the grants (RFC 7591 only knows web and native). */
function appType(metadata: ClientMetadata): string {
  if (metadata.applicationType === 'native') return 'native';
  if (!metadata.grantTypes.some((grant) => INTERACTIVE_GRANTS.has(grant))) return 'non_interactive';
  return metadata.tokenEndpointAuthMethod === 'none' ? 'spa' : 'regular_web';
}

/** The one secret Auth0 holds for a client, under an id derived from it (Auth0 names none); none for a public client. */
const secretsOf = (client: Auth0Client): ClientSecretInfo[] =>
  client.client_secret
    ? [
        {
          secretId: derivedSecretId(client.client_id, client.client_secret),
          clientId: client.client_id,
          status: 'ACTIVE',
        },
      ]
    : [];

function toRegisteredClient(client: Auth0Client): RegisteredClient {
  const stored = members.strings(client.client_metadata);
  const optional = withoutUndefined({
    clientName: client.name,
    scope: stored.scope,
    clientUri: stored.client_uri,
    contacts: members.split(stored.contacts, ' '),
    jwksUri: stored.jwks_uri,
    logoUri: client.logo_uri || undefined,
    postLogoutRedirectUris:
      client.allowed_logout_urls && client.allowed_logout_urls.length > 0 ? client.allowed_logout_urls : undefined,
  });
  const metadata: ClientMetadata = {
    ...optional,
    redirectUris: client.callbacks ?? [],
    grantTypes: client.grant_types ?? [],
    responseTypes: members.split(stored.response_types, ' ') ?? [],
    tokenEndpointAuthMethod: client.token_endpoint_auth_method ?? 'client_secret_post',
    applicationType: client.app_type === 'native' ? 'native' : 'web',
  };
  return registeredClient(client.client_id, metadata, MARK.read(stored));
}

export const createDriverFromEnv: DriverFactory = async (env, settings) => {
  const domain = requiredEnv(env, 'AUTH0_DOMAIN', "the tenant's domain, e.g. example.eu.auth0.com");
  if (!/^[A-Za-z0-9.-]+(:\d{1,5})?$/.test(domain))
    throw new ConfigurationError(
      'AUTH0_DOMAIN',
      'must be a host name such as example.eu.auth0.com, without https:// or a path',
    );
  const clientId = requiredEnv(env, 'AUTH0_CLIENT_ID', "the client id of the bridge's machine-to-machine application");
  const clientSecret = requiredEnv(
    env,
    'AUTH0_CLIENT_SECRET',
    "the client secret of the bridge's machine-to-machine application",
  );
  const audience = envValue(env, 'AUTH0_AUDIENCE');
  const defaultScopes = envValue(env, 'AUTH0_DEFAULT_SCOPES')?.split(/\s+/).filter(Boolean);
  if (defaultScopes && !audience)
    throw new ConfigurationError(
      'AUTH0_DEFAULT_SCOPES',
      'needs AUTH0_AUDIENCE: the scopes are those of the API it names',
    );
  const allowedAudiences = envValue(env, 'AUTH0_ALLOWED_AUDIENCES')
    ?.split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  return createAuth0Driver({ domain, clientId, clientSecret, audience, defaultScopes, allowedAudiences, ...settings });
};

/** Runs an Auth0 create whose "already exists" (`ConflictError`, a 409) means the wanted state holds, so a repeat is harmless. */
async function existingIsDone(create: Promise<unknown>): Promise<void> {
  try {
    await create;
  } catch (error) {
    if (!(error instanceof ConflictError)) throw error;
  }
}
