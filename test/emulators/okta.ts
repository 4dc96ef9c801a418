/**
 * An Okta org on 127.0.0.1: OIDC apps under `/api/v1/apps` (lifecycle, secrets under `/credentials/secrets`), the
 * org authorization server's `/oauth2/v1/token`, `SSWS` API tokens and OAuth service-app access tokens that expire,
 * `X-Rate-Limit-*` headers on every management answer and Okta's own error bodies. Every management request and
 * answer is checked against Okta's published management spec.
 */
import { createPrivateKey, createPublicKey, randomBytes, verify, type KeyObject } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Emulator, type EmulatorDefinition, type EmulatorRequest, type EmulatorResponse } from './framework.js';
import { SpecValidator, vendorSpecFile } from './spec-validator.js';
import { keptTestKey } from './tls.js';

type Json = Record<string, unknown>;

interface StoredSecret {
  id: string;
  status: 'ACTIVE' | 'INACTIVE';
  secret: string;
  created: string;
  lastUpdated: string;
}

interface StoredApp {
  id: string;
  status: 'ACTIVE' | 'INACTIVE';
  created: string;
  lastUpdated: string;
  label: string;
  clientId: string;
  oauthClient: Json;
  settingsClient: Json;
  profile: Json | undefined;
  accessibility: Json;
  visibility: Json;
  secrets: StoredSecret[];
  /** The public key of a service app that authenticates with `private_key_jwt`. */
  publicKey?: { kid: string; key: KeyObject };
}

export interface OktaEmulatorOptions {
  port?: number;
  /** Lifetime of the access tokens `/oauth2/v1/token` issues. Default 3600 s. */
  tokenLifetimeSeconds?: number;
  /** Requests per minute per org before 429 `E0000047`. Default 6,000. */
  rateLimitPerMinute?: number;
}

export interface OktaEmulator {
  emulator: Emulator;
  /** `OKTA_API_TOKEN` value the org accepts (`SSWS`). */
  apiToken: string;
  /** The bridge's own OAuth service app (`private_key_jwt`), which is an app of the org like any other. */
  serviceApp: { clientId: string; privateKeyPem: string; keyId: string };
  /** Client ids of the apps carrying the bridge's ownership mark. */
  ownedClientIds(): string[];
  app(clientId: string):
    | {
        status: string;
        secrets: Array<{ id: string; status: string; created: string }>;
        label: string;
        profile: Json | undefined;
      }
    | undefined;
  /**
   * Puts `count` apps carrying the bridge's ownership mark, one secret each, straight into the org (no request): the
   * fleet a sweep walks through. Their ids sort before any id the org assigns, so the apps created later list last.
   */
  seedOwnedApps(count: number): void;
  /** Creates an app the bridge did not create (the org's own admin app, say) and returns its credentials. */
  seedForeignClient(label?: string): { clientId: string; clientSecret: string };
  /** What the IdP holds about its clients (secrets and grants too), as plain JSON: a refused call must leave it equal. */
  clientState(): unknown;
  setTokenLifetime(seconds: number): void;
  /** Requests answered by `/oauth2/v1/token` with the service app's client assertion. */
  tokenRequests(): number;
  /** A real client-credentials token request, as a client would make it: does Okta authenticate this secret? */
  /** Secrets of this client the IdP accepts now, whoever knows them (an orphan secret counts). */
  workingSecretCount(clientId: string): number;
  secretWorks(clientId: string, secret: string): Promise<boolean>;
  stop(): Promise<void>;
}

const MANAGEMENT_SPEC = 'okta/okta-management-apps-subset.yaml';
const OWNER_MARK = 'dcr-bridge';
const ADMIN_SCOPES = ['okta.apps.manage', 'okta.apps.read'];
const GRANT_TYPES = new Set([
  'authorization_code',
  'client_credentials',
  'implicit',
  'password',
  'refresh_token',
  'urn:ietf:params:oauth:grant-type:device_code',
  'urn:ietf:params:oauth:grant-type:token-exchange',
  'urn:ietf:params:oauth:grant-type:jwt-bearer',
]);
const SECRET_METHODS = new Set(['client_secret_basic', 'client_secret_post', 'client_secret_jwt']);

