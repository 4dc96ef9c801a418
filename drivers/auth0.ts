/**
 * Auth0: each client is an Auth0 application created through the `auth0` SDK's ManagementClient
 * (`/api/v2/clients`), marked as the bridge's in `client_metadata` (string values, at most 10 keys of 255
 * characters), which also keeps the RFC 7591 fields Auth0 has no field for. With `AUTH0_AUDIENCE`, a client that
 * uses client credentials is granted that API (a client grant). Auth0 holds one secret per client, so rotation
 * (`rotate-secret`) is immediate.
 */
import { randomUUID } from 'node:crypto';
import { ManagementClient } from 'auth0';
import { ConfigurationError, envValue, requiredEnv } from '../src/env.js';
import { BridgeError, ClientNotFoundError, ConflictError, IdpError, InvalidClientMetadataError, InvalidRequestError } from '../src/errors.js';
import { IdpCaller, describeNetworkError, retryAfterFromHeaders, type CallSafety, type HeaderSource, type IdpCallPolicy, type UpstreamFailure } from '../src/idp/call.js';
import { AdminTokenCache } from '../src/idp/token-cache.js';
import type { ApiAccess, ClientMetadata, DcrDriver, DriverFactory, RegisteredClient, RegisteredClientWithSecret, RegistrationContext, RotatedSecret } from '../src/driver/contract.js';

const CLIENT_ID = /^[A-Za-z0-9._~-]{1,255}$/;
const DEFAULT_NAME = 'dcr-bridge client';
const AUTH0_GRANT_TYPES = new Set(['authorization_code', 'implicit', 'refresh_token', 'client_credentials', 'password', 'urn:ietf:params:oauth:grant-type:device_code']);
const AUTH0_AUTH_METHODS = new Set(['none', 'client_secret_basic', 'client_secret_post']);
const INTERACTIVE_GRANTS = new Set(['authorization_code', 'implicit', 'password', 'urn:ietf:params:oauth:grant-type:device_code']);
/** Bounds the search for a client whose create answer was lost: 20 pages of 100. */
const MAX_PAGES = 20;

export interface Auth0DriverOptions {
  /** The tenant's domain, e.g. `example.eu.auth0.com` (no scheme). */
  domain: string;
  /** The bridge's machine-to-machine application, granted the Management API. */
  clientId: string;
  clientSecret: string;
  /** An API every client that uses client credentials is granted at registration. */
  audience?: string;
  /** Scopes of that grant. */
  defaultScopes?: string[];
  idpCallPolicy?: Partial<IdpCallPolicy>;
}

/** What the bridge keeps in `client_metadata` (Auth0: string values only). */
type BridgeMetadata = Record<string, string>;

/** The parts of an Auth0 client the bridge reads. */
interface Auth0Client {
  client_id?: string;
  client_secret?: string;
  name?: string;
  description?: string;
  app_type?: string;
  callbacks?: string[];
  allowed_logout_urls?: string[];
  grant_types?: string[];
  token_endpoint_auth_method?: string;
  logo_uri?: string;
  client_metadata?: Record<string, unknown>;
}

type RequestOptions = { abortSignal: AbortSignal; maxRetries: 0; timeoutInSeconds: number };

/** A failed admin-token request; it never reached the Management API, so the call it served was not sent. */
class TokenRequestError extends Error {
  constructor(readonly failure: UpstreamFailure) {
    super('The Auth0 token request failed');
    this.name = 'TokenRequestError';
  }
}

export function describeAuth0Error(error: unknown): UpstreamFailure | undefined {
  if (error instanceof TokenRequestError) return error.failure;
  const { statusCode, rawResponse } = error as { statusCode?: unknown; rawResponse?: { headers?: HeaderSource } };
  if (typeof statusCode === 'number') return { kind: 'status', status: statusCode, retryAfterMs: retryAfterFromHeaders(rawResponse?.headers, statusCode) };
  if ((error as { name?: unknown }).name === 'ManagementTimeoutError') return { kind: 'timeout' };
  return describeNetworkError(error);
}

