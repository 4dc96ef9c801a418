/**
 * Okta: each client is an OIDC app (`oidc_client`, `OPENID_CONNECT`) under `/api/v1/apps`, whose `client_id` is the
 * app id Okta assigns. The calls of register, read, update, rotate and delete go on the wire (`orgCall`: the kit's
 * pooled client, JSON in the shapes below, the API token or the service app's token); `@okta/okta-sdk-nodejs` pages
 * the listings (open registrations, the sweep, finding an unconfirmed create, readiness). The bridge's mark is `profile.dcr_bridge`
 * on the app (it also keeps the RFC 7591 fields Okta has no place for). Secrets live under
 * `/credentials/secrets`, where Okta holds two, so rotation can keep the old one for the grace period.
 */
import type * as OktaSdk from '@okta/okta-sdk-nodejs';
import type { Collection } from '@okta/okta-sdk-nodejs';
import type { RequestOptions } from '@okta/okta-sdk-nodejs/src/types/request-options.js';
import { eitherEnv, envValue, privateKeyEnv, urlEnv } from '../src/env.js';
import { fetchDiscoveryJson } from '../src/discovery.js';
import { InvalidClientMetadataError } from '../src/errors.js';
import { hasStrings, isRecordArray, withoutUndefined } from '../src/records.js';
import {
  type AddedClientSecret,
  addOneSecret,
  type AdminCallSettings,
  AttemptScope,
  type CallSafety,
  checkClientId,
  checkHasSecret,
  cleanUpIfApplied,
  clientCredentialsGrant,
  type ClientMetadata,
  type ClientSecretInfo,
  createAdminCall,
  deleteOwned,
  type DriverFactory,
  type DriverImplementation,
  epochSecondsOf,
  findByRegistration,
  flatMark,
  goneIsDone,
  graceEnds,
  graceRotation,
  type IdpHttpClient,
  loadSdk,
  openRegistrations,
  ownedClientSummary,
  pageOfOwnedClients,
  pages,
  registeredClient,
  type RegisteredClient,
  requireOwned,
  rereadIfUnusable,
  revokeListedSecret,
  secretLimitReached,
  type SecretSlots,
  statusFailure,
  undoOnFailure,
  type UpstreamFailure,
  usableAnswer,
  usesClientSecret,
} from '../src/driver/index.js';

type RequestExecutor = OktaSdk.RequestExecutor;

const DEFAULT_LABEL = 'dcr-bridge client';
const DEFAULT_SCOPES = ['okta.apps.manage', 'okta.apps.read'];
const OKTA_GRANT_TYPES = new Set([
  'authorization_code',
  'client_credentials',
  'implicit',
  'password',
  'refresh_token',
  ...['device_code', 'jwt-bearer', 'token-exchange'].map((grant) => `urn:ietf:params:oauth:grant-type:${grant}`),
]);
const OKTA_RESPONSE_TYPES = new Set(['code', 'token', 'id_token']);
/** Bounds the listings other than the sweep's: 50 pages of 200 apps. */
const MAX_PAGES = 50;
/**
 * The grace mark: `profile.dcr_bridge_grace_ends_at`, epoch seconds, beside the ownership mark (an update rewrites that
 * one). Okta filters apps by `id`, `status`, `name` and a few more, never by profile, so the sweep lists the bridge's
 * apps (200 a call) and reads the secrets only of those marked whose grace ended.
 */
const GRACE_MARK = 'dcr_bridge_grace_ends_at';
/** Okta's limit of client secrets per app (`/credentials/secrets`), counting inactive ones. */
const OKTA_SECRET_LIMIT = 2;
/** The mark in the app's `profile.dcr_bridge` (Okta: "any valid JSON", not encrypted — never a secret). */
const MARK = flatMark({ prefix: '', managed: ['owner', 'dcr-bridge'] });

export type OktaCredentials =
  | { apiToken: string }
  | { clientId: string; privateKey: string; keyId?: string; scopes?: string[] };

