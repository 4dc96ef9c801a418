/**
 * Microsoft Entra ID: each client is an app registration (an `application` in Microsoft Graph v1.0, plus its
 * service principal so it can get tokens in the tenant) whose `client_id` is the `appId` Entra assigns. The admin
 * token comes from `@azure/msal-node` (client credentials, `{ENTRA_GRAPH_URL}/.default`); Graph is called over
 * the kit's HTTP client. The bridge's mark is the tag `dcr-bridge:managed`; the RFC 7591 fields Entra has no place for live in the
 * application's `notes`. Secrets are `passwordCredentials`, of which Entra holds several, so rotation can keep the
 * old one for the grace period. New objects replicate for a few seconds, which the driver waits out, bounded.
 */
import { randomUUID } from 'node:crypto';
import {
  AuthError,
  ConfidentialClientApplication,
  LogLevel,
  ServerError,
  type INetworkModule,
  type NetworkRequestOptions,
  type NetworkResponse,
} from '@azure/msal-node';
import {
  ConfigurationError,
  certificateCredential,
  eitherEnv,
  httpsUrlEnv,
  readCertificatePem,
  requiredEnv,
} from '../src/env.js';
import { fetchDiscoveryJson } from '../src/discovery.js';
import { ClientNotFoundError, IdpUnavailableError, InvalidClientMetadataError } from '../src/errors.js';
import { hasStrings, isRecord, isRecordArray, withoutUndefined } from '../src/records.js';
import {
  type AddedClientSecret,
  addOneSecret,
  type AdminCallSettings,
  answerUnread,
  AttemptScope,
  type CallSafety,
  carryFailure,
  checkHasSecret,
  cleanUpIfApplied,
  type ClientMetadata,
  type ClientSecretInfo,
  createAdminCall,
  deleteOwned,
  type DriverFactory,
  type DriverImplementation,
  epochSecondsOf,
  flatMark,
  foundOrUndefined,
  goneIsDone,
  graceEnds,
  graceRotation,
  type IdpHttpClient,
  openRegistrations,
  ownedClientSummary,
  pageOfOwnedClients,
  pages,
  registeredClient,
  type RegisteredClient,
  requireOwned,
  revokeListedSecret,
  secretLimitReached,
  type SecretSlots,
  statusFailure,
  undoOnFailure,
  type UpstreamFailure,
  upstreamStatusOf,
  usableAnswer,
} from '../src/driver/index.js';

const OWNER_TAG = 'dcr-bridge:managed';
/** The grace mark: set before a grace password is added, removed once the old one is; Graph filters tags by `eq`. */
const GRACE_TAG = 'dcr-bridge:grace';
const REGISTRATION_TAG_PREFIX = 'dcr-bridge:registration:';
const NOTES_PREFIX = 'Managed by dcr-bridge; RFC 7591 metadata: ';
const PASSWORD_NAME = 'dcr-bridge';
/** The display name of a password added as a further credential (`addSecret`), which the grace sweep leaves alone. */
const ADDED_PASSWORD_NAME = 'dcr-bridge added';
/**
 * Graph's limit that bounds an application's passwords: no limit of their own for a single-tenant application
 * (`AzureADMyOrg`), but an aggregate of 1,200 entries across the collection properties of the application
 * (learn.microsoft.com/entra/identity-platform/supported-accounts-validation).
 */
const GRAPH_COLLECTION_LIMIT = 1200;
/** Entra's appId is a GUID; anything else cannot name a client, so it never reaches a Graph path. */
const APP_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Bounds every listing: 50 pages of 999 applications. */
const MAX_PAGES = 50;

export type EntraCredential = { clientSecret: string } | { certificatePem: string };

export interface EntraDriverOptions extends AdminCallSettings {
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
  displayName?: string | null;
  secretText?: string | null;
  startDateTime?: string | null;
  endDateTime?: string | null;
}

/** What `notes` keeps: the RFC 7591 fields Entra has no property for, and the bridge's mark (the tag says "managed"). */
type StoredMetadata = Pick<
  ClientMetadata,
  | 'grantTypes'
  | 'responseTypes'
  | 'tokenEndpointAuthMethod'
  | 'scope'
  | 'logoUri'
  | 'contacts'
  | 'jwksUri'
  | 'postLogoutRedirectUris'
  | 'applicationType'
