/**
 * Keycloak: clients of one realm through the admin REST API (`@keycloak/keycloak-admin-client`), authenticated as a
 * service-account client with `manage-clients` (never initial access tokens, which run out). RFC 7591 metadata is
 * mapped the way Keycloak's own client-registration service maps it. The bridge chooses each `clientId`, so a create
 * whose answer was lost can be repeated: the 409 that follows is adopted when the client carries this registration's mark.
 */
import { randomBytes } from 'node:crypto';
import KeycloakAdminClient, { NetworkError } from '@keycloak/keycloak-admin-client';
import type { RequestOptions } from '@keycloak/keycloak-admin-client/lib/client.js';
import type ClientRepresentation from '@keycloak/keycloak-admin-client/lib/defs/clientRepresentation.js';
import { getToken } from '@keycloak/keycloak-admin-client/lib/utils/auth.js';
import { envValue, requiredEnv, urlEnv } from '../src/env.js';
import { BridgeError, ClientNotFoundError, IdpError, InvalidRequestError } from '../src/errors.js';
import {
  IdpCaller,
  describeNetworkError,
  retryAfterFromHeaders,
  upstreamStatusOf,
  type CallSafety,
  type IdpCallPolicy,
  type UpstreamFailure,
} from '../src/idp/call.js';
import { AdminTokenCache } from '../src/idp/token-cache.js';
import type { ClientMetadata, DcrDriver, DriverFactory, RegisteredClient, RegistrationContext } from '../src/driver/contract.js';

export interface KeycloakDriverOptions {
  /** Base URL of the Keycloak server, e.g. `https://sso.example.com` (no `/admin`). */
  url: string;
  /** The realm whose clients the bridge manages. */
  realm: string;
  /** The realm the service-account client lives in; default `realm`. */
  adminRealm?: string;
  clientId: string;
  clientSecret: string;
  rotationGraceSeconds: number;
  idpCallPolicy?: Partial<IdpCallPolicy>;
}

const CLIENT_ID = /^[A-Za-z0-9._~-]{1,255}$/;
const MANAGED = 'dcr-bridge.managed';
const REGISTRATION = 'dcr-bridge.registration';
const ISSUED_AT = 'dcr-bridge.issued-at';
const AUTH_METHOD = 'dcr-bridge.token-endpoint-auth-method';
const APPLICATION_TYPE = 'dcr-bridge.application-type';
const CONTEXT_ATTRIBUTES: Record<keyof RegistrationContext, string> = {
  portal: 'dcr-bridge.portal',
  portalId: 'dcr-bridge.portal-id',
  organizationId: 'dcr-bridge.organization-id',
  developerId: 'dcr-bridge.developer-id',
  applicationDescription: 'dcr-bridge.application-description',
};
/** Client attributes that carry metadata, cleared on an update whose metadata no longer has them. */
const MAPPED_ATTRIBUTES = ['use.refresh.tokens', 'post.logout.redirect.uris', 'logoUri', 'contacts', 'use.jwks.url', 'jwks.url', AUTH_METHOD, APPLICATION_TYPE];
const ROTATED_CREATION_TIME = 'client.secret.rotated.creation.time';
/** Keycloak's separator for multi-valued client attributes. */
const MULTI_VALUE_SEPARATOR = '##';
const SWEEP_PAGE_SIZE = 100;
const SWEEP_MAX_PAGES = 1_000;

const AUTHENTICATORS: Record<string, string> = {
  client_secret_basic: 'client-secret',
  client_secret_post: 'client-secret',
  client_secret_jwt: 'client-secret-jwt',
  private_key_jwt: 'client-jwt',
};

