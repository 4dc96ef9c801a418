/**
 * Keycloak: clients of one realm through the admin REST API (`@keycloak/keycloak-admin-client` for creates, updates
 * and listings, the kit's pooled client for the rest of the hot paths: `adminRest`), as a service-account
 * client with `manage-clients` (never initial access tokens, which run out), RFC 7591 metadata mapped as Keycloak's own
 * client-registration service maps it. The bridge chooses each `clientId`: a repeated create meets a 409 (`createOrAdopt`).
 */
import { applicationTypeOf } from '../src/metadata.js';
import KeycloakAdminClient, { NetworkError } from '@keycloak/keycloak-admin-client';
import type ClientRepresentation from '@keycloak/keycloak-admin-client/lib/defs/clientRepresentation.js';
import { envValue, requiredEnv, urlEnv } from '../src/env.js';
import { fetchDiscoveryJson } from '../src/discovery.js';
import { ConflictError, InvalidClientMetadataError, InvalidRedirectUriError } from '../src/errors.js';
import { hasStrings, isRecord, isRecordArray, withoutUndefined } from '../src/records.js';
import {
  type AddedClientSecret,
  type AdminCallSettings,
  AttemptScope,
  type CallSafety,
  checkClientId,
  checkHasSecret,
  chosenClientId,
  clientCredentialsGrant,
  type ClientMetadata,
  type ClientSecretInfo,
  createAdminCall,
  createOrAdopt,
  currentAndRotatedSecrets,
  deleteOwned,
  derivedSecretId,
  type DriverFactory,
  type DriverImplementation,
  flatMark,
  goneIsDone,
  members,
  openRegistrations,
  ownedClientSummary,
  pageOfOwnedClients,
  pages,
  regeneratedSecret,
  registeredClient,
  type RegisteredClient,
  requireOwned,
  revokeListedSecret,
  secretLimitReached,
  statusFailure,
  undoOnFailure,
  upstreamStatusOf,
  usableAnswer,
  usesClientSecret,
} from '../src/driver/index.js';

export interface KeycloakDriverOptions extends AdminCallSettings {
  /** Base URL of the Keycloak server, e.g. `https://sso.example.com` (no `/admin`). */
  url: string;
  /** The realm whose clients the bridge manages. */
  realm: string;
  /** The realm the service-account client lives in; default `realm`. */
  adminRealm?: string;
  /** The service-account client and its secret. */
  clientId: string;
  clientSecret: string;
  rotationGraceSeconds: number;
}

type KeycloakClient = ClientRepresentation & { id: string; clientId: string };

const MARK = flatMark({ prefix: 'dcr-bridge.' });
const AUTH_METHOD = 'dcr-bridge.token-endpoint-auth-method';
const APPLICATION_TYPE = 'dcr-bridge.application-type';
/** Client attributes that carry metadata, cleared on an update whose metadata no longer has them. */
const MAPPED_ATTRIBUTES = [
  'use.refresh.tokens',
  'post.logout.redirect.uris',
  'logoUri',
  'contacts',
  'use.jwks.url',
  'jwks.url',
  AUTH_METHOD,
  APPLICATION_TYPE,
];
/** The grace mark, `dcr-bridge.grace` = `true`: searched with `q=dcr-bridge.grace:true` where the server indexes it (else `400`). */
const GRACE_MARK = 'dcr-bridge.grace';
const SECRET_CREATION_TIME = 'client.secret.creation.time';
const ROTATED_CREATION_TIME = 'client.secret.rotated.creation.time';
/** Under the `secret-rotation` policy: when the current secret expires, the rotated one's value and its expiry (epoch s). */
const SECRET_EXPIRATION_TIME = 'client.secret.expiration.time';
const ROTATED_SECRET = 'client.secret.rotated';
const ROTATED_EXPIRATION_TIME = 'client.secret.rotated.expiration.time';
/** Keycloak's separator for multi-valued client attributes. */
const MULTI_VALUE_SEPARATOR = '##';

