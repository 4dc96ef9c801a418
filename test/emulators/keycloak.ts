/**
 * A Keycloak realm on 127.0.0.1: the admin client endpoints of the published spec subset (uuid `id` vs `clientId`,
 * `client-secret` and `client-secret/rotated`), the realm's OpenID Connect token endpoint (client credentials, for
 * the bridge's service account and for the clients it registers), bearer tokens that really expire, and Keycloak's
 * own status codes and error bodies. Optionally the realm has the `secret-rotation` client policy, which keeps the
 * previous secret valid as the "rotated" secret after a regeneration. Keycloak has no rate limiting of its own, so its
 * answers carry no rate-limit headers; a 429 comes only from a proxy in front of it (a scripted fault here).
 */
import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { Emulator, type EmulatorDefinition, type EmulatorRequest, type EmulatorResponse } from './framework.js';
import { SpecValidator, vendorSpecFile } from './spec-validator.js';

type Json = Record<string, unknown>;

interface StoredClient {
  representation: Json & { id: string; clientId: string; attributes: Record<string, string> };
  secret: string | undefined;
  rotatedSecret: string | undefined;
}

export interface KeycloakEmulatorOptions {
  port?: number;
  /** The realm the bridge manages clients in. Default `dcr`. */
  realm?: string;
  /** The realm the bridge's service account lives in. Default: the managed realm. */
  adminRealm?: string;
  /** `expires_in` of the access tokens the token endpoint issues. Default 300 s, as a fresh Keycloak realm. */
  tokenLifetimeSeconds?: number;
  /** Whether the realm has the `secret-rotation` client-policy executor. Default true. */
  secretRotationPolicy?: boolean;
  /** The executor's `rotated-expiration-period`: how long a rotated secret is still accepted. Default 172800 s, Keycloak's. */
  rotatedExpirationSeconds?: number;
  /** The executor's `expiration-period`: how long a secret lives under the policy. Default 2505600 s (29 days), Keycloak's. */
  secretExpirationSeconds?: number;
  /**
   * The client attributes `GET …/clients?q=key:value` may search, as a server started with
   * `--spi-client-jpa-searchable-attributes=…`. Default none, as a fresh Keycloak: every `q=` is `400`.
   */
  searchableClientAttributes?: string[];
}

export interface KeycloakEmulator {
  emulator: Emulator;
  realm: string;
  adminRealm: string;
  /** The bridge's service-account client (`manage-clients`), in the admin realm. */
  serviceAccount: { clientId: string; clientSecret: string };
  /** Environment for the driver (`KEYCLOAK_*`). */
  driverEnv: Record<string, string>;
  /** Every client of the managed realm, as the admin console lists it. */
  clients(): Array<{
    id: string;
    clientId: string;
    attributes: Record<string, string>;
    optionalClientScopes: string[];
    hasRotatedSecret: boolean;
  }>;
  /** clientIds of the managed realm's clients carrying the bridge's ownership attribute. */
  ownedClientIds(): string[];
  /** Puts `count` confidential clients carrying the bridge's ownership attribute straight into the realm (no request). */
  seedOwnedClients(count: number): void;
  /** Adds a client scope to the realm (a fresh realm has Keycloak's built-in ones: profile, email, roles…). */
  addClientScope(name: string): void;
  /** Creates a client the bridge did not create (an admin's own confidential client) and returns its credentials. */
  seedForeignClient(clientId?: string): { id: string; clientId: string; clientSecret: string };
  /** What the IdP holds about its clients (secrets and grants too), as plain JSON: a refused call must leave it equal. */
  clientState(): unknown;
  setTokenLifetime(seconds: number): void;
  /** Forgets every issued token, as a restarted realm or a revoked session would: the next admin call is a 401. */
  revokeTokens(): void;
  /** Token requests answered for the service account (successful or not). */
  serviceAccountTokenRequests(): number;
  /** Whether the realm's token endpoint accepts this client secret now (the same check a client-credentials grant makes). */
  /** Secrets of this client the IdP accepts now, whoever knows them (an orphan secret counts). */
  workingSecretCount(clientId: string): number;
  secretWorks(clientId: string, secret: string): boolean;
  stop(): Promise<void>;
}