> & {
  mark?: Record<string, string>;
};

const MARK = flatMark({ prefix: '' });
const isApplication = (value: unknown): value is GraphApplication =>
  hasStrings('id', 'appId')(value) && (value.tags === undefined || Array.isArray(value.tags));
const isPassword = (value: unknown): value is GraphPassword => hasStrings('keyId')(value);
const isOwned = (app: GraphApplication) => app.tags?.includes(OWNER_TAG) === true;

/** The current attempt, whose abort signal the network client MSAL calls with no signal of its own reads. */
const attemptScope = new AttemptScope();

/** Epoch seconds of an ISO date; `0` when there is none (or it is not a date). */
const epochSeconds = (iso: string | null | undefined) => Math.floor(Date.parse(iso ?? '') / 1000) || 0;

/** Headers with one string per name (repeated headers joined by `, `), as MSAL reads them. */
const singleValuedHeaders = (headers: Record<string, string | string[] | undefined>): Record<string, string> =>
  Object.fromEntries(
    Object.entries(headers).flatMap(([name, value]) =>
      value === undefined ? [] : [[name, Array.isArray(value) ? value.join(', ') : value]],
    ),
  );

/** The SDK's failures; the token endpoint's, which MSAL keeps only as the `AuthError`s it is handed, the kit reads from `carryFailure`. */
function describeEntraError(error: unknown): UpstreamFailure | undefined {
  // The token endpoint refused the bridge's own credentials (AADSTS7000215, 700016...): 4xx answers reach MSAL.
  if (error instanceof ServerError) return { kind: 'status', status: 401 };
  // MSAL swallows the discovery document's failure and reports only that it has no endpoints.
  if (error instanceof AuthError && ['openid_config_error', 'endpoints_resolution_error'].includes(error.errorCode))
    return { kind: 'network' };
  // A socket failure is the kit's to describe; anything else MSAL refuses, or a Graph answer that is not JSON, is the
  // kit's unusable answer: idp_error, not retried.
  return undefined;
}

/**
 * MSAL's HTTP client, over the kit's pooled client with the call layer's abort signal and no retry or throttle memory
 * of MSAL's own: a 429 or 5xx becomes an error carrying its status and `Retry-After`, before MSAL could record a
 * minute-long self-ban.
 */
class TokenEndpointClient implements INetworkModule {
  constructor(
    private readonly http: IdpHttpClient,
    private readonly fallbackTimeoutMs: number,
  ) {}

  sendGetRequestAsync<T>(url: string, options?: NetworkRequestOptions): Promise<NetworkResponse<T>> {
    return this.send<T>('GET', url, options);
  }

  sendPostRequestAsync<T>(url: string, options?: NetworkRequestOptions): Promise<NetworkResponse<T>> {
    return this.send<T>('POST', url, options);
  }

  private async send<T>(
    method: 'GET' | 'POST',
    url: string,
    options: NetworkRequestOptions | undefined,
  ): Promise<NetworkResponse<T>> {
    const signal = attemptScope.signal ?? AbortSignal.timeout(this.fallbackTimeoutMs);
    const answer = await this.http
      .request(url, {
        method,
        headers: options?.headers,
        body: method === 'POST' ? (options?.body ?? '') : undefined,
        signal,
      })
      .catch((error: unknown) => {
        // The socket's failure, described by the kit (a network failure when it is none).
        throw failure('network_error', { cause: error });
      });
    if (answer.status === 429 || answer.status >= 500)
      throw failure('server_unavailable', statusFailure(answer.status, answer.headers));
    try {
      return { status: answer.status, headers: singleValuedHeaders(answer.headers), body: answer.json() as T };
    } catch {
      // Not JSON: the token endpoint answered something unusable.
      throw failure('network_error', { kind: 'status' });
    }
  }
}

const failure = (code: string, upstream: UpstreamFailure | { cause: unknown }) =>
  carryFailure(new AuthError(code, 'The Entra token endpoint did not issue a token.'), upstream);

