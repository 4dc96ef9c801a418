/**
 * A Microsoft Entra tenant on 127.0.0.1: the identity platform's v2.0 token endpoint and the OpenID configuration
 * MSAL reads for a non-default authority host, and Microsoft Graph v1.0 (under `/v1.0`) for app registrations:
 * applications, service principals, `addPassword` / `removePassword`, lookups by `appId`, the Graph error envelope,
 * `Retry-After` on 429, access tokens that expire, the `Application.ReadWrite.OwnedBy` rule (the bridge may change
 * only the apps it owns) and, on request, Entra's replication delay: a new object is invisible for a while.
 * Every Graph request and answer is checked against the Graph v1.0 subset in `test/vendor-specs/entra/`.
 */
import {
  createHash,
  createPublicKey,
  randomBytes,
  randomUUID,
  verify,
  X509Certificate,
  constants as cryptoConstants,
  generateKeyPairSync,
} from 'node:crypto';
import { readFileSync } from 'node:fs';
import forge from 'node-forge';
import { Emulator, type EmulatorDefinition, type EmulatorRequest, type EmulatorResponse } from './framework.js';
import { SpecValidator, vendorSpecFile } from './spec-validator.js';
import { keptTestFile } from './tls.js';

type Json = Record<string, unknown>;

interface StoredPassword {
  keyId: string;
  displayName: string | null;
  hint: string;
  secret: string;
  startDateTime: string;
  endDateTime: string;
  visibleAt: number;
}

interface StoredApplication {
  id: string;
  appId: string;
  createdDateTime: string;
  visibleAt: number;
  deleted: boolean;
  owners: string[];
  properties: Json;
  passwords: StoredPassword[];
  /** Certificates (SHA-256 thumbprint → PEM) the app may sign client assertions with. */
  certificates: Map<string, string>;
  servicePrincipalId?: string;
}

export interface EntraEmulatorOptions {
  port?: number;
  /** Lifetime of access tokens the token endpoint issues. Default 3599 s, as Entra. */
  tokenLifetimeSeconds?: number;
  /** How long a new application, service principal or password stays invisible (Entra's replication delay). Default 0. */
  replicationDelayMs?: number;
  /** Graph requests per app per window before 429 `TooManyRequests` with `Retry-After`. Default: no limit. */
  rateLimit?: { requests: number; windowMs: number };
}

export interface EntraEmulator {
  emulator: Emulator;
  tenantId: string;
  /** `ENTRA_AUTHORITY_HOST` and `ENTRA_GRAPH_URL` values that point at the emulator. */
  authorityHost: string;
  graphUrl: string;
  /** The bridge's own app registration (granted `Application.ReadWrite.OwnedBy`), with a secret and a certificate. */
  adminApp: { clientId: string; clientSecret: string; certificatePem: string };
  driverEnv: Record<string, string>;
  /** appIds of the live applications carrying the bridge's ownership tag. */
  ownedClientIds(): string[];
  /** Live applications, whoever created them. */
  applicationCount(): number;
  /**
   * Puts `count` applications carrying the bridge's tag (and `tags`) straight into the tenant (no request), with a
   * password per start time in `passwordStarts` (epoch ms; default one, a day old). Returns their appIds. Object ids
   * sort in the order of seeding, before those the tenant assigns.
   */
  seedOwnedApplications(count: number, options?: { passwordStarts?: number[]; tags?: string[] }): string[];
  /** Key ids of an application's passwords. */
  passwordKeyIds(appId: string): string[];
  /** Adds passwords to the application until its collection properties hold Graph's aggregate limit of entries. */
  fillCollections(appId: string): void;
  application(
    appId: string,
  ):
    | { id: string; tags: string[]; passwordKeyIds: string[]; hasServicePrincipal: boolean; properties: Json }
    | undefined;
  /** Registers an app the bridge did not create (the tenant's own admin app, say) and returns its credentials. */
  seedForeignClient(displayName?: string): { clientId: string; clientSecret: string };
  /** What the IdP holds about its clients (secrets and grants too), as plain JSON: a refused call must leave it equal. */
  clientState(): unknown;
  setTokenLifetime(seconds: number): void;
  setReplicationDelay(ms: number): void;
  /**
   * The most applications a listing page holds, whatever `$top` asks (default 999, Graph's largest `$top`). Graph's
   * paging is server-driven: a page may hold fewer than `$top`, and a client follows `@odata.nextLink`.
   */
  setMaxPageSize(size: number): void;
  /** Token requests made with the admin app's credentials. */
  tokenRequests(): number;
  /** A real client-credentials token request, as a client would make it: does this secret authenticate? */
  /** Secrets of this client the IdP accepts now, whoever knows them (an orphan secret counts). */
  workingSecretCount(clientId: string): number;
  secretWorks(clientId: string, secret: string): Promise<boolean>;
  stop(): Promise<void>;
}

const GRAPH_SPEC = 'entra/graph-v1.0-applications-subset.openapi.json';
const GRAPH_PREFIX = '/v1.0';
const OWNER_TAG = 'dcr-bridge:managed';
const ADMIN_ROLE = 'Application.ReadWrite.OwnedBy';
const TWO_YEARS_MS = 2 * 365 * 24 * 3600 * 1000;