const AUTHENTICATORS: Record<string, string> = {
  client_secret_basic: 'client-secret',
  client_secret_post: 'client-secret',
  client_secret_jwt: 'client-secret-jwt',
  private_key_jwt: 'client-jwt',
};
/** The RFC 7591 grant types Keycloak has a switch for. */
const GRANT_SWITCHES = {
  authorization_code: 'standardFlowEnabled',
  implicit: 'implicitFlowEnabled',
  password: 'directAccessGrantsEnabled',
  client_credentials: 'serviceAccountsEnabled',
} as const;

const isClient = (value: unknown): value is KeycloakClient =>
  hasStrings('id', 'clientId')(value) && (value.attributes === undefined || isRecord(value.attributes));
const isClientList = (value: unknown): value is KeycloakClient[] => isRecordArray(value) && value.every(isClient);
const markOf = (client: ClientRepresentation) => MARK.read(client.attributes);
const isOwned = (client: KeycloakClient) => markOf(client) !== undefined;

export function createKeycloakDriver(options: KeycloakDriverOptions): DriverImplementation {
  const realmUrl = (realm: string) => `${options.url.replace(/\/+$/, '')}/realms/${encodeURIComponent(realm)}`;
  const adminCall = createAdminCall({
    ...options,
    host: new URL(options.url).host,
    describe: describeKeycloakError,
    fetchToken: clientCredentialsGrant(
      `${realmUrl(options.adminRealm ?? options.realm)}/protocol/openid-connect/token`,
      { client_id: options.clientId, client_secret: options.clientSecret },
    ),
  });
  // No SDK retries or `timeout`: its one HTTP hook, the init it copies into each fetch, has the pool and the attempt's signal.
  const attemptScope = new AttemptScope();
  const call = attemptScope.calls(adminCall);
  const admin = new KeycloakAdminClient({
    baseUrl: options.url,
    realmName: options.realm,
    requestOptions: attemptScope.fetchInit(adminCall.http),
  });
  admin.registerTokenProvider({ getAccessToken: () => adminCall.tokens!.get() });

  const clientsApi = `${options.url.replace(/\/+$/, '')}/admin/realms/${encodeURIComponent(options.realm)}`;
  /**
   * One admin REST call on the wire (the hot paths' reads, secrets, scopes and deletes): the kit's pooled client, the
   * service account's token as the bearer, a non-2xx answer an `IdpStatusError`, a `204` `undefined`; `answer` checks
   * the JSON inside the attempt. A create and an update stay with the admin client, which reads the new client's id
   * from `Location` and Keycloak's 400s from its `NetworkError`.
   */
  function adminRest<T = unknown>(
    operation: string,
    safety: CallSafety,
    method: string,
    path: string,
    answer?: (value: unknown) => T,
  ): Promise<T> {
    const url = `${clientsApi}${path}`;
    return adminCall(operation, safety, async (signal, token) => {
      const json = await adminCall.http.requestJson(url, { method, token, signal, answerUnused: !answer });
      return answer ? answer(json) : (json as T);
    });
  }
  const clientPath = (id: string) => `/clients/${encodeURIComponent(id)}`;
  const graceSeconds = options.rotationGraceSeconds;

  async function findClient(clientId: string): Promise<KeycloakClient | undefined> {
    checkClientId(clientId);
    const found = await adminRest(
      'find client',
      'idempotent',
      'GET',
      `/clients?clientId=${encodeURIComponent(clientId)}`,
      (value) => usableAnswer(value, isClientList, 'the client lookup'),
    );
    return found.find((client) => client.clientId === clientId);
  }

  const ownedClient = async (clientId: string) => requireOwned(await findClient(clientId), isOwned);
  const listClients = (query: { first: number; max: number; q?: string }) =>
    call('list clients', 'idempotent', async () =>
      usableAnswer(await admin.clients.find(query), isClientList, 'the client listing'),
    );
  const regenerate = (client: KeycloakClient) =>
    adminRest(
      'rotate client secret',
      'unsafe',
      'POST',
      `${clientPath(client.id)}/client-secret`,
      (value) => usableAnswer(value, hasStrings('value'), 'the secret regeneration').value,
    );

  /** The secret the client holds now, read again; none when its clientId names another client by now. */
  const currentSecret = (client: KeycloakClient) =>
    findClient(client.clientId).then((now) => (now?.id === client.id ? now.secret : undefined));

  /** Keycloak's current secret, and the "rotated" one a regeneration keeps under the realm's rotation policy. */
  const rotation = currentAndRotatedSecrets<KeycloakClient>(
    graceSeconds,
    {
      idp: 'Keycloak',
      held: heldSecrets,
      reread: (client) => ownedClient(client.clientId),
      regenerate: (client) =>
        regeneratedSecret(
          () => regenerate(client),
          client.secret,
          () => currentSecret(client),
        ),
      removeRotated: (client) =>
        adminRest(
          'invalidate rotated secret',
          'idempotent',
          'DELETE',
          `${clientPath(client.id)}/client-secret/rotated`,
        ),
      graceMark: (client) => client.attributes?.[GRACE_MARK],
      // Keycloak merges the attributes of a PUT, and an empty value removes one.
      writeGraceMark: (client, marked) =>
        call('mark grace', 'idempotent', () =>
          admin.clients.update(
            { id: client.id },
            { clientId: client.clientId, attributes: { [GRACE_MARK]: marked ? 'true' : '' } },
          ),
        ),
    },
    {
      list: (first, max, marked) => listClients({ first, max, ...(marked ? { q: `${GRACE_MARK}:true` } : {}) }),
      isOwned,
      refused: (error) => upstreamStatusOf(error) === 400,
    },
  );

  /**
   * Multiple credentials: Keycloak's current secret and, under the realm's `secret-rotation` policy, the rotated one a
   * regeneration keeps. Adding regenerates (the current secret becomes the rotated one), so it needs the policy and
   * an empty rotated slot; of the two, only the rotated one can be removed.
   */
  async function addKeycloakSecret(clientId: string): Promise<AddedClientSecret> {
    const client = await ownedClient(clientId);
    checkHasSecret(authMethodOf(client));
    const attributes = members.strings(client.attributes);
    if (attributes[SECRET_EXPIRATION_TIME] === undefined)
      throw secretLimitReached(
        "Keycloak holds one secret per client unless the realm's secret-rotation policy keeps a rotated one (limit 1 here)",
      );
    if (keycloakSecrets(client).length >= 2)
      throw secretLimitReached('Keycloak holds at most 2 secrets per client, the current and the rotated one');
    // Never repeated: after a lost answer the secret Keycloak generated is read back and handed out, not left unknown.
    const value = await regeneratedSecret(
      () => regenerate(client),
      client.secret,
      () => currentSecret(client),
    );
    return { secretId: derivedSecretId(clientId, value), clientId, status: 'ACTIVE', clientSecret: value };
  }

  async function revokeKeycloakSecret(clientId: string, secretId: string): Promise<void> {
    const client = await ownedClient(clientId);
    await revokeListedSecret(keycloakSecrets(client), secretId, async (secret) => {
      if (secret.slot === 'current')
        throw new ConflictError(
          "Keycloak cannot remove a client's current secret while it holds a rotated one: revoke the rotated one, or rotate.",
        );
      await adminRest(
        'invalidate rotated secret',
        'idempotent',
        'DELETE',
        `${clientPath(client.id)}/client-secret/rotated`,
      );
    });
  }

  /**
   * The client's secrets as its representation shows them, each under an id derived from its value; a rotated secret
   * ends at Keycloak's rotated expiry or, with a grace, when the sweep retires it (a grace after the current one's creation).
   */
  function keycloakSecrets(client: KeycloakClient): Array<ClientSecretInfo & { slot: 'current' | 'rotated' }> {
    if (!usesClientSecret(authMethodOf(client))) return [];
    const attributes = members.strings(client.attributes);
    const seconds = (name: string) => (attributes[name] === undefined ? undefined : Number(attributes[name]));
    const statusAt = (expiresAt: number | undefined) =>
      expiresAt !== undefined && expiresAt * 1000 <= Date.now() ? ('INACTIVE' as const) : ('ACTIVE' as const);
    const currentCreatedAt = seconds(SECRET_CREATION_TIME);
    const held: Array<ClientSecretInfo & { slot: 'current' | 'rotated' }> = [];
    const rotated = attributes[ROTATED_SECRET];
    if (rotated !== undefined || attributes[ROTATED_CREATION_TIME] !== undefined) {
      const sweptAt = graceSeconds > 0 && currentCreatedAt !== undefined ? currentCreatedAt + graceSeconds : undefined;
      const expiresAt = [seconds(ROTATED_EXPIRATION_TIME), sweptAt].filter((end) => end !== undefined);
      const end = expiresAt.length > 0 ? Math.min(...expiresAt) : undefined;
      held.push(
        withoutUndefined({
          // Keycloak shows the rotated value as an attribute; without it, the rotation's time names the secret.
          secretId: derivedSecretId(client.clientId, rotated ?? `rotated at ${attributes[ROTATED_CREATION_TIME]}`),
          clientId: client.clientId,
          status: statusAt(end),
          expiresAt: end,
          slot: 'rotated' as const,
        }),
      );
    }
    if (client.secret) {
      const expiresAt = seconds(SECRET_EXPIRATION_TIME);
      held.push(
        withoutUndefined({
          secretId: derivedSecretId(client.clientId, client.secret),
          clientId: client.clientId,
          status: statusAt(expiresAt),
          createdAt: currentCreatedAt,
          expiresAt,
          slot: 'current' as const,
        }),
      );
    }
    return held;
  }

  /** The realm's client scopes by name; Keycloak drops a scope it does not have without a word, the bridge refuses it. */
  async function scopeIds(wanted: string[]): Promise<Map<string, string>> {
    const scopes = await adminRest('list client scopes', 'idempotent', 'GET', '/client-scopes', (value) =>
      usableAnswer(value, isRecordArray, 'the client scope listing'),
    );
    const byName = new Map(scopes.filter(hasStrings('name', 'id')).map((scope) => [scope.name, scope.id]));
    // The value was checked as a scope token (printable ASCII, no quote or backslash), so it can be named.
    const unknown = wanted.find((name) => !byName.has(name));
    if (unknown !== undefined)
      throw new InvalidClientMetadataError(`The scope value "${unknown}" is not a client scope of the realm.`);
    return byName;
  }

  const removeClient = async (id: string) =>
    void (await goneIsDone(adminRest('delete client', 'idempotent', 'DELETE', clientPath(id))));

  return {
    name: 'keycloak',
    capabilities: { rotationGrace: graceSeconds > 0, apiAccessGrants: false },

    async registerClient(metadata, context) {
      const clientId = chosenClientId();
      const representation = { ...toRepresentation(metadata, { clientId }), clientId };
      if (representation.optionalClientScopes?.length) await scopeIds(representation.optionalClientScopes);
      const mark = MARK.create(context);
      representation.attributes = { ...representation.attributes, ...MARK.write(mark) };
      const create = () =>
        call(
          'create client',
          'idempotent',
          async () =>
            usableAnswer(
              await admin.clients.create(representation).catch(asMetadataRefusal),
              hasStrings('id'),
              'the client creation',
            ).id,
        );
      const id = await createOrAdopt<KeycloakClient>(create, mark.registrationId, () => findClient(clientId), {
        markOf,
        idOf: (client) => client.id,
      });
      // A public or private_key_jwt client authenticates without a secret, so it gets none.
      if (!usesClientSecret(authMethodOf(representation)))
        return { ...toRegisteredClient(representation), clientSecret: '' };
      const credential = await undoOnFailure(
        () =>
          adminRest('read client secret', 'idempotent', 'GET', `${clientPath(id)}/client-secret`, (value) =>
            usableAnswer(value, hasStrings('value'), 'the client secret'),
          ),
        () => removeClient(id),
      );
      return { ...toRegisteredClient(representation), clientSecret: credential.value };
    },

    getClient: async (clientId) => toRegisteredClient(await ownedClient(clientId)),

    async updateClient(clientId, metadata, registration) {
      const current = await ownedClient(clientId);
      const changes = toRepresentation(metadata, current);
      // Keycloak keeps what a PUT leaves out and merges attributes: an empty value removes one the metadata no longer has.
      const mark = registration?.registration ? MARK.write(markOf(current)!, registration) : {};
      const update: ClientRepresentation = {
        ...changes,
        attributes: members.replacing(current.attributes, { ...changes.attributes, ...mark }, '', (key) =>
          MAPPED_ATTRIBUTES.includes(key),
        ),
      };
      // A PUT leaves a client's scopes as they were: each one added or removed is a call of its own.
      const { added, removed } = membershipChanges(
        changes.optionalClientScopes ?? [],
        current.optionalClientScopes ?? [],
      );
      const ids = added.length + removed.length > 0 ? await scopeIds(added) : new Map<string, string>();
      await call('update client', 'idempotent', () =>
        admin.clients.update({ id: current.id }, update).catch(asMetadataRefusal),
      );
      for (const name of added)
        await adminRest(
          'add client scope',
          'idempotent',
          'PUT',
          `${clientPath(current.id)}/optional-client-scopes/${encodeURIComponent(ids.get(name)!)}`,
        );
      for (const name of removed.filter((scope) => ids.has(scope)))
        await adminRest(
          'remove client scope',
          'idempotent',
          'DELETE',
          `${clientPath(current.id)}/optional-client-scopes/${encodeURIComponent(ids.get(name)!)}`,
        );
      return toRegisteredClient({
        ...current,
        ...update,
        attributes: members.withoutEmpty({ ...current.attributes, ...update.attributes }),
      });
    },

    deleteClient: async (clientId) =>
      deleteOwned(await findClient(clientId), isOwned, (client) => removeClient(client.id)),

    async rotateSecret(clientId) {
      const client = await ownedClient(clientId);
      checkHasSecret(authMethodOf(client));
      const { value } = await rotation.rotate(client);
      return { clientId, clientSecret: value, clientSecretExpiresAt: 0 };
    },

    retireExpiredSecrets: rotation.sweep,

    listSecrets: async (clientId) =>
      keycloakSecrets(await ownedClient(clientId)).map(({ slot: _slot, ...info }) => info),
    addSecret: addKeycloakSecret,
    revokeSecret: revokeKeycloakSecret,

    // The bridge's clients, through every page: a real Keycloak refuses `q=` searches on attributes it does not index.
    listOpenRegistrations: (limit) =>
      openRegistrations(
        pages.byOffset(100, 1_000, (first, max) => listClients({ first, max })),
        limit,
        markOf,
        (client) => client.clientId,
      ),

    // The operator's view: the realm's clients that carry the mark, 100 a call, in Keycloak's order.
    listClients: (options) =>
      pageOfOwnedClients(
        pages.byOffset(100, 1_000, (first, max) => listClients({ first, max })),
        options,
        (client) => {
          const mark = markOf(client);
          return mark && client.clientId
            ? ownedClientSummary(client.clientId, mark, {
                clientName: client.name,
                pending: client.attributes?.[GRACE_MARK] === 'true',
              })
            : undefined;
        },
      ),

    fetchDiscoveryDocument: () =>
      fetchDiscoveryJson(
        adminCall.http,
        `${realmUrl(options.realm)}/.well-known/openid-configuration`,
        adminCall.policy.timeoutMs,
      ),

    checkReadiness: () =>
      call(
        'check realm',
        'idempotent',
        async () =>
          void usableAnswer(await admin.clients.find({ first: 0, max: 1 }), isClientList, 'the client listing'),
      ),

    close: () => adminCall.close(),
  };
}

