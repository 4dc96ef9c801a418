/**
 * Okta: each client is an OIDC app (`oidc_client`, `OPENID_CONNECT`) under `/api/v1/apps`, created through
 * `@okta/okta-sdk-nodejs`, whose `client_id` is the app id Okta assigns. The bridge's mark is `profile.dcr_bridge`
 * on the app (it also keeps the RFC 7591 fields Okta has no place for). Secrets live under
 * `/credentials/secrets`, where Okta holds two, so rotation can keep the old one for the grace period.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { createPrivateKey, randomUUID, sign, type JsonWebKey, type KeyObject } from 'node:crypto';
import { createRequire } from 'node:module';
import { Client, RequestExecutor, type Application, type Collection } from '@okta/okta-sdk-nodejs';
import type { RequestOptions } from '@okta/okta-sdk-nodejs/src/types/request-options.js';
import type { OAuth } from '@okta/okta-sdk-nodejs/src/types/oauth.js';
import { ConfigurationError, envValue, requiredEnv, urlEnv } from '../src/env.js';
import { BridgeError, ClientNotFoundError, IdpError, InvalidClientMetadataError, InvalidRequestError } from '../src/errors.js';
import {
  IdpCaller,
  describeNetworkError,
  retryAfterFromHeaders,
  type CallSafety,
  type HeaderSource,
  type IdpCallPolicy,
  type UpstreamFailure,
} from '../src/idp/call.js';
import { AdminTokenCache, type IssuedToken } from '../src/idp/token-cache.js';
import type { ClientMetadata, DcrDriver, DriverFactory, RegisteredClient, RegisteredClientWithSecret, RegistrationContext, RotatedSecret } from '../src/driver/contract.js';

const OWNER = 'dcr-bridge';
const DEFAULT_LABEL = 'dcr-bridge client';
const DEFAULT_SCOPES = ['okta.apps.manage', 'okta.apps.read'];
const CLIENT_ID = /^[A-Za-z0-9._~-]{1,255}$/;
const OKTA_GRANT_TYPES = new Set([
  'authorization_code',
  'client_credentials',
  'implicit',
  'password',
  'refresh_token',
  'urn:ietf:params:oauth:grant-type:device_code',
  'urn:ietf:params:oauth:grant-type:jwt-bearer',
  'urn:ietf:params:oauth:grant-type:token-exchange',
]);
const OKTA_RESPONSE_TYPES = new Set(['code', 'token', 'id_token']);
const SECRET_METHODS = new Set(['client_secret_basic', 'client_secret_post', 'client_secret_jwt']);
/** Bounds every listing: 50 pages of 200 apps. */
const MAX_PAGES = 50;

export type OktaCredentials = { apiToken: string } | { clientId: string; privateKey: string; keyId?: string; scopes?: string[] };

export interface OktaDriverOptions {
  /** `https://example.okta.com`, no trailing slash. */
  orgUrl: string;
  credentials: OktaCredentials;
  rotationGraceSeconds?: number;
  idpCallPolicy?: Partial<IdpCallPolicy>;
}

/** What the bridge keeps in the app's `profile` (Okta: "any valid JSON", not encrypted — never a secret). */
interface BridgeMark {
  owner: typeof OWNER;
  /** Set before the create, so an app whose create answer was lost can be found and removed. */
  registration: string;
  named?: boolean;
  scope?: string;
  contacts?: string[];
  portal?: string;
  portal_id?: string;
  organization_id?: string;
  developer_id?: string;
}

/** The parts of Okta's app the bridge reads; the SDK's models carry the same wire names. */
interface OktaApp {
  id: string;
  status?: string;
  created?: Date | string;
  label?: string;
  name?: string;
  signOnMode?: string;
  profile?: { dcr_bridge?: BridgeMark } & Record<string, unknown>;
  accessibility?: unknown;
  visibility?: unknown;
  credentials?: { oauthClient?: { client_id?: string; client_secret?: string; token_endpoint_auth_method?: string; autoKeyRotation?: boolean } };
  settings?: { oauthClient?: Record<string, unknown> & { redirect_uris?: string[]; post_logout_redirect_uris?: string[]; grant_types?: string[]; response_types?: string[]; application_type?: string } };
}