/** The Graph subset's paths are relative to `https://graph.microsoft.com/v1.0`; the emulator serves them under `/v1.0`. */
class GraphSpecValidator extends SpecValidator {
  static loadGraph(file: string): GraphSpecValidator {
    return new GraphSpecValidator(file, JSON.parse(readFileSync(file, 'utf8')) as Json);
  }

  override validateRequest(request: Parameters<SpecValidator['validateRequest']>[0]): string[] {
    return super.validateRequest({ ...request, path: withoutPrefix(request.path) });
  }

  override validateResponse(method: string, path: string, status: number, body: unknown): string[] {
    return super.validateResponse(method, withoutPrefix(path), status, body);
  }
}

function withoutPrefix(path: string): string {
  return path.startsWith(`${GRAPH_PREFIX}/`) ? path.slice(GRAPH_PREFIX.length) : path;
}

let sharedSpec: GraphSpecValidator | undefined;

/**
 * One validator per process, its schemas compiled up front: Ajv compiles the large `application` schema on first
 * use, which would otherwise land inside the first timed request of a test.
 */
function graphSpec(): GraphSpecValidator {
  if (sharedSpec) return sharedSpec;
  const spec = GraphSpecValidator.loadGraph(vendorSpecFile(GRAPH_SPEC));
  const id = randomUUID();
  const json = (method: string, path: string, body: unknown) =>
    spec.validateRequest({
      method,
      path: `${GRAPH_PREFIX}${path}`,
      query: new URLSearchParams(),
      contentType: 'application/json',
      body,
      hasBody: true,
    });
  json('POST', '/applications', { displayName: 'warm-up' });
  json('PATCH', `/applications/${id}`, { displayName: 'warm-up' });
  json('POST', `/applications/${id}/addPassword`, { passwordCredential: {} });
  json('POST', `/applications/${id}/removePassword`, { keyId: id });
  json('POST', '/servicePrincipals', { appId: id });
  spec.validateResponse('GET', `${GRAPH_PREFIX}/applications(appId='${id}')`, 200, { id, appId: id });
  spec.validateResponse('GET', `${GRAPH_PREFIX}/applications`, 200, { value: [] });
  spec.validateResponse('POST', `${GRAPH_PREFIX}/applications`, 201, { id, appId: id });
  spec.validateResponse('POST', `${GRAPH_PREFIX}/applications/${id}/addPassword`, 200, { keyId: id });
  spec.validateResponse('POST', `${GRAPH_PREFIX}/servicePrincipals`, 201, { id, appId: id });
  spec.validateResponse('GET', `${GRAPH_PREFIX}/applications/${id}`, 404, { error: { code: 'x', message: 'x' } });
  sharedSpec = spec;
  return spec;
}

