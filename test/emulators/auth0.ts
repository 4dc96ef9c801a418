/**
 * An Auth0 tenant on 127.0.0.1: Management API v2 clients (`/api/v2/clients`, `rotate-secret`) and client grants
 * (`/api/v2/client-grants`), the Authentication API's `/oauth/token` (client credentials for the Management API and
 * for the tenant's other APIs, only where a client grant exists), access tokens that expire, scopes checked per
 * operation, `X-RateLimit-*` headers on every management answer and Auth0's own error bodies. Every request and
 * answer is checked against Auth0's published OpenAPI 3.1 descriptions.
 */
import { randomBytes } from 'node:crypto';
import { Emulator, type EmulatorDefinition, type EmulatorRequest, type EmulatorResponse } from './framework.js';
import { SpecValidator, vendorSpecFile } from './spec-validator.js';

type Json = Record<string, unknown>;

interface StoredClient {
  client_id: string;
  client_secret: string;
  name: string;
  description?: string;
  app_type?: string;
  callbacks: string[];
  allowed_logout_urls: string[];
  grant_types: string[];
  token_endpoint_auth_method: string;
  logo_uri?: string;
  initiate_login_uri?: string;
  client_metadata: Record<string, string>;
  created_at: string;
}

interface StoredGrant {
  id: string;
  client_id: string;
  audience: string;
  scope: string[];
}

export interface Auth0EmulatorOptions {
  port?: number;
  /** Lifetime of the access tokens `/oauth/token` issues. Default 86,400 s (Auth0's default for the Management API). */
  tokenLifetimeSeconds?: number;
  /** Management requests per minute before 429 `too_many_requests`. Default 6,000. */
  rateLimitPerMinute?: number;
}

export interface Auth0Emulator {
  emulator: Emulator;
  /** `AUTH0_DOMAIN`: host and port, no scheme. */
  domain: string;
  /** The Management API's identifier, `https://{domain}/api/v2/`. */
  managementAudience: string;
  /** A second API of the tenant (a resource server with scopes `read:things` and `write:things`). */
  apiAudience: string;
  /** The bridge's own machine-to-machine app, granted the Management API. */
  adminClient: { clientId: string; clientSecret: string };
  /** Client ids carrying the bridge's ownership mark (`client_metadata.dcr_bridge_managed`). */
  ownedClientIds(): string[];
  client(clientId: string): Readonly<StoredClient> | undefined;
  clientCount(): number;
  /** Client grants, optionally of one client. */
  grants(clientId?: string): Array<Readonly<StoredGrant>>;
  /** Creates a client the bridge did not create and grants it the test API; returns its credentials. */
  seedForeignClient(name?: string): { clientId: string; clientSecret: string };
  /** What the IdP holds about its clients (secrets and grants too), as plain JSON: a refused call must leave it equal. */
  clientState(): unknown;
  setTokenLifetime(seconds: number): void;
  /** Token requests by the admin client for the Management API. */
  tokenRequests(): number;
  /**
   * A real client-credentials token request for the test API: does this secret authenticate? Auth0 checks the secret
   * first (401 when wrong), then the grant type and the client grant (403), so a 403 still proves the secret.
   */
  /** Secrets of this client the IdP accepts now, whoever knows them (an orphan secret counts). */
  workingSecretCount(clientId: string): number;
  secretWorks(clientId: string, secret: string): Promise<boolean>;
  /** Whether this client gets an access token for the test API (its secret works and it holds a grant). */
  apiTokenWorks(clientId: string, secret: string): Promise<boolean>;
  stop(): Promise<void>;
}

