/**
 * Microsoft Entra ID: each client is an app registration (an `application` in Microsoft Graph v1.0, plus its
 * service principal so it can get tokens in the tenant) whose `client_id` is the `appId` Entra assigns. The admin
 * token comes from `@azure/msal-node` (client credentials, `{ENTRA_GRAPH_URL}/.default`); Graph is called over
 * fetch. The bridge's mark is the tag `dcr-bridge:managed`; the RFC 7591 fields Entra has no place for live in the
 * application's `notes`. Secrets are `passwordCredentials`, of which Entra holds several, so rotation can keep the
 * old one for the grace period. New objects replicate for a few seconds, which the driver waits out, bounded.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { X509Certificate, createHash, createPrivateKey, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  AuthError,
  ConfidentialClientApplication,
  LogLevel,
  ServerError,
  type INetworkModule,
  type NetworkRequestOptions,
  type NetworkResponse,
} from '@azure/msal-node';
import { ConfigurationError, envValue, requiredEnv, urlEnv, type Env } from '../src/env.js';
import { ClientNotFoundError, IdpUnavailableError, InvalidClientMetadataError } from '../src/errors.js';
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
import type { ClientMetadata, DcrDriver, DriverFactory, RegisteredClient, RegisteredClientWithSecret, RegistrationContext, RotatedSecret } from '../src/driver/contract.js';

const OWNER_TAG = 'dcr-bridge:managed';
const REGISTRATION_TAG_PREFIX = 'dcr-bridge:registration:';
const NOTES_PREFIX = 'Managed by dcr-bridge; RFC 7591 metadata: ';
const PASSWORD_NAME = 'dcr-bridge';
const DEFAULT_DISPLAY_NAME = 'dcr-bridge client';
/** Entra's appId is a GUID; anything else cannot name a client, so it never reaches a Graph path. */
const APP_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Bounds every listing: 50 pages of 999 applications. */
const MAX_PAGES = 50;

export type EntraCredential = { clientSecret: string } | { certificatePem: string };

export interface EntraDriverOptions {
  /** Directory (tenant) id or domain. */
  tenantId: string;
  /** Application (client) id of the bridge's own app registration. */
  clientId: string;
  credential: EntraCredential;
  /** Default `https://login.microsoftonline.com`; a national cloud's login host otherwise. */
  authorityHost?: string;
  /** Default `https://graph.microsoft.com`, without `/v1.0`. */
  graphUrl?: string;
  rotationGraceSeconds?: number;
  idpCallPolicy?: Partial<IdpCallPolicy>;
  /** How long to wait for a new application or password to replicate. Default 30 s. */
  replicationWaitMs?: number;
}

/** The parts of a Graph `application` the bridge reads. */
interface GraphApplication {
  id: string;
  appId: string;
  createdDateTime?: string | null;
  displayName?: string | null;
  description?: string | null;
  notes?: string | null;
  tags?: string[];
  info?: { marketingUrl?: string | null } | null;
  web?: { redirectUris?: string[]; logoutUrl?: string | null } | null;
  spa?: { redirectUris?: string[] } | null;
  publicClient?: { redirectUris?: string[] } | null;
  passwordCredentials?: GraphPassword[];
}

interface GraphPassword {
  keyId: string;
  startDateTime?: string | null;
  endDateTime?: string | null;
  secretText?: string | null;
}

/** What `notes` keeps: the RFC 7591 fields Entra has no property for, and where the registration came from. */
interface StoredMetadata {
  grantTypes: string[];
  responseTypes: string[];
  tokenEndpointAuthMethod: string;
  scope?: string;
  logoUri?: string;
  contacts?: string[];
  jwksUri?: string;
  postLogoutRedirectUris?: string[];
  applicationType?: 'web' | 'native';
  portal?: string;
  portalId?: string;
  organizationId?: string;
  developerId?: string;
}

/** A Graph answer other than 2xx. */
class GraphResponseError extends Error {
  readonly status: number;
  readonly retryAfterMs: number | undefined;