export async function startEntraEmulator(options: EntraEmulatorOptions = {}): Promise<EntraEmulator> {
  const spec = graphSpec();
  const emulator = new Emulator({ name: 'entra', spec });
  const tenantId = randomUUID();
  const applications = new Map<string, StoredApplication>();
  const servicePrincipals = new Map<string, { id: string; appId: string; visibleAt: number }>();
  const accessTokens = new Map<string, { appId: string; roles: string[]; expiresAt: number }>();
  let tokenLifetimeSeconds = options.tokenLifetimeSeconds ?? 3599;
  let replicationDelayMs = options.replicationDelayMs ?? 0;
  let maxPageSize = 999;
  let adminTokenRequests = 0;
  const rateWindows = new Map<string, { startedAt: number; count: number }>();

  /** Graph's throttling: a fixed window per calling app; `undefined` while the app is within its limit. */
  function throttle(appId: string, requestId: string): EmulatorResponse | undefined {
    if (!options.rateLimit) return undefined;
    const now = emulator.now();
    let window = rateWindows.get(appId);
    if (!window || now - window.startedAt >= options.rateLimit.windowMs) {
      window = { startedAt: now, count: 0 };
      rateWindows.set(appId, window);
    }
    window.count++;
    if (window.count <= options.rateLimit.requests) return undefined;
    const retryAfterSeconds = Math.max(1, Math.ceil((window.startedAt + options.rateLimit.windowMs - now) / 1000));
    const response = graphError(429, 'TooManyRequests', 'Too many requests.', requestId);
    return {
      ...response,
      headers: {
        'Retry-After': String(retryAfterSeconds),
        'x-ms-throttle-scope': `Tenant_Application/ReadWrite/${tenantId}/${appId}`,
        'x-ms-throttle-information': 'ResourceUnitLimitExceeded',
      },
    };
  }

  const byAppId = (appId: string) => [...applications.values()].find((app) => app.appId === appId && !app.deleted);
  // Replication runs on the emulator's time (a test's virtual clock while one is in use); without a delay, at once.
  const visibleFrom = () => (replicationDelayMs > 0 ? emulator.now() + replicationDelayMs : 0);
  const replicated = (object: { visibleAt: number }) => emulator.now() >= object.visibleAt;
  const visible = (app: StoredApplication | undefined) => (app && !app.deleted && replicated(app) ? app : undefined);

  let seededCount = 0;
  function createApplication(properties: Json, owners: string[]): StoredApplication {
    const now = Date.now();
    const app: StoredApplication = {
      id: randomUUID(),
      appId: randomUUID(),
      createdDateTime: new Date(now).toISOString(),
      visibleAt: visibleFrom(),
      deleted: false,
      owners,
      properties,
      passwords: [],
      certificates: new Map(),
    };
    applications.set(app.id, app);
    return app;
  }

  function addPassword(app: StoredApplication, request: Json): StoredPassword {
    const now = Date.now();
    const secret = newSecret();
    const start = typeof request.startDateTime === 'string' ? request.startDateTime : new Date(now).toISOString();
    const password: StoredPassword = {
      keyId: randomUUID(),
      displayName: typeof request.displayName === 'string' ? request.displayName : null,
      hint: secret.slice(0, 3),
      secret,
      startDateTime: start,
      endDateTime:
        typeof request.endDateTime === 'string'
          ? request.endDateTime
          : new Date(Date.parse(start) + TWO_YEARS_MS).toISOString(),
      visibleAt: visibleFrom(),
    };
    app.passwords.push(password);
    return password;
  }

  function createServicePrincipal(app: StoredApplication): string {
    const id = randomUUID();
    servicePrincipals.set(id, { id, appId: app.appId, visibleAt: visibleFrom() });
    app.servicePrincipalId = id;
    return id;
  }

  // The bridge's own registration: an app of the tenant like any other, owned by nobody, with a role grant.
  const admin = createApplication({ displayName: 'dcr-bridge', signInAudience: 'AzureADMyOrg', tags: [] }, []);
  admin.visibleAt = 0;
  const adminSecret = addPassword(admin, { displayName: 'bridge credential' });
  adminSecret.visibleAt = 0;
  const adminCertificate = selfSignedCertificate('dcr-bridge admin');
  admin.certificates.set(thumbprintSha256(adminCertificate.certificatePem), adminCertificate.certificatePem);
  const adminSpId = createServicePrincipal(admin);
  servicePrincipals.get(adminSpId)!.visibleAt = 0;

  // ---- identity platform -------------------------------------------------------------------------------------
  emulator.route(
    'GET',
    '/:tenant/v2.0/.well-known/openid-configuration',
    (request) => {
      if (request.params.tenant !== tenantId)
        return stsError(400, 'invalid_tenant', 90002, `Tenant '${request.params.tenant}' not found.`);
      const base = `${emulator.url}/${tenantId}`;
      return {
        status: 200,
        body: {
          issuer: `${base}/v2.0`,
          authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
          token_endpoint: `${base}/oauth2/v2.0/token`,
          device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
          end_session_endpoint: `${base}/oauth2/v2.0/logout`,
          jwks_uri: `${emulator.url}/${tenantId}/discovery/v2.0/keys`,
          token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
          response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
          subject_types_supported: ['pairwise'],
          id_token_signing_alg_values_supported: ['RS256'],
          scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
          tenant_region_scope: 'EU',
          cloud_instance_name: 'microsoftonline.com',
        },
      };
    },
    { spec: false },
  );

  emulator.route(
    'POST',
    '/:tenant/oauth2/v2.0/token',
    (request) => {
      if (request.params.tenant !== tenantId)
        return stsError(400, 'invalid_tenant', 90002, `Tenant '${request.params.tenant}' not found.`);
      const form = (typeof request.body === 'object' && request.body !== null ? request.body : {}) as Record<
        string,
        string
      >;
      const basic = basicCredentials(request.headers.authorization);
      const clientId = basic?.clientId ?? form.client_id;
      if (form.grant_type !== 'client_credentials')
        return stsError(400, 'unsupported_grant_type', 70003, 'The app requested an unsupported grant type.');
      if (!clientId)
        return stsError(
          400,
          'invalid_request',
          900144,
          "The request body must contain the following parameter: 'client_id'.",
        );
      const app = byAppId(clientId);
      if (!app || !replicated(app)) {
        return stsError(
          400,
          'unauthorized_client',
          700016,
          `Application with identifier '${clientId}' was not found in the directory.`,
        );
      }
      const scope = form.scope ?? '';
      if (!/^\S+\/\.default$/.test(scope))
        return stsError(
          400,
          'invalid_scope',
          1002012,
          'The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.',
        );
      const authenticated =
        form.client_assertion !== undefined
          ? assertionIsValid(
              app,
              form.client_assertion,
              form.client_assertion_type,
              `${emulator.url}/${tenantId}/oauth2/v2.0/token`,
            )
          : app.passwords.some(
              (password) =>
                password.secret === (basic?.secret ?? form.client_secret) &&
                replicated(password) &&
                Date.parse(password.endDateTime) > Date.now(),
            );
      if (!authenticated) {
        return form.client_assertion !== undefined
          ? stsError(
              401,
              'invalid_client',
              700027,
              'The certificate with identifier used to sign the client assertion is not registered on application.',
            )
          : stsError(
              401,
              'invalid_client',
              7000215,
              'Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.',
            );
      }
      const sp = app.servicePrincipalId ? servicePrincipals.get(app.servicePrincipalId) : undefined;
      if (!sp || !replicated(sp)) {
        return stsError(
          401,
          'invalid_client',
          7000229,
          `The client application ${clientId} is missing service principal in the tenant ${tenantId}.`,
        );
      }
      if (app === admin) adminTokenRequests++;
      const accessToken = `eyJ0eXAiOiJKV1QifQ.${randomBytes(32).toString('base64url')}.entra-emulator`;
      accessTokens.set(accessToken, {
        appId: app.appId,
        roles: app === admin ? [ADMIN_ROLE] : [],
        expiresAt: Date.now() + tokenLifetimeSeconds * 1000,
      });
      return {
        status: 200,
        headers: { 'cache-control': 'no-store, no-cache', pragma: 'no-cache' },
        body: {
          token_type: 'Bearer',
          expires_in: tokenLifetimeSeconds,
          ext_expires_in: tokenLifetimeSeconds,
          access_token: accessToken,
        },
      };
    },
    { spec: false },
  );

  // ---- Microsoft Graph ---------------------------------------------------------------------------------------
  /** Wraps a Graph handler: bearer token check, then the handler, with Graph's response headers on every answer. */
  function graph(
    handler: (request: EmulatorRequest, caller: { appId: string; spId: string | undefined }) => EmulatorResponse,
  ): (request: EmulatorRequest) => EmulatorResponse {
    return (request) => {
      const requestId = randomUUID();
      const header = request.headers.authorization ?? '';
      const token = header.startsWith('Bearer ') ? accessTokens.get(header.slice(7)) : undefined;
      let response: EmulatorResponse;
      if (!header) response = graphError(401, 'InvalidAuthenticationToken', 'Access token is empty.', requestId);
      else if (!token)
        response = graphError(401, 'InvalidAuthenticationToken', 'IDX14100: JWT is not well formed.', requestId);
      else if (token.expiresAt <= Date.now())
        response = graphError(
          401,
          'InvalidAuthenticationToken',
          'Lifetime validation failed, the token is expired.',
          requestId,
        );
      else if (!token.roles.includes(ADMIN_ROLE))
        response = graphError(
          403,
          'Authorization_RequestDenied',
          'Insufficient privileges to complete the operation.',
          requestId,
        );
      else
        response =
          throttle(token.appId, requestId) ??
          handler(request, { appId: token.appId, spId: byAppId(token.appId)?.servicePrincipalId });
      const headers: Record<string, string> = {
        'request-id': requestId,
        'client-request-id': String(request.headers['client-request-id'] ?? requestId),
        'x-ms-ags-diagnostic': JSON.stringify({
          ServerInfo: { DataCenter: 'Emulator', Slice: 'E', Ring: '0', ScaleUnit: '000', RoleInstance: 'EMU' },
        }),
        'x-ms-resource-unit': '1',
        ...response.headers,
      };
      if (response.status === 401)
        headers['www-authenticate'] =
          `Bearer realm="", authorization_uri="${emulator.url}/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`;
      return { ...response, headers };
    };
  }

  const notFound = (key: string) =>
    graphError(
      404,
      'Request_ResourceNotFound',
      `Resource '${key}' does not exist or one of its queried reference-property objects are not present.`,
    );
  const denied = () =>
    graphError(403, 'Authorization_RequestDenied', 'Insufficient privileges to complete the operation.');
  const owns = (app: StoredApplication, caller: { spId: string | undefined }) =>
    caller.spId !== undefined && app.owners.includes(caller.spId);

  const appByObjectId = (request: EmulatorRequest) => visible(applications.get(request.params.id!));
  const appByAlternateKey = (request: EmulatorRequest) => visible(byAppId(request.params.appId!));

  const readApplication = (
    find: (request: EmulatorRequest) => StoredApplication | undefined,
    key: (request: EmulatorRequest) => string,
  ) =>
    graph((request) => {
      const app = find(request);
      if (!app) return notFound(key(request));
      return {
        status: 200,
        body: {
          '@odata.context': `${emulator.url}${GRAPH_PREFIX}/$metadata#applications/$entity`,
          ...select(representation(app), request.query),
        },
      };
    });

  const updateApplication = (
    find: (request: EmulatorRequest) => StoredApplication | undefined,
    key: (request: EmulatorRequest) => string,
  ) =>
    graph((request, caller) => {
      const app = find(request);
      if (!app) return notFound(key(request));
      if (!owns(app, caller)) return denied();
      const problem = invalidApplication(request.body as Json, false);
      if (problem) return graphError(400, 'Request_BadRequest', problem);
      const { id: _id, appId: _appId, passwordCredentials: _passwords, ...changes } = request.body as Json;
      app.properties = { ...app.properties, ...changes };
      return { status: 204 };
    });

  const deleteApplication = (
    find: (request: EmulatorRequest) => StoredApplication | undefined,
    key: (request: EmulatorRequest) => string,
  ) =>
    graph((request, caller) => {
      const app = find(request);
      if (!app) return notFound(key(request));
      if (!owns(app, caller)) return denied();
      // A soft delete: the app moves to deleted items, and its service principal goes with it.
      app.deleted = true;
      if (app.servicePrincipalId) servicePrincipals.delete(app.servicePrincipalId);
      return { status: 204 };
    });

  const objectKey = (request: EmulatorRequest) => request.params.id!;
  const appIdKey = (request: EmulatorRequest) => request.params.appId!;

  emulator.route(
    'GET',
    `${GRAPH_PREFIX}/applications`,
    graph((request) => {
      const filter = request.query.get('$filter');
      let matches = [...applications.values()].filter((app) => visible(app));
      if (filter !== null) {
        const predicate = parseFilter(filter);
        if (!predicate)
          return graphError(400, 'Request_UnsupportedQuery', 'Unsupported or invalid query filter clause specified.');
        matches = matches.filter((app) => predicate(representation(app)));
      }
      const top = Number(request.query.get('$top') ?? 100);
      if (top > 999)
        return graphError(
          400,
          'Request_BadRequest',
          `Invalid page size specified: '${top}'. Must be between 1 and 999 inclusive.`,
        );
      // Pages in object-id order; the next link's `$skiptoken` is where the next page starts.
      const skiptoken = request.query.get('$skiptoken');
      matches.sort((a, b) => (a.id < b.id ? -1 : 1));
      if (skiptoken !== null) matches = matches.filter((app) => app.id > skiptoken);
      const page = matches.slice(0, Math.min(top, maxPageSize));
      const next = new URLSearchParams(request.query);
      next.set('$skiptoken', page.at(-1)?.id ?? '');
      return {
        status: 200,
        body: {
          '@odata.context': `${emulator.url}${GRAPH_PREFIX}/$metadata#applications`,
          value: page.map((app) => select(representation(app), request.query)),
          ...(matches.length > page.length
            ? { '@odata.nextLink': `${emulator.url}${GRAPH_PREFIX}/applications?${next.toString()}` }
            : {}),
        },
      };
    }),
  );

  emulator.route(
    'POST',
    `${GRAPH_PREFIX}/applications`,
    graph((request, caller) => {
      const body = (request.body ?? {}) as Json;
      const problem = invalidApplication(body, true);
      if (problem) return graphError(400, 'Request_BadRequest', problem);
      const { passwordCredentials: _passwords, id: _id, appId: _appId, ...properties } = body;
      const app = createApplication(properties, caller.spId ? [caller.spId] : []);
      return {
        status: 201,
        headers: {
          location: `${emulator.url}${GRAPH_PREFIX}/directoryObjects/${app.id}/Microsoft.DirectoryServices.Application`,
        },
        body: {
          '@odata.context': `${emulator.url}${GRAPH_PREFIX}/$metadata#applications/$entity`,
          ...representation(app),
        },
      };
    }),
  );

  emulator.route('GET', `${GRAPH_PREFIX}/applications/:id`, readApplication(appByObjectId, objectKey));
  emulator.route('PATCH', `${GRAPH_PREFIX}/applications/:id`, updateApplication(appByObjectId, objectKey));
  emulator.route('DELETE', `${GRAPH_PREFIX}/applications/:id`, deleteApplication(appByObjectId, objectKey));
  emulator.route('GET', `${GRAPH_PREFIX}/applications(appId=':appId')`, readApplication(appByAlternateKey, appIdKey));
  emulator.route(
    'PATCH',
    `${GRAPH_PREFIX}/applications(appId=':appId')`,
    updateApplication(appByAlternateKey, appIdKey),
  );
  emulator.route(
    'DELETE',
    `${GRAPH_PREFIX}/applications(appId=':appId')`,
    deleteApplication(appByAlternateKey, appIdKey),
  );

  emulator.route(
    'POST',
    `${GRAPH_PREFIX}/applications/:id/addPassword`,
    graph((request, caller) => {
      const app = appByObjectId(request);
      if (!app) return notFound(request.params.id!);
      if (!owns(app, caller)) return denied();
      if (collectionEntries(app) >= COLLECTION_LIMIT)
        return graphError(
          400,
          'Request_BadRequest',
          `The application's collection properties may hold at most ${COLLECTION_LIMIT} entries.`,
        );
      const password = addPassword(app, ((request.body as Json | undefined)?.passwordCredential ?? {}) as Json);
      return {
        status: 200,
        body: {
          '@odata.context': `${emulator.url}${GRAPH_PREFIX}/$metadata#microsoft.graph.passwordCredential`,
          customKeyIdentifier: null,
          displayName: password.displayName,
          endDateTime: password.endDateTime,
          hint: password.hint,
          keyId: password.keyId,
          secretText: password.secret,
          startDateTime: password.startDateTime,
        },
      };
    }),
  );

  emulator.route(
    'POST',
    `${GRAPH_PREFIX}/applications/:id/removePassword`,
    graph((request, caller) => {
      const app = appByObjectId(request);
      if (!app) return notFound(request.params.id!);
      if (!owns(app, caller)) return denied();
      const keyId = String((request.body as Json).keyId);
      const index = app.passwords.findIndex((password) => password.keyId === keyId);
      if (index < 0) return graphError(400, 'Request_BadRequest', `No password credential found with keyId ${keyId}.`);
      app.passwords.splice(index, 1);
      return { status: 204 };
    }),
  );

  emulator.route(
    'POST',
    `${GRAPH_PREFIX}/servicePrincipals`,
    graph((request, caller) => {
      const appId = (request.body as Json | undefined)?.appId;
      if (typeof appId !== 'string') return graphError(400, 'Request_BadRequest', "Property 'appId' is required.");
      const app = visible(byAppId(appId));
      if (!app)
        return graphError(
          400,
          'Request_BadRequest',
          `The appId '${appId}' of the service principal does not reference a valid application object.`,
        );
      if (!owns(app, caller)) return denied();
      if (app.servicePrincipalId)
        return graphError(
          409,
          'Request_MultipleObjectsWithSameKeyValue',
          'The service principal cannot be created, updated, or restored because the service principal name is already in use.',
        );
      const id = createServicePrincipal(app);
      return {
        status: 201,
        body: {
          '@odata.context': `${emulator.url}${GRAPH_PREFIX}/$metadata#servicePrincipals/$entity`,
          id,
          appId,
          accountEnabled: true,
          appDisplayName: app.properties.displayName ?? null,
          displayName: app.properties.displayName ?? null,
          servicePrincipalType: 'Application',
          servicePrincipalNames: [appId],
          tags: [],
        },
      };
    }),
  );

  emulator.route(
    'DELETE',
    `${GRAPH_PREFIX}/servicePrincipals/:id`,
    graph((request) => {
      const sp = servicePrincipals.get(request.params.id!);
      if (!sp || !replicated(sp)) return notFound(request.params.id!);
      servicePrincipals.delete(sp.id);
      const app = byAppId(sp.appId);
      if (app) app.servicePrincipalId = undefined;
      return { status: 204 };
    }),
  );

  function representation(app: StoredApplication): Json {
    return {
      id: app.id,
      deletedDateTime: null,
      appId: app.appId,
      createdDateTime: app.createdDateTime,
      displayName: null,
      notes: null,
      signInAudience: 'AzureADMyOrg',
      tags: [],
      identifierUris: [],
      info: { logoUrl: null, marketingUrl: null, privacyStatementUrl: null, supportUrl: null, termsOfServiceUrl: null },
      publicClient: { redirectUris: [] },
      spa: { redirectUris: [] },
      web: {
        homePageUrl: null,
        logoutUrl: null,
        redirectUris: [],
        implicitGrantSettings: { enableAccessTokenIssuance: false, enableIdTokenIssuance: false },
        redirectUriSettings: [],
      },
      keyCredentials: [],
      requiredResourceAccess: [],
      ...app.properties,
      passwordCredentials: app.passwords.filter(replicated).map((password) => ({
        customKeyIdentifier: null,
        displayName: password.displayName,
        endDateTime: password.endDateTime,
        hint: password.hint,
        keyId: password.keyId,
        secretText: null,
        startDateTime: password.startDateTime,
      })),
    };
  }

  const ctx = {
    emulator,
    tenantId,
    get authorityHost() {
      return emulator.url;
    },
    get graphUrl() {
      return emulator.url;
    },
    adminApp: { clientId: admin.appId, clientSecret: adminSecret.secret, certificatePem: adminCertificate.pem },
    get driverEnv() {
      return {
        DCR_DRIVER: 'entra',
        ENTRA_TENANT_ID: tenantId,
        ENTRA_CLIENT_ID: admin.appId,
        ENTRA_CLIENT_SECRET: adminSecret.secret,
        ENTRA_AUTHORITY_HOST: emulator.url,
        ENTRA_GRAPH_URL: emulator.url,
      };
    },
    ownedClientIds: () =>
      [...applications.values()]
        .filter(
          (app) =>
            !app.deleted && Array.isArray(app.properties.tags) && (app.properties.tags as string[]).includes(OWNER_TAG),
        )
        .map((app) => app.appId),
    applicationCount: () => [...applications.values()].filter((app) => !app.deleted).length,
    seedOwnedApplications: (count: number, options: { passwordStarts?: number[]; tags?: string[] } = {}) => {
      const seeded: string[] = [];
      for (let index = 0; index < count; index++) {
        const app = createApplication(
          {
            displayName: `seeded ${index}`,
            signInAudience: 'AzureADMyOrg',
            tags: [OWNER_TAG, ...(options.tags ?? [])],
          },
          [adminSpId],
        );
        applications.delete(app.id);
        app.id = `00000000-0000-4000-8000-${String(seededCount++).padStart(12, '0')}`;
        app.visibleAt = 0;
        applications.set(app.id, app);
        for (const start of options.passwordStarts ?? [Date.now() - 86_400_000]) {
          const password = addPassword(app, {
            displayName: 'dcr-bridge',
            startDateTime: new Date(start).toISOString(),
          });
          password.visibleAt = 0;
        }
        seeded.push(app.appId);
      }
      return seeded;
    },
    fillCollections: (appId: string) => {
      const app = byAppId(appId)!;
      while (collectionEntries(app) < COLLECTION_LIMIT) addPassword(app, { displayName: 'filler' }).visibleAt = 0;
    },
    passwordKeyIds: (appId: string) => byAppId(appId)?.passwords.map((password) => password.keyId) ?? [],
    application: (appId: string) => {
      const app = byAppId(appId);
      if (!app) return undefined;
      return {
        id: app.id,
        tags: (app.properties.tags as string[] | undefined) ?? [],
        passwordKeyIds: app.passwords.map((password) => password.keyId),
        hasServicePrincipal: app.servicePrincipalId !== undefined,
        properties: structuredClone(app.properties),
      };
    },
    clientState: () =>
      JSON.parse(
        JSON.stringify({
          applications: [...applications.values()],
          servicePrincipals: [...servicePrincipals.values()],
        }),
      ),
    seedForeignClient: (displayName = 'Contoso admin console') => {
      const app = createApplication({ displayName, tags: ['HideApp'] }, []);
      app.visibleAt = 0;
      const password = addPassword(app, { displayName: 'seeded' });
      password.visibleAt = 0;
      servicePrincipals.get(createServicePrincipal(app))!.visibleAt = 0;
      return { clientId: app.appId, clientSecret: password.secret };
    },
    setTokenLifetime: (seconds: number) => {
      tokenLifetimeSeconds = seconds;
    },
    setReplicationDelay: (ms: number) => {
      replicationDelayMs = ms;
    },
    setMaxPageSize: (size: number) => {
      maxPageSize = size;
    },
    tokenRequests: () => adminTokenRequests,
    workingSecretCount: (appId: string) => byAppId(appId)?.passwords.length ?? 0,
    secretWorks: async (clientId: string, secret: string) => {
      const response = await fetch(`${emulator.url}/${tenantId}/oauth2/v2.0/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          client_id: clientId,
          client_secret: secret,
          scope: `${emulator.url}/.default`,
        }),
      });
      await response.arrayBuffer();
      return response.ok;
    },
    stop: () => emulator.stop(),
  };
  await emulator.start(options.port ?? 0);
  return ctx;
}

export const entraEmulator: EmulatorDefinition = {
  name: 'entra',
  async start({ port }) {
    const entra = await startEntraEmulator({ port });
    return { emulator: entra.emulator, driverEnv: entra.driverEnv };
  },
};

// ---- helpers -------------------------------------------------------------------------------------------------

/**
 * Graph's aggregate limit on an application's collection properties (passwords, certificates, tags, redirect URIs…);
 * passwords have no limit of their own in a single-tenant application (learn.microsoft.com/entra/identity-platform/
 * supported-accounts-validation). Graph's refusal text past it is not documented; the emulator's is its own.
 */
const COLLECTION_LIMIT = 1200;

/** The entries of an application's collection properties. */
function collectionEntries(app: StoredApplication): number {
  const lengths = (record: object): number =>
    Object.values(record).reduce<number>(
      (sum, value) =>
        sum + (Array.isArray(value) ? value.length : value && typeof value === 'object' ? lengths(value) : 0),
      0,
    );
  return app.passwords.length + app.certificates.size + lengths(app.properties);
}

function graphError(status: number, code: string, message: string, requestId: string = randomUUID()): EmulatorResponse {
  const headers: Record<string, string> = {};
  if (status === 429) headers['Retry-After'] = '1';
  return {
    status,
    headers,
    body: {
      error: {
        code,
        message,
        innerError: { date: new Date().toISOString(), 'request-id': requestId, 'client-request-id': requestId },
      },
    },
  };
}

/** The identity platform's (AADSTS) error body. */
function stsError(status: number, error: string, code: number, description: string): EmulatorResponse {
  const traceId = randomUUID();
  const correlationId = randomUUID();
  const timestamp = `${new Date().toISOString().replace('T', ' ').slice(0, 19)}Z`;
  return {
    status,
    body: {
      error,
      error_description: `AADSTS${code}: ${description} Trace ID: ${traceId} Correlation ID: ${correlationId} Timestamp: ${timestamp}`,
      error_codes: [code],
      timestamp,
      trace_id: traceId,
      correlation_id: correlationId,
      error_uri: `https://login.microsoftonline.com/error?code=${code}`,
    },
  };
}

/** Entra client secrets: 40 characters, the third block `8Q~`-style marker included. */
function newSecret(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-~';
  const bytes = randomBytes(37);
  const random = [...bytes].map((byte) => alphabet[byte % alphabet.length]).join('');
  return `${random.slice(0, 3)}8Q~${random.slice(3, 37)}`;
}

function basicCredentials(header: string | undefined): { clientId: string; secret: string } | undefined {
  if (!header?.startsWith('Basic ')) return undefined;
  const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return {
    clientId: decodeURIComponent(decoded.slice(0, colon)),
    secret: decodeURIComponent(decoded.slice(colon + 1)),
  };
}

const REDIRECT_RULES: Record<string, (uri: URL) => boolean> = {
  web: (uri) =>
    uri.protocol === 'https:' ||
    (uri.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(uri.hostname)),
  spa: (uri) =>
    uri.protocol === 'https:' ||
    (uri.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(uri.hostname)),
  publicClient: (uri) => !['javascript:', 'data:', 'file:'].includes(uri.protocol),
};

/** What Graph refuses in an application body; `undefined` when it is acceptable. */
function invalidApplication(body: Json, creating: boolean): string | undefined {
  if (creating && (typeof body.displayName !== 'string' || body.displayName.trim() === '')) {
    return "Property 'displayName' is required to create an application.";
  }
  for (const [platform, rule] of Object.entries(REDIRECT_RULES)) {
    const settings = body[platform] as { redirectUris?: unknown } | null | undefined;
    const uris = settings?.redirectUris;
    if (uris === undefined || uris === null) continue;
    if (!Array.isArray(uris) || uris.length > 256)
      return `Invalid value specified for property '${platform}' of resource 'Application'.`;
    for (const uri of uris) {
      let parsed: URL;
      try {
        parsed = new URL(String(uri));
      } catch {
        return `Invalid value specified for property '${platform}' of resource 'Application'.`;
      }
      if (!rule(parsed) || parsed.hash !== '')
        return `Invalid value specified for property '${platform}' of resource 'Application'.`;
    }
  }
  if (typeof body.notes === 'string' && body.notes.length > 1024)
    return "Invalid value specified for property 'notes' of resource 'Application'.";
  if (Array.isArray(body.tags) && body.tags.some((tag) => typeof tag !== 'string' || tag.length > 256)) {
    return "Invalid value specified for property 'tags' of resource 'Application'.";
  }
  return undefined;
}

/** The two `$filter` forms the bridge uses: `appId eq '…'` and `tags/any(t:t eq '…')`. */
function parseFilter(filter: string): ((app: Json) => boolean) | undefined {
  const byAppId = /^appId eq '([^']*)'$/.exec(filter.trim());
  if (byAppId) return (app) => app.appId === byAppId[1];
  const byTag = /^tags\/any\((\w+):\1 eq '([^']*)'\)$/.exec(filter.trim());
  if (byTag) return (app) => Array.isArray(app.tags) && (app.tags as string[]).includes(byTag[2]!);
  return undefined;
}