export function createAuth0Driver(options: Auth0DriverOptions): DcrDriver {
  const caller = new IdpCaller({ describe: describeAuth0Error, policy: options.idpCallPolicy });
  const { timeoutMs } = caller.policy;
  const tokens = new AdminTokenCache(() => requestAdminToken(options, timeoutMs));
  const auth0 = new ManagementClient({ domain: options.domain, token: () => tokens.get(), maxRetries: 0, timeoutInSeconds: timeoutMs / 1000 });
  const scopes = options.defaultScopes ?? [];

  /** One admin call: the SDK's retries off, the call layer's signal on, and a refused token replaced once. */
  function call<T>(operation: string, safety: CallSafety, attempt: (request: RequestOptions) => Promise<T>): Promise<T> {
    return caller
      .call(operation, safety, async (signal) => {
        const request: RequestOptions = { abortSignal: signal, maxRetries: 0, timeoutInSeconds: timeoutMs / 1000 };
        try {
          return await attempt(request);
        } catch (error) {
          if (error instanceof TokenRequestError || (error as { statusCode?: unknown }).statusCode !== 401) throw error;
          tokens.invalidate();
          return await attempt(request);
        }
      })
      .catch((error: unknown) => {
        throw error instanceof BridgeError ? error : new IdpError(undefined, { cause: error });
      });
  }

  async function findClient(clientId: string): Promise<Auth0Client | undefined> {
    if (!CLIENT_ID.test(clientId) || clientId === '.' || clientId === '..') throw new InvalidRequestError('The client_id is not a valid client identifier.');
    try {
      return (await call('read client', 'idempotent', (request) => auth0.clients.get(clientId, {}, request))) as Auth0Client;
    } catch (error) {
      if (error instanceof ClientNotFoundError) return undefined;
      throw error;
    }
  }

  async function findOwnedClient(clientId: string): Promise<Auth0Client> {
    const client = await findClient(clientId);
    if (!client || !isOwned(client)) throw new ClientNotFoundError();
    return client;
  }

  async function listGrants(clientId: string, audience?: string): Promise<Array<{ id?: string }>> {
    return call('list grants', 'idempotent', async (request) => {
      const page = await auth0.clientGrants.list({ client_id: clientId, ...(audience ? { audience } : {}), take: 100 }, request);
      return page.data;
    });
  }

  /** Grants the API; a grant that already exists is fine (Auth0 answers 409), so a repeated create is harmless. */
  async function ensureGrant(clientId: string, audience: string): Promise<void> {
    try {
      await call('grant api access', 'idempotent', (request) => auth0.clientGrants.create({ client_id: clientId, audience, scope: scopes }, request));
    } catch (error) {
      if (error instanceof ConflictError) return;
      if (error instanceof ClientNotFoundError) throw new InvalidRequestError('Auth0 has no API with this audience.');
      throw error;
    }
  }

  async function removeClient(clientId: string): Promise<void> {
    for (const grant of await listGrants(clientId)) {
      if (grant.id) await call('revoke api access', 'idempotent', (request) => auth0.clientGrants.delete(grant.id!, request));
    }
    await call('delete client', 'idempotent', (request) => auth0.clients.delete(clientId, request));
  }

  /** After a create whose answer was lost: the client may exist, found by the registration id set before the create. */
  async function removeUnconfirmedRegistration(registration: string): Promise<void> {
    for (let page = 0; page < MAX_PAGES; page++) {
      const found = await call('find unconfirmed client', 'idempotent', async (request) => {
        const listed = await auth0.clients.list({ page, per_page: 100, include_totals: true, fields: 'client_id,client_metadata', include_fields: true }, request);
        return listed.data as Auth0Client[];
      });
      const orphan = found.find((client) => isOwned(client) && client.client_metadata?.dcr_bridge_registration === registration);
      if (orphan?.client_id) return removeClient(orphan.client_id);
      if (found.length < 100) return;
    }
  }

  return {
    name: 'auth0',
    capabilities: { rotationGrace: false, apiAccessGrants: true },

    async registerClient(metadata: ClientMetadata, context: RegistrationContext): Promise<RegisteredClientWithSecret> {
      const mark: BridgeMetadata = {
        dcr_bridge_managed: 'true',
        dcr_bridge_registration: randomUUID(),
        dcr_bridge_issued_at: String(Math.floor(Date.now() / 1000)),
        ...contextMetadata(context),
      };
      const body = toAuth0Client(metadata, mark, context.applicationDescription);
      let created: Auth0Client;
      try {
        created = (await call('register client', 'unsafe', (request) => auth0.clients.create(body as Parameters<typeof auth0.clients.create>[0], request))) as Auth0Client;
      } catch (error) {
        if (mayHaveBeenApplied(error)) await removeUnconfirmedRegistration(mark.dcr_bridge_registration!).catch(() => undefined);
        throw error;
      }
      const clientId = created.client_id;
      if (!clientId || (metadata.tokenEndpointAuthMethod !== 'none' && !created.client_secret)) {
        if (clientId) await removeClient(clientId).catch(() => undefined);
        throw new IdpError('Auth0 created the client without returning its credentials.');
      }
      if (options.audience && metadata.grantTypes.includes('client_credentials')) {
        try {
          await ensureGrant(clientId, options.audience);
        } catch (error) {
          await removeClient(clientId).catch(() => undefined);
          throw error instanceof InvalidRequestError ? new IdpError('Auth0 has no API with the configured AUTH0_AUDIENCE.') : error;
        }
      }
      return { ...toRegisteredClient(created), clientSecret: created.client_secret ?? '' };
    },

    async getClient(clientId: string): Promise<RegisteredClient> {
      return toRegisteredClient(await findOwnedClient(clientId));
    },

    async updateClient(clientId: string, metadata: ClientMetadata): Promise<RegisteredClient> {
      const existing = await findOwnedClient(clientId);
      const kept = Object.fromEntries(Object.entries(stringMetadata(existing)).filter(([key]) => key.startsWith('dcr_bridge_') || CONTEXT_KEYS.has(key)));
      const body = toAuth0Client(metadata, kept, undefined);
      // Auth0 merges client_metadata on update; a key is removed by sending it as null.
      const removed = Object.fromEntries(Object.keys(existing.client_metadata ?? {}).filter((key) => !(key in body.client_metadata)).map((key) => [key, null]));
      const updated = await call('update client', 'idempotent', (request) => auth0.clients.update(clientId, { ...body, client_metadata: { ...removed, ...body.client_metadata } } as Parameters<typeof auth0.clients.update>[1], request));
      return toRegisteredClient(updated as Auth0Client);
    },

    async deleteClient(clientId: string): Promise<void> {
      const client = await findClient(clientId);
      if (!client) return;
      if (!isOwned(client)) throw new ClientNotFoundError();
      await removeClient(clientId);
    },

    async rotateSecret(clientId: string): Promise<RotatedSecret> {
      const client = await findOwnedClient(clientId);
      if (client.token_endpoint_auth_method === 'none') throw new InvalidRequestError('This client authenticates without a client secret, so it has none to rotate.');
      // Not repeated blindly: a second rotate would silently replace the secret the first one issued.
      const rotated = (await call('rotate secret', 'unsafe', (request) => auth0.clients.rotateSecret(clientId, request))) as Auth0Client;
      if (!rotated.client_secret) throw new IdpError('Auth0 rotated the secret without returning it.');
      return { clientId, clientSecret: rotated.client_secret, clientSecretExpiresAt: 0 };
    },

    async retireExpiredSecrets(): Promise<number> {
      return 0;
    },

    async checkReadiness(): Promise<void> {
      await call('readiness', 'idempotent', (request) => auth0.clients.list({ page: 0, per_page: 1, include_totals: true, fields: 'client_id', include_fields: true }, request));
    },

    async grantApiAccess(clientId: string, access: ApiAccess): Promise<void> {
      const audience = access.audience ?? options.audience;
      await findOwnedClient(clientId);
      if (audience) await ensureGrant(clientId, audience);
    },

    async revokeApiAccess(clientId: string, access: ApiAccess): Promise<void> {
      const audience = access.audience ?? options.audience;
      await findOwnedClient(clientId);
      if (!audience) return;
      for (const grant of await listGrants(clientId, audience)) {
        if (grant.id) await call('revoke api access', 'idempotent', (request) => auth0.clientGrants.delete(grant.id!, request));
      }
    },

    async close(): Promise<void> {},
  };
}