  constructor(status: number, retryAfterMs: number | undefined) {
    super(`Microsoft Graph answered ${status}`);
    this.name = 'GraphResponseError';
    this.status = status;
    this.retryAfterMs = retryAfterMs;
  }
}

/** MSAL keeps only `AuthError`s it is handed, so the token endpoint's status travels beside them. */
const tokenEndpointFailures = new WeakMap<object, UpstreamFailure>();
/** The current attempt's abort signal, for the network client MSAL calls with no signal of its own. */
const attemptSignal = new AsyncLocalStorage<AbortSignal>();

function describeEntraError(error: unknown): UpstreamFailure | undefined {
  if (error instanceof GraphResponseError) return { kind: 'status', status: error.status, retryAfterMs: error.retryAfterMs };
  if (typeof error === 'object' && error !== null && tokenEndpointFailures.has(error)) return tokenEndpointFailures.get(error);
  // The token endpoint refused the bridge's own credentials (AADSTS7000215, 700016...): 4xx answers reach MSAL.
  if (error instanceof ServerError) return { kind: 'status', status: 401 };
  // MSAL swallows the discovery document's failure and reports only that it has no endpoints.
  if (error instanceof AuthError && ['openid_config_error', 'endpoints_resolution_error'].includes(error.errorCode)) return { kind: 'network' };
  // Anything else MSAL refuses, or a Graph answer that is not JSON, is an unusable answer: idp_error, not retried.
  return describeNetworkError(error) ?? (error instanceof AuthError || error instanceof SyntaxError ? { kind: 'status' } : undefined);
}

/**
 * MSAL's HTTP client, with the call layer's abort signal and no retry or throttle memory of MSAL's own: a 429 or
 * 5xx becomes an error carrying its status and `Retry-After`, before MSAL could record a minute-long self-ban.
 */
class TokenEndpointClient implements INetworkModule {
  private readonly fallbackTimeoutMs: number;

  constructor(fallbackTimeoutMs: number) {
    this.fallbackTimeoutMs = fallbackTimeoutMs;
  }

  sendGetRequestAsync<T>(url: string, options?: NetworkRequestOptions): Promise<NetworkResponse<T>> {
    return this.send<T>('GET', url, options);
  }

  sendPostRequestAsync<T>(url: string, options?: NetworkRequestOptions): Promise<NetworkResponse<T>> {
    return this.send<T>('POST', url, options);
  }

  private async send<T>(method: 'GET' | 'POST', url: string, options: NetworkRequestOptions | undefined): Promise<NetworkResponse<T>> {
    const signal = attemptSignal.getStore() ?? AbortSignal.timeout(this.fallbackTimeoutMs);
    let response: Response;
    try {
      response = await fetch(url, { method, headers: options?.headers, body: method === 'POST' ? (options?.body ?? '') : undefined, signal });
    } catch (error) {
      throw failure('network_error', describeNetworkError(error) ?? { kind: 'network' });
    }
    if (response.status === 429 || response.status >= 500) {
      await response.arrayBuffer().catch(() => undefined);
      throw failure('server_unavailable', { kind: 'status', status: response.status, retryAfterMs: retryAfterFromHeaders(response.headers, response.status) });
    }
    try {
      return { status: response.status, headers: Object.fromEntries(response.headers), body: (await response.json()) as T };
    } catch (error) {
      throw failure('network_error', describeNetworkError(error) ?? { kind: 'status', status: 502 });
    }
  }
}

function failure(code: string, upstream: UpstreamFailure): AuthError {
  const error = new AuthError(code, 'The Entra token endpoint did not issue a token.');
  tokenEndpointFailures.set(error, upstream);
  return error;
}