export function createKeycloakDriver(options: KeycloakDriverOptions): DcrDriver {
  const adminRealm = options.adminRealm ?? options.realm;
  const caller = new IdpCaller({ describe: describeKeycloakError, policy: options.idpCallPolicy });
  const tokens = new AdminTokenCache(async () => {
    const issued = await caller.call('admin token', 'idempotent', (signal) =>
      getToken({
        baseUrl: options.url,
        realmName: adminRealm,
        credentials: { grantType: 'client_credentials', clientId: options.clientId, clientSecret: options.clientSecret },
        requestOptions: { signal },
      }),
    );
    return { accessToken: issued.accessToken, expiresInSeconds: Number.isFinite(issued.expiresIn) ? issued.expiresIn : 60 };
  });
  // The SDK has no retries of its own; its `timeout` aborts each request, so the call layer's timeout really ends it.
  const admin = new KeycloakAdminClient({
    baseUrl: options.url,
    realmName: options.realm,
    timeout: caller.policy.timeoutMs,
    requestOptions: { dispatcher: keepConnectionOpen } as RequestOptions,
  });
  admin.registerTokenProvider({ getAccessToken: () => tokens.get() });
  const graceSeconds = options.rotationGraceSeconds;

  /** One admin call through the call layer, which alone retries; never a raw SDK error out of it. */
  async function call<T>(operation: string, safety: CallSafety, attempt: () => Promise<T>): Promise<T> {
    for (let withToken = 1; ; withToken++) {
      // The token first, with retries of its own: fetched inside the admin call, it would spend that call's timeout.
      const token = await tokens.get();
      try {
        return await caller.call(operation, safety, attempt);
      } catch (error) {
        // A 401 means the cached token went stale (a restarted realm, a revoked session): replace it, once.
        if (upstreamStatusOf(error) === 401 && withToken === 1) {
          tokens.invalidate(token);
          continue;
        }
        if (error instanceof BridgeError) throw error;
        throw new IdpError(undefined, { cause: error });
      }
    }
  }

  async function findClient(clientId: string): Promise<ClientRepresentation | undefined> {
    const found = await call('find client', 'idempotent', () => admin.clients.find({ clientId }));
    return found.find((client) => client.clientId === clientId);
  }

  /** The bridge's own client with this id; anything else, including an admin's client, is not found. */
  async function ownedClient(clientId: string): Promise<ClientRepresentation & { id: string }> {
    checkClientId(clientId);
    const client = await findClient(clientId);
    if (!client?.id || client.attributes?.[MANAGED] !== 'true') throw new ClientNotFoundError();
    return client as ClientRepresentation & { id: string };
  }

  /**
   * Has Keycloak generate a new secret for `client` (as read just before). Not repeated after an ambiguous failure: a
   * second regeneration would push the old secret out of the grace slot. Instead the client is read again, and a
   * secret that differs from the one read before is the one Keycloak generated behind the lost answer: it is handed
   * out, not left for nobody to know (in a realm without the rotation policy the old one is already gone).
   */
  async function regenerateSecret(client: ClientRepresentation & { id: string }): Promise<string> {
    try {
      const credential = await call('rotate client secret', 'unsafe', () => admin.clients.generateNewClientSecret({ id: client.id }));
      if (typeof credential.value === 'string') return credential.value;
      throw new IdpError('The identity provider issued no new client secret.');
    } catch (error) {
      const now = await findClient(client.clientId!).catch(() => undefined);
      const generated = now?.id === client.id && typeof now.secret === 'string' && typeof client.secret === 'string' && now.secret !== client.secret;
      if (!generated) throw error;
      return now.secret!;
    }
  }

  async function createClient(representation: ClientRepresentation): Promise<string> {
    const clientId = representation.clientId!;
    try {
      // Safe to repeat: a repeat after a lost answer meets a 409, and the client it clashes with is adopted below.
      return (await call('create client', 'idempotent', () => admin.clients.create(representation))).id;
    } catch (error) {
      const existing = await findClient(clientId).catch(() => undefined);
      const ours = existing?.id !== undefined && existing.attributes?.[REGISTRATION] === representation.attributes?.[REGISTRATION] ? existing.id : undefined;
      // Applied, with the answer lost or the repeat refused as a clash: this registration's client exists; adopt it.
      if (ours !== undefined) return ours;
      throw error;
    }
  }

  async function removeClient(id: string): Promise<void> {
    try {
      await call('delete client', 'idempotent', () => admin.clients.del({ id }));
    } catch (error) {
      if (!(error instanceof ClientNotFoundError)) throw error;
    }
  }

  return {
    name: 'keycloak',
    capabilities: { rotationGrace: graceSeconds > 0, apiAccessGrants: false },

    async registerClient(metadata, context) {
      const issuedAt = Math.floor(Date.now() / 1000);
      const clientId = `dcr-${randomBytes(12).toString('hex')}`;
      const representation = toRepresentation(metadata, { clientId });
      representation.attributes = {
        ...representation.attributes,
        [MANAGED]: 'true',
        [REGISTRATION]: randomBytes(16).toString('base64url'),
        [ISSUED_AT]: String(issuedAt),
        ...contextAttributes(context),
      };
      const id = await createClient(representation);
      // A public or private_key_jwt client authenticates without a secret, so it gets none.
      if (!usesSecret(representation)) return { ...toRegisteredClient(representation), clientSecret: '' };
      try {
        const credential = await call('read client secret', 'idempotent', () => admin.clients.getClientSecret({ id }));
        if (typeof credential.value !== 'string') throw new IdpError('The identity provider issued no client secret for the new client.');
        return { ...toRegisteredClient(representation), clientSecret: credential.value };
      } catch (error) {
        await removeClient(id).catch(() => undefined);
        throw error;
      }
    },

    async getClient(clientId) {
      return toRegisteredClient(await ownedClient(clientId));
    },

    async updateClient(clientId, metadata) {
      const current = await ownedClient(clientId);
      const changes = toRepresentation(metadata, current);
      // Keycloak keeps what a PUT leaves out and merges attributes: an empty value removes one the metadata no longer has.
      const cleared = Object.fromEntries(MAPPED_ATTRIBUTES.filter((key) => current.attributes?.[key] !== undefined).map((key) => [key, '']));
      const update: ClientRepresentation = { ...changes, attributes: { ...cleared, ...changes.attributes } };
      await call('update client', 'idempotent', () => admin.clients.update({ id: current.id }, update));
      return toRegisteredClient({ ...current, ...update, attributes: withoutEmpty({ ...current.attributes, ...update.attributes }) });
    },

    async deleteClient(clientId) {
      checkClientId(clientId);
      const client = await findClient(clientId);
      if (!client?.id) return;
      if (client.attributes?.[MANAGED] !== 'true') throw new ClientNotFoundError();
      await removeClient(client.id);
    },

    async rotateSecret(clientId) {
      const client = await ownedClient(clientId);
      if (!usesSecret(client)) throw new InvalidRequestError('This client authenticates without a client secret, so it has none to rotate.');
      const clientSecret = await regenerateSecret(client);
      // A realm with the secret-rotation policy keeps the old secret as the "rotated" one; without a grace it goes now.
      if (graceSeconds === 0) await call('invalidate rotated secret', 'idempotent', () => admin.clients.invalidateSecret({ id: client.id }));
      return { clientId, clientSecret, clientSecretExpiresAt: 0 };
    },

    async retireExpiredSecrets(now) {
      if (graceSeconds === 0) return 0;
      let retired = 0;
      for (let page = 0; page < SWEEP_MAX_PAGES; page++) {
        const clients = await call('list bridge clients', 'idempotent', () =>
          admin.clients.find({ q: `${MANAGED}:true`, first: page * SWEEP_PAGE_SIZE, max: SWEEP_PAGE_SIZE }),
        );
        for (const client of clients) {
          const rotatedAt = Number(client.attributes?.[ROTATED_CREATION_TIME]);
          if (!client.id || !Number.isFinite(rotatedAt) || (rotatedAt + graceSeconds) * 1000 >= now) continue;
          await call('retire rotated secret', 'idempotent', () => admin.clients.invalidateSecret({ id: client.id! }));
          retired++;
        }
        if (clients.length < SWEEP_PAGE_SIZE) break;
      }
      return retired;
    },

    async checkReadiness() {
      await call('check realm', 'idempotent', () => admin.clients.find({ first: 0, max: 1 }));
    },

    async grantApiAccess() {},
    async revokeApiAccess() {},
    async close() {},
  };
}