interface OktaSecret {
  id: string;
  status?: string;
  created?: string;
  client_secret?: string;
}

// The bridge's configuration is complete and explicit: the SDK must not read ~/.okta/okta.yaml, ./okta.yaml or
// OKTA_CLIENT_* variables behind its back, so its loader keeps only its built-in default.
const sdkRequire = createRequire(import.meta.url);
const { ConfigLoader } = sdkRequire('@okta/okta-sdk-nodejs/src/config-loader.js') as {
  ConfigLoader: { prototype: { applyDefaults(): void; apply(config: unknown): void } };
};
ConfigLoader.prototype.applyDefaults = function applyBuiltInDefaultsOnly(this: { apply(config: unknown): void }) {
  this.apply({ client: { authorizationMode: 'SSWS' } });
};

/**
 * A plain executor (no SDK retries) that sends each request with the abort signal of the call it belongs to, over
 * Node's own fetch: it keeps connections alive, where the SDK's node-fetch 2 opens a TLS connection per call (and
 * fails with "Premature close" on a keep-alive agent).
 */
class CallScopedRequestExecutor extends RequestExecutor {
  constructor(private readonly callSignal: AsyncLocalStorage<AbortSignal>) {
    super();
  }

  override fetch(request: RequestOptions): ReturnType<RequestExecutor['fetch']> {
    const { url, method, headers, body } = request as { url: string; method?: string; headers?: Record<string, string>; body?: string };
    this.emit('request', request);
    const sent = fetch(url, { method: method?.toUpperCase(), headers, body, signal: this.callSignal.getStore() ?? null }).then((response) => {
      this.emit('response', response);
      return response;
    });
    return sent as unknown as ReturnType<RequestExecutor['fetch']>;
  }
}

/** A non-2xx answer of the token endpoint, shaped like the SDK's own errors (status + headers). */
class TokenEndpointError extends Error {
  constructor(
    readonly status: number,
    readonly headers: HeaderSource,
  ) {
    super(`Okta token endpoint answered ${status}`);
    this.name = 'TokenEndpointError';
  }
}

function describeOktaError(error: unknown): UpstreamFailure | undefined {
  const { status, headers } = error as { status?: unknown; headers?: HeaderSource };
  if (typeof status === 'number') return { kind: 'status', status, retryAfterMs: retryAfterFromHeaders(headers, status) };
  return describeNetworkError(error);
}