const OWNERSHIP_ATTRIBUTE = 'dcr-bridge.managed';
const ROTATED_CREATION_ATTRIBUTE = 'client.secret.rotated.creation.time';
const ROTATED_EXPIRATION_ATTRIBUTE = 'client.secret.rotated.expiration.time';
const ROTATED_SECRET_ATTRIBUTE = 'client.secret.rotated';
const SECRET_CREATION_ATTRIBUTE = 'client.secret.creation.time';
const SECRET_EXPIRATION_ATTRIBUTE = 'client.secret.expiration.time';
/** The client scopes of a fresh Keycloak 26 realm (openid-connect and saml). */
const BUILT_IN_CLIENT_SCOPES = [
  'AuthnContextClassRef',
  'acr',
  'address',
  'basic',
  'email',
  'microprofile-jwt',
  'offline_access',
  'organization',
  'phone',
  'profile',
  'role_list',
  'roles',
  'saml_organization',
  'service_account',
  'web-origins',
];
const DEFAULT_CLIENT_SCOPES = ['web-origins', 'acr', 'profile', 'roles', 'basic', 'email'];
const OPTIONAL_CLIENT_SCOPES = ['address', 'phone', 'offline_access', 'organization', 'microprofile-jwt'];
const NOT_FOUND = { status: 404, body: { error: 'Could not find client' } };
// Keycloak's admin API answers a bad bearer token with this body and no WWW-Authenticate header.
const UNAUTHORIZED = { status: 401, body: { error: 'HTTP 401 Unauthorized' } };
const FORBIDDEN = { status: 403, body: { error: 'HTTP 403 Forbidden' } };