/** The admin token, by client credentials for the Management API, as the SDK's own token provider asks for it. */
async function requestAdminToken(options: Auth0DriverOptions, timeoutMs: number): Promise<{ accessToken: string; expiresInSeconds: number }> {
  let response: Response;
  try {
    response = await fetch(`https://${options.domain}/oauth/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: options.clientId,
        client_secret: options.clientSecret,
        audience: `https://${options.domain}/api/v2/`,
      }),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    throw new TokenRequestError({ ...(describeNetworkError(error) ?? { kind: 'network' }), notSent: true });
  }
  if (!response.ok) {
    await response.arrayBuffer().catch(() => undefined);
    // Any refusal but throttling or an outage is the bridge's own credentials refused.
    const status = response.status === 429 || response.status >= 500 ? response.status : 401;
    throw new TokenRequestError({ kind: 'status', status, retryAfterMs: retryAfterFromHeaders(response.headers, status), notSent: true });
  }
  const body = (await response.json()) as { access_token?: unknown; expires_in?: unknown };
  if (typeof body.access_token !== 'string' || typeof body.expires_in !== 'number') throw new IdpError('Auth0 answered the token request without a usable token.');
  return { accessToken: body.access_token, expiresInSeconds: body.expires_in };
}

// With the 3 mark keys and the 5 RFC 7591 ones, these 2 reach Auth0's limit of 10 keys exactly.
const CONTEXT_KEYS = new Set(['portal_id', 'developer_id']);

function contextMetadata(context: RegistrationContext): BridgeMetadata {
  return withoutUndefined({ portal_id: context.portalId, developer_id: context.developerId });
}

function isOwned(client: Auth0Client): boolean {
  return client.client_metadata?.dcr_bridge_managed === 'true';
}