export function createOktaDriver(options: OktaDriverOptions): DcrDriver {
  const graceSeconds = options.rotationGraceSeconds ?? 0;
  const callSignal = new AsyncLocalStorage<AbortSignal>();
  const executor = new CallScopedRequestExecutor(callSignal);
  const caller = new IdpCaller({ describe: describeOktaError, policy: options.idpCallPolicy });
  const sdkConfig = { orgUrl: options.orgUrl, token: '', clientId: '', scopes: [] as string[], privateKey: '', keyId: '' };
  let client: Client;
  if ('apiToken' in options.credentials) {
    client = new Client({ ...sdkConfig, authorizationMode: 'SSWS', token: options.credentials.apiToken, requestExecutor: executor, cacheMiddleware: null });
  } else {
    const { clientId, privateKey, keyId, scopes = DEFAULT_SCOPES } = options.credentials;
    const signingKey = parsePrivateKey(privateKey);
    const tokens = new AdminTokenCache(() => requestServiceAppToken(executor, options.orgUrl, { clientId, signingKey, keyId: keyId ?? signingKey.keyId, scopes }));
    client = new Client({ ...sdkConfig, authorizationMode: 'PrivateKey', clientId, scopes, privateKey, keyId: keyId ?? '', requestExecutor: executor, cacheMiddleware: null });
    // The SDK asks this for a token before each request and clears it once when Okta answers 401.
    const tokenSource = {
      isDPoP: false,
      getAccessToken: async () => ({ access_token: await tokens.get(), token_type: 'Bearer' }),
      clearCachedAccessToken: () => tokens.invalidate(),
    };
    client.http.oauth = tokenSource as unknown as OAuth;
  }
  const apps = client.applicationApi;
  const secrets = client.applicationSSOPublicKeysApi;

  function call<T>(operation: string, safety: CallSafety, attempt: () => Promise<T>): Promise<T> {
    return caller.call(operation, safety, (signal) => callSignal.run(signal, attempt)).catch((error: unknown) => {
      throw error instanceof BridgeError ? error : new IdpError(undefined, { cause: error });
    });
  }

  async function listAppsPage(operation: string, query: { q?: string; filter?: string; limit: number }, maxPages = MAX_PAGES): Promise<OktaApp[]> {
    return call(operation, 'idempotent', async () => {
      const collection = await apps.listApplications({ q: query.q, limit: query.limit, filter: query.filter });
      return collect(collection as unknown as Collection<OktaApp>, query.limit * maxPages);
    });
  }

  /** The app whose client_id this is, looked up by Okta's filter (client_id = app id for the apps the bridge creates). */
  async function findApp(clientId: string): Promise<OktaApp | undefined> {
    if (!CLIENT_ID.test(clientId) || clientId === '.' || clientId === '..') throw new InvalidRequestError('The client_id is not a valid client identifier.');
    const found = await listAppsPage('find client', { filter: `id eq "${clientId}"`, limit: 2 }, 1);
    return found.find((app) => app.credentials?.oauthClient?.client_id === clientId);
  }

  async function findOwnedApp(clientId: string): Promise<OktaApp> {
    const app = await findApp(clientId);
    if (!app || !isOwned(app)) throw new ClientNotFoundError();
    return app;
  }

  /** Deactivates, then deletes (Okta refuses to delete an active app); an app already gone is fine. */
  async function removeApp(app: OktaApp): Promise<void> {
    if (app.status !== 'INACTIVE') {
      const gone = await ignoreNotFound(call('deactivate client', 'idempotent', () => apps.deactivateApplication({ appId: app.id })));
      if (gone) return;
    }
    await ignoreNotFound(call('delete client', 'idempotent', () => apps.deleteApplication({ appId: app.id })));
  }

  /** After a create whose answer was lost: the app may exist, found by the registration id set before the create. */
  async function removeUnconfirmedRegistration(label: string, registration: string): Promise<void> {
    const candidates = await listAppsPage('find unconfirmed client', { q: label.slice(0, 100), limit: 200 }, 5);
    const orphan = candidates.find((app) => isOwned(app) && app.profile?.dcr_bridge?.registration === registration);
    if (orphan) await removeApp(orphan);
  }

  async function listSecrets(appId: string): Promise<OktaSecret[]> {
    const found = await call('list secrets', 'idempotent', async () =>
      collect((await secrets.listOAuth2ClientSecrets({ appId })) as unknown as Collection<OktaSecret>, 10),
    );
    // Okta's times have whole seconds; the stable sort keeps its own (creation) order for equal ones.
    return found.sort((a, b) => Date.parse(a.created ?? '') - Date.parse(b.created ?? ''));
  }

  async function retireSecret(appId: string, secret: OktaSecret): Promise<void> {
    if (secret.status === 'ACTIVE') {
      await ignoreNotFound(call('deactivate secret', 'idempotent', () => secrets.deactivateOAuth2ClientSecret({ appId, secretId: secret.id })));
    }
    await ignoreNotFound(call('delete secret', 'idempotent', () => secrets.deleteOAuth2ClientSecret({ appId, secretId: secret.id })));
  }

  /** Puts the secrets back as they were before a rotation that failed: the old ones active, the new one gone. */
  async function restoreSecrets(appId: string, previous: OktaSecret[], fresh: OktaSecret | undefined): Promise<void> {
    await Promise.allSettled(previous.filter((secret) => secret.status === 'ACTIVE').map((secret) => call('reactivate secret', 'idempotent', () => secrets.activateOAuth2ClientSecret({ appId, secretId: secret.id }))));
    const current = fresh ? [fresh] : (await listSecrets(appId).catch(() => [])).filter((secret) => !previous.some((old) => old.id === secret.id));
    for (const secret of current) await retireSecret(appId, { ...secret, status: 'ACTIVE' }).catch(() => undefined);
  }

  return {
    name: 'okta',
    capabilities: { rotationGrace: true, apiAccessGrants: false },

    async registerClient(metadata: ClientMetadata, context: RegistrationContext): Promise<RegisteredClientWithSecret> {
      const mark: BridgeMark = { owner: OWNER, registration: randomUUID(), ...markedMetadata(metadata), ...markedContext(context) };
      const body = toOktaApp(metadata, mark);
      let created: OktaApp;
      try {
        created = (await call('register client', 'unsafe', () => apps.createApplication({ application: body as unknown as Application, activate: true }))) as unknown as OktaApp;
      } catch (error) {
        if (mayHaveBeenApplied(error)) await removeUnconfirmedRegistration(body.label, mark.registration).catch(() => undefined);
        throw error;
      }
      const secret = created.credentials?.oauthClient?.client_secret;
      if (SECRET_METHODS.has(metadata.tokenEndpointAuthMethod) && !secret) {
        await removeApp(created).catch(() => undefined);
        throw new IdpError('Okta created the client without a secret.');
      }
      return { ...toRegisteredClient(created), clientSecret: secret ?? '' };
    },

    async getClient(clientId: string): Promise<RegisteredClient> {
      return toRegisteredClient(await findOwnedApp(clientId));
    },

    async updateClient(clientId: string, metadata: ClientMetadata): Promise<RegisteredClient> {
      const app = await findOwnedApp(clientId);
      const mark: BridgeMark = { ...app.profile!.dcr_bridge!, ...markedMetadata(metadata) };
      const replacement = toOktaApp(metadata, mark, app);
      const replaced = await call('update client', 'idempotent', () => apps.replaceApplication({ appId: app.id, application: replacement as unknown as Application }));
      return toRegisteredClient(replaced as unknown as OktaApp);
    },

    async deleteClient(clientId: string): Promise<void> {
      const app = await findApp(clientId);
      if (!app) return;
      if (!isOwned(app)) throw new ClientNotFoundError();
      await removeApp(app);
    },

    async rotateSecret(clientId: string): Promise<RotatedSecret> {
      const app = await findOwnedApp(clientId);
      if (!SECRET_METHODS.has(app.credentials?.oauthClient?.token_endpoint_auth_method ?? '')) {
        throw new InvalidRequestError('This client authenticates without a client secret, so it has none to rotate.');
      }
      let previous = await listSecrets(app.id);
      // Okta holds two secrets: rotating again during a grace period ends the older grace now.
      while (previous.length >= 2) {
        const oldest = previous.find((secret) => secret.status !== 'ACTIVE') ?? previous[0]!;
        await retireSecret(app.id, oldest);
        previous = previous.filter((secret) => secret !== oldest);
      }
      let fresh: OktaSecret;
      try {
        fresh = (await call('create secret', 'unsafe', () => secrets.createOAuth2ClientSecret({ appId: app.id, oAuth2ClientSecretRequestBody: {} }))) as unknown as OktaSecret;
      } catch (error) {
        if (mayHaveBeenApplied(error)) await restoreSecrets(app.id, previous, undefined).catch(() => undefined);
        throw error;
      }
      if (!fresh.client_secret) {
        await restoreSecrets(app.id, previous, fresh).catch(() => undefined);
        throw new IdpError('Okta created the secret without returning it.');
      }
      if (graceSeconds <= 0) {
        try {
          for (const old of previous) await retireSecret(app.id, old);
        } catch (error) {
          await restoreSecrets(app.id, previous, fresh).catch(() => undefined);
          throw error;
        }
      }
      return { clientId, clientSecret: fresh.client_secret, clientSecretExpiresAt: 0 };
    },

    async retireExpiredSecrets(now: number): Promise<number> {
      if (graceSeconds <= 0) return 0;
      const owned = (await listAppsPage('list clients', { filter: 'name eq "oidc_client"', limit: 200 })).filter(isOwned);
      let retired = 0;
      for (const app of owned) {
        const held = await listSecrets(app.id);
        const newest = held.at(-1);
        // The grace of the older secrets runs from the moment the newest one was issued.
        if (!newest || Date.parse(newest.created ?? '') + graceSeconds * 1000 >= now) continue;
        for (const old of held.slice(0, -1)) {
          await retireSecret(app.id, old);
          retired++;
        }
      }
      return retired;
    },

    async checkReadiness(): Promise<void> {
      await listAppsPage('readiness', { limit: 1 }, 1);
    },

    // Okta grants an OIDC app's access through authorization-server policies, not per client: nothing to do here.
    async grantApiAccess(): Promise<void> {},
    async revokeApiAccess(): Promise<void> {},

    async close(): Promise<void> {},
  };
}