/** Whether the client holds a rotated secret, and when its current one was created (epoch ms): when Keycloak says, or at the last rotation. */
function heldSecrets(client: ClientRepresentation): { currentCreatedAt: number; hasRotated: boolean } {
  const attributes = members.strings(client.attributes);
  return {
    currentCreatedAt: Number(attributes[SECRET_CREATION_TIME] ?? attributes[ROTATED_CREATION_TIME]) * 1000,
    hasRotated: attributes[ROTATED_CREATION_TIME] !== undefined,
  };
}

/** Status and wait time from the SDK's `NetworkError`, which carries the fetch `Response`. */
const describeKeycloakError = (error: unknown) =>
  error instanceof NetworkError ? statusFailure(error.response.status, error.response.headers) : undefined;

/** Keycloak's 400 naming a redirect URI is the bridge's `invalid_redirect_uri`; the upstream text is not repeated. */
function asMetadataRefusal(error: unknown): never {
  const description =
    error instanceof NetworkError && error.response.status === 400
      ? (error.responseData as { error_description?: unknown } | undefined)?.error_description
      : undefined;
  if (typeof description === 'string' && /redirect uri/i.test(description))
    throw new InvalidRedirectUriError('Keycloak refused a redirect URI.');
  throw error;
}

/** The RFC 7591 method of Keycloak's authenticator (`none` for a public client); another authenticator keeps its own name. */
const authMethodOf = (client: ClientRepresentation) =>
  client.publicClient
    ? 'none'
    : (Object.entries(AUTHENTICATORS).find(
        ([, authenticator]) => authenticator === client.clientAuthenticatorType,
      )?.[0] ??
      client.clientAuthenticatorType ??
      '');