const MANAGEMENT_SPEC = 'auth0/auth0-management-clients-subset.json';
const AUTHENTICATION_SPEC = 'auth0/auth0-authentication-token-dcr-subset.json';
const API_AUDIENCE = 'https://api.dcr-bridge.test/';
const API_SCOPES = ['read:things', 'write:things'];
const ADMIN_SCOPES = [
  'read:clients',
  'create:clients',
  'update:clients',
  'delete:clients',
  'update:client_keys',
  'read:client_keys',
  'read:client_grants',
  'create:client_grants',
  'delete:client_grants',
];
const AUTH0_GRANT_TYPES = new Set([
  'authorization_code',
  'implicit',
  'refresh_token',
  'client_credentials',
  'password',
  'http://auth0.com/oauth/grant-type/password-realm',
  'urn:ietf:params:oauth:grant-type:device_code',
]);

export async function startAuth0Emulator(options: Auth0EmulatorOptions = {}): Promise<Auth0Emulator> {
  const managementSpec = SpecValidator.load(vendorSpecFile(MANAGEMENT_SPEC));
  const authenticationSpec = SpecValidator.load(vendorSpecFile(AUTHENTICATION_SPEC));
  const emulator = new Emulator({ name: 'auth0', spec: managementSpec });
  const clients = new Map<string, StoredClient>();
  const grants = new Map<string, StoredGrant>();
  const accessTokens = new Map<string, { expiresAt: number; audience: string; scopes: string[] }>();
  let tokenLifetimeSeconds = options.tokenLifetimeSeconds ?? 86_400;
  let adminTokenRequests = 0;
  const limit = options.rateLimitPerMinute ?? 6000;
  let window = { start: 0, used: 0 };
  let domain = '';
  const managementAudience = () => `https://${domain}/api/v2/`;
  const resourceServers = (): Record<string, string[]> => ({
    [managementAudience()]: ADMIN_SCOPES,
    [API_AUDIENCE]: API_SCOPES,
  });

  // ---- Auth0's shapes ---------------------------------------------------------------------------------------------

  const REASONS: Record<number, string> = {
    400: 'Bad Request',
    401: 'Unauthorized',
    403: 'Forbidden',
    404: 'Not Found',
    409: 'Conflict',
    429: 'Too Many Requests',
  };
  const error = (statusCode: number, message: string, errorCode?: string): EmulatorResponse => ({
    status: statusCode,
    body: { statusCode, error: REASONS[statusCode] ?? 'Error', message, ...(errorCode ? { errorCode } : {}) },
  });
  const noClient = () => error(404, 'The client does not exist', 'inexistent_client');

  function clientJson(client: StoredClient, revealSecret: boolean): Json {
    return {
      client_id: client.client_id,
      tenant: 'dcr-bridge-emulator',
      name: client.name,
      ...(client.description !== undefined ? { description: client.description } : {}),
      global: false,
      is_first_party: true,
      oidc_conformant: true,
      callbacks: client.callbacks,
      allowed_logout_urls: client.allowed_logout_urls,
      allowed_origins: [],
      web_origins: [],
      grant_types: client.grant_types,
      token_endpoint_auth_method: client.token_endpoint_auth_method,
      ...(client.app_type ? { app_type: client.app_type } : {}),
      ...(client.logo_uri !== undefined ? { logo_uri: client.logo_uri } : {}),
      ...(client.initiate_login_uri !== undefined ? { initiate_login_uri: client.initiate_login_uri } : {}),
      sso_disabled: false,
      cross_origin_authentication: false,
      custom_login_page_on: true,
      jwt_configuration: { alg: 'RS256', lifetime_in_seconds: 36000, secret_encoded: false },
      client_metadata: client.client_metadata,
      ...(revealSecret ? { client_secret: client.client_secret } : {}),
    };
  }

  const grantJson = (grant: StoredGrant): Json => ({
    id: grant.id,
    client_id: grant.client_id,
    audience: grant.audience,
    scope: grant.scope,
    allow_any_organization: false,
    is_system: false,
    subject_type: 'client',
  });

  /** Auth0's rules beyond the schema; `undefined` when the client body is acceptable. */
  function invalidClient(body: Json, existing?: StoredClient): EmulatorResponse | undefined {
    const grantTypes = (body.grant_types as string[] | undefined) ?? existing?.grant_types ?? [];
    const method = (body.token_endpoint_auth_method as string | undefined) ?? existing?.token_endpoint_auth_method;
    const unknown = grantTypes.find((grant) => !AUTH0_GRANT_TYPES.has(grant));
    if (unknown)
      return error(
        400,
        `Payload validation error: 'Invalid grant type: ${unknown}' on property grant_types.`,
        'invalid_body',
      );
    if (method === 'none' && grantTypes.includes('client_credentials')) {
      return error(
        400,
        'Public clients (token_endpoint_auth_method: none) cannot use the client_credentials grant.',
        'invalid_body',
      );
    }
    const metadata = body.client_metadata as Json | undefined;
    if (metadata !== undefined) {
      for (const [key, value] of Object.entries(metadata)) {
        if (value === null && existing) continue;
        if (typeof value !== 'string' || value.length > 255 || key.length > 255) {
          return error(
            400,
            `Payload validation error: 'client_metadata.${key}' must be a string of at most 255 characters.`,
            'invalid_body',
          );
        }
      }
    }
    for (const uri of [
      ...((body.callbacks as string[] | undefined) ?? []),
      ...((body.allowed_logout_urls as string[] | undefined) ?? []),
    ]) {
      if (!/^[a-z][a-z0-9+.-]*:\/?\/?[^\s#]*$/i.test(uri))
        return error(400, `Payload validation error: 'Invalid URL: ${uri}'.`, 'invalid_body');
    }
    return undefined;
  }

  function applyClientBody(client: StoredClient, body: Json): void {
    for (const field of [
      'name',
      'description',
      'app_type',
      'callbacks',
      'allowed_logout_urls',
      'grant_types',
      'token_endpoint_auth_method',
      'logo_uri',
      'initiate_login_uri',
    ] as const) {
      if (body[field] !== undefined) (client as unknown as Json)[field] = structuredClone(body[field]);
    }
    // Auth0 merges client_metadata on update (one level deep); a key sent as null is removed.
    for (const [key, value] of Object.entries((body.client_metadata ?? {}) as Record<string, string | null>)) {
      if (value === null) delete client.client_metadata[key];
      else client.client_metadata[key] = value;
    }
  }

  function createClient(body: Json): StoredClient {
    const client: StoredClient = {
      client_id: randomToken(32),
      client_secret: randomToken(64),
      name: body.name as string,
      callbacks: [],
      allowed_logout_urls: [],
      grant_types: ['authorization_code', 'implicit', 'refresh_token', 'client_credentials'],
      token_endpoint_auth_method: 'client_secret_post',
      client_metadata: {},
      created_at: new Date().toISOString(),
    };
    applyClientBody(client, body);
    clients.set(client.client_id, client);
    return client;
  }

  function createGrant(clientId: string, audience: string, scope: string[]): StoredGrant {
    const grant: StoredGrant = { id: `cgr_${randomToken(16)}`, client_id: clientId, audience, scope };
    grants.set(grant.id, grant);
    return grant;
  }

  // ---- Authentication and rate limits ------------------------------------------------------------------------------

  function rateLimitHeaders(): Record<string, string> {
    const now = Date.now();
    if (now - window.start >= 60_000) window = { start: now - (now % 60_000), used: 0 };
    window.used++;
    return {
      'X-RateLimit-Limit': String(limit),
      'X-RateLimit-Remaining': String(Math.max(0, limit - window.used)),
      'X-RateLimit-Reset': String(Math.ceil((window.start + 60_000) / 1000)),
    };
  }

  const tokenScopes = (request: EmulatorRequest) =>
    accessTokens.get(/^Bearer (\S+)$/i.exec(String(request.headers.authorization ?? ''))?.[1] ?? '')?.scopes ?? [];

  /** The answer for a request without a valid Management API token or scope, or `undefined` when it may proceed. */
  function unauthorized(request: EmulatorRequest, scope: string): EmulatorResponse | undefined {
    const bearer = /^Bearer (\S+)$/i.exec(String(request.headers.authorization ?? ''))?.[1];
    if (!bearer) return { ...error(401, 'Missing authentication'), headers: { 'WWW-Authenticate': 'Bearer' } };
    const token = accessTokens.get(bearer);
    if (!token || token.audience !== managementAudience()) {
      return {
        status: 401,
        body: {
          statusCode: 401,
          error: 'Unauthorized',
          message: 'Invalid token',
          attributes: { error: 'Invalid token' },
        },
      };
    }
    if (token.expiresAt <= emulator.now()) {
      const message = 'Expired token received for JSON Web Token validation';
      return { status: 401, body: { statusCode: 401, error: 'Unauthorized', message, attributes: { error: message } } };
    }
    if (!token.scopes.includes(scope))
      return error(403, `Insufficient scope, expected any of: ${scope}`, 'insufficient_scope');
    return undefined;
  }

  function management(
    scope: string,
    handler: (request: EmulatorRequest) => EmulatorResponse,
  ): (request: EmulatorRequest) => EmulatorResponse {
    return (request) => {
      const headers = rateLimitHeaders();
      if (window.used > limit)
        return withHeaders(error(429, 'Global limit has been reached', 'too_many_requests'), headers);
      return withHeaders(unauthorized(request, scope) ?? handler(request), headers);
    };
  }

  function withClient(scope: string, handler: (client: StoredClient, request: EmulatorRequest) => EmulatorResponse) {
    return management(scope, (request) => {
      const client = clients.get(request.params.id!);
      return client ? handler(client, request) : noClient();
    });
  }

  // ---- /api/v2/clients ---------------------------------------------------------------------------------------------

  emulator.route(
    'GET',
    '/api/v2/clients',
    management('read:clients', (request) => {
      const all = [...clients.values()].sort(
        (a, b) => a.created_at.localeCompare(b.created_at) || a.client_id.localeCompare(b.client_id),
      );
      const perPage = Math.min(100, Number(request.query.get('per_page') ?? 50));
      const page = Number(request.query.get('page') ?? 0);
      const items = all
        .slice(page * perPage, (page + 1) * perPage)
        .map((client) => selectFields(clientJson(client, false), request.query));
      if (request.query.get('include_totals') === 'true')
        return { status: 200, body: { start: page * perPage, limit: perPage, total: all.length, clients: items } };
      return { status: 200, body: items };
    }),
  );

  emulator.route(
    'POST',
    '/api/v2/clients',
    management('create:clients', (request) => {
      const body = request.body as Json;
      const invalid = invalidClient(body);
      if (invalid) return invalid;
      return { status: 201, body: clientJson(createClient(body), true) };
    }),
  );

  emulator.route(
    'GET',
    '/api/v2/clients/:id',
    // The secret only for a token with read:client_keys, as Auth0 documents.
    withClient('read:clients', (client, request) => ({
      status: 200,
      body: selectFields(clientJson(client, tokenScopes(request).includes('read:client_keys')), request.query),
    })),
  );

  emulator.route(
    'PATCH',
    '/api/v2/clients/:id',
    withClient('update:clients', (client, request) => {
      const body = request.body as Json;
      const invalid = invalidClient(body, client);
      if (invalid) return invalid;
      const merged = { ...client.client_metadata, ...(body.client_metadata as Json | undefined) };
      if (Object.values(merged).filter((value) => value !== null).length > 10) {
        return error(400, 'Payload validation error: client_metadata must have at most 10 properties.', 'invalid_body');
      }
      applyClientBody(client, body);
      return { status: 200, body: clientJson(client, false) };
    }),
  );

  // Auth0 answers 204 whether or not the client existed, and removes its grants with it.
  emulator.route(
    'DELETE',
    '/api/v2/clients/:id',
    management('delete:clients', (request) => {
      clients.delete(request.params.id!);
      for (const grant of [...grants.values()]) if (grant.client_id === request.params.id) grants.delete(grant.id);
      return { status: 204 };
    }),
  );

  emulator.route(
    'POST',
    '/api/v2/clients/:id/rotate-secret',
    withClient('update:client_keys', (client) => {
      client.client_secret = randomToken(64);
      return { status: 200, body: clientJson(client, true) };
    }),
  );

  // ---- /api/v2/client-grants ---------------------------------------------------------------------------------------

  emulator.route(
    'GET',
    '/api/v2/client-grants',
    management('read:client_grants', (request) => {
      const clientId = request.query.get('client_id');
      const audience = request.query.get('audience');
      const matching = [...grants.values()]
        .filter(
          (grant) =>
            (clientId === null || grant.client_id === clientId) && (audience === null || grant.audience === audience),
        )
        .sort((a, b) => a.id.localeCompare(b.id));
      if (request.query.has('from') || request.query.has('take')) {
        const from = request.query.get('from');
        const take = Math.min(100, Number(request.query.get('take') ?? 50));
        const rest = from ? matching.filter((grant) => grant.id > from) : matching;
        const page = rest.slice(0, take);
        // An empty `next` ends the listing (the SDK reads it so); it also keeps the answer one of the spec's oneOf shapes.
        return {
          status: 200,
          body: { client_grants: page.map(grantJson), next: rest.length > take ? page.at(-1)!.id : '' },
        };
      }
      const perPage = Math.min(100, Number(request.query.get('per_page') ?? 50));
      const pageNumber = Number(request.query.get('page') ?? 0);
      const items = matching.slice(pageNumber * perPage, (pageNumber + 1) * perPage).map(grantJson);
      if (request.query.get('include_totals') === 'true')
        return {
          status: 200,
          body: { start: pageNumber * perPage, limit: perPage, total: matching.length, client_grants: items },
        };
      return { status: 200, body: items };
    }),
  );

  emulator.route(
    'POST',
    '/api/v2/client-grants',
    management('create:client_grants', (request) => {
      const body = request.body as { client_id?: string; audience: string; scope?: string[] };
      if (!body.client_id || !clients.has(body.client_id)) return error(404, 'Client not found', 'inexistent_client');
      const known = resourceServers()[body.audience];
      if (!known)
        return error(404, `No resource server found with identifier ${body.audience}`, 'inexistent_resource_server');
      const unknownScope = (body.scope ?? []).find((scope) => !known.includes(scope));
      if (unknownScope)
        return error(400, `Client grant scope not allowed by the resource server: ${unknownScope}`, 'invalid_body');
      if (
        [...grants.values()].some((grant) => grant.client_id === body.client_id && grant.audience === body.audience)
      ) {
        return error(409, 'A client grant for this client and audience already exists.');
      }
      return { status: 201, body: grantJson(createGrant(body.client_id, body.audience, body.scope ?? [])) };
    }),
  );

  emulator.route(
    'GET',
    '/api/v2/client-grants/:id',
    management('read:client_grants', (request) => {
      const grant = grants.get(request.params.id!);
      return grant
        ? { status: 200, body: grantJson(grant) }
        : error(404, 'The client grant does not exist', 'inexistent_client_grant');
    }),
  );

  emulator.route(
    'DELETE',
    '/api/v2/client-grants/:id',
    management('delete:client_grants', (request) => {
      grants.delete(request.params.id!);
      return { status: 204 };
    }),
  );

  // ---- /oauth/token (the Authentication API; form or JSON) --------------------------------------------------------

  const oauthError = (status: number, code: string, description: string): EmulatorResponse => ({
    status,
    headers: { 'Cache-Control': 'no-store', Pragma: 'no-cache' },
    body: { error: code, error_description: description },
  });

  // The tenant's OpenID Provider metadata; Auth0's issuer ends with a slash.
  emulator.route(
    'GET',
    '/.well-known/openid-configuration',
    () => ({
      status: 200,
      body: {
        issuer: `${emulator.url}/`,
        authorization_endpoint: `${emulator.url}/authorize`,
        token_endpoint: `${emulator.url}/oauth/token`,
        device_authorization_endpoint: `${emulator.url}/oauth/device/code`,
        userinfo_endpoint: `${emulator.url}/userinfo`,
        mfa_challenge_endpoint: `${emulator.url}/mfa/challenge`,
        jwks_uri: `${emulator.url}/.well-known/jwks.json`,
        registration_endpoint: `${emulator.url}/oidc/register`,
        revocation_endpoint: `${emulator.url}/oauth/revoke`,
        scopes_supported: ['openid', 'profile', 'offline_access', 'name', 'email', 'email_verified'],
        response_types_supported: [
          'code',
          'token',
          'id_token',
          'code token',
          'code id_token',
          'token id_token',
          'code token id_token',
        ],
        code_challenge_methods_supported: ['S256', 'plain'],
        response_modes_supported: ['query', 'fragment', 'form_post'],
        subject_types_supported: ['public'],
        token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
        id_token_signing_alg_values_supported: ['HS256', 'RS256', 'PS256'],
        request_uri_parameter_supported: false,
      },
    }),
    { spec: false },
  );

  emulator.route(
    'POST',
    '/oauth/token',
    (request) => {
      const form = (typeof request.body === 'object' && request.body !== null ? request.body : {}) as Record<
        string,
        string
      >;
      if (form.grant_type !== 'client_credentials')
        return oauthError(403, 'unsupported_grant_type', `Unsupported grant type: ${String(form.grant_type)}`);
      let clientId = form.client_id;
      let secret = form.client_secret;
      const basic = /^Basic (\S+)$/i.exec(String(request.headers.authorization ?? ''))?.[1];
      if (basic) {
        const decoded = Buffer.from(basic, 'base64').toString('utf8');
        const colon = decoded.indexOf(':');
        clientId = decodeURIComponent(decoded.slice(0, colon));
        secret = decodeURIComponent(decoded.slice(colon + 1));
      }
      const client = clientId ? clients.get(clientId) : undefined;
      if (!client || !secret || client.token_endpoint_auth_method === 'none' || client.client_secret !== secret) {
        return oauthError(401, 'access_denied', 'Unauthorized');
      }
      if (!client.grant_types.includes('client_credentials')) {
        return oauthError(403, 'unauthorized_client', "Grant type 'client_credentials' not allowed for the client.");
      }
      const audience = form.audience;
      const scopes = audience ? resourceServers()[audience] : undefined;
      if (!audience || !scopes) return oauthError(403, 'access_denied', `Service not found: ${String(audience)}`);
      const grant = [...grants.values()].find(
        (candidate) => candidate.client_id === client.client_id && candidate.audience === audience,
      );
      if (!grant) {
        return oauthError(
          403,
          'access_denied',
          `Client is not authorized to access "${audience}". You need to create a "client-grant" associated to this API. See: https://auth0.com/docs/api/v2#!/Client_Grants/post_client_grants`,
        );
      }
      if (audience === managementAudience()) adminTokenRequests++;
      const accessToken = randomToken(64);
      accessTokens.set(accessToken, {
        expiresAt: emulator.now() + tokenLifetimeSeconds * 1000,
        audience,
        scopes: grant.scope,
      });
      return {
        status: 200,
        headers: { 'Cache-Control': 'no-store', Pragma: 'no-cache' },
        body: {
          access_token: accessToken,
          scope: grant.scope.join(' '),
          expires_in: tokenLifetimeSeconds,
          token_type: 'Bearer',
        },
      };
    },
    { spec: authenticationSpec },
  );

  // ---- the tenant's own clients -------------------------------------------------------------------------------------

  const admin = createClient({
    name: 'dcr-bridge (Machine to Machine)',
    app_type: 'non_interactive',
    grant_types: ['client_credentials'],
  });

  await emulator.start(options.port ?? 0);
  domain = new URL(emulator.url).host;
  createGrant(admin.client_id, managementAudience(), ADMIN_SCOPES);

  async function apiTokenStatus(clientId: string, secret: string): Promise<number> {
    const response = await fetch(`${emulator.url}/oauth/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: clientId,
        client_secret: secret,
        audience: API_AUDIENCE,
      }),
    });
    await response.arrayBuffer();
    return response.status;
  }

  return {
    emulator,
    domain,
    managementAudience: managementAudience(),
    apiAudience: API_AUDIENCE,
    adminClient: { clientId: admin.client_id, clientSecret: admin.client_secret },
    ownedClientIds: () =>
      [...clients.values()]
        .filter((client) => client.client_metadata.dcr_bridge_managed === 'true')
        .map((client) => client.client_id),
    client: (clientId) => clients.get(clientId),
    clientCount: () => clients.size,
    grants: (clientId) =>
      [...grants.values()].filter((grant) => clientId === undefined || grant.client_id === clientId),
    clientState: () => JSON.parse(JSON.stringify({ clients: [...clients.values()], grants: [...grants.values()] })),
    seedForeignClient: (name = 'Payroll (not from the bridge)') => {
      const client = createClient({
        name,
        app_type: 'non_interactive',
        grant_types: ['client_credentials'],
        client_metadata: { team: 'payroll' },
      });
      createGrant(client.client_id, API_AUDIENCE, ['read:things']);
      return { clientId: client.client_id, clientSecret: client.client_secret };
    },
    setTokenLifetime: (seconds) => {
      tokenLifetimeSeconds = seconds;
    },
    tokenRequests: () => adminTokenRequests,
    // Auth0 holds one secret per client.
    workingSecretCount: (clientId) => (clients.get(clientId)?.client_secret ? 1 : 0),
    secretWorks: async (clientId, secret) => [200, 403].includes(await apiTokenStatus(clientId, secret)),
    apiTokenWorks: async (clientId, secret) => (await apiTokenStatus(clientId, secret)) === 200,
    stop: () => emulator.stop(),
  };
}

/** Auth0's `fields` + `include_fields` projection. */
function selectFields(body: Json, query: URLSearchParams): Json {
  const fields = query.get('fields');
  if (!fields) return body;
  const names = new Set(fields.split(',').map((field) => field.trim()));
  const include = query.get('include_fields') !== 'false';
  return Object.fromEntries(Object.entries(body).filter(([key]) => names.has(key) === include));
}

function withHeaders(response: EmulatorResponse, headers: Record<string, string>): EmulatorResponse {
  return { ...response, headers: { ...headers, ...response.headers } };
}

function randomToken(length: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let token = '';
  for (const byte of randomBytes(length)) token += alphabet[byte % alphabet.length];
  return token;
}

export const auth0Emulator: EmulatorDefinition = {
  name: 'auth0',
  async start({ port }) {
    const auth0 = await startAuth0Emulator({ port });
    return { emulator: auth0.emulator, driverEnv: auth0DriverEnv(auth0) };
  },
};

/** What `createAuth0Driver` needs to manage this emulator's tenant (the tests add their call policy). */
export function auth0DriverOptions(auth0: Auth0Emulator) {
  return {
    domain: auth0.domain,
    clientId: auth0.adminClient.clientId,
    clientSecret: auth0.adminClient.clientSecret,
    audience: auth0.apiAudience,
    defaultScopes: ['read:things'],
  };
}

/** The same as the variables `npm start` needs to run the Auth0 driver against this emulator. */
export function auth0DriverEnv(auth0: Auth0Emulator): Record<string, string> {
  const options = auth0DriverOptions(auth0);
  return {
    DCR_DRIVER: 'auth0',
    AUTH0_DOMAIN: options.domain,
    AUTH0_CLIENT_ID: options.clientId,
    AUTH0_CLIENT_SECRET: options.clientSecret,
    AUTH0_AUDIENCE: options.audience,
    AUTH0_DEFAULT_SCOPES: options.defaultScopes.join(' '),
  };
}