function isOwned(app: OktaApp): boolean {
  return app.signOnMode === 'OPENID_CONNECT' && app.name === 'oidc_client' && app.profile?.dcr_bridge?.owner === OWNER;
}

/** Whether a failed unsafe call may still have been carried out by Okta (its answer lost, or a 5xx after acting). */
function mayHaveBeenApplied(error: unknown): boolean {
  const failure = error instanceof BridgeError ? (error.cause as UpstreamFailure | undefined) : undefined;
  if (!failure || typeof failure !== 'object' || !('kind' in failure)) return false;
  if (failure.kind === 'timeout') return true;
  if (failure.kind === 'network') return failure.notSent !== true;
  return failure.status !== undefined && failure.status >= 500;
}

async function ignoreNotFound(operation: Promise<unknown>): Promise<boolean> {
  try {
    await operation;
    return false;
  } catch (error) {
    if (error instanceof ClientNotFoundError) return true;
    throw error;
  }
}

async function collect<T>(collection: Collection<T>, max: number): Promise<T[]> {
  const items: T[] = [];
  for await (const item of collection) {
    if (item) items.push(item);
    if (items.length >= max) break;
  }
  return items;
}

function markedMetadata(metadata: ClientMetadata): Pick<BridgeMark, 'named' | 'scope' | 'contacts'> {
  return { named: metadata.clientName !== undefined, scope: metadata.scope, contacts: metadata.contacts };
}