export function createEntraDriver(options: EntraDriverOptions): DriverImplementation {
  const authorityHost = (options.authorityHost ?? 'https://login.microsoftonline.com').replace(/\/+$/, '');
  const graphUrl = (options.graphUrl ?? 'https://graph.microsoft.com').replace(/\/+$/, '').replace(/\/v1\.0$/, '');
  const graphBase = `${graphUrl}/v1.0`;
  const graceSeconds = Math.max(0, options.rotationGraceSeconds ?? 0);
  const replicationWaitMs = options.replicationWaitMs ?? 30_000;

  const call = createAdminCall({
    ...options,
    host: new URL(graphUrl).host,
    tokenHost: new URL(authorityHost).host,
    describe: describeEntraError,
    fetchToken: async (signal) => {
      const result = await attemptScope.run({ signal, token: '' }, () =>
        msal.acquireTokenByClientCredential({ scopes: [`${graphUrl}/.default`], skipCache: true }),
      );
      const issued = usableAnswer(
        result,
        (value): value is { accessToken: string; expiresOn: Date } =>
          hasStrings('accessToken')(value) && value.expiresOn instanceof Date,
        'the token request',
      );
      return {
        accessToken: issued.accessToken,
        expiresInSeconds: Math.max(1, Math.floor((issued.expiresOn.getTime() - Date.now()) / 1000)),
      };
    },
  });

  const msal = new ConfidentialClientApplication({
    auth: {
      clientId: options.clientId,
      authority: `${authorityHost}/${encodeURIComponent(options.tenantId)}`,
      knownAuthorities: [new URL(authorityHost).host],
      ...('clientSecret' in options.credential
        ? { clientSecret: options.credential.clientSecret }
        : { clientCertificate: certificateCredential(options.credential.certificatePem, 'ENTRA_CERTIFICATE_PATH') }),
    },
    system: {
      networkClient: new TokenEndpointClient(call.http, call.policy.timeoutMs),
      disableInternalRetries: true,
      loggerOptions: { piiLoggingEnabled: false, logLevel: LogLevel.Error, loggerCallback: () => undefined },
    },
  });

  /** One Graph call through the kit's admin call, its answer checked to be usable before anything reads it. */
  const graph = <T>(
    operation: string,
    safety: CallSafety,
    method: string,
    path: string,
    isUsable: (value: unknown) => value is T,
    body?: unknown,
  ): Promise<T> =>
    call(operation, safety, async (signal, token) => {
      const url = path.startsWith('https://') ? path : `${graphBase}${path}`;
      const answer = await call.http.requestJson(url, {
        method,
        token,
        body,
        headers: { 'client-request-id': randomUUID() },
        signal,
      });
      return usableAnswer(answer, isUsable, `the ${operation}`);
    });
  const nothing = (value: unknown): value is unknown => value === undefined || isRecord(value);

  /** Entra replicates a new object for a few seconds; until then it answers as if it did not exist. Waited out, bounded. */
  const afterReplication = <T>(attempt: () => Promise<T>, isLag: (status: number | undefined) => boolean) =>
    call.retryWhilePassing(attempt, isLag, replicationWaitMs);
  const notYetVisible = (status: number | undefined) => status === 404;
  // A service principal for an app that has not replicated yet is refused with 400 "does not reference a valid application".
  const referenceNotYetVisible = (status: number | undefined) => status === 400 || status === 404;

  const byAppIdPath = (clientId: string) => `/applications(appId='${encodeURIComponent(clientId)}')`;
  const objectPath = (id: string) => `/applications/${encodeURIComponent(id)}`;
  const taggedPath = (tag: string) =>
    `/applications?${new URLSearchParams({ $filter: `tags/any(t:t eq '${tag}')`, $top: '999' })}`;
  // The next page's link; the admin token goes to Graph and nowhere else.
  const nextPage = ({ '@odata.nextLink': link }: Listing) => (link?.startsWith(`${graphBase}/`) ? link : undefined);
  const readApplication = (path: string) => graph('read application', 'idempotent', 'GET', path, isApplication);
  const addPassword = (app: GraphApplication, displayName = PASSWORD_NAME) =>
    afterReplication(
      () =>
        graph('add password', 'unsafe', 'POST', `${objectPath(app.id)}/addPassword`, isPassword, {
          passwordCredential: { displayName },
        }),
      notYetVisible,
    );

  /** The application behind `clientId`; Entra's appId is a GUID, so anything else names no client and never reaches a path. */
  const findApplication = async (clientId: string) =>
    APP_ID.test(clientId) ? foundOrUndefined(readApplication(byAppIdPath(clientId))) : undefined;
  const ownedApplication = async (clientId: string) => requireOwned(await findApplication(clientId), isOwned);

  async function removePassword(app: GraphApplication, keyId: string): Promise<void> {
    try {
      await answerUnread(
        graph('remove password', 'idempotent', 'POST', `${objectPath(app.id)}/removePassword`, nothing, { keyId }),
      );
    } catch (error) {
      // A repeated removal is refused once the first one took effect: gone is what was wanted.
      const status = upstreamStatusOf(error);
      if (status !== 400 && status !== 404) throw error;
      const current = await readApplication(objectPath(app.id));
      if (current.passwordCredentials?.some((password) => password.keyId === keyId)) throw error;
    }
  }

  /** Deletes an application the bridge created (gone is done), waiting out replication of a new one. */
  const removeApplication = async (objectId: string) =>
    void (await afterReplication(
      () => goneIsDone(graph('delete application', 'idempotent', 'DELETE', objectPath(objectId), nothing)),
      notYetVisible,
    ));

  /** After a create whose outcome is unknown: the application, found by its registration tag, is deleted. */
  async function removeLostApplication(registrationTag: string): Promise<void> {
    const found = await graph(
      'find application',
      'idempotent',
      'GET',
      `/applications?${new URLSearchParams({ $filter: `tags/any(t:t eq '${registrationTag}')` })}`,
      isListing,
    );
    for (const app of found.value) await removeApplication(app.id);
  }

  /** The bridge's applications (by its tag), page by page: what the open-registration listing reads. */
  const ownedApplications = () =>
    pages.byLink(taggedPath(OWNER_TAG), MAX_PAGES, async (link) => {
      const listing = await graph('list applications', 'idempotent', 'GET', link, isListing);
      return { items: listing.value.filter(isOwned), next: nextPage(listing) };
    });

  /** Entra's passwords of one application, known by key id; a removal that fails leaves the password working. */
  function secretSlots(app: GraphApplication): SecretSlots {
    return {
      list: async () => passwordsOf(await readApplication(objectPath(app.id))),
      add: async () => asAddedSecret(await addPassword(app)),
      remove: (secret) => removePassword(app, secret.id),
      markGrace: () => writeGraceTag(app, true),
      // Only a tagged application has a tag to remove.
      clearGrace: async () => (app.tags?.includes(GRACE_TAG) ? writeGraceTag(app, false) : undefined),
    };
  }

  /** Adds or removes the grace tag; the other tags stay as they are. */
  const writeGraceTag = async (app: GraphApplication, marked: boolean) =>
    void (await graph('mark grace', 'idempotent', 'PATCH', objectPath(app.id), nothing, {
      tags: [...(app.tags ?? []).filter((tag) => tag !== GRACE_TAG), ...(marked ? [GRACE_TAG] : [])],
    }));

  /**
   * The sweep reads the applications with the grace tag, 999 a page; their passwords come with them. The first pass
   * after start reads every application of the bridge instead, where more than one password is a mark too: secrets
   * in grace from before the tag existed are retired all the same.
   */
  let caughtUp = false;
  const rotation = graceRotation<GraphApplication>(graceSeconds, {
    async page(cursor) {
      const tag = caughtUp ? GRACE_TAG : OWNER_TAG;
      const listing = await graph('list applications', 'idempotent', 'GET', cursor ?? taggedPath(tag), isListing);
      const next = nextPage(listing);
      if (next === undefined) caughtUp = true;
      return { clients: listing.value.filter(isOwned), next: () => next };
    },
    graceEndsAt: (app) => (app.tags?.includes(GRACE_TAG) || sweptPasswords(app).length > 1 ? Number.NaN : undefined),
    secrets: async (app, fresh) => sweptPasswords(fresh ? await readApplication(objectPath(app.id)) : app),
    slots: secretSlots,
    // A removal Graph refuses as already done is checked by reading the application.
    costs: { secrets: 0, remove: 2 },
  });

  /**
   * Multiple credentials: the application's `passwordCredentials`, each under its `keyId`. Graph sets no limit of its
   * own on them for the bridge's single-tenant applications, only the aggregate one on the application's collections.
   */
  function passwordInfos(app: GraphApplication): ClientSecretInfo[] {
    const ends = app.tags?.includes(GRACE_TAG)
      ? graceEnds(sweptPasswords(app), graceSeconds)
      : new Map<string, number>();
    return (app.passwordCredentials ?? []).map((password) => {
      const endsAt = epochSeconds(password.endDateTime) || undefined;
      const sweptAt = ends.get(password.keyId);
      const expiresAt = endsAt === undefined || sweptAt === undefined ? (endsAt ?? sweptAt) : Math.min(endsAt, sweptAt);
      return withoutUndefined({
        secretId: password.keyId,
        clientId: app.appId,
        status: expiresAt !== undefined && expiresAt * 1000 <= Date.now() ? ('INACTIVE' as const) : ('ACTIVE' as const),
        createdAt: epochSeconds(password.startDateTime) || undefined,
        expiresAt,
      });
    });
  }

  async function addApplicationPassword(clientId: string): Promise<AddedClientSecret> {
    const app = await ownedApplication(clientId);
    checkHasSecret(toRegisteredClient(app).metadata.tokenEndpointAuthMethod);
    if (collectionEntries(app) >= GRAPH_COLLECTION_LIMIT)
      throw secretLimitReached(
        `Entra holds at most ${GRAPH_COLLECTION_LIMIT} entries across an application's collections, its secrets among them`,
      );
    // Named apart from the rotation's passwords, so the grace sweep leaves the developer's extra secret alone.
    const slots = { ...secretSlots(app), add: async () => asAddedSecret(await addPassword(app, ADDED_PASSWORD_NAME)) };
    const added = await addOneSecret(slots, passwordsOf(app));
    return withoutUndefined({
      secretId: added.id,
      clientId,
      status: 'ACTIVE' as const,
      createdAt: epochSecondsOf(added.createdAt),
      expiresAt: added.expiresAt || undefined,
      clientSecret: added.value,
    });
  }

  async function revokeApplicationPassword(clientId: string, secretId: string): Promise<void> {
    const app = await ownedApplication(clientId);
    await revokeListedSecret(passwordInfos(app), secretId, (secret) => removePassword(app, secret.secretId));
  }

  return {
    name: 'entra',
    capabilities: { rotationGrace: true, apiAccessGrants: false },

    async registerClient(metadata, context) {
      const mark = MARK.create(context);
      const registrationTag = `${REGISTRATION_TAG_PREFIX}${mark.registrationId}`;
      const body = {
        ...toApplication(metadata, MARK.write(mark), context.applicationDescription),
        signInAudience: 'AzureADMyOrg',
        tags: [OWNER_TAG, registrationTag],
      };
      const app = await cleanUpIfApplied(
        () => graph('create application', 'unsafe', 'POST', '/applications', isApplication, body),
        () => removeLostApplication(registrationTag),
      );
      const completeRegistration = async () => {
        const password = await addPassword(app);
        await afterReplication(
          () =>
            graph('create service principal', 'unsafe', 'POST', '/servicePrincipals', isRecord, { appId: app.appId }),
          referenceNotYetVisible,
        );
        // The client id is handed out only once it can be looked up by it.
        await afterReplication(() => readApplication(byAppIdPath(app.appId)), notYetVisible);
        return usableAnswer(
          password,
          (value): value is GraphPassword & { secretText: string } => isPassword(value) && !!value.secretText,
          'the new password',
        );
      };
      const password = await undoOnFailure(completeRegistration, () => removeApplication(app.id)).catch(
        (error: unknown) => {
          throw error instanceof ClientNotFoundError
            ? new IdpUnavailableError(
                'The identity provider did not make the new client visible in time; retry later.',
                { cause: error },
              )
            : error;
        },
      );
      return {
        ...toRegisteredClient({ ...app, ...body }),
        clientSecret: password.secretText,
        clientSecretExpiresAt: epochSeconds(password.endDateTime),
      };
    },

    getClient: async (clientId) => toRegisteredClient(await ownedApplication(clientId)),

    async updateClient(clientId, metadata, registration) {
      const app = await ownedApplication(clientId);
      const changes = toApplication(
        metadata,
        MARK.write(MARK.read(readNotes(app.notes).mark) ?? {}, registration),
        undefined,
      );
      // The description belongs to the registration context, which an update does not carry.
      delete changes.description;
      await graph('update application', 'idempotent', 'PATCH', objectPath(app.id), nothing, changes);
      return toRegisteredClient({ ...app, ...changes });
    },

    deleteClient: async (clientId) =>
      deleteOwned(await findApplication(clientId), isOwned, (app) => removeApplication(app.id)),

    async rotateSecret(clientId) {
      const app = await ownedApplication(clientId);
      const rotated = await rotation.rotate(secretSlots(app));
      return { clientId, clientSecret: rotated.value, clientSecretExpiresAt: rotated.expiresAt };
    },

    retireExpiredSecrets: rotation.sweep,

    listSecrets: async (clientId) => passwordInfos(await ownedApplication(clientId)),
    addSecret: addApplicationPassword,
    revokeSecret: revokeApplicationPassword,

    listOpenRegistrations: (limit) =>
      openRegistrations(
        ownedApplications(),
        limit,
        (app) => MARK.read(readNotes(app.notes).mark),
        (app) => app.appId,
      ),

    // The operator's view: the tenant's applications tagged as the bridge's, in Graph's order.
    listClients: (options) =>
      pageOfOwnedClients(ownedApplications(), options, (app) => {
        const mark = MARK.read(readNotes(app.notes).mark);
        const created = Date.parse(app.createdDateTime ?? '');
        return mark
          ? ownedClientSummary(app.appId, mark, {
              clientName: app.displayName ?? undefined,
              createdAt: Number.isNaN(created) ? undefined : Math.floor(created / 1000),
              pending: app.tags?.includes(GRACE_TAG) === true,
            })
          : undefined;
      }),

    fetchDiscoveryDocument: () =>
      fetchDiscoveryJson(
        call.http,
        `${authorityHost}/${encodeURIComponent(options.tenantId)}/v2.0/.well-known/openid-configuration`,
        call.policy.timeoutMs,
      ),

    checkReadiness: async () =>
      void (await graph(
        'check readiness',
        'idempotent',
        'GET',
        `/applications?${new URLSearchParams({ $top: '1' })}`,
        isListing,
      )),

    close: () => call.close(),
  };
}