export interface OktaDriverOptions extends AdminCallSettings {
  /** `https://example.okta.com`, no trailing slash. */
  orgUrl: string;
  credentials: OktaCredentials;
  rotationGraceSeconds?: number;
  /** A custom authorization server (`default`, or its id) whose discovery document the bridge serves; default the org's. */
  authorizationServerId?: string | undefined;
}

/** What `profile.dcr_bridge` holds: the mark, and the RFC 7591 fields Okta has no place for. */
type StoredProfile = Record<string, unknown> & { named?: boolean; scope?: string; contacts?: string[] };

/** The parts of Okta's app (`Application`, `OpenIdConnectApplication`) the bridge reads, by their wire names. */
interface OktaApp {
  id: string;
  status?: string;
  created?: Date | string;
  label?: string;
  name?: string;
  signOnMode?: string;
  profile?: { dcr_bridge?: StoredProfile } & Record<string, unknown>;
  accessibility?: unknown;
  visibility?: unknown;
  credentials?: {
    oauthClient?: {
      client_id?: string;
      client_secret?: string;
      token_endpoint_auth_method?: string;
      autoKeyRotation?: boolean;
    };
  };
  settings?: {
    oauthClient?: Record<string, unknown> & {
      redirect_uris?: string[];
      post_logout_redirect_uris?: string[];
      grant_types?: string[];
      response_types?: string[];
      application_type?: string;
    };
  };
}

/** What the bridge sends to create or replace an app: Okta's `OpenIdConnectApplication` on the wire. */
interface OktaAppBody {
  name: string;
  signOnMode: string;
  label: string | undefined;
  accessibility?: unknown;
  visibility?: unknown;
  credentials: { oauthClient: Record<string, unknown> };
  settings: { oauthClient: Record<string, unknown> | undefined };
  profile: Record<string, unknown>;
}

/** Okta's `OAuth2ClientSecret`. */
interface OktaSecret {
  id: string;
  status?: string;
  created?: string;
  client_secret?: string;
}

/**
 * The SDK's application API, for the listings it pages. Loaded from its one-file bundle (src/driver/call/sdk.ts) on the
 * first listing, not at start: the bundle is most of this driver's start (about a second) and memory (about 80 MiB),
 * and the hot paths never need it. Every setting explicit, so the SDK's okta.yaml files and OKTA_CLIENT_* variables
 * cannot change it. Its HTTP goes through the SDK's public extension point: a plain executor (no SDK retries) sending
 * each request through the kit's pooled client with the abort signal of its attempt, and the service app's token as
 * the bearer (in service-app mode the SDK's own SSWS header needs a value it then never sends).
 */
function createSdkApplicationApi(
  orgUrl: string,
  credentials: OktaCredentials,
  attempt: AttemptScope,
  http: IdpHttpClient,
): OktaSdk.ApplicationApi {
  const { Client, RequestExecutor } = loadSdk<typeof OktaSdk>('@okta/okta-sdk-nodejs');
  class AttemptScopedRequestExecutor extends RequestExecutor {
    override fetch(request: RequestOptions): ReturnType<RequestExecutor['fetch']> {
      const { url, method, headers, body } = request as {
        url: string;
        method?: string;
        headers?: Record<string, string>;
        body?: string;
      };
      return attempt.fetch(http, url, {
        method: method?.toUpperCase(),
        headers,
        body,
      }) as unknown as ReturnType<RequestExecutor['fetch']>;
    }
  }
  return new Client({
    orgUrl,
    authorizationMode: 'SSWS',
    token: 'apiToken' in credentials ? credentials.apiToken : 'replaced by the service app token',
    clientId: '',
    scopes: [],
    privateKey: '',
    keyId: '',
    requestExecutor: new AttemptScopedRequestExecutor(),
    cacheMiddleware: null,
  }).applicationApi;
}

/** Okta's `HttpError` carries the IdP's answer as a numeric `status` and its `headers`. */
function describeOktaError(error: unknown): UpstreamFailure | undefined {
  const { status, headers } = error as { status?: unknown; headers?: Headers };
  return typeof status === 'number' ? statusFailure(status, headers) : undefined;
}