/** Refuses, before any IdP call, values longer than Keycloak's 255-character columns (a longer one is its 500, not a 400). */
function refuseOverlong(metadata: ClientMetadata, max: number): void {
  if ((metadata.clientName?.length ?? 0) > max || (metadata.clientUri?.length ?? 0) > max) {
    throw new InvalidClientMetadataError(`Keycloak keeps at most ${max} characters of client_name and client_uri.`);
  }
  if (metadata.redirectUris.some((uri) => uri.length > max))
    throw new InvalidRedirectUriError(`Keycloak keeps at most ${max} characters of each redirect URI.`);
}

/** What turns `had` into `wanted`, where Keycloak takes each of a client's scopes by a call of its own. */
function membershipChanges<T>(wanted: readonly T[], had: readonly T[]): { added: T[]; removed: T[] } {
  return {
    added: wanted.filter((member) => !had.includes(member)),
    removed: had.filter((member) => !wanted.includes(member)),
  };
}

/** RFC 7591 metadata → the Keycloak client representation, as Keycloak's client-registration service maps it. */
function toRepresentation(metadata: ClientMetadata, base: ClientRepresentation): ClientRepresentation {
  // Keycloak stores a client's name, base URL and each redirect URI in 255-character columns (longer is its 500).
  refuseOverlong(metadata, 255);
  const grants = new Set(metadata.grantTypes);
  const method = metadata.tokenEndpointAuthMethod;
  const attributes = withoutUndefined({
    'use.refresh.tokens': String(grants.has('refresh_token')),
    [AUTH_METHOD]: method,
    'post.logout.redirect.uris': members.join(metadata.postLogoutRedirectUris, MULTI_VALUE_SEPARATOR),
    logoUri: metadata.logoUri || undefined,
    contacts: members.join(metadata.contacts, MULTI_VALUE_SEPARATOR),
    ...(metadata.jwksUri ? { 'use.jwks.url': 'true', 'jwks.url': metadata.jwksUri } : {}),
    [APPLICATION_TYPE]: metadata.applicationType,
  });
  return {
    clientId: base.clientId,
    name: metadata.clientName ?? '',
    protocol: 'openid-connect',
    enabled: true,
    redirectUris: metadata.redirectUris,
    baseUrl: metadata.clientUri ?? '',
    ...Object.fromEntries(Object.entries(GRANT_SWITCHES).map(([grant, property]) => [property, grants.has(grant)])),
    publicClient: method === 'none',
    ...(method === 'none' ? {} : { clientAuthenticatorType: AUTHENTICATORS[method] ?? 'client-secret' }),
    // `openid` is no client scope in Keycloak: it always accepts it, so it is neither stored nor checked.
    optionalClientScopes: metadata.scope?.split(' ').filter((scope) => scope !== '' && scope !== 'openid') ?? [],
    attributes,
  };
}