type Listing = { value: GraphApplication[]; '@odata.nextLink'?: string | null };
const isListing = (value: unknown): value is Listing =>
  isRecord(value) && isRecordArray(value.value) && value.value.every(isApplication);
const passwordsOf = (app: GraphApplication) =>
  (app.passwordCredentials ?? []).map((password) => ({
    id: password.keyId,
    createdAt: Date.parse(password.startDateTime ?? ''),
  }));

/**
 * The passwords the grace sweep may retire: every one up to the newest the bridge made by registering or rotating.
 * One added later as a further credential (`addSecret`) is the developer's until revoked.
 */
function sweptPasswords(app: GraphApplication) {
  const held = passwordsOf(app);
  const madeByRotation = (app.passwordCredentials ?? [])
    .filter((password) => password.displayName !== ADDED_PASSWORD_NAME)
    .map((password) => Date.parse(password.startDateTime ?? ''));
  const newest = Math.max(...madeByRotation.filter(Number.isFinite));
  return held.filter((password) => !(password.createdAt > newest));
}

const asAddedSecret = (added: GraphPassword) => ({
  id: added.keyId,
  value: added.secretText ?? undefined,
  expiresAt: epochSeconds(added.endDateTime),
  createdAt: Date.parse(added.startDateTime ?? ''),
});