/** The grace mark as `graceEndsAt` wants it: epoch ms, `NaN` when unreadable, `undefined` when absent. */
const graceEndFromSeconds = (mark: unknown): number | undefined =>
  mark === undefined ? undefined : typeof mark === 'number' ? mark * 1000 : Number.NaN;

const heldSecret = (secret: OktaSecret) => ({ id: secret.id, createdAt: Date.parse(secret.created ?? '') });
const isApp = (value: unknown): value is OktaApp => hasStrings('id')(value);
const isAppList = (value: unknown): value is OktaApp[] => isRecordArray(value) && value.every(isApp);
const isSecret = (value: unknown): value is OktaSecret => hasStrings('id')(value);
const isOwned = (app: OktaApp) =>
  app.signOnMode === 'OPENID_CONNECT' && app.name === 'oidc_client' && MARK.read(app.profile?.dcr_bridge) !== undefined;

export function createOktaDriver(options: OktaDriverOptions): DriverImplementation {
  const graceSeconds = options.rotationGraceSeconds ?? 0;
  const attemptScope = new AttemptScope();
  const credentials = options.credentials;
  const adminCall = createAdminCall({
    ...options,
    host: new URL(options.orgUrl).host,
    describe: describeOktaError,
    // A service app's token: a signed client assertion at the org authorization server (RFC 7523).
    fetchToken:
      'clientId' in credentials
        ? clientCredentialsGrant(
            `${options.orgUrl}/oauth2/v1/token`,
            { scope: (credentials.scopes ?? DEFAULT_SCOPES).join(' ') },
            credentials,
          )
        : undefined,
  });
  let sdkApps: OktaSdk.ApplicationApi | undefined;
  const apps = () => (sdkApps ??= createSdkApplicationApi(options.orgUrl, credentials, attemptScope, adminCall.http));

  const call = attemptScope.calls(adminCall);

  // The org's authorization on the wire: the API token (`SSWS`), or the service app's token the kit fetched (bearer).
  const apiTokenAuthorization = 'apiToken' in credentials ? { scheme: 'SSWS', token: credentials.apiToken } : undefined;
  /**
   * One management call on the wire: the kit's pooled client, the body as JSON, a non-2xx answer an `IdpStatusError`;
   * `answer` checks the JSON inside the attempt, so an unusable answer is the attempt's failure.
   */
  function orgCall<T = unknown>(
    operation: string,
    safety: CallSafety,
    method: string,
    path: string,
    { body, answer }: { body?: OktaAppBody | Record<string, never>; answer?: (value: unknown) => T } = {},
  ): Promise<T> {
    const url = `${options.orgUrl}${path}`;
    return adminCall(operation, safety, async (signal, token) => {
      const json = await adminCall.http.requestJson(url, {
        method,
        signal,
        ...(apiTokenAuthorization ?? { token }),
        ...(body === undefined ? {} : { body }),
        // An answer the driver does not read (a delete, a lifecycle step) is not parsed, as the SDK did not.
        answerUnused: !answer,
      });
      return answer ? answer(json) : (json as T);
    });
  }
  const appPath = (appId: string) => `/api/v1/apps/${encodeURIComponent(appId)}`;
  const secretsPath = (appId: string) => `${appPath(appId)}/credentials/secrets`;
  const secretPath = (appId: string, secretId: string) => `${secretsPath(appId)}/${encodeURIComponent(secretId)}`;

  const listApps = (
    operation: string,
    query: { q?: string; filter?: string; limit: number },
    maxPages = MAX_PAGES,
  ): Promise<OktaApp[]> => {
    // Loaded before the call: a bundle that fails to load is no failed attempt at the IdP.
    const api = apps();
    return call(operation, 'idempotent', async () =>
      usableAnswer(
        await pages.collect(
          (await api.listApplications(query)) as unknown as Collection<unknown>,
          query.limit * maxPages,
        ),
        isAppList,
        'the app listing',
      ),
    );
  };

  /** The app whose client_id this is, looked up by Okta's filter (client_id = app id for the apps the bridge creates). */
  async function findApp(clientId: string): Promise<OktaApp | undefined> {
    checkClientId(clientId);
    const found = await orgCall(
      'find client',
      'idempotent',
      'GET',
      `/api/v1/apps?filter=${encodeURIComponent(`id eq "${clientId}"`)}&limit=2`,
      { answer: (value) => usableAnswer(value, isAppList, 'the app listing') },
    );
    return found.find((app) => app.credentials?.oauthClient?.client_id === clientId);
  }

  const ownedApps = async () =>
    (await listApps('list clients', { filter: 'name eq "oidc_client"', limit: 200 })).filter(isOwned);

  const findOwnedApp = async (clientId: string) => requireOwned(await findApp(clientId), isOwned);

  /** Deactivates, then deletes (Okta refuses to delete an active app); an app already gone is fine. */
  async function removeApp(app: OktaApp): Promise<void> {
    if (
      app.status !== 'INACTIVE' &&
      (await goneIsDone(orgCall('deactivate client', 'idempotent', 'POST', `${appPath(app.id)}/lifecycle/deactivate`)))
    )
      return;
    await goneIsDone(orgCall('delete client', 'idempotent', 'DELETE', appPath(app.id)));
  }

  /** After a create whose answer was lost: the app may exist, found by the registration id set before the create. */
  async function removeUnconfirmedRegistration(label: string, registrationId: string): Promise<void> {
    const candidates = await listApps('find unconfirmed client', { q: label.slice(0, 100), limit: 200 }, 5);
    const orphan = await findByRegistration(candidates.filter(isOwned), registrationId, (app) =>
      MARK.read(app.profile?.dcr_bridge),
    );
    if (orphan) await removeApp(orphan);
  }

  /**
   * Sets (or clears, `undefined`) the grace mark: a replace of the app as Okta holds it now — read again just before
   * when given by id (the sweep's listing may be minutes old), so an update made since is not undone.
   */
  async function writeGraceMark(app: OktaApp | string, graceEndsAt: number | undefined): Promise<void> {
    const current = typeof app === 'string' ? await findApp(app) : app;
    if (!current) return;
    const appId = current.id;
    const { [GRACE_MARK]: _previous, ...profile } = current.profile ?? {};
    const { client_secret: _secret, ...oauthClient } = current.credentials?.oauthClient ?? {};
    const replacement: OktaAppBody = {
      name: current.name ?? 'oidc_client',
      signOnMode: current.signOnMode ?? 'OPENID_CONNECT',
      label: current.label,
      accessibility: current.accessibility,
      visibility: current.visibility,
      credentials: { oauthClient },
      settings: { oauthClient: current.settings?.oauthClient },
      profile: graceEndsAt === undefined ? profile : { ...profile, [GRACE_MARK]: Math.ceil(graceEndsAt / 1000) },
    };
    await orgCall('mark grace', 'idempotent', 'PUT', appPath(appId), {
      body: replacement,
      answer: (value) => usableAnswer(value, isApp, 'the app update'),
    });
  }

  /** An app's secrets: Okta answers them in one page (it keeps two an app). */
  const readSecrets = (appId: string) =>
    orgCall('list secrets', 'idempotent', 'GET', secretsPath(appId), {
      answer: (value) =>
        usableAnswer(
          value,
          (value): value is OktaSecret[] => isRecordArray(value) && value.every(isSecret),
          'the secret listing',
        ),
    });

  /** Okta's secrets of one app; a secret is removed by deactivating and deleting it, or stays working when that fails. */
  function secretSlots(appId: string, current?: OktaApp, known: OktaSecret[] = []): SecretSlots {
    const statuses = new Map(known.map((secret) => [secret.id, secret.status]));
    const deactivate = (secretId: string) =>
      orgCall('deactivate secret', 'idempotent', 'POST', `${secretPath(appId, secretId)}/lifecycle/deactivate`);
    return {
      async list() {
        const listed = await readSecrets(appId);
        for (const secret of listed) statuses.set(secret.id, secret.status);
        return listed.map(heldSecret);
      },
      async add() {
        const created = await orgCall('create secret', 'unsafe', 'POST', secretsPath(appId), {
          body: {},
          answer: (value) => usableAnswer(value, isSecret, 'the secret creation'),
        });
        statuses.set(created.id, 'ACTIVE');
        return { id: created.id, value: created.client_secret, createdAt: Date.parse(created.created ?? '') };
      },
      async remove({ id: secretId }) {
        // Gone already (another replica's sweep): `false`, so it is not counted twice.
        if (statuses.get(secretId) !== 'INACTIVE' && (await goneIsDone(deactivate(secretId)))) return false;
        const reactivate = () =>
          orgCall('reactivate secret', 'idempotent', 'POST', `${secretPath(appId, secretId)}/lifecycle/activate`);
        return !(await undoOnFailure(
          () => goneIsDone(orgCall('delete secret', 'idempotent', 'DELETE', secretPath(appId, secretId))),
          reactivate,
        ));
      },
      markGrace: (graceEndsAt) => writeGraceMark(current ?? appId, graceEndsAt),
      clearGrace: () => writeGraceMark(current ?? appId, undefined),
    };
  }

  const rotation = graceRotation<OktaApp>(graceSeconds, {
    async page(after) {
      const query = { filter: 'name eq "oidc_client"', limit: 200, ...(after === undefined ? {} : { after }) };
      const api = apps();
      return call('list clients', 'idempotent', async () => {
        const listing = (await api.listApplications(query)) as unknown as Collection<unknown>;
        const clients = usableAnswer(await listing.getNextPage(), isAppList, 'the app listing');
        // The next page's cursor, from Okta's `next` link.
        const next = listing.nextUri ? (new URL(listing.nextUri).searchParams.get('after') ?? undefined) : undefined;
        return { clients: clients.filter(isOwned), next: () => next };
      });
    },
    graceEndsAt: (app) => graceEndFromSeconds(app.profile?.[GRACE_MARK]),
    // One slot set per app the sweep reads, so a removal knows the status its listing saw.
    slots: (app) => secretSlots(app.id),
    // A removal deactivates, then deletes; a mark by the sweep reads the app, then replaces it.
    costs: { remove: 2, mark: 2, clearMark: 2 },
  });

  /**
   * Multiple credentials: the app's secrets as Okta holds them (two at most, `INACTIVE` ones too), each with its
   * `ocs…` id; one kept for a rotation's grace (the app carries the grace mark) ends when the sweep retires it.
   */
  function secretInfos(app: OktaApp, clientId: string, listed: OktaSecret[]): ClientSecretInfo[] {
    const inGrace = graceEndFromSeconds(app.profile?.[GRACE_MARK]) !== undefined;
    const ends = inGrace ? graceEnds(listed.map(heldSecret), graceSeconds) : new Map<string, number>();
    return listed.map((secret) =>
      withoutUndefined({
        secretId: secret.id,
        clientId,
        status: secret.status === 'INACTIVE' ? ('INACTIVE' as const) : ('ACTIVE' as const),
        createdAt: epochSecondsOf(Date.parse(secret.created ?? '')),
        expiresAt: ends.get(secret.id),
      }),
    );
  }

  async function addAppSecret(clientId: string): Promise<AddedClientSecret> {
    const app = await findOwnedApp(clientId);
    checkHasSecret(app.credentials?.oauthClient?.token_endpoint_auth_method ?? '');
    const slots = secretSlots(app.id, app);
    const held = await slots.list();
    if (held.length >= OKTA_SECRET_LIMIT)
      throw secretLimitReached(`Okta holds at most ${OKTA_SECRET_LIMIT} secrets per app, active or inactive`);
    const added = await addOneSecret(slots, held);
    return withoutUndefined({
      secretId: added.id,
      clientId,
      status: 'ACTIVE' as const,
      createdAt: epochSecondsOf(added.createdAt),
      clientSecret: added.value,
    });
  }

  /** Deactivated, then deleted (Okta deletes no active secret); Okta's last active secret is refused before any call. */
  async function revokeAppSecret(clientId: string, secretId: string): Promise<void> {
    const app = await findOwnedApp(clientId);
    const listed = await readSecrets(app.id);
    const slots = secretSlots(app.id, app, listed);
    await revokeListedSecret(secretInfos(app, clientId, listed), secretId, (secret) =>
      slots.remove({ id: secret.secretId, createdAt: Number.NaN }),
    );
  }

  return {
    name: 'okta',
    capabilities: { rotationGrace: true, apiAccessGrants: false },

    async registerClient(metadata, context) {
      const mark = MARK.create(context);
      const body = toOktaApp(metadata, MARK.write(mark));
      // An app without the secret it needs is an unusable answer: the app found by its mark is removed.
      const withSecret = (value: unknown): value is OktaApp =>
        isApp(value) &&
        (!usesClientSecret(metadata.tokenEndpointAuthMethod) || !!value.credentials?.oauthClient?.client_secret);
      const created = await cleanUpIfApplied(
        () =>
          orgCall('register client', 'unsafe', 'POST', '/api/v1/apps?activate=true', {
            body,
            answer: (value) => usableAnswer(value, withSecret, 'the app creation'),
          }),
        () => removeUnconfirmedRegistration(body.label, mark.registrationId),
      );
      return { ...toRegisteredClient(created), clientSecret: created.credentials?.oauthClient?.client_secret ?? '' };
    },

    getClient: async (clientId) => toRegisteredClient(await findOwnedApp(clientId)),

    async updateClient(clientId, metadata, changes) {
      const app = await findOwnedApp(clientId);
      const replacement = toOktaApp(metadata, MARK.write(MARK.read(app.profile?.dcr_bridge)!, changes), app);
      const replace = () =>
        orgCall('update client', 'idempotent', 'PUT', appPath(app.id), {
          body: replacement,
          answer: (value) => usableAnswer(value, isApp, 'the app update'),
        });
      return toRegisteredClient(await rereadIfUnusable(replace, () => findOwnedApp(clientId)));
    },

    deleteClient: async (clientId) => deleteOwned(await findApp(clientId), isOwned, removeApp),

    async rotateSecret(clientId) {
      const app = await findOwnedApp(clientId);
      checkHasSecret(app.credentials?.oauthClient?.token_endpoint_auth_method ?? '');
      const { value } = await rotation.rotate(secretSlots(app.id, app));
      return { clientId, clientSecret: value, clientSecretExpiresAt: 0 };
    },

    retireExpiredSecrets: rotation.sweep,

    async listSecrets(clientId) {
      const app = await findOwnedApp(clientId);
      return secretInfos(app, clientId, await readSecrets(app.id));
    },
    addSecret: addAppSecret,
    revokeSecret: revokeAppSecret,

    listOpenRegistrations: async (limit) =>
      openRegistrations(
        await ownedApps(),
        limit,
        (app) => MARK.read(app.profile?.dcr_bridge),
        (app) => app.credentials?.oauthClient?.client_id ?? app.id,
      ),

    // The operator's view: the org's OIDC apps that carry the mark, in Okta's order.
    listClients: async (options) =>
      pageOfOwnedClients(await ownedApps(), options, (app) => {
        const mark = MARK.read(app.profile?.dcr_bridge);
        const created = app.created === undefined ? Number.NaN : Date.parse(String(app.created));
        return mark
          ? ownedClientSummary(app.credentials?.oauthClient?.client_id ?? app.id, mark, {
              clientName: app.label,
              createdAt: Number.isNaN(created) ? undefined : Math.floor(created / 1000),
              pending: app.profile?.[GRACE_MARK] !== undefined,
            })
          : undefined;
      }),

    // The org's discovery document, or that of the custom authorization server OKTA_AUTHORIZATION_SERVER_ID names.
    fetchDiscoveryDocument: () =>
      fetchDiscoveryJson(
        adminCall.http,
        `${options.orgUrl}${options.authorizationServerId === undefined ? '' : `/oauth2/${encodeURIComponent(options.authorizationServerId)}`}/.well-known/openid-configuration`,
        adminCall.policy.timeoutMs,
      ),

    checkReadiness: async () =>
      void (await orgCall('readiness', 'idempotent', 'GET', '/api/v1/apps?limit=1', {
        answer: (value) => usableAnswer(value, isAppList, 'the app listing'),
      })),

    close: () => adminCall.close(),
  };
}