/**
 * The SDK sends `{}` as the body of every DELETE, and fetch closes a connection after a body on a method that expects
 * none, so each delete would cost a new TLS handshake. This forwards to fetch's own (global) dispatcher, keeping it open.
 */
const keepConnectionOpen = {
  dispatch(options: object, handler: unknown): boolean {
    const dispatcher = (globalThis as Record<symbol, { dispatch(options: object, handler: unknown): boolean } | undefined>)[Symbol.for('undici.globalDispatcher.1')];
    return dispatcher!.dispatch({ ...options, reset: false }, handler);
  },
};

/** Status and wait time from the SDK's `NetworkError` (it carries the fetch `Response`), or a socket/abort failure. */
function describeKeycloakError(error: unknown): UpstreamFailure | undefined {
  if (error instanceof NetworkError) {
    const status = error.response.status;
    return { kind: 'status', status, retryAfterMs: retryAfterFromHeaders(error.response.headers, status) };
  }
  return describeNetworkError(error);
}

function usesSecret(client: ClientRepresentation): boolean {
  return !client.publicClient && (client.clientAuthenticatorType === 'client-secret' || client.clientAuthenticatorType === 'client-secret-jwt');
}

function checkClientId(clientId: string): void {
  if (!CLIENT_ID.test(clientId) || clientId === '.' || clientId === '..') throw new InvalidRequestError('The client_id is not a valid client identifier.');
}