/** The entries of the application's collection properties as Graph answers them (a lower bound of what Graph counts). */
function collectionEntries(app: GraphApplication): number {
  const lengths = (record: object): number[] =>
    Object.values(record).map((value) =>
      Array.isArray(value) ? value.length : isRecord(value) ? lengths(value).reduce((a, b) => a + b, 0) : 0,
    );
  return lengths(app).reduce((a, b) => a + b, 0);
}

/** The Graph properties a registration sets; every platform is written, so an update replaces what was there. */
function toApplication(
  metadata: ClientMetadata,
  mark: Record<string, string>,
  description: string | undefined,
): Record<string, unknown> & { description?: string | null } {
  const redirectUris = metadata.redirectUris;
  const isPublic = metadata.tokenEndpointAuthMethod === 'none';
  // A public client with the code flow is a SPA in the browser (https) or a native app (loopback, private scheme).
  const platform = !isPublic ? 'web' : metadata.applicationType === 'native' ? 'publicClient' : 'spa';
  // Entra has properties for the name, the redirect URIs and the client URI; the rest lives in the notes.
  const { clientName: _name, redirectUris: _redirectUris, clientUri: _clientUri, ...kept } = metadata;
  const stored: StoredMetadata = { ...kept, mark };
  const notes = `${NOTES_PREFIX}${JSON.stringify(withoutUndefined(stored))}`;
  if (notes.length > 1024)
    throw new InvalidClientMetadataError(
      'The client metadata is too large for an Entra application (its notes hold at most 1024 characters).',
    );
  return {
    displayName: metadata.clientName ?? 'dcr-bridge client',
    description: description?.slice(0, 1024) ?? null,
    notes,
    web: {
      redirectUris: platform === 'web' ? redirectUris : [],
      logoutUrl: metadata.postLogoutRedirectUris?.[0] ?? null,
    },
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
  const optional = withoutUndefined({
    clientName: app.displayName ?? undefined,
    scope: stored.scope,
    clientUri: app.info?.marketingUrl ?? undefined,
    logoUri: stored.logoUri,
    contacts: stored.contacts,
    jwksUri: stored.jwksUri,
    postLogoutRedirectUris: stored.postLogoutRedirectUris ?? (app.web?.logoutUrl ? [app.web.logoutUrl] : undefined),
    applicationType: stored.applicationType,
  });
  const metadata: ClientMetadata = {
    ...optional,
    redirectUris: [
      ...(app.web?.redirectUris ?? []),
      ...(app.spa?.redirectUris ?? []),
      ...(app.publicClient?.redirectUris ?? []),
    ],
    grantTypes: stored.grantTypes?.length ? stored.grantTypes : ['client_credentials'],
    responseTypes: stored.responseTypes ?? [],
    tokenEndpointAuthMethod: stored.tokenEndpointAuthMethod ?? 'client_secret_basic',
  };
  const newest = [...(app.passwordCredentials ?? [])]
    .sort((a, b) => (Date.parse(a.startDateTime ?? '') || 0) - (Date.parse(b.startDateTime ?? '') || 0))
    .at(-1);
  const issuedAt = epochSeconds(app.createdDateTime) || Math.floor(Date.now() / 1000);
  return registeredClient(app.appId, metadata, MARK.read(stored.mark), {
    issuedAt,
    secretExpiresAt: epochSeconds(newest?.endDateTime),
  });
}

export const createDriverFromEnv: DriverFactory = async (env, settings) => {
  const tenantId = requiredEnv(env, 'ENTRA_TENANT_ID', 'the directory (tenant) id of the Entra tenant');
  const multiTenant = ['common', 'organizations', 'consumers'].includes(tenantId.toLowerCase());
  if (!/^[A-Za-z0-9.-]{1,256}$/.test(tenantId) || multiTenant)
    throw new ConfigurationError(
      'ENTRA_TENANT_ID',
      'must be the tenant id (a GUID) or its domain, not common/organizations/consumers',
    );
  const clientId = requiredEnv(
    env,
    'ENTRA_CLIENT_ID',
    "the application (client) id of the bridge's own app registration",
  );
  if (!APP_ID.test(clientId))
    throw new ConfigurationError('ENTRA_CLIENT_ID', 'must be an application (client) id, a GUID');
  const chosen = eitherEnv(env, ['ENTRA_CLIENT_SECRET', 'ENTRA_CERTIFICATE_PATH'], {
    both: 'and ENTRA_CERTIFICATE_PATH are both set; set only one',
    neither: "is required (or ENTRA_CERTIFICATE_PATH): a client secret of the bridge's own app registration",
  });
  // MSAL and Graph speak https only.
  return createEntraDriver({
    tenantId,
    clientId,
    credential:
      chosen.name === 'ENTRA_CLIENT_SECRET'
        ? { clientSecret: chosen.value }
        : { certificatePem: readCertificatePem(chosen.name, chosen.value) },
    authorityHost: httpsUrlEnv(env, 'ENTRA_AUTHORITY_HOST', 'https://login.microsoftonline.com'),
    graphUrl: httpsUrlEnv(env, 'ENTRA_GRAPH_URL', 'https://graph.microsoft.com'),
    ...settings,
  });
};