function toOktaApp(
  metadata: ClientMetadata,
  mark: Record<string, string>,
  existing?: OktaApp,
): OktaAppBody & { label: string } {
  const unsupported = metadata.grantTypes.find((grant) => !OKTA_GRANT_TYPES.has(grant));
  if (unsupported) throw new InvalidClientMetadataError(`Okta does not support the grant type ${unsupported}.`);
  const responseTypes =
    metadata.responseTypes.length > 0 ? metadata.responseTypes : defaultResponseTypes(metadata.grantTypes);
  if (responseTypes.some((type) => !OKTA_RESPONSE_TYPES.has(type)))
    throw new InvalidClientMetadataError('Okta supports the response types code, token and id_token.');
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
    profile: {
      ...existing?.profile,
      dcr_bridge: {
        ...mark,
        ...withoutUndefined({
          named: metadata.clientName !== undefined,
          scope: metadata.scope,
          contacts: metadata.contacts,
        }),
      },
    },
  };
}

function defaultResponseTypes(grants: string[]): string[] {
  const types = [
    ...(grants.includes('authorization_code') ? ['code'] : []),
    ...(grants.includes('implicit') ? ['token', 'id_token'] : []),
  ];
  // Okta's service apps (client credentials only) carry `token`.
  return types.length > 0 ? types : ['token'];
}