/** RFC 7591 metadata → the Keycloak client representation, as Keycloak's client-registration service maps it. */
function toRepresentation(metadata: ClientMetadata, base: ClientRepresentation): ClientRepresentation {
  const grants = new Set(metadata.grantTypes);
  const method = metadata.tokenEndpointAuthMethod;
  const attributes: Record<string, string> = {
    'use.refresh.tokens': String(grants.has('refresh_token')),
    [AUTH_METHOD]: method,
  };
  if (metadata.postLogoutRedirectUris?.length) attributes['post.logout.redirect.uris'] = metadata.postLogoutRedirectUris.join(MULTI_VALUE_SEPARATOR);
  if (metadata.logoUri) attributes.logoUri = metadata.logoUri;
  if (metadata.contacts?.length) attributes.contacts = metadata.contacts.join(MULTI_VALUE_SEPARATOR);
  if (metadata.jwksUri) Object.assign(attributes, { 'use.jwks.url': 'true', 'jwks.url': metadata.jwksUri });
  if (metadata.applicationType) attributes[APPLICATION_TYPE] = metadata.applicationType;
  return {
    clientId: base.clientId,
    name: metadata.clientName ?? '',
    protocol: 'openid-connect',
    enabled: true,
    redirectUris: metadata.redirectUris,
    baseUrl: metadata.clientUri ?? '',
    standardFlowEnabled: grants.has('authorization_code'),
    implicitFlowEnabled: grants.has('implicit'),
    directAccessGrantsEnabled: grants.has('password'),
    serviceAccountsEnabled: grants.has('client_credentials'),
    publicClient: method === 'none',
    ...(method === 'none' ? {} : { clientAuthenticatorType: AUTHENTICATORS[method] ?? 'client-secret' }),
    optionalClientScopes: metadata.scope?.split(' ').filter(Boolean) ?? [],
    attributes,
  };
}

/** The Keycloak client representation → RFC 7591 metadata, the inverse of `toRepresentation`. */
function toRegisteredClient(client: ClientRepresentation): RegisteredClient {
  const attributes = (client.attributes ?? {}) as Record<string, string | undefined>;
  const grantTypes = [
    ...(client.standardFlowEnabled ? ['authorization_code'] : []),
    ...(client.implicitFlowEnabled ? ['implicit'] : []),
    ...(client.directAccessGrantsEnabled ? ['password'] : []),
    ...(client.serviceAccountsEnabled ? ['client_credentials'] : []),
    ...(attributes['use.refresh.tokens'] === 'true' && (client.standardFlowEnabled || client.directAccessGrantsEnabled) ? ['refresh_token'] : []),
  ];
  const authenticatorMethod = Object.entries(AUTHENTICATORS).find(([, authenticator]) => authenticator === client.clientAuthenticatorType)?.[0];
  const metadata: ClientMetadata = {
    redirectUris: client.redirectUris ?? [],
    grantTypes,
    responseTypes: client.standardFlowEnabled ? ['code'] : [],
    tokenEndpointAuthMethod: client.publicClient ? 'none' : (attributes[AUTH_METHOD] ?? authenticatorMethod ?? 'client_secret_basic'),
  };
  if (client.name) metadata.clientName = client.name;
  if (client.optionalClientScopes?.length) metadata.scope = client.optionalClientScopes.join(' ');
  if (client.baseUrl) metadata.clientUri = client.baseUrl;
  if (attributes.logoUri) metadata.logoUri = attributes.logoUri;
  if (attributes.contacts) metadata.contacts = attributes.contacts.split(MULTI_VALUE_SEPARATOR);
  if (attributes['use.jwks.url'] === 'true' && attributes['jwks.url']) metadata.jwksUri = attributes['jwks.url'];
  if (attributes['post.logout.redirect.uris']) metadata.postLogoutRedirectUris = attributes['post.logout.redirect.uris'].split(MULTI_VALUE_SEPARATOR);
  const applicationType = attributes[APPLICATION_TYPE];
  if (applicationType === 'web' || applicationType === 'native') metadata.applicationType = applicationType;
  return { clientId: client.clientId!, clientIdIssuedAt: Number(attributes[ISSUED_AT] ?? 0), clientSecretExpiresAt: 0, metadata };
}

function contextAttributes(context: RegistrationContext): Record<string, string> {
  const attributes: Record<string, string> = {};
  for (const [key, attribute] of Object.entries(CONTEXT_ATTRIBUTES) as Array<[keyof RegistrationContext, string]>) {
    const value = context[key];
    if (value !== undefined && value !== '') attributes[attribute] = value;
  }
  return attributes;
}

function withoutEmpty(attributes: Record<string, string> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(attributes ?? {}).filter(([, value]) => value !== ''));
}

export const createDriverFromEnv: DriverFactory = async (env, settings) =>
  createKeycloakDriver({
    url: urlEnv(env, 'KEYCLOAK_URL'),
    realm: requiredEnv(env, 'KEYCLOAK_REALM', 'the realm whose clients the bridge manages'),
    adminRealm: envValue(env, 'KEYCLOAK_ADMIN_REALM'),
    clientId: requiredEnv(env, 'KEYCLOAK_CLIENT_ID', 'the client id of a service-account client with the manage-clients role'),
    clientSecret: requiredEnv(env, 'KEYCLOAK_CLIENT_SECRET', 'the secret of the KEYCLOAK_CLIENT_ID service-account client'),
    rotationGraceSeconds: settings.rotationGraceSeconds,
    idpCallPolicy: settings.idpCallPolicy,
  });