function select(entity: Json, query: URLSearchParams): Json {
  const wanted = query.get('$select');
  if (!wanted) return entity;
  const names = new Set(['id', ...wanted.split(',').map((name) => name.trim())]);
  return Object.fromEntries(Object.entries(entity).filter(([name]) => names.has(name)));
}

function thumbprintSha256(certificatePem: string): string {
  return createHash('sha256').update(new X509Certificate(certificatePem).raw).digest('base64url');
}

/** A client assertion (RFC 7523) as MSAL signs it: PS256 or RS256, `x5t#S256` naming a certificate of the app. */
function assertionIsValid(
  app: StoredApplication,
  assertion: string,
  assertionType: string | undefined,
  audience: string,
): boolean {
  if (assertionType !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') return false;
  const [headerPart, payloadPart, signaturePart] = assertion.split('.');
  if (!headerPart || !payloadPart || !signaturePart) return false;
  try {
    const header = JSON.parse(Buffer.from(headerPart, 'base64url').toString('utf8')) as Json;
    const payload = JSON.parse(Buffer.from(payloadPart, 'base64url').toString('utf8')) as Json;
    const certificatePem = app.certificates.get(String(header['x5t#S256']));
    if (!certificatePem) return false;
    const key = createPublicKey(certificatePem);
    const data = Buffer.from(`${headerPart}.${payloadPart}`);
    const signature = Buffer.from(signaturePart, 'base64url');
    const signed =
      header.alg === 'PS256'
        ? verify('sha256', data, { key, padding: cryptoConstants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, signature)
        : header.alg === 'RS256' && verify('sha256', data, key, signature);
    const now = Date.now() / 1000;
    return (
      signed &&
      payload.aud === audience &&
      payload.iss === app.appId &&
      payload.sub === app.appId &&
      typeof payload.exp === 'number' &&
      payload.exp > now
    );
  } catch {
    return false;
  }
}

/**
 * A self-signed certificate and its key in one PEM, the shape `ENTRA_CERTIFICATE_PATH` takes. Kept between runs
 * (`keptTestFile`) while it has a day of validity left: its key is the costliest part of the emulator's start.
 */
function selfSignedCertificate(commonName: string): { pem: string; certificatePem: string } {
  const pem = keptTestFile(
    `entra-${commonName.replace(/[^a-z0-9]+/gi, '-')}-certificate.pem`,
    () => {
      const { publicKey, privateKey } = generateKeyPairSync('rsa', {
        modulusLength: 2048,
        publicKeyEncoding: { type: 'spki', format: 'pem' },
        privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      });
      const certificate = forge.pki.createCertificate();
      certificate.publicKey = forge.pki.publicKeyFromPem(publicKey);
      certificate.serialNumber = `01${randomBytes(8).toString('hex')}`;
      certificate.validity.notBefore = new Date(Date.now() - 3600_000);
      certificate.validity.notAfter = new Date(Date.now() + 365 * 24 * 3600_000);
      certificate.setSubject([{ name: 'commonName', value: commonName }]);
      certificate.setIssuer([{ name: 'commonName', value: commonName }]);
      certificate.sign(forge.pki.privateKeyFromPem(privateKey), forge.md.sha256.create());
      return `${privateKey}${forge.pki.certificateToPem(certificate)}`;
    },
    (kept) => new Date(new X509Certificate(certificatePemOf(kept)).validTo).getTime() > Date.now() + 24 * 3600_000,
  );
  return { pem, certificatePem: certificatePemOf(pem) };
}

function certificatePemOf(pem: string): string {
  return pem.slice(pem.indexOf('-----BEGIN CERTIFICATE-----'));
}