/** The response types the grants can use: Okta's service apps carry `token`, which RFC 7591 clients never asked for. */
function usableResponseTypes(types: string[], grants: string[]): string[] {
  return types.filter((type) =>
    type === 'code' ? grants.includes('authorization_code') : grants.includes('implicit'),
  );
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
  const metadata: ClientMetadata = {
    ...optional,
    redirectUris: settings.redirect_uris ?? [],
    grantTypes: settings.grant_types ?? [],
    responseTypes: usableResponseTypes(settings.response_types ?? [], settings.grant_types ?? []),
    tokenEndpointAuthMethod: app.credentials?.oauthClient?.token_endpoint_auth_method ?? 'client_secret_basic',
    applicationType: settings.application_type === 'native' ? 'native' : 'web',
  };
  return registeredClient(app.credentials?.oauthClient?.client_id ?? app.id, metadata, MARK.read(mark), {
    issuedAt: Math.floor(new Date(app.created ?? Date.now()).getTime() / 1000),
  });
}

export const createDriverFromEnv: DriverFactory = async (env, settings) => {
  const orgUrl = urlEnv(env, 'OKTA_ORG_URL');
  const chosen = eitherEnv(env, ['OKTA_API_TOKEN', 'OKTA_CLIENT_ID'], {
    both: 'and OKTA_CLIENT_ID are both set; use either the API token or the OAuth service app',
    neither: 'is required: an Okta API token (or set OKTA_CLIENT_ID and OKTA_PRIVATE_KEY for the OAuth service app)',
  });
  let credentials: OktaCredentials;
  if (chosen.name === 'OKTA_API_TOKEN') {
    credentials = { apiToken: chosen.value };
  } else {
    const privateKey = privateKeyEnv(env, 'OKTA_PRIVATE_KEY', "the service app's private key, PEM or JWK");
    const scopes = (envValue(env, 'OKTA_SCOPES') ?? DEFAULT_SCOPES.join(' ')).split(/\s+/).filter(Boolean);
    credentials = { clientId: chosen.value, privateKey, keyId: envValue(env, 'OKTA_KEY_ID'), scopes };
  }
  return createOktaDriver({
    orgUrl,
    credentials,
    authorizationServerId: envValue(env, 'OKTA_AUTHORIZATION_SERVER_ID'),
    ...settings,
  });
};