/** Whether a failed unsafe call may still have been carried out by Auth0 (its answer lost, or a 5xx after acting). */
function mayHaveBeenApplied(error: unknown): boolean {
  const failure = error instanceof BridgeError ? (error.cause as UpstreamFailure | undefined) : undefined;
  if (!failure || typeof failure !== 'object' || !('kind' in failure) || failure.notSent) return false;
  if (failure.kind === 'timeout' || failure.kind === 'network') return true;
  return failure.status !== undefined && failure.status >= 500;
}

function toAuth0Client(metadata: ClientMetadata, mark: BridgeMetadata, description: string | undefined) {
  const unsupported = metadata.grantTypes.find((grant) => !AUTH0_GRANT_TYPES.has(grant));
  if (unsupported) throw new InvalidClientMetadataError(`Auth0 does not support the grant type ${unsupported}.`);
  if (!AUTH0_AUTH_METHODS.has(metadata.tokenEndpointAuthMethod)) {
    throw new InvalidClientMetadataError('Auth0 supports the token endpoint auth methods client_secret_basic, client_secret_post and none.');
  }
  if (metadata.clientName !== undefined && /[<>]/.test(metadata.clientName)) throw new InvalidClientMetadataError('Auth0 does not allow < or > in a client name.');
  const clientMetadata: BridgeMetadata = {
    ...mark,
    ...withoutUndefined({
      response_types: metadata.responseTypes.length > 0 ? metadata.responseTypes.join(' ') : undefined,
      scope: metadata.scope,
      client_uri: metadata.clientUri,
      contacts: metadata.contacts && metadata.contacts.length > 0 ? metadata.contacts.join(' ') : undefined,
      jwks_uri: metadata.jwksUri,
    }),
  };
  for (const [key, value] of Object.entries(clientMetadata)) {
    if (value.length > 255) throw new InvalidClientMetadataError(`Auth0 keeps at most 255 characters of ${key}.`);
  }
  return {
    name: metadata.clientName ?? DEFAULT_NAME,
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

function stringMetadata(client: Auth0Client): BridgeMetadata {
  return Object.fromEntries(Object.entries(client.client_metadata ?? {}).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
}

function toRegisteredClient(client: Auth0Client): RegisteredClient {
  const stored = stringMetadata(client);
  const words = (value: string | undefined) => (value ? value.split(' ').filter(Boolean) : undefined);
  const optional = withoutUndefined({
    clientName: client.name,
    scope: stored.scope,
    clientUri: stored.client_uri,
    contacts: words(stored.contacts),
    jwksUri: stored.jwks_uri,
    logoUri: client.logo_uri || undefined,
    postLogoutRedirectUris: client.allowed_logout_urls && client.allowed_logout_urls.length > 0 ? client.allowed_logout_urls : undefined,
  });
  return {
    clientId: client.client_id ?? '',
    clientIdIssuedAt: Number(stored.dcr_bridge_issued_at ?? 0),
    clientSecretExpiresAt: 0,
    metadata: {
      ...optional,
      redirectUris: client.callbacks ?? [],
      grantTypes: client.grant_types ?? [],
      responseTypes: words(stored.response_types) ?? [],
      tokenEndpointAuthMethod: client.token_endpoint_auth_method ?? 'client_secret_post',
      applicationType: client.app_type === 'native' ? 'native' : 'web',
    },
  };
}

function withoutUndefined<T extends object>(value: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, entry]) => entry !== undefined)) as { [K in keyof T]: Exclude<T[K], undefined> };
}

export const createDriverFromEnv: DriverFactory = async (env, settings) => {
  const domain = requiredEnv(env, 'AUTH0_DOMAIN', "the tenant's domain, e.g. example.eu.auth0.com");
  if (!/^[A-Za-z0-9.-]+(:\d{1,5})?$/.test(domain)) throw new ConfigurationError('AUTH0_DOMAIN', 'must be a host name such as example.eu.auth0.com, without https:// or a path');
  const clientId = requiredEnv(env, 'AUTH0_CLIENT_ID', "the client id of the bridge's machine-to-machine application");
  const clientSecret = requiredEnv(env, 'AUTH0_CLIENT_SECRET', "the client secret of the bridge's machine-to-machine application");
  const audience = envValue(env, 'AUTH0_AUDIENCE');
  const defaultScopes = envValue(env, 'AUTH0_DEFAULT_SCOPES')?.split(/\s+/).filter(Boolean);
  if (defaultScopes && !audience) throw new ConfigurationError('AUTH0_DEFAULT_SCOPES', 'needs AUTH0_AUDIENCE: the scopes are those of the API it names');
  return createAuth0Driver({ domain, clientId, clientSecret, audience, defaultScopes, idpCallPolicy: settings.idpCallPolicy });
};