function markedContext(context: RegistrationContext): Partial<BridgeMark> {
  return { portal: context.portal, portal_id: context.portalId, organization_id: context.organizationId, developer_id: context.developerId };
}

function toOktaApp(metadata: ClientMetadata, mark: BridgeMark, existing?: OktaApp) {
  const unsupported = metadata.grantTypes.find((grant) => !OKTA_GRANT_TYPES.has(grant));
  if (unsupported) throw new InvalidClientMetadataError(`Okta does not support the grant type ${unsupported}.`);
  const responseTypes = metadata.responseTypes.length > 0 ? metadata.responseTypes : defaultResponseTypes(metadata.grantTypes);
  if (responseTypes.some((type) => !OKTA_RESPONSE_TYPES.has(type))) throw new InvalidClientMetadataError('Okta supports the response types code, token and id_token.');
  const method = metadata.tokenEndpointAuthMethod;
  return {
    name: 'oidc_client',
    signOnMode: 'OPENID_CONNECT',
    label: metadata.clientName ?? DEFAULT_LABEL,
    ...(existing ? { accessibility: existing.accessibility, visibility: existing.visibility } : {}),
    credentials: {
      oauthClient: {
        ...(existing ? { client_id: existing.credentials?.oauthClient?.client_id } : {}),
        token_endpoint_auth_method: method,
        autoKeyRotation: existing?.credentials?.oauthClient?.autoKeyRotation ?? true,
        pkce_required: method === 'none',
      },
    },
    settings: {
      oauthClient: {
        // What an admin set that RFC 7591 has no name for survives an update.
        ...existing?.settings?.oauthClient,
        application_type: applicationType(metadata),
        grant_types: metadata.grantTypes,
        response_types: responseTypes,
        redirect_uris: metadata.redirectUris,
        post_logout_redirect_uris: metadata.postLogoutRedirectUris,
        client_uri: metadata.clientUri,
        logo_uri: metadata.logoUri,
        jwks_uri: metadata.jwksUri,
      },
    },
    profile: { ...existing?.profile, dcr_bridge: withoutUndefined(mark) },
  };
}