export async function startOktaEmulator(options: OktaEmulatorOptions = {}): Promise<OktaEmulator> {
  const spec = SpecValidator.load(vendorSpecFile(MANAGEMENT_SPEC));
  const emulator = new Emulator({ name: 'okta', spec });
  const apps = new Map<string, StoredApp>();
  const accessTokens = new Map<string, { expiresAt: number; scopes: string[] }>();
  const usedAssertionIds = new Set<string>();
  const apiToken = `00${randomToken(40)}`;
  let tokenLifetimeSeconds = options.tokenLifetimeSeconds ?? 3600;
  let serviceTokenRequests = 0;
  const limit = options.rateLimitPerMinute ?? 6000;
  let window = { start: 0, used: 0 };

  // ---- Okta's shapes ----------------------------------------------------------------------------------------------

  const error = (
    status: number,
    errorCode: string,
    errorSummary: string,
    causes: string[] = [],
    headers?: Record<string, string>,
  ): EmulatorResponse => ({
    status,
    headers,
    body: {
      errorCode,
      errorSummary,
      errorLink: errorCode,
      errorId: `oae${randomToken(22)}`,
      errorCauses: causes.map((summary) => ({ errorSummary: summary })),
    },
  });
  const validationFailed = (field: string, cause: string) =>
    error(400, 'E0000001', `Api validation failed: ${field}`, [`${field}: ${cause}`]);
  const notFound = (id: string) => error(404, 'E0000007', `Not found: Resource not found: ${id} (AppInstance)`);

  function appJson(app: StoredApp, secretOnce?: string): Json {
    const base = emulator.url;
    return {
      id: app.id,
      orn: `orn:okta:idp:00o${randomToken(17)}:apps:oidc_client:${app.id}`,
      name: 'oidc_client',
      label: app.label,
      status: app.status,
      created: app.created,
      lastUpdated: app.lastUpdated,
      signOnMode: 'OPENID_CONNECT',
      features: [],
      accessibility: app.accessibility,
      visibility: app.visibility,
      credentials: {
        // biome-ignore lint/suspicious/noTemplateCurlyInString: Okta's own expression language, sent literally.
        userNameTemplate: { template: '${source.login}', type: 'BUILT_IN' },
        signing: { kid: 'emulator-signing-key' },
        oauthClient: {
          ...app.oauthClient,
          client_id: app.clientId,
          ...(secretOnce ? { client_secret: secretOnce } : {}),
        },
      },
      settings: {
        app: {},
        notifications: { vpn: { network: { connection: 'DISABLED' } } },
        oauthClient: app.settingsClient,
      },
      ...(app.profile ? { profile: app.profile } : {}),
      _links: {
        self: { href: `${base}/api/v1/apps/${app.id}` },
        [app.status === 'ACTIVE' ? 'deactivate' : 'activate']: {
          href: `${base}/api/v1/apps/${app.id}/lifecycle/${app.status === 'ACTIVE' ? 'deactivate' : 'activate'}`,
        },
      },
    };
  }

  function secretJson(appId: string, secret: StoredSecret, reveal: boolean): Json {
    const links: Json =
      secret.status === 'ACTIVE'
        ? {
            deactivate: {
              href: `${emulator.url}/api/v1/apps/${appId}/credentials/secrets/${secret.id}/lifecycle/deactivate`,
              hints: { allow: ['POST'] },
            },
          }
        : {
            activate: {
              href: `${emulator.url}/api/v1/apps/${appId}/credentials/secrets/${secret.id}/lifecycle/activate`,
              hints: { allow: ['POST'] },
            },
            delete: {
              href: `${emulator.url}/api/v1/apps/${appId}/credentials/secrets/${secret.id}`,
              hints: { allow: ['DELETE'] },
            },
          };
    return {
      id: secret.id,
      status: secret.status,
      ...(reveal ? { client_secret: secret.secret } : {}),
      secret_hash: randomToken(22),
      created: secret.created,
      lastUpdated: secret.lastUpdated,
      _links: links,
    };
  }

  /** Okta's rules for an OIDC app body; `undefined` when it is acceptable. */
  function invalidApp(body: Json): EmulatorResponse | undefined {
    if (body.name !== 'oidc_client' || body.signOnMode !== 'OPENID_CONNECT')
      return validationFailed('name', 'only oidc_client apps are emulated');
    if (typeof body.label !== 'string' || body.label.trim() === '')
      return validationFailed('label', 'The field cannot be left blank');
    const oauthClient = ((body.credentials as Json | undefined)?.oauthClient ?? {}) as Json;
    const settingsClient = ((body.settings as Json | undefined)?.oauthClient ?? {}) as Json;
    const method = (oauthClient.token_endpoint_auth_method as string | undefined) ?? 'client_secret_basic';
    const grants = (settingsClient.grant_types as string[] | undefined) ?? ['authorization_code'];
    const redirects = (settingsClient.redirect_uris as string[] | undefined) ?? [];
    const type = settingsClient.application_type as string | undefined;
    if (!type) return validationFailed('settings.oauthClient.application_type', 'The field cannot be left blank');
    if (grants.length === 0 || grants.some((grant) => !GRANT_TYPES.has(grant)))
      return validationFailed('settings.oauthClient.grant_types', 'Invalid grant type');
    if ((grants.includes('authorization_code') || grants.includes('implicit')) && redirects.length === 0) {
      return validationFailed(
        'settings.oauthClient.redirect_uris',
        'At least one redirect URI is required for this grant type',
      );
    }
    if (type === 'service' && grants.some((grant) => grant !== 'client_credentials' && !grant.startsWith('urn:'))) {
      return validationFailed(
        'settings.oauthClient.grant_types',
        'Service apps only allow the client_credentials grant',
      );
    }
    if (type === 'browser' && method !== 'none')
      return validationFailed('credentials.oauthClient.token_endpoint_auth_method', 'Browser apps must use none');
    if ((type === 'web' || type === 'service') && method === 'none')
      return validationFailed(
        'credentials.oauthClient.token_endpoint_auth_method',
        'A confidential client needs a credential',
      );
    if (grants.includes('client_credentials') && method === 'none')
      return validationFailed('settings.oauthClient.grant_types', 'client_credentials needs a confidential client');
    if (method === 'private_key_jwt' && !settingsClient.jwks && !settingsClient.jwks_uri)
      return validationFailed('settings.oauthClient.jwks', 'private_key_jwt needs jwks or jwks_uri');
    for (const uri of [...redirects, ...((settingsClient.post_logout_redirect_uris as string[] | undefined) ?? [])]) {
      if (!/^[a-z][a-z0-9+.-]*:/i.test(uri) || uri.includes('#'))
        return validationFailed('settings.oauthClient.redirect_uris', `Invalid redirect URI`);
    }
    return undefined;
  }

  function writableParts(
    body: Json,
  ): Pick<StoredApp, 'label' | 'oauthClient' | 'settingsClient' | 'profile' | 'accessibility' | 'visibility'> {
    const oauthClient = { ...(((body.credentials as Json | undefined)?.oauthClient ?? {}) as Json) };
    delete oauthClient.client_id;
    delete oauthClient.client_secret;
    oauthClient.token_endpoint_auth_method ??= 'client_secret_basic';
    oauthClient.autoKeyRotation ??= true;
    return {
      label: body.label as string,
      oauthClient,
      settingsClient: structuredClone(((body.settings as Json | undefined)?.oauthClient ?? {}) as Json),
      profile: body.profile === undefined ? undefined : structuredClone(body.profile as Json),
      accessibility: (body.accessibility as Json | undefined) ?? { selfService: false },
      visibility: (body.visibility as Json | undefined) ?? {
        autoSubmitToolbar: false,
        hide: { iOS: true, web: true },
        appLinks: { oidc_client_link: true },
      },
    };
  }

  function newSecret(value?: string): StoredSecret {
    const now = oktaTimestamp();
    return {
      id: `ocs${randomToken(17)}`,
      status: 'ACTIVE',
      secret: value ?? randomToken(64),
      created: now,
      lastUpdated: now,
    };
  }

  function createApp(body: Json, activate: boolean): { app: StoredApp; secret?: string } {
    const now = oktaTimestamp();
    const id = `0oa${randomToken(17)}`;
    const requestedClientId = ((body.credentials as Json | undefined)?.oauthClient as Json | undefined)?.client_id as
      | string
      | undefined;
    const app: StoredApp = {
      id,
      clientId: requestedClientId ?? id,
      status: activate ? 'ACTIVE' : 'INACTIVE',
      created: now,
      lastUpdated: now,
      secrets: [],
      ...writableParts(body),
    };
    const method = app.oauthClient.token_endpoint_auth_method as string;
    if (SECRET_METHODS.has(method)) app.secrets.push(newSecret());
    apps.set(id, app);
    return { app, secret: app.secrets[0]?.secret };
  }

  // ---- Authentication and rate limits ------------------------------------------------------------------------------

  function rateLimitHeaders(): Record<string, string> {
    const now = Date.now();
    if (now - window.start >= 60_000) window = { start: now - (now % 60_000), used: 0 };
    window.used++;
    return {
      'X-Rate-Limit-Limit': String(limit),
      'X-Rate-Limit-Remaining': String(Math.max(0, limit - window.used)),
      'X-Rate-Limit-Reset': String(Math.ceil((window.start + 60_000) / 1000)),
    };
  }

  /** The error answer for a request without valid credentials or scope, or `undefined` when it may proceed. */
  function unauthorized(request: EmulatorRequest): EmulatorResponse | undefined {
    const header = String(request.headers.authorization ?? '');
    if (header === `SSWS ${apiToken}`) return undefined;
    const bearer = /^Bearer (\S+)$/.exec(header)?.[1];
    const token = bearer ? accessTokens.get(bearer) : undefined;
    if (!token || token.expiresAt <= emulator.now()) {
      if (token) accessTokens.delete(bearer!);
      return error(401, 'E0000011', 'Invalid token provided', [], {
        'WWW-Authenticate':
          'Bearer realm="IdpRealm", error="invalid_token", error_description="The access token is invalid."',
      });
    }
    const needed = request.method === 'GET' ? ['okta.apps.read', 'okta.apps.manage'] : ['okta.apps.manage'];
    if (!needed.some((scope) => token.scopes.includes(scope))) {
      return error(403, 'E0000006', 'You do not have permission to perform the requested action', [], {
        'WWW-Authenticate': `Bearer realm="IdpRealm", error="insufficient_scope", error_description="The access token provided does not contain the required scopes."`,
      });
    }
    return undefined;
  }

  function management(
    handler: (request: EmulatorRequest) => EmulatorResponse,
  ): (request: EmulatorRequest) => EmulatorResponse {
    return (request) => {
      const headers = rateLimitHeaders();
      if (window.used > limit) {
        return withHeaders(error(429, 'E0000047', 'API call exceeded rate limit due to too many requests.'), headers);
      }
      return withHeaders(unauthorized(request) ?? handler(request), headers);
    };
  }

  function withApp(
    handler: (app: StoredApp, request: EmulatorRequest) => EmulatorResponse,
  ): (request: EmulatorRequest) => EmulatorResponse {
    return management((request) => {
      const app = apps.get(request.params.appId!);
      return app ? handler(app, request) : notFound(request.params.appId!);
    });
  }

  function withSecret(
    handler: (app: StoredApp, secret: StoredSecret) => EmulatorResponse,
  ): (request: EmulatorRequest) => EmulatorResponse {
    return withApp((app, request) => {
      const secret = app.secrets.find((candidate) => candidate.id === request.params.secretId);
      return secret
        ? handler(app, secret)
        : error(404, 'E0000007', `Not found: Resource not found: ${request.params.secretId} (OAuth2ClientSecret)`);
    });
  }

  // ---- /api/v1/apps ----------------------------------------------------------------------------------------------

  emulator.route(
    'GET',
    '/api/v1/apps',
    management((request) => {
      let matching = [...apps.values()];
      const q = request.query.get('q');
      if (q)
        matching = matching.filter(
          (app) => app.label.toLowerCase().startsWith(q.toLowerCase()) || 'oidc_client'.startsWith(q.toLowerCase()),
        );
      const filter = request.query.get('filter');
      if (filter) {
        const predicate = parseFilter(filter);
        if (!predicate) return error(400, 'E0000031', 'Invalid search criteria.');
        matching = matching.filter(predicate);
      }
      const after = request.query.get('after');
      if (after) matching = matching.filter((app) => app.id > after);
      matching.sort((a, b) => (a.id < b.id ? -1 : 1));
      const pageSize = Math.min(
        200,
        Number(request.query.get('limit') ?? 20) > 0 ? Number(request.query.get('limit') ?? 20) : 20,
      );
      const page = matching.slice(0, pageSize);
      const self = `${emulator.url}/api/v1/apps?${request.query.toString()}`;
      const links = [`<${self}>; rel="self"`];
      if (matching.length > pageSize) {
        const next = new URLSearchParams(request.query);
        next.set('after', page.at(-1)!.id);
        next.set('limit', String(pageSize));
        links.push(`<${emulator.url}/api/v1/apps?${next.toString()}>; rel="next"`);
      }
      return { status: 200, headers: { Link: links.join(', ') }, body: page.map((app) => appJson(app)) };
    }),
  );

  emulator.route(
    'POST',
    '/api/v1/apps',
    management((request) => {
      const body = request.body as Json;
      const invalid = invalidApp(body);
      if (invalid) return invalid;
      const requested = ((body.credentials as Json | undefined)?.oauthClient as Json | undefined)?.client_id;
      if (requested !== undefined && [...apps.values()].some((app) => app.clientId === requested)) {
        return validationFailed('client_id', 'An object with this field already exists in the current organization');
      }
      const { app, secret } = createApp(body, request.query.get('activate') !== 'false');
      return { status: 200, body: appJson(app, secret) };
    }),
  );

  emulator.route(
    'GET',
    '/api/v1/apps/:appId',
    withApp((app) => ({ status: 200, body: appJson(app) })),
  );

  emulator.route(
    'PUT',
    '/api/v1/apps/:appId',
    withApp((app, request) => {
      const body = request.body as Json;
      const invalid = invalidApp(body);
      if (invalid) return invalid;
      // PUT replaces every writable property; what the body leaves out is gone (the profile too).
      Object.assign(app, writableParts(body), { lastUpdated: oktaTimestamp() });
      return { status: 200, body: appJson(app) };
    }),
  );

  emulator.route(
    'DELETE',
    '/api/v1/apps/:appId',
    withApp((app) => {
      if (app.status === 'ACTIVE') {
        return error(403, 'E0000056', 'Delete application forbidden.', [
          'The application must be deactivated before it can be deleted.',
        ]);
      }
      apps.delete(app.id);
      return { status: 204 };
    }),
  );

  for (const action of ['activate', 'deactivate'] as const) {
    emulator.route(
      'POST',
      `/api/v1/apps/:appId/lifecycle/${action}`,
      withApp((app) => {
        app.status = action === 'activate' ? 'ACTIVE' : 'INACTIVE';
        app.lastUpdated = oktaTimestamp();
        return { status: 200, body: {} };
      }),
    );
  }

  // ---- /api/v1/apps/{appId}/credentials/secrets ---------------------------------------------------------------------

  emulator.route(
    'GET',
    '/api/v1/apps/:appId/credentials/secrets',
    withApp((app) => ({ status: 200, body: app.secrets.map((secret) => secretJson(app.id, secret, false)) })),
  );

  emulator.route(
    'POST',
    '/api/v1/apps/:appId/credentials/secrets',
    withApp((app, request) => {
      if (app.secrets.length >= 2) {
        return error(400, 'E0000001', 'Api validation failed: OAuth2ClientSecretMediated', [
          "You've reached the maximum number of client secrets per client.",
        ]);
      }
      const body = (request.body ?? {}) as Json;
      const secret = newSecret(body.client_secret as string | undefined);
      if (body.status === 'INACTIVE') secret.status = 'INACTIVE';
      app.secrets.push(secret);
      return { status: 201, body: secretJson(app.id, secret, true) };
    }),
  );

  emulator.route(
    'GET',
    '/api/v1/apps/:appId/credentials/secrets/:secretId',
    withSecret((app, secret) => ({ status: 200, body: secretJson(app.id, secret, false) })),
  );

  emulator.route(
    'DELETE',
    '/api/v1/apps/:appId/credentials/secrets/:secretId',
    withSecret((app, secret) => {
      if (secret.status === 'ACTIVE') {
        return error(400, 'E0000001', 'Api validation failed: OAuth2ClientSecretMediated', [
          "You can't delete an active client secret. Deactivate the secret before deleting it.",
        ]);
      }
      app.secrets = app.secrets.filter((candidate) => candidate !== secret);
      return { status: 204 };
    }),
  );

  for (const action of ['activate', 'deactivate'] as const) {
    emulator.route(
      'POST',
      `/api/v1/apps/:appId/credentials/secrets/:secretId/lifecycle/${action}`,
      withSecret((app, secret) => {
        if (
          action === 'deactivate' &&
          secret.status === 'ACTIVE' &&
          app.secrets.filter((candidate) => candidate.status === 'ACTIVE').length === 1
        ) {
          return error(400, 'E0000001', 'Api validation failed: OAuth2ClientSecretMediated', [
            "You can't deactivate the only active client secret.",
          ]);
        }
        secret.status = action === 'activate' ? 'ACTIVE' : 'INACTIVE';
        secret.lastUpdated = oktaTimestamp();
        return { status: 200, body: secretJson(app.id, secret, false) };
      }),
    );
  }

  // ---- discovery: the org authorization server's and the `default` custom one's, as Okta publishes them ------------
  const discoveryDocument = (issuer: string, endpoints: string): EmulatorResponse => ({
    status: 200,
    body: {
      issuer,
      authorization_endpoint: `${endpoints}/v1/authorize`,
      token_endpoint: `${endpoints}/v1/token`,
      userinfo_endpoint: `${endpoints}/v1/userinfo`,
      registration_endpoint: `${emulator.url}/oauth2/v1/clients`,
      jwks_uri: `${endpoints}/v1/keys`,
      introspection_endpoint: `${endpoints}/v1/introspect`,
      revocation_endpoint: `${endpoints}/v1/revoke`,
      end_session_endpoint: `${endpoints}/v1/logout`,
      response_types_supported: [
        'code',
        'id_token',
        'code id_token',
        'code token',
        'id_token token',
        'code id_token token',
      ],
      grant_types_supported: [
        'authorization_code',
        'implicit',
        'refresh_token',
        'password',
        'client_credentials',
        'urn:ietf:params:oauth:grant-type:device_code',
      ],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['RS256'],
      scopes_supported: ['openid', 'email', 'profile', 'address', 'phone', 'offline_access'],
      token_endpoint_auth_methods_supported: [
        'client_secret_basic',
        'client_secret_post',
        'client_secret_jwt',
        'private_key_jwt',
        'none',
      ],
      code_challenge_methods_supported: ['S256'],
    },
  });
  emulator.route(
    'GET',
    '/.well-known/openid-configuration',
    () => discoveryDocument(emulator.url, `${emulator.url}/oauth2`),
    { spec: false },
  );
  emulator.route(
    'GET',
    '/oauth2/:authorizationServerId/.well-known/openid-configuration',
    (request) =>
      request.params.authorizationServerId === 'default'
        ? discoveryDocument(`${emulator.url}/oauth2/default`, `${emulator.url}/oauth2/default`)
        : oauthError(404, 'not_found', 'Not found: Resource not found: authorization server'),
    { spec: false },
  );

  // ---- /oauth2/v1/token (the org authorization server; form-encoded, checked by hand) -------------------------------

  const oauthError = (status: number, code: string, description: string): EmulatorResponse => ({
    status,
    headers: { 'Cache-Control': 'no-cache, no-store', Pragma: 'no-cache' },
    body: { error: code, error_description: description },
  });

  emulator.route('POST', '/oauth2/v1/token', (request) => withHeaders(tokenAnswer(request), rateLimitHeaders()), {
    spec: false,
  });

  function tokenAnswer(request: EmulatorRequest): EmulatorResponse {
    if (
      !String(request.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded') ||
      typeof request.body !== 'object'
    ) {
      return oauthError(400, 'invalid_request', 'The request must be application/x-www-form-urlencoded.');
    }
    const form = request.body as Record<string, string>;
    if (form.grant_type !== 'client_credentials')
      return oauthError(400, 'unsupported_grant_type', 'The grant type is not supported.');
    const client = authenticateClient(request, form);
    if (typeof client === 'string') return oauthError(401, 'invalid_client', client);
    const grants = (client.app.settingsClient.grant_types as string[] | undefined) ?? [];
    if (!grants.includes('client_credentials'))
      return oauthError(400, 'unauthorized_client', 'The client is not authorized to use the provided grant type.');
    const requested = (form.scope ?? '').split(' ').filter(Boolean);
    if (client.viaAssertion) {
      serviceTokenRequests++;
      if (requested.length === 0 || requested.some((scope) => !ADMIN_SCOPES.includes(scope))) {
        return oauthError(
          400,
          'invalid_scope',
          'One or more scopes are not configured for the authorization server resource.',
        );
      }
    }
    const accessToken = randomToken(48);
    accessTokens.set(accessToken, {
      expiresAt: emulator.now() + tokenLifetimeSeconds * 1000,
      scopes: client.viaAssertion ? requested : [],
    });
    return {
      status: 200,
      headers: { 'Cache-Control': 'no-cache, no-store', Pragma: 'no-cache' },
      body: {
        token_type: 'Bearer',
        expires_in: tokenLifetimeSeconds,
        access_token: accessToken,
        scope: requested.join(' '),
      },
    };
  }

  /** Okta's client authentication at the token endpoint: only ACTIVE secrets of an ACTIVE app, or a signed assertion. */
  function authenticateClient(
    request: EmulatorRequest,
    form: Record<string, string>,
  ): { app: StoredApp; viaAssertion: boolean } | string {
    if (
      form.client_assertion_type === 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer' &&
      form.client_assertion
    ) {
      const claims = verifiedAssertion(form.client_assertion, `${emulator.url}/oauth2/v1/token`);
      if (typeof claims === 'string') return claims;
      return { app: claims, viaAssertion: true };
    }
    let clientId = form.client_id;
    let secret = form.client_secret;
    const basic = /^Basic (\S+)$/.exec(String(request.headers.authorization ?? ''))?.[1];
    if (basic) {
      const decoded = Buffer.from(basic, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      clientId = decodeURIComponent(decoded.slice(0, colon));
      secret = decodeURIComponent(decoded.slice(colon + 1));
    }
    const app = [...apps.values()].find((candidate) => candidate.clientId === clientId);
    if (app?.status !== 'ACTIVE' || !secret) return 'The client secret supplied for a confidential client is invalid.';
    if (!app.secrets.some((candidate) => candidate.status === 'ACTIVE' && candidate.secret === secret)) {
      return 'The client secret supplied for a confidential client is invalid.';
    }
    return { app, viaAssertion: false };
  }

  function verifiedAssertion(jwt: string, audience: string): StoredApp | string {
    const [headerPart, payloadPart, signaturePart] = jwt.split('.');
    if (!headerPart || !payloadPart || !signaturePart) return 'The client_assertion is not a JWT.';
    let header: Json;
    let claims: Json;
    try {
      header = JSON.parse(Buffer.from(headerPart, 'base64url').toString('utf8')) as Json;
      claims = JSON.parse(Buffer.from(payloadPart, 'base64url').toString('utf8')) as Json;
    } catch {
      return 'The client_assertion is not a JWT.';
    }
    const app = [...apps.values()].find((candidate) => candidate.clientId === claims.iss);
    if (!app?.publicKey || app.status !== 'ACTIVE') return 'The client_assertion names an unknown client.';
    if (header.alg !== 'RS256') return "The client_assertion signature algorithm isn't supported.";
    if (header.kid !== undefined && header.kid !== app.publicKey.kid)
      return 'The client_assertion was signed with an unknown key.';
    const signed = verify(
      'sha256',
      Buffer.from(`${headerPart}.${payloadPart}`),
      app.publicKey.key,
      Buffer.from(signaturePart, 'base64url'),
    );
    if (!signed) return 'The client_assertion signature is invalid.';
    const now = Math.floor(Date.now() / 1000);
    if (claims.sub !== claims.iss) return 'The client_assertion sub must equal iss.';
    if (claims.aud !== audience)
      return 'The audience claim for client_assertion must be the endpoint invoked for the request.';
    if (typeof claims.exp !== 'number' || claims.exp <= now || claims.exp > now + 3600)
      return 'The client_assertion token is expired.';
    if (typeof claims.jti === 'string') {
      if (usedAssertionIds.has(claims.jti)) return 'The client_assertion token has already been used.';
      usedAssertionIds.add(claims.jti);
    }
    return app;
  }

  // ---- the org's own apps ------------------------------------------------------------------------------------------

  const privateKey = createPrivateKey(keptTestKey('okta-service-app-key.pem'));
  const publicKey = createPublicKey(privateKey);
  const keyId = `kid-${randomToken(8)}`;
  const service = createApp(
    {
      name: 'oidc_client',
      signOnMode: 'OPENID_CONNECT',
      label: 'dcr-bridge service app',
      credentials: { oauthClient: { token_endpoint_auth_method: 'private_key_jwt' } },
      settings: {
        oauthClient: {
          application_type: 'service',
          grant_types: ['client_credentials'],
          response_types: ['token'],
          jwks: { keys: [{ ...publicKey.export({ format: 'jwk' }), kid: keyId, alg: 'RS256', use: 'sig' }] },
        },
      },
    },
    true,
  ).app;
  service.publicKey = { kid: keyId, key: publicKey };

  await emulator.start(options.port ?? 0);

  return {
    emulator,
    apiToken,
    serviceApp: {
      clientId: service.clientId,
      privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
      keyId,
    },
    ownedClientIds: () =>
      [...apps.values()]
        .filter((app) => (app.profile?.dcr_bridge as Json | undefined)?.owner === OWNER_MARK)
        .map((app) => app.clientId),
    app: (clientId) => {
      const app = [...apps.values()].find((candidate) => candidate.clientId === clientId);
      return (
        app && {
          status: app.status,
          label: app.label,
          profile: app.profile,
          secrets: app.secrets.map(({ id, status, created }) => ({ id, status, created })),
        }
      );
    },
    clientState: () => JSON.parse(JSON.stringify([...apps.values()])),
    seedOwnedApps: (count) => {
      const created = oktaTimestamp();
      for (let index = 0; index < count; index++) {
        const id = `0oa-seed-${String(index).padStart(7, '0')}`;
        apps.set(id, {
          id,
          clientId: id,
          status: 'ACTIVE',
          created,
          lastUpdated: created,
          secrets: [newSecret()],
          ...writableParts({
            label: `seeded ${index}`,
            credentials: { oauthClient: { token_endpoint_auth_method: 'client_secret_basic' } },
            settings: {
              oauthClient: {
                application_type: 'service',
                grant_types: ['client_credentials'],
                response_types: ['token'],
              },
            },
            profile: { dcr_bridge: { owner: OWNER_MARK, issued_at: String(Math.floor(Date.parse(created) / 1000)) } },
          }),
        });
      }
    },
    seedForeignClient: (label = 'Payroll (not from the bridge)') => {
      const { app, secret } = createApp(
        {
          name: 'oidc_client',
          signOnMode: 'OPENID_CONNECT',
          label,
          credentials: { oauthClient: { token_endpoint_auth_method: 'client_secret_basic' } },
          settings: {
            oauthClient: {
              application_type: 'service',
              grant_types: ['client_credentials'],
              response_types: ['token'],
            },
          },
        },
        true,
      );
      return { clientId: app.clientId, clientSecret: secret! };
    },
    setTokenLifetime: (seconds) => {
      tokenLifetimeSeconds = seconds;
    },
    tokenRequests: () => serviceTokenRequests,
    workingSecretCount: (clientId) =>
      [...apps.values()]
        .find((app) => app.clientId === clientId)
        ?.secrets.filter((secret) => secret.status === 'ACTIVE').length ?? 0,
    secretWorks: async (clientId, secret) => {
      const response = await fetch(`${emulator.url}/oauth2/v1/token`, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/x-www-form-urlencoded',
          Authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`,
        },
        body: new URLSearchParams({ grant_type: 'client_credentials' }),
      });
      const body = (await response.json()) as { error?: string };
      // Okta authenticates the client before it checks the grant: `unauthorized_client` means the secret was right.
      return response.status === 200 || (response.status === 400 && body.error === 'unauthorized_client');
    },
    stop: () => emulator.stop(),
  };
}

/** The filter expressions Okta documents for apps: `id`, `status` and `name` with `eq`, joined by `and`. */
function parseFilter(filter: string): ((app: StoredApp) => boolean) | undefined {
  const clauses = filter.split(/\s+and\s+/i).map((clause) => /^\s*(id|status|name)\s+eq\s+"([^"]*)"\s*$/.exec(clause));
  if (clauses.some((clause) => clause === null)) return undefined;
  return (app) =>
    clauses.every((clause) => {
      const [, field, value] = clause!;
      return field === 'id' ? app.id === value : field === 'status' ? app.status === value : value === 'oidc_client';
    });
}

function withHeaders(response: EmulatorResponse, headers: Record<string, string>): EmulatorResponse {
  return { ...response, headers: { ...headers, ...response.headers } };
}

function randomToken(length: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = randomBytes(length);
  let token = '';
  for (const byte of bytes) token += alphabet[byte % alphabet.length];
  return token;
}

export const oktaEmulator: EmulatorDefinition = {
  name: 'okta',
  async start({ port }) {
    const okta = await startOktaEmulator({ port });
    // The service app's private key goes to a file beside the test CA, readable by its owner only, for OKTA_PRIVATE_KEY_FILE.
    const keyFile = join(dirname(okta.emulator.caFile), 'okta-service-app-key.pem');
    writeFileSync(keyFile, okta.serviceApp.privateKeyPem, { mode: 0o600 });
    return {
      emulator: okta.emulator,
      driverEnv: {
        DCR_DRIVER: 'okta',
        OKTA_ORG_URL: okta.emulator.url,
        OKTA_API_TOKEN: okta.apiToken,
      },
      alternativeEnv: {
        'as the OAuth service app, the mode Okta recommends (instead of OKTA_API_TOKEN)': {
          OKTA_CLIENT_ID: okta.serviceApp.clientId,
          OKTA_KEY_ID: okta.serviceApp.keyId,
          OKTA_PRIVATE_KEY_FILE: keyFile,
        },
      },
    };
  },
};

/** Okta's timestamps have whole seconds (`2023-02-21T20:08:24.000Z`). */
function oktaTimestamp(): string {
  return new Date(Math.floor(Date.now() / 1000) * 1000).toISOString();
}