export async function startKeycloakEmulator(options: KeycloakEmulatorOptions = {}): Promise<KeycloakEmulator> {
  const realm = options.realm ?? 'dcr';
  const adminRealm = options.adminRealm ?? realm;
  let tokenLifetimeSeconds = options.tokenLifetimeSeconds ?? 300;
  const rotationPolicy = options.secretRotationPolicy ?? true;
  const searchable = new Set(options.searchableClientAttributes ?? []);
  const rotatedExpirationSeconds = options.rotatedExpirationSeconds ?? 172_800;
  const secretExpirationSeconds = options.secretExpirationSeconds ?? 2_505_600;
  /** Client scopes of the managed realm, name → id. */
  const clientScopes = new Map(BUILT_IN_CLIENT_SCOPES.map((name) => [name, randomUUID()]));
  const signingKey = randomBytes(32);
  const realms = new Map<string, Map<string, StoredClient>>([[realm, new Map()]]);
  if (!realms.has(adminRealm)) realms.set(adminRealm, new Map());
  const tokens = new Map<string, { realm: string; clientUuid: string; expiresAt: number }>();
  let serviceAccountTokenRequests = 0;

  const clientsOf = (name: string) => realms.get(name);
  const byClientId = (name: string, clientId: string) =>
    [...(clientsOf(name)?.values() ?? [])].find((client) => client.representation.clientId === clientId);
  const newSecret = () => randomBytes(24).toString('base64url');
  const nowSeconds = () => Math.floor(Date.now() / 1000);

  function storeClient(realmName: string, input: Json): StoredClient {
    const id = randomUUID();
    const publicClient = input.publicClient === true;
    const attributes = cleanAttributes(input.attributes);
    const secret = publicClient ? undefined : typeof input.secret === 'string' ? input.secret : newSecret();
    if (secret !== undefined) attributes[SECRET_CREATION_ATTRIBUTE] = String(nowSeconds());
    if (secret !== undefined && rotationPolicy)
      attributes[SECRET_EXPIRATION_ATTRIBUTE] = String(nowSeconds() + secretExpirationSeconds);
    attributes.realm_client ??= 'false';
    attributes['backchannel.logout.session.required'] ??= 'true';
    attributes['backchannel.logout.revoke.offline.tokens'] ??= 'false';
    // Either scope list given: the client gets those (unknown names dropped without a word), else the realm's defaults.
    const scopesGiven = Array.isArray(input.defaultClientScopes) || Array.isArray(input.optionalClientScopes);
    const knownScopes = (value: unknown) =>
      Array.isArray(value)
        ? value.filter((name): name is string => typeof name === 'string' && clientScopes.has(name))
        : [];
    const stored: StoredClient = {
      representation: {
        surrogateAuthRequired: false,
        enabled: true,
        alwaysDisplayInConsole: false,
        clientAuthenticatorType: 'client-secret',
        redirectUris: [],
        webOrigins: [],
        notBefore: 0,
        bearerOnly: false,
        consentRequired: false,
        standardFlowEnabled: true,
        implicitFlowEnabled: false,
        directAccessGrantsEnabled: false,
        serviceAccountsEnabled: false,
        publicClient: false,
        frontchannelLogout: true,
        protocol: 'openid-connect',
        fullScopeAllowed: true,
        nodeReRegistrationTimeout: -1,
        ...withoutKeys(input, ['id', 'secret', 'attributes', 'defaultClientScopes', 'optionalClientScopes']),
        // A service account also gets Keycloak's `service_account` scope as a default one.
        defaultClientScopes: [
          ...(scopesGiven ? knownScopes(input.defaultClientScopes) : DEFAULT_CLIENT_SCOPES),
          ...(input.serviceAccountsEnabled === true ? ['service_account'] : []),
        ],
        optionalClientScopes: scopesGiven ? knownScopes(input.optionalClientScopes) : [...OPTIONAL_CLIENT_SCOPES],
        id,
        clientId: String(input.clientId),
        attributes,
      },
      secret,
      rotatedSecret: undefined,
    };
    clientsOf(realmName)!.set(id, stored);
    return stored;
  }

  const serviceAccount = storeClient(adminRealm, {
    clientId: 'dcr-bridge-service',
    name: 'dcr-bridge service account',
    standardFlowEnabled: false,
    serviceAccountsEnabled: true,
  });
  for (const builtIn of ['account', 'admin-cli', 'realm-management']) {
    storeClient(realm, {
      clientId: builtIn,
      name: `\${client_${builtIn}}`,
      publicClient: builtIn === 'admin-cli',
      bearerOnly: builtIn === 'realm-management',
    });
  }

  function representationOf(client: StoredClient): Json {
    return {
      ...client.representation,
      attributes: { ...client.representation.attributes },
      ...(client.secret ? { secret: client.secret } : {}),
    };
  }

  function authenticateAdmin(request: EmulatorRequest): EmulatorResponse | undefined {
    const match = /^Bearer (\S+)$/.exec(String(request.headers.authorization ?? ''));
    const token = match ? tokens.get(match[1]!) : undefined;
    if (!token || token.expiresAt <= emulator.now()) return UNAUTHORIZED;
    if (token.realm !== adminRealm || token.clientUuid !== serviceAccount.representation.id) return FORBIDDEN;
    if (!clientsOf(request.params.realm!)) return { status: 404, body: { error: 'Realm not found.' } };
    return undefined;
  }

  /** Runs `handler` with the client the path names, after the bearer check, or answers Keycloak's 404. */
  const withClient =
    (handler: (client: StoredClient, request: EmulatorRequest) => EmulatorResponse) =>
    (request: EmulatorRequest): EmulatorResponse => {
      const refused = authenticateAdmin(request);
      if (refused) return refused;
      const client = clientsOf(request.params.realm!)!.get(request.params.id!);
      return client ? handler(client, request) : NOT_FOUND;
    };

  const spec = SpecValidator.load(vendorSpecFile('keycloak/keycloak-26.0.0-admin-clients-subset.yaml'));
  const emulator = new Emulator({ name: 'keycloak', spec });
  const clientsPath = '/admin/realms/:realm/clients';
  const clientPath = `${clientsPath}/:id`;

  emulator.route(
    'POST',
    '/realms/:realm/protocol/openid-connect/token',
    (request) => {
      const realmClients = clientsOf(request.params.realm!);
      if (!realmClients) return { status: 404, body: { error: 'Realm does not exist' } };
      if (!String(request.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
        return {
          status: 400,
          body: { error: 'invalid_request', error_description: 'Missing form parameter: grant_type' },
        };
      }
      const form = (request.body ?? {}) as Record<string, string>;
      const credentials = clientCredentials(String(request.headers.authorization ?? ''), form);
      const client = credentials ? byClientId(request.params.realm!, credentials.clientId) : undefined;
      if (client === serviceAccount) serviceAccountTokenRequests++;
      if (!form.grant_type)
        return {
          status: 400,
          body: { error: 'invalid_request', error_description: 'Missing form parameter: grant_type' },
        };
      // Keycloak: an unknown client is `invalid_client`, a known one with a wrong secret `unauthorized_client`, both 401.
      if (!client || !credentials)
        return {
          status: 401,
          body: { error: 'invalid_client', error_description: 'Invalid client or Invalid client credentials' },
        };
      if (
        client.representation.clientAuthenticatorType === 'client-jwt' &&
        client.representation.publicClient !== true
      ) {
        return {
          status: 400,
          body: { error: 'invalid_client', error_description: 'Parameter client_assertion_type is missing' },
        };
      }
      if (client.representation.publicClient === true) {
        return {
          status: 401,
          body: {
            error: 'unauthorized_client',
            error_description: 'Public client not allowed to retrieve service account',
          },
        };
      }
      if (!secretAccepted(client, credentials.secret)) {
        return {
          status: 401,
          body: { error: 'unauthorized_client', error_description: 'Invalid client or Invalid client credentials' },
        };
      }
      if (form.grant_type !== 'client_credentials') {
        return { status: 400, body: { error: 'unsupported_grant_type', error_description: 'Unsupported grant_type' } };
      }
      if (client.representation.serviceAccountsEnabled !== true) {
        return {
          status: 401,
          body: { error: 'unauthorized_client', error_description: 'Client not enabled to retrieve service account' },
        };
      }
      const accessToken = issueToken(request.params.realm!, client.representation.id);
      return {
        status: 200,
        headers: { 'cache-control': 'no-store', pragma: 'no-cache' },
        body: {
          access_token: accessToken,
          expires_in: tokenLifetimeSeconds,
          refresh_expires_in: 0,
          token_type: 'Bearer',
          'not-before-policy': 0,
          scope: 'profile email',
        },
      };
    },
    { spec: false },
  );

  // The realm's OpenID Provider metadata, with the members and endpoint paths Keycloak publishes.
  emulator.route(
    'GET',
    '/realms/:realm/.well-known/openid-configuration',
    (request) => {
      if (!clientsOf(request.params.realm!)) return { status: 404, body: { error: 'Realm does not exist' } };
      const issuer = `${emulator.url}/realms/${request.params.realm!}`;
      const oidc = `${issuer}/protocol/openid-connect`;
      return {
        status: 200,
        body: {
          issuer,
          authorization_endpoint: `${oidc}/auth`,
          token_endpoint: `${oidc}/token`,
          introspection_endpoint: `${oidc}/token/introspect`,
          userinfo_endpoint: `${oidc}/userinfo`,
          end_session_endpoint: `${oidc}/logout`,
          jwks_uri: `${oidc}/certs`,
          registration_endpoint: `${issuer}/clients-registrations/openid-connect`,
          revocation_endpoint: `${oidc}/revoke`,
          grant_types_supported: [
            'authorization_code',
            'implicit',
            'refresh_token',
            'password',
            'client_credentials',
            'urn:ietf:params:oauth:grant-type:device_code',
          ],
          response_types_supported: [
            'code',
            'none',
            'id_token',
            'token',
            'id_token token',
            'code id_token',
            'code token',
            'code id_token token',
          ],
          subject_types_supported: ['public', 'pairwise'],
          id_token_signing_alg_values_supported: ['RS256', 'ES256', 'PS256'],
          token_endpoint_auth_methods_supported: [
            'private_key_jwt',
            'client_secret_basic',
            'client_secret_post',
            'tls_client_auth',
            'client_secret_jwt',
          ],
          code_challenge_methods_supported: ['plain', 'S256'],
          scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
        },
      };
    },
    { spec: false },
  );

  emulator.route('GET', clientsPath, (request) => {
    const refused = authenticateAdmin(request);
    if (refused) return refused;
    let found = [...clientsOf(request.params.realm!)!.values()];
    const clientId = request.query.get('clientId');
    if (clientId !== null) {
      const search = request.query.get('search') === 'true';
      found = found.filter((client) =>
        search
          ? client.representation.clientId.toLowerCase().includes(clientId.toLowerCase())
          : client.representation.clientId === clientId,
      );
    }
    const q = request.query.get('q');
    if (q !== null) {
      // Keycloak searches only attributes its JPA client provider was configured to search; a fresh server, none.
      const pairs = q
        .split(' ')
        .filter(Boolean)
        .map((pair) => [pair.slice(0, pair.indexOf(':')), pair.slice(pair.indexOf(':') + 1)] as const);
      const refused = pairs.map(([key]) => key).filter((key) => !searchable.has(key));
      if (refused.length > 0)
        return {
          status: 400,
          body: {
            error: 'invalid_request',
            error_description: `Attributes [${[...new Set(refused)].join(', ')}] not allowed for search`,
          },
        };
      found = found.filter((client) =>
        pairs.every(([key, value]) => client.representation.attributes?.[key] === value),
      );
    }
    const first = Number(request.query.get('first') ?? 0);
    const max = request.query.get('max') === null ? found.length : Number(request.query.get('max'));
    return { status: 200, body: found.slice(first, first + max).map(representationOf) };
  });

  emulator.route('POST', clientsPath, (request) => {
    const refused = authenticateAdmin(request);
    if (refused) return refused;
    const input = (request.body ?? {}) as Json;
    if (typeof input.clientId !== 'string' || input.clientId === '')
      return { status: 400, body: { errorMessage: 'Client id is required' } };
    if (byClientId(request.params.realm!, input.clientId))
      return { status: 409, body: { errorMessage: `Client ${input.clientId} already exists` } };
    const invalid = validateClient(input);
    if (invalid) return invalid;
    const stored = storeClient(request.params.realm!, input);
    return {
      status: 201,
      headers: {
        location: `${emulator.url}/admin/realms/${encodeURIComponent(request.params.realm!)}/clients/${stored.representation.id}`,
      },
    };
  });

  emulator.route(
    'GET',
    clientPath,
    withClient((client) => ({ status: 200, body: representationOf(client) })),
  );

  emulator.route(
    'PUT',
    clientPath,
    withClient((client, request) => {
      const input = (request.body ?? {}) as Json;
      if (
        typeof input.clientId === 'string' &&
        input.clientId !== client.representation.clientId &&
        byClientId(request.params.realm!, input.clientId)
      ) {
        return { status: 409, body: { errorMessage: `Client ${input.clientId} already exists` } };
      }
      const invalid = validateClient(input);
      if (invalid) return invalid;
      // Keycloak updates what the representation carries: absent fields stay, attributes merge, an empty value removes one.
      const attributes = { ...client.representation.attributes };
      for (const [key, value] of Object.entries((input.attributes ?? {}) as Record<string, unknown>)) {
        if (value === '' || value === null) delete attributes[key];
        else attributes[key] = String(value);
      }
      // A PUT does not change a client's scopes; they have endpoints of their own (…/optional-client-scopes/{scope id}).
      Object.assign(
        client.representation,
        withoutKeys(input, ['id', 'secret', 'attributes', 'defaultClientScopes', 'optionalClientScopes']),
        { attributes },
      );
      if (typeof input.secret === 'string') client.secret = input.secret;
      return { status: 204 };
    }),
    { undocumentedStatuses: [204] },
  );

  emulator.route(
    'DELETE',
    clientPath,
    withClient((client, request) => {
      clientsOf(request.params.realm!)!.delete(client.representation.id);
      return { status: 204 };
    }),
    { tolerateUndeclaredBody: true },
  );

  emulator.route(
    'GET',
    `${clientPath}/client-secret`,
    withClient((client) => ({
      status: 200,
      body: { type: 'secret', ...(client.secret ? { value: client.secret } : {}) },
    })),
  );

  emulator.route(
    'POST',
    `${clientPath}/client-secret`,
    withClient((client) => {
      // Keycloak generates a secret whatever the client authenticator (a public or client-jwt client gets one too).
      const attributes = client.representation.attributes;
      if (rotationPolicy && client.secret) {
        client.rotatedSecret = client.secret;
        attributes[ROTATED_SECRET_ATTRIBUTE] = client.secret;
        attributes[ROTATED_CREATION_ATTRIBUTE] = String(nowSeconds());
        attributes[ROTATED_EXPIRATION_ATTRIBUTE] = String(nowSeconds() + rotatedExpirationSeconds);
      }
      client.secret = newSecret();
      attributes[SECRET_CREATION_ATTRIBUTE] = String(nowSeconds());
      if (rotationPolicy) attributes[SECRET_EXPIRATION_ATTRIBUTE] = String(nowSeconds() + secretExpirationSeconds);
      return { status: 200, body: { type: 'secret', value: client.secret } };
    }),
    { tolerateUndeclaredBody: true },
  );

  emulator.route(
    'GET',
    `${clientPath}/client-secret/rotated`,
    withClient((client) =>
      client.rotatedSecret
        ? { status: 200, body: { type: 'secret', value: client.rotatedSecret } }
        : { status: 404, body: { error: 'Client does not have a rotated secret' } },
    ),
  );

  emulator.route(
    'DELETE',
    `${clientPath}/client-secret/rotated`,
    withClient((client) => {
      client.rotatedSecret = undefined;
      for (const key of [ROTATED_SECRET_ATTRIBUTE, ROTATED_CREATION_ATTRIBUTE, ROTATED_EXPIRATION_ATTRIBUTE])
        delete client.representation.attributes[key];
      return { status: 204 };
    }),
    { tolerateUndeclaredBody: true, undocumentedStatuses: [204] },
  );

  emulator.route(
    'GET',
    '/admin/realms/:realm/client-scopes',
    (request) =>
      authenticateAdmin(request) ?? {
        status: 200,
        body: [...clientScopes].map(([name, id]) => ({
          id,
          name,
          protocol: /saml|role_list|AuthnContext/.test(name) ? 'saml' : 'openid-connect',
          attributes: {},
        })),
      },
    { spec: false },
  );

  for (const method of ['PUT', 'DELETE'] as const) {
    emulator.route(
      method,
      `${clientPath}/optional-client-scopes/:scopeId`,
      withClient((client, request) => {
        const name = [...clientScopes].find(([, id]) => id === request.params.scopeId)?.[0];
        if (!name) return { status: 404, body: { error: 'Client scope not found' } };
        const current = (client.representation.optionalClientScopes as string[] | undefined) ?? [];
        client.representation.optionalClientScopes =
          method === 'PUT' ? [...new Set([...current, name])] : current.filter((scope) => scope !== name);
        return { status: 204 };
      }),
      { spec: false },
    );
  }

  function issueToken(realmName: string, clientUuid: string): string {
    const issuedAt = nowSeconds();
    const encode = (value: Json) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const unsigned = `${encode({ alg: 'HS256', typ: 'JWT' })}.${encode({
      exp: issuedAt + tokenLifetimeSeconds,
      iat: issuedAt,
      jti: randomUUID(),
      iss: `${emulator.url}/realms/${realmName}`,
      azp: clientUuid,
      typ: 'Bearer',
    })}`;
    const token = `${unsigned}.${createHmac('sha256', signingKey).update(unsigned).digest('base64url')}`;
    tokens.set(token, { realm: realmName, clientUuid, expiresAt: emulator.now() + tokenLifetimeSeconds * 1000 });
    return token;
  }

  const url = await emulator.start(options.port ?? 0);
  const driverEnv = {
    KEYCLOAK_URL: url,
    KEYCLOAK_REALM: realm,
    ...(adminRealm === realm ? {} : { KEYCLOAK_ADMIN_REALM: adminRealm }),
    KEYCLOAK_CLIENT_ID: serviceAccount.representation.clientId,
    KEYCLOAK_CLIENT_SECRET: serviceAccount.secret!,
  };
  return {
    emulator,
    realm,
    adminRealm,
    serviceAccount: { clientId: serviceAccount.representation.clientId, clientSecret: serviceAccount.secret! },
    driverEnv,
    seedOwnedClients: (count) => {
      for (let index = 0; index < count; index++) {
        storeClient(realm, {
          clientId: `seeded-${index}`,
          protocol: 'openid-connect',
          clientAuthenticatorType: 'client-secret',
          serviceAccountsEnabled: true,
          attributes: { 'dcr-bridge.managed': 'true' },
        });
      }
    },
    clients: () =>
      [...clientsOf(realm)!.values()].map((client) => ({
        id: client.representation.id,
        clientId: client.representation.clientId,
        attributes: { ...client.representation.attributes },
        optionalClientScopes: [...((client.representation.optionalClientScopes as string[] | undefined) ?? [])],
        hasRotatedSecret: client.rotatedSecret !== undefined,
      })),
    ownedClientIds: () =>
      [...clientsOf(realm)!.values()]
        .filter((client) => client.representation.attributes[OWNERSHIP_ATTRIBUTE] === 'true')
        .map((client) => client.representation.clientId),
    addClientScope(name) {
      if (!clientScopes.has(name)) clientScopes.set(name, randomUUID());
    },
    seedForeignClient(clientId = 'operations-console') {
      const stored = storeClient(realm, {
        clientId,
        name: clientId,
        standardFlowEnabled: false,
        serviceAccountsEnabled: true,
      });
      return { id: stored.representation.id, clientId, clientSecret: stored.secret! };
    },
    clientState: () =>
      JSON.parse(JSON.stringify([...realms.entries()].map(([name, clients]) => [name, [...clients.values()]]))),
    setTokenLifetime(seconds) {
      tokenLifetimeSeconds = seconds;
    },
    revokeTokens: () => tokens.clear(),
    serviceAccountTokenRequests: () => serviceAccountTokenRequests,
    workingSecretCount(clientId) {
      const client = byClientId(realm, clientId);
      return client ? [client.secret, client.rotatedSecret].filter((secret) => secret !== undefined).length : 0;
    },
    secretWorks(clientId, secret) {
      const client = byClientId(realm, clientId);
      return client !== undefined && secretAccepted(client, secret);
    },
    stop: () => emulator.stop(),
  };
}

/** The current secret until its expiry (under the policy), the rotated one until the rotated expiry. */
function secretAccepted(client: StoredClient, secret: string): boolean {
  const attributes = client.representation.attributes;
  const live = (expiresAt: string | undefined) => expiresAt === undefined || Number(expiresAt) * 1000 > Date.now();
  return (
    (client.secret !== undefined &&
      live(attributes[SECRET_EXPIRATION_ATTRIBUTE]) &&
      constantTimeEqual(client.secret, secret)) ||
    (client.rotatedSecret !== undefined &&
      live(attributes[ROTATED_EXPIRATION_ATTRIBUTE]) &&
      constantTimeEqual(client.rotatedSecret, secret))
  );
}

function constantTimeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** Client authentication at the token endpoint: HTTP Basic (form-encoded parts) or `client_id` + `client_secret` in the form. */
function clientCredentials(
  authorization: string,
  form: Record<string, string>,
): { clientId: string; secret: string } | undefined {
  const basic = /^Basic (\S+)$/i.exec(authorization);
  if (basic) {
    const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return undefined;
    const formDecode = (part: string) => decodeURIComponent(part.replaceAll('+', ' '));
    return { clientId: formDecode(decoded.slice(0, colon)), secret: formDecode(decoded.slice(colon + 1)) };
  }
  if (form.client_id && form.client_secret) return { clientId: form.client_id, secret: form.client_secret };
  return undefined;
}

const invalidInput = (description: string): EmulatorResponse => ({
  status: 400,
  body: { error: 'invalid_input', error_description: description },
});

/**
 * Keycloak's client validation (its `DefaultClientValidationProvider`) for what the bridge writes, and the 500 its
 * database gives a value longer than the 255-character column.
 */
function validateClient(input: Json): EmulatorResponse | undefined {
  const illegalScheme = (url: unknown) => typeof url === 'string' && /^\s*(javascript|data):/i.test(url);
  const redirectUris = Array.isArray(input.redirectUris) ? (input.redirectUris as unknown[]).map(String) : [];
  if (redirectUris.some((uri) => uri.includes('#')))
    return invalidInput('A redirect URI must not contain an URL fragment');
  if (redirectUris.some(illegalScheme)) return invalidInput('A redirect URI uses an illegal scheme');
  if (illegalScheme(input.baseUrl)) return invalidInput('Base URL uses an illegal scheme');
  if (illegalScheme((input.attributes as Record<string, unknown> | undefined)?.logoUri))
    return invalidInput('Logo URL uses an illegal scheme');
  const tooLong = (value: unknown) => typeof value === 'string' && value.length > 255;
  if (tooLong(input.name) || tooLong(input.clientId) || tooLong(input.baseUrl) || redirectUris.some(tooLong)) {
    return {
      status: 500,
      body: { error: 'unknown_error', error_description: 'For more on this error consult the server log.' },
    };
  }
  return undefined;
}

function cleanAttributes(value: unknown): Record<string, string> {
  const attributes: Record<string, string> = {};
  for (const [key, entry] of Object.entries((value ?? {}) as Record<string, unknown>)) {
    if (entry !== '' && entry !== null && entry !== undefined) attributes[key] = String(entry);
  }
  return attributes;
}

function withoutKeys(value: Json, keys: string[]): Json {
  return Object.fromEntries(Object.entries(value).filter(([key]) => !keys.includes(key)));
}

export const keycloakEmulator: EmulatorDefinition = {
  name: 'keycloak',
  async start({ port }) {
    const started = await startKeycloakEmulator({ port });
    return { emulator: started.emulator, driverEnv: started.driverEnv };
  },
};