function defaultResponseTypes(grants: string[]): string[] {
  const types = [...(grants.includes('authorization_code') ? ['code'] : []), ...(grants.includes('implicit') ? ['token', 'id_token'] : [])];
  // Okta's service apps (client credentials only) carry `token`.
  return types.length > 0 ? types : ['token'];
}

/** The response types the grants can use: Okta's service apps carry `token`, which RFC 7591 clients never asked for. */
function usableResponseTypes(types: string[], grants: string[]): string[] {
  return types.filter((type) => (type === 'code' ? grants.includes('authorization_code') : grants.includes('implicit')));
}

/** Okta's application type: derived from the grants, since RFC 7591 only knows web and native. */
function applicationType(metadata: ClientMetadata): string {
  if (metadata.applicationType === 'native') return 'native';
  const interactive = metadata.grantTypes.some((grant) => grant === 'authorization_code' || grant === 'implicit');
  if (!interactive && metadata.grantTypes.includes('client_credentials')) return 'service';
  return metadata.tokenEndpointAuthMethod === 'none' ? 'browser' : 'web';
}

function toRegisteredClient(app: OktaApp): RegisteredClient {
  const settings = app.settings?.oauthClient ?? {};
  const mark = app.profile?.dcr_bridge;
  const optional = withoutUndefined({
    clientName: mark?.named === false ? undefined : app.label,
    scope: mark?.scope,
    contacts: mark?.contacts,
    clientUri: settings.client_uri as string | undefined,
    logoUri: settings.logo_uri as string | undefined,
    jwksUri: settings.jwks_uri as string | undefined,
    postLogoutRedirectUris: settings.post_logout_redirect_uris,
  });
  return {
    clientId: app.credentials?.oauthClient?.client_id ?? app.id,
    clientIdIssuedAt: Math.floor(new Date(app.created ?? Date.now()).getTime() / 1000),
    clientSecretExpiresAt: 0,
    metadata: {
      ...optional,
      redirectUris: settings.redirect_uris ?? [],
      grantTypes: settings.grant_types ?? [],
      responseTypes: usableResponseTypes(settings.response_types ?? [], settings.grant_types ?? []),
      tokenEndpointAuthMethod: app.credentials?.oauthClient?.token_endpoint_auth_method ?? 'client_secret_basic',
      applicationType: settings.application_type === 'native' ? 'native' : 'web',
    },
  };
}

function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, entry]) => entry !== undefined)) as T;
}