/** The Keycloak client representation → RFC 7591 metadata, the inverse of `toRepresentation`. */
function toRegisteredClient(client: ClientRepresentation): RegisteredClient {
  const attributes = members.strings(client.attributes);
  const refresh =
    attributes['use.refresh.tokens'] === 'true' && (client.standardFlowEnabled || client.directAccessGrantsEnabled);
  const grantTypes = [
    ...Object.entries(GRANT_SWITCHES)
      .filter(([, property]) => client[property])
      .map(([grant]) => grant),
    ...(refresh ? ['refresh_token'] : []),
  ];
  const authenticatorMethod = Object.entries(AUTHENTICATORS).find(
    ([, authenticator]) => authenticator === client.clientAuthenticatorType,
  )?.[0];
  const optional = withoutUndefined({
    clientName: client.name || undefined,
    scope: client.optionalClientScopes?.length ? client.optionalClientScopes.join(' ') : undefined,
    clientUri: client.baseUrl || undefined,
    logoUri: attributes.logoUri || undefined,
    contacts: members.split(attributes.contacts, MULTI_VALUE_SEPARATOR),
    jwksUri: attributes['use.jwks.url'] === 'true' ? attributes['jwks.url'] || undefined : undefined,
    postLogoutRedirectUris: members.split(attributes['post.logout.redirect.uris'], MULTI_VALUE_SEPARATOR),
    applicationType: applicationTypeOf(attributes[APPLICATION_TYPE]),
  });
  const metadata: ClientMetadata = {
    ...optional,
    redirectUris: client.redirectUris ?? [],
    grantTypes,
    responseTypes: client.standardFlowEnabled ? ['code'] : [],
    tokenEndpointAuthMethod: client.publicClient
      ? 'none'
      : (attributes[AUTH_METHOD] ?? authenticatorMethod ?? 'client_secret_basic'),
  };
  return registeredClient(client.clientId!, metadata, markOf(client));
}

export const createDriverFromEnv: DriverFactory = async (env, settings) =>
  createKeycloakDriver({
    url: urlEnv(env, 'KEYCLOAK_URL'),
    realm: requiredEnv(env, 'KEYCLOAK_REALM', 'the realm whose clients the bridge manages'),
    adminRealm: envValue(env, 'KEYCLOAK_ADMIN_REALM'),
    clientId: requiredEnv(
      env,
      'KEYCLOAK_CLIENT_ID',
      'the client id of a service-account client with the manage-clients role',
    ),
    clientSecret: requiredEnv(
      env,
      'KEYCLOAK_CLIENT_SECRET',
      'the secret of the KEYCLOAK_CLIENT_ID service-account client',
    ),
    ...settings,
  });