export function createEntraDriver(options: EntraDriverOptions): DcrDriver {
  const authorityHost = (options.authorityHost ?? 'https://login.microsoftonline.com').replace(/\/+$/, '');
  const graphUrl = (options.graphUrl ?? 'https://graph.microsoft.com').replace(/\/+$/, '').replace(/\/v1\.0$/, '');
  const graphBase = `${graphUrl}/v1.0`;
  const graceMs = Math.max(0, options.rotationGraceSeconds ?? 0) * 1000;
  const replicationWaitMs = options.replicationWaitMs ?? 30_000;
  const caller = new IdpCaller({ describe: describeEntraError, policy: options.idpCallPolicy });

  const msal = new ConfidentialClientApplication({
    auth: {
      clientId: options.clientId,
      authority: `${authorityHost}/${encodeURIComponent(options.tenantId)}`,
      knownAuthorities: [new URL(authorityHost).host],
      ...('clientSecret' in options.credential ? { clientSecret: options.credential.clientSecret } : { clientCertificate: certificateCredential(options.credential.certificatePem) }),
    },
    system: {
      networkClient: new TokenEndpointClient(caller.policy.timeoutMs),
      disableInternalRetries: true,
      loggerOptions: { piiLoggingEnabled: false, logLevel: LogLevel.Error, loggerCallback: () => undefined },
    },
  });

  const tokens = new AdminTokenCache(async () => {
    const result = await caller.call('acquire admin token', 'idempotent', (signal) =>
      attemptSignal.run(signal, () => msal.acquireTokenByClientCredential({ scopes: [`${graphUrl}/.default`], skipCache: true })),
    );
    if (!result?.accessToken || !result.expiresOn) throw new IdpUnavailableError('The identity provider issued no usable admin token; retry later.');
    return { accessToken: result.accessToken, expiresInSeconds: Math.max(1, Math.floor((result.expiresOn.getTime() - Date.now()) / 1000)) };
  });

  async function send<T>(method: string, path: string, token: string, body: unknown, signal: AbortSignal): Promise<T> {
    const url = path.startsWith('https://') ? path : `${graphBase}${path}`;
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: 'application/json', 'client-request-id': randomUUID() };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal });
    if (!response.ok) {
      await response.arrayBuffer().catch(() => undefined);
      throw new GraphResponseError(response.status, retryAfterFromHeaders(response.headers, response.status));
    }
    if (response.status === 204) return undefined as T;
    return (await response.json()) as T;
  }

  /** One Graph call through the call layer; a 401 means the cached admin token went stale, so it is renewed once. */
  async function graph<T>(operation: string, safety: CallSafety, method: string, path: string, body?: unknown): Promise<T> {
    for (let renewed = false; ; renewed = true) {
      const token = await tokens.get();
      try {
        return await caller.call(operation, safety, (signal) => send<T>(method, path, token, body, signal));
      } catch (error) {
        if (upstreamStatusOf(error) !== 401 || renewed) throw error;
        tokens.invalidate();
      }
    }
  }

  /** Entra replicates a new object for a few seconds; until then it answers as if it did not exist. Waited out, bounded. */
  async function afterReplication<T>(attempt: () => Promise<T>, isLag: (status: number | undefined) => boolean): Promise<T> {
    const deadline = Date.now() + replicationWaitMs;
    for (let delay = 100; ; delay = Math.min(delay * 2, 2_000)) {
      try {
        return await attempt();
      } catch (error) {
        if (!isLag(upstreamStatusOf(error)) || Date.now() + delay > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }
  const notYetVisible = (status: number | undefined) => status === 404;
  // A service principal for an app that has not replicated yet is refused with 400 "does not reference a valid application".
  const referenceNotYetVisible = (status: number | undefined) => status === 400 || status === 404;

  const byAppIdPath = (clientId: string) => `/applications(appId='${encodeURIComponent(clientId)}')`;
  const objectPath = (id: string) => `/applications/${encodeURIComponent(id)}`;

  /** The application behind `clientId`, only if this bridge created it. */
  async function ownedApplication(clientId: string): Promise<GraphApplication> {
    if (!APP_ID.test(clientId)) throw new ClientNotFoundError();
    const app = await graph<GraphApplication>('read application', 'idempotent', 'GET', byAppIdPath(clientId));
    if (!app.tags?.includes(OWNER_TAG)) throw new ClientNotFoundError();
    return app;
  }

  async function removePassword(app: GraphApplication, keyId: string): Promise<void> {
    try {
      await graph('remove password', 'idempotent', 'POST', `${objectPath(app.id)}/removePassword`, { keyId });
    } catch (error) {
      // A repeated removal is refused once the first one took effect: gone is what was wanted.
      const status = upstreamStatusOf(error);
      if (status !== 400 && status !== 404) throw error;
      const current = await graph<GraphApplication>('read application', 'idempotent', 'GET', objectPath(app.id));
      if (current.passwordCredentials?.some((password) => password.keyId === keyId)) throw error;
    }
  }

  /** Deletes an application the bridge created during a registration that then failed. */
  async function compensate(objectId: string): Promise<void> {
    await afterReplication(() => graph('delete application', 'idempotent', 'DELETE', objectPath(objectId)), notYetVisible).catch(() => undefined);
  }

  /** After a create whose outcome is unknown (no answer, or a 5xx), finds the application by its registration tag and deletes it. */
  async function removeLostApplication(registrationTag: string, error: unknown): Promise<void> {
    const status = upstreamStatusOf(error);
    if (status !== undefined && status < 500) return;
    const filter = `tags/any(t:t eq '${registrationTag}')`;
    try {
      const found = await graph<{ value: GraphApplication[] }>('find application', 'idempotent', 'GET', `/applications?${new URLSearchParams({ $filter: filter })}`);
      for (const app of found.value) await compensate(app.id);
    } catch {
      // Best effort: the create's own error is the one to report.
    }
  }

  /** After an `addPassword` whose outcome is unknown, removes any password it may have added, which nobody knows. */
  async function removeLostPasswords(app: GraphApplication, known: GraphPassword[], error: unknown): Promise<void> {
    const status = upstreamStatusOf(error);
    if (status !== undefined && status < 500) return;
    try {
      const current = await graph<GraphApplication>('read application', 'idempotent', 'GET', objectPath(app.id));
      const knownIds = new Set(known.map((password) => password.keyId));
      for (const password of current.passwordCredentials ?? []) if (!knownIds.has(password.keyId)) await removePassword(app, password.keyId);
    } catch {
      // Best effort: the rotation's own error is the one to report, and the old secret still works.
    }
  }

  return {
    name: 'entra',
    capabilities: { rotationGrace: true, apiAccessGrants: false },

    async registerClient(metadata: ClientMetadata, context: RegistrationContext): Promise<RegisteredClientWithSecret> {
      const registrationTag = `${REGISTRATION_TAG_PREFIX}${randomUUID()}`;
      const body = { ...toApplication(metadata, context), signInAudience: 'AzureADMyOrg', tags: [OWNER_TAG, registrationTag] };
      let app: GraphApplication;
      try {
        app = await graph<GraphApplication>('create application', 'unsafe', 'POST', '/applications', body);
      } catch (error) {
        await removeLostApplication(registrationTag, error);
        throw error;
      }
      try {
        const password = await afterReplication(
          () => graph<GraphPassword>('add password', 'unsafe', 'POST', `${objectPath(app.id)}/addPassword`, { passwordCredential: { displayName: PASSWORD_NAME } }),
          notYetVisible,
        );
        await afterReplication(() => graph('create service principal', 'unsafe', 'POST', '/servicePrincipals', { appId: app.appId }), referenceNotYetVisible);
        // The client id is handed out only once it can be looked up by it.
        await afterReplication(() => graph('read application', 'idempotent', 'GET', byAppIdPath(app.appId)), notYetVisible);
        if (!password.secretText) throw new IdpUnavailableError('The identity provider returned no secret; retry later.');
        return { ...toRegisteredClient({ ...app, ...body }), clientSecret: password.secretText, clientSecretExpiresAt: epochSeconds(password.endDateTime) };
      } catch (error) {
        await compensate(app.id);
        if (error instanceof ClientNotFoundError) throw new IdpUnavailableError('The identity provider did not make the new client visible in time; retry later.', { cause: error });
        throw error;
      }
    },

    async getClient(clientId: string): Promise<RegisteredClient> {
      return toRegisteredClient(await ownedApplication(clientId));
    },

    async updateClient(clientId: string, metadata: ClientMetadata): Promise<RegisteredClient> {
      const app = await ownedApplication(clientId);
      const stored = readNotes(app.notes);
      const changes = toApplication(metadata, { portal: stored.portal as RegistrationContext['portal'], portalId: stored.portalId, organizationId: stored.organizationId, developerId: stored.developerId });
      // The description belongs to the registration context, which an update does not carry.
      delete changes.description;
      await graph('update application', 'idempotent', 'PATCH', objectPath(app.id), changes);
      return toRegisteredClient({ ...app, ...changes });
    },

    async deleteClient(clientId: string): Promise<void> {
      if (!APP_ID.test(clientId)) return;
      let app: GraphApplication;
      try {
        app = await ownedApplication(clientId);
      } catch (error) {
        if (error instanceof ClientNotFoundError && upstreamStatusOf(error) === 404) return;
        throw error;
      }
      try {
        await graph('delete application', 'idempotent', 'DELETE', objectPath(app.id));
      } catch (error) {
        if (upstreamStatusOf(error) !== 404) throw error;
      }
    },

    async rotateSecret(clientId: string): Promise<RotatedSecret> {
      const app = await ownedApplication(clientId);
      const previous = [...(app.passwordCredentials ?? [])].sort(byStart);
      // With a grace, only the newest old secret stays: Entra's app object is bounded, and two secrets are enough.
      const retireNow = graceMs > 0 ? previous.slice(0, -1) : [];
      for (const password of retireNow) await removePassword(app, password.keyId);
      let added: GraphPassword;
      try {
        added = await afterReplication(
          () => graph<GraphPassword>('add password', 'unsafe', 'POST', `${objectPath(app.id)}/addPassword`, { passwordCredential: { displayName: PASSWORD_NAME } }),
          notYetVisible,
        );
      } catch (error) {
        await removeLostPasswords(app, previous, error);
        throw error;
      }
      if (!added.secretText) throw new IdpUnavailableError('The identity provider returned no secret; retry later.');
      if (graceMs === 0) {
        try {
          for (const password of previous) await removePassword(app, password.keyId);
        } catch (error) {
          // The rotation did not happen: the new secret goes, the old one (still there) keeps working.
          await removePassword(app, added.keyId).catch(() => undefined);
          throw error;
        }
      }
      return { clientId, clientSecret: added.secretText, clientSecretExpiresAt: epochSeconds(added.endDateTime) };
    },

    async retireExpiredSecrets(now: number): Promise<number> {
      if (graceMs === 0) return 0;
      let retired = 0;
      let next: string | undefined = `/applications?${new URLSearchParams({ $filter: `tags/any(t:t eq '${OWNER_TAG}')`, $top: '999' })}`;
      for (let page = 0; next && page < MAX_PAGES; page++) {
        const listing: { value: GraphApplication[]; '@odata.nextLink'?: string | null } = await graph('list applications', 'idempotent', 'GET', next);
        for (const app of listing.value) {
          const passwords = [...(app.passwordCredentials ?? [])].sort(byStart);
          // A secret's grace starts when the next one was added.
          for (let index = 0; index < passwords.length - 1; index++) {
            const supersededAt = Date.parse(passwords[index + 1]!.startDateTime ?? '');
            if (Number.isFinite(supersededAt) && supersededAt + graceMs < now) {
              await removePassword(app, passwords[index]!.keyId);
              retired++;
            }
          }
        }
        const link = listing['@odata.nextLink'];
        // The admin token goes to Graph and nowhere else.
        next = link && link.startsWith(`${graphBase}/`) ? link : undefined;
      }
      return retired;
    },

    async checkReadiness(): Promise<void> {
      await graph('check readiness', 'idempotent', 'GET', `/applications?${new URLSearchParams({ $top: '1' })}`);
    },

    // No API grants at this IdP; a client this bridge did not create is still not found.
    async grantApiAccess(clientId: string): Promise<void> {
      await ownedApplication(clientId);
    },
    async revokeApiAccess(clientId: string): Promise<void> {
      await ownedApplication(clientId);
    },
    async close(): Promise<void> {},
  };
}

/** The Graph properties a registration sets; every platform is written, so an update replaces what was there. */
function toApplication(metadata: ClientMetadata, context: RegistrationContext): Record<string, unknown> & { description?: string | null } {
  const redirectUris = metadata.redirectUris;
  const isPublic = metadata.tokenEndpointAuthMethod === 'none';
  // A public client with the code flow is a SPA in the browser (https) or a native app (loopback, private scheme).
  const platform = !isPublic ? 'web' : metadata.applicationType === 'native' ? 'publicClient' : 'spa';
  const stored: StoredMetadata = {
    grantTypes: metadata.grantTypes,
    responseTypes: metadata.responseTypes,
    tokenEndpointAuthMethod: metadata.tokenEndpointAuthMethod,
    scope: metadata.scope,
    logoUri: metadata.logoUri,
    contacts: metadata.contacts,
    jwksUri: metadata.jwksUri,
    postLogoutRedirectUris: metadata.postLogoutRedirectUris,
    applicationType: metadata.applicationType,
    portal: context.portal,
    portalId: context.portalId,
    organizationId: context.organizationId,
    developerId: context.developerId,
  };
  const notes = `${NOTES_PREFIX}${JSON.stringify(stored)}`;
  if (notes.length > 1024) throw new InvalidClientMetadataError('The client metadata is too large for an Entra application (its notes hold at most 1024 characters).');
  return {
    displayName: metadata.clientName ?? DEFAULT_DISPLAY_NAME,
    description: context.applicationDescription?.slice(0, 1024) ?? null,
    notes,
    web: { redirectUris: platform === 'web' ? redirectUris : [], logoutUrl: metadata.postLogoutRedirectUris?.[0] ?? null },
    spa: { redirectUris: platform === 'spa' ? redirectUris : [] },
    publicClient: { redirectUris: platform === 'publicClient' ? redirectUris : [] },
    isFallbackPublicClient: platform === 'publicClient',
    info: { marketingUrl: metadata.clientUri ?? null },
  };
}

function readNotes(notes: string | null | undefined): Partial<StoredMetadata> {
  if (!notes?.startsWith(NOTES_PREFIX)) return {};
  try {
    return JSON.parse(notes.slice(NOTES_PREFIX.length)) as Partial<StoredMetadata>;
  } catch {
    return {};
  }
}

function toRegisteredClient(app: GraphApplication): RegisteredClient {
  const stored = readNotes(app.notes);
  const metadata: ClientMetadata = {
    clientName: app.displayName ?? undefined,
    redirectUris: [...(app.web?.redirectUris ?? []), ...(app.spa?.redirectUris ?? []), ...(app.publicClient?.redirectUris ?? [])],
    grantTypes: stored.grantTypes?.length ? stored.grantTypes : ['client_credentials'],
    responseTypes: stored.responseTypes ?? [],
    tokenEndpointAuthMethod: stored.tokenEndpointAuthMethod ?? 'client_secret_basic',
  };
  const optional: Partial<ClientMetadata> = {
    scope: stored.scope,
    clientUri: app.info?.marketingUrl ?? undefined,
    logoUri: stored.logoUri,
    contacts: stored.contacts,
    jwksUri: stored.jwksUri,
    postLogoutRedirectUris: stored.postLogoutRedirectUris ?? (app.web?.logoutUrl ? [app.web.logoutUrl] : undefined),
    applicationType: stored.applicationType,
  };
  for (const [key, value] of Object.entries(optional)) if (value !== undefined) (metadata as unknown as Record<string, unknown>)[key] = value;
  const newest = [...(app.passwordCredentials ?? [])].sort(byStart).at(-1);
  return {
    clientId: app.appId,
    clientIdIssuedAt: epochSeconds(app.createdDateTime) || Math.floor(Date.now() / 1000),
    clientSecretExpiresAt: epochSeconds(newest?.endDateTime),
    metadata,
  };
}

function byStart(a: GraphPassword, b: GraphPassword): number {
  return (Date.parse(a.startDateTime ?? '') || 0) - (Date.parse(b.startDateTime ?? '') || 0);
}

/** Epoch seconds of an ISO date; `0` when there is none. */
function epochSeconds(iso: string | null | undefined): number {
  const time = Date.parse(iso ?? '');
  return Number.isFinite(time) ? Math.floor(time / 1000) : 0;
}

/** `ENTRA_CERTIFICATE_PATH`'s PEM (private key + certificate) as MSAL wants it: the key and the SHA-256 thumbprint. */
function certificateCredential(pem: string): { privateKey: string; thumbprintSha256: string; x5c: string } {
  const certificate = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem)?.[0];
  const key = /-----BEGIN (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----[\s\S]+?-----END (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----/.exec(pem)?.[0];
  if (!certificate || !key) throw new ConfigurationError('ENTRA_CERTIFICATE_PATH', 'must name a PEM file holding both the private key and the certificate');
  const der = new X509Certificate(certificate).raw;
  return {
    privateKey: createPrivateKey(key).export({ format: 'pem', type: 'pkcs8' }).toString(),
    thumbprintSha256: createHash('sha256').update(der).digest('hex'),
    x5c: certificate,
  };
}

function httpsUrlEnv(env: Env, name: string, fallback: string): string {
  const value = urlEnv(env, name, fallback);
  // MSAL and Graph speak https only; an http URL would fail later with a less clear message.
  if (!value.startsWith('https://')) throw new ConfigurationError(name, 'must be an absolute https URL');
  return value;
}

export const createDriverFromEnv: DriverFactory = async (env, settings) => {
  const tenantId = requiredEnv(env, 'ENTRA_TENANT_ID', 'the directory (tenant) id of the Entra tenant');
  if (!/^[A-Za-z0-9.-]{1,256}$/.test(tenantId) || ['common', 'organizations', 'consumers'].includes(tenantId.toLowerCase())) {
    throw new ConfigurationError('ENTRA_TENANT_ID', 'must be the tenant id (a GUID) or its domain, not common/organizations/consumers');
  }
  const clientId = requiredEnv(env, 'ENTRA_CLIENT_ID', "the application (client) id of the bridge's own app registration");
  if (!APP_ID.test(clientId)) throw new ConfigurationError('ENTRA_CLIENT_ID', 'must be an application (client) id, a GUID');
  const clientSecret = envValue(env, 'ENTRA_CLIENT_SECRET');
  const certificatePath = envValue(env, 'ENTRA_CERTIFICATE_PATH');
  if (clientSecret && certificatePath) throw new ConfigurationError('ENTRA_CLIENT_SECRET', 'and ENTRA_CERTIFICATE_PATH are both set; set only one');
  let credential: EntraCredential;
  if (certificatePath) {
    let pem: string;
    try {
      pem = readFileSync(certificatePath, 'utf8');
    } catch {
      throw new ConfigurationError('ENTRA_CERTIFICATE_PATH', 'must name a readable PEM file holding the private key and the certificate');
    }
    certificateCredential(pem);
    credential = { certificatePem: pem };
  } else if (clientSecret) {
    credential = { clientSecret };
  } else {
    throw new ConfigurationError('ENTRA_CLIENT_SECRET', "is required (or ENTRA_CERTIFICATE_PATH): a client secret of the bridge's own app registration");
  }
  return createEntraDriver({
    tenantId,
    clientId,
    credential,
    authorityHost: httpsUrlEnv(env, 'ENTRA_AUTHORITY_HOST', 'https://login.microsoftonline.com'),
    graphUrl: httpsUrlEnv(env, 'ENTRA_GRAPH_URL', 'https://graph.microsoft.com'),
    rotationGraceSeconds: settings.rotationGraceSeconds,
    idpCallPolicy: settings.idpCallPolicy,
  });
};