/** An access token for the bridge's OAuth service app: a signed client assertion at the org authorization server. */
async function requestServiceAppToken(
  executor: RequestExecutor,
  orgUrl: string,
  credentials: { clientId: string; signingKey: { key: KeyObject }; keyId?: string; scopes: string[] },
): Promise<IssuedToken> {
  const tokenUrl = `${orgUrl}/oauth2/v1/token`;
  const response = await executor.fetch({
    url: tokenUrl,
    method: 'POST',
    headers: { Accept: 'application/json', 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      scope: credentials.scopes.join(' '),
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: clientAssertion(credentials.signingKey.key, credentials.keyId, credentials.clientId, tokenUrl),
    }).toString(),
  } as unknown as RequestOptions);
  if (!response.ok) {
    await response.text();
    // A refused assertion is the bridge's own credentials refused, whatever 4xx Okta picks for it.
    const refused = response.status >= 400 && response.status < 500 && response.status !== 429;
    throw new TokenEndpointError(refused ? 401 : response.status, response.headers);
  }
  const body = (await response.json()) as { access_token?: unknown; expires_in?: unknown };
  if (typeof body.access_token !== 'string' || typeof body.expires_in !== 'number') throw new IdpError('Okta answered the token request without a usable token.');
  return { accessToken: body.access_token, expiresInSeconds: body.expires_in };
}

/** A PEM or JWK private key (RSA, or EC P-256), with the JWK's `kid` when it has one. */
function parsePrivateKey(text: string): { key: KeyObject; keyId?: string } {
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) {
    const jwk = JSON.parse(trimmed) as { kid?: string } & Record<string, unknown>;
    return { key: createPrivateKey({ key: jwk as JsonWebKey, format: 'jwk' }), keyId: jwk.kid };
  }
  return { key: createPrivateKey(trimmed.replaceAll('\\n', '\n')) };
}

/** The RFC 7523 client assertion Okta's org authorization server accepts from a service app (`private_key_jwt`). */
function clientAssertion(key: KeyObject, keyId: string | undefined, clientId: string, audience: string): string {
  const ec = key.asymmetricKeyType === 'ec';
  const now = Math.floor(Date.now() / 1000);
  const encode = (part: object) => Buffer.from(JSON.stringify(part)).toString('base64url');
  const input = `${encode({ alg: ec ? 'ES256' : 'RS256', typ: 'JWT', ...(keyId ? { kid: keyId } : {}) })}.${encode({
    iss: clientId,
    sub: clientId,
    aud: audience,
    iat: now,
    exp: now + 300,
    jti: randomUUID(),
  })}`;
  const signature = sign('sha256', Buffer.from(input), ec ? { key, dsaEncoding: 'ieee-p1363' } : key);
  return `${input}.${signature.toString('base64url')}`;
}

export const createDriverFromEnv: DriverFactory = async (env, settings) => {
  const orgUrl = urlEnv(env, 'OKTA_ORG_URL');
  const apiToken = envValue(env, 'OKTA_API_TOKEN');
  const clientId = envValue(env, 'OKTA_CLIENT_ID');
  let credentials: OktaCredentials;
  if (apiToken !== undefined && clientId !== undefined) {
    throw new ConfigurationError('OKTA_API_TOKEN', 'and OKTA_CLIENT_ID are both set; use either the API token or the OAuth service app');
  } else if (apiToken !== undefined) {
    credentials = { apiToken };
  } else if (clientId !== undefined) {
    const privateKey = requiredEnv(env, 'OKTA_PRIVATE_KEY', "the service app's private key, PEM or JWK");
    try {
      parsePrivateKey(privateKey);
    } catch {
      throw new ConfigurationError('OKTA_PRIVATE_KEY', 'must be a PEM private key or a private JWK (RSA or EC P-256)');
    }
    const scopes = (envValue(env, 'OKTA_SCOPES') ?? DEFAULT_SCOPES.join(' ')).split(/\s+/).filter(Boolean);
    credentials = { clientId, privateKey, keyId: envValue(env, 'OKTA_KEY_ID'), scopes };
  } else {
    throw new ConfigurationError('OKTA_API_TOKEN', 'is required: an Okta API token (or set OKTA_CLIENT_ID and OKTA_PRIVATE_KEY for the OAuth service app)');
  }
  return createOktaDriver({ orgUrl, credentials, rotationGraceSeconds: settings.rotationGraceSeconds, idpCallPolicy: settings.idpCallPolicy });
};
