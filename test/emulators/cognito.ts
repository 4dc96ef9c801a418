/**
 * An AWS Cognito user pool on 127.0.0.1: the app-client operations of the user pools API in AWS JSON 1.1 (`POST /` with
 * `X-Amz-Target: AWSCognitoIdentityProviderService.<Operation>`), the client secrets (`AddUserPoolClientSecret`,
 * `ListUserPoolClientSecrets`, `DeleteUserPoolClientSecret`, two at most), the pool's resource servers, and the
 * pool's `/oauth2/token` (client credentials). Every request and answer of the API is checked against AWS's published
 * service model (botocore's `cognito-idp` `service-2.json`, test/vendor-specs/cognito/); requests must be signed
 * (SigV4) with the emulator's access key. Errors are AWS's: `400` (or `500`) with `__type` and `message`. The rules
 * it holds clients to are the model's documented ones: `client_credentials` only alone and only with a secret and
 * resource-server scopes, scopes that exist, callback URLs for the code and implicit flows, and an update that
 * replaces the whole client (what it leaves out goes back to the default).
 */
import { randomBytes } from 'node:crypto';
import { Emulator, type EmulatorDefinition, type EmulatorRequest, type EmulatorResponse } from './framework.js';
import { awsOperationValidator } from './aws-model-validator.js';
import { vendorSpecFile } from './spec-validator.js';

type Json = Record<string, unknown>;

const MODEL = 'cognito/service-2.json';
const TARGET_PREFIX = 'AWSCognitoIdentityProviderService';
const CONTENT_TYPE = 'application/x-amz-json-1.1';
/** The route key of an operation, for faults: `POST / <Operation>`. */
export const cognitoRoute = (operation: string) => `POST / ${TARGET_PREFIX}.${operation}`;
export const TOKEN_ROUTE = 'POST /oauth2/token';
const STANDARD_SCOPES = new Set(['openid', 'email', 'phone', 'profile', 'aws.cognito.signin.user.admin']);
/** What `UpdateUserPoolClient` may set; each one left out goes back to its default. */
const UPDATABLE = [
  'RefreshTokenValidity',
  'AccessTokenValidity',
  'IdTokenValidity',
  'TokenValidityUnits',
  'ReadAttributes',
  'WriteAttributes',
  'ExplicitAuthFlows',
  'SupportedIdentityProviders',
  'CallbackURLs',
  'LogoutURLs',
  'DefaultRedirectURI',
  'AllowedOAuthFlows',
  'AllowedOAuthScopes',
  'AllowedOAuthFlowsUserPoolClient',
  'AnalyticsConfiguration',
  'PreventUserExistenceErrors',
  'EnableTokenRevocation',
  'EnablePropagateAdditionalUserContextData',
  'AuthSessionValidity',
  'RefreshTokenRotation',
] as const;
const DEFAULTS: Json = {
  RefreshTokenValidity: 30,
  AccessTokenValidity: 60,
  IdTokenValidity: 60,
  TokenValidityUnits: { AccessToken: 'minutes', IdToken: 'minutes', RefreshToken: 'days' },
  ExplicitAuthFlows: ['ALLOW_REFRESH_TOKEN_AUTH', 'ALLOW_USER_SRP_AUTH', 'ALLOW_CUSTOM_AUTH'],
  AllowedOAuthFlowsUserPoolClient: false,
  EnableTokenRevocation: true,
  EnablePropagateAdditionalUserContextData: false,
  AuthSessionValidity: 3,
  PreventUserExistenceErrors: 'ENABLED',
};

interface StoredSecret {
  id: string;
  value: string;
  /** Epoch milliseconds. */
  created: number;
}

interface StoredClient {
  ClientId: string;
  ClientName: string;
  /** Epoch milliseconds. */
  CreationDate: number;
  LastModifiedDate: number;
  fields: Json;
  secrets: StoredSecret[];
}

export interface CognitoEmulatorOptions {
  port?: number;
}

export interface CognitoEmulator {
  emulator: Emulator;
  userPoolId: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** Client ids of the app clients whose name carries the bridge's mark. */
  ownedClientIds(): string[];
  /** One app client as the pool holds it (no secret values). */
  client(clientId: string): { ClientName: string; fields: Json; secretIds: string[] } | undefined;
  /** An app client the bridge did not create (the pool's own), with a secret. */
  seedForeignClient(name?: string): { clientId: string; clientSecret: string };
  /** An app client of the bridge's, written straight into the pool (no request): the fleet a sweep walks through. */
  seedClient(clientName: string): { clientId: string; clientSecret: string };
  /** What the pool holds, as plain JSON: a refused call must leave it equal. */
  clientState(): unknown;
  workingSecretCount(clientId: string): number;
  /** A real client-credentials token request at the pool's `/oauth2/token`: does Cognito authenticate this secret? */
  secretWorks(clientId: string, secret: string): Promise<boolean>;
  stop(): Promise<void>;
}

const randomId = (length: number) =>
  randomBytes(length)
    .toString('base64')
    .replace(/[^A-Za-z0-9]/g, '')
    .slice(0, length);

export async function startCognitoEmulator(options: CognitoEmulatorOptions = {}): Promise<CognitoEmulator> {
  const emulator = new Emulator({ name: 'cognito' });
  const region = 'eu-west-1';
  const userPoolId = `${region}_Emul8tedP`;
  const credentials = { accessKeyId: `AKIA${randomId(16).toUpperCase()}`, secretAccessKey: randomId(40) };
  const clients = new Map<string, StoredClient>();
  const resourceServers = [
    {
      UserPoolId: userPoolId,
      Identifier: 'dcr-api',
      Name: 'The API the bridge registers clients for',
      Scopes: [
        { ScopeName: 'read', ScopeDescription: 'read' },
        { ScopeName: 'write', ScopeDescription: 'write' },
      ],
    },
  ];
  const customScopes = new Set(
    resourceServers.flatMap((server) => server.Scopes.map((scope) => `${server.Identifier}/${scope.ScopeName}`)),
  );

  const awsError = (type: string, message: string, status = 400): EmulatorResponse => ({
    status,
    headers: { 'content-type': CONTENT_TYPE, 'x-amzn-errortype': `${type}:` },
    body: { __type: type, message },
  });
  const ok = (body: Json = {}): EmulatorResponse => ({ status: 200, headers: { 'content-type': CONTENT_TYPE }, body });
  const epoch = (ms: number) => ms / 1000;
  const newSecret = (clientId: string, created = emulator.now()): StoredSecret => ({
    // AWS documents the id as `<client-id>--<epoch-create-time>`; a suffix keeps two made in one millisecond apart.
    id: `${clientId}--${created}${randomId(4)}`,
    value: randomId(52),
    created,
  });
  const view = (client: StoredClient, withSecret = false): Json => ({
    UserPoolId: userPoolId,
    ClientName: client.ClientName,
    ClientId: client.ClientId,
    ...(withSecret && client.secrets[0] ? { ClientSecret: client.secrets[0].value } : {}),
    LastModifiedDate: epoch(client.LastModifiedDate),
    CreationDate: epoch(client.CreationDate),
    ...client.fields,
  });

  /** The documented rules of an app client's OAuth settings; an answer when one is broken. */
  function checkOAuth(fields: Json, hasSecret: boolean): EmulatorResponse | undefined {
    const flows = (fields.AllowedOAuthFlows as string[] | undefined) ?? [];
    const scopes = (fields.AllowedOAuthScopes as string[] | undefined) ?? [];
    if (flows.length > 0 && fields.AllowedOAuthFlowsUserPoolClient !== true)
      return awsError('InvalidOAuthFlowException', 'AllowedOAuthFlowsUserPoolClient must be true to use OAuth flows.');
    if (flows.includes('client_credentials')) {
      if (flows.length > 1)
        return awsError('InvalidOAuthFlowException', 'client_credentials flow can not be selected with other flows.');
      if (!hasSecret)
        return awsError(
          'InvalidOAuthFlowException',
          'client_credentials flow can not be selected if client does not have a client secret.',
        );
      if (scopes.length === 0 || scopes.some((scope) => STANDARD_SCOPES.has(scope)))
        return awsError('InvalidOAuthFlowException', 'client_credentials flow can only be used with custom scopes.');
    }
    if (
      (flows.includes('code') || flows.includes('implicit')) &&
      ((fields.CallbackURLs as string[] | undefined) ?? []).length === 0
    )
      return awsError('InvalidParameterException', 'A redirect URI must be provided for the code and implicit flows.');
    if (flows.length > 0 && scopes.length === 0)
      return awsError('InvalidParameterException', 'Scopes must be provided when OAuth flows are enabled.');
    const unknown = scopes.find((scope) => !STANDARD_SCOPES.has(scope) && !customScopes.has(scope));
    if (unknown !== undefined) return awsError('ScopeDoesNotExistException', `Invalid scope requested: ${unknown}`);
    return undefined;
  }

  function createClient(name: string, fields: Json, withSecret: boolean): StoredClient {
    const now = emulator.now();
    const clientId = randomId(26).toLowerCase();
    const client: StoredClient = {
      ClientId: clientId,
      ClientName: name,
      CreationDate: now,
      LastModifiedDate: now,
      fields: { ...DEFAULTS, ...fields },
      secrets: withSecret ? [newSecret(clientId, now)] : [],
    };
    clients.set(clientId, client);
    return client;
  }

  /** The pool and the client a request names; an AWS error answer when either is not there. */
  function target(body: Json): StoredClient | EmulatorResponse {
    if (body.UserPoolId !== userPoolId) return awsError('ResourceNotFoundException', 'User pool does not exist.');
    const client = clients.get(String(body.ClientId));
    return client ?? awsError('ResourceNotFoundException', `User pool client ${String(body.ClientId)} does not exist.`);
  }

  /** Pages of `items` under an opaque token (the index of the next item). */
  function page<T>(items: T[], body: Json, max: number): { items: T[]; NextToken?: string } {
    const start =
      body.NextToken === undefined ? 0 : Number(Buffer.from(String(body.NextToken), 'base64url').toString());
    const size = typeof body.MaxResults === 'number' && body.MaxResults > 0 ? Math.min(body.MaxResults, max) : max;
    const next = start + size;
    return {
      items: items.slice(start, next),
      ...(next < items.length ? { NextToken: Buffer.from(String(next)).toString('base64url') } : {}),
    };
  }

  const operations: Record<string, (body: Json) => EmulatorResponse> = {
    CreateUserPoolClient(body) {
      if (body.UserPoolId !== userPoolId) return awsError('ResourceNotFoundException', 'User pool does not exist.');
      const fields: Json = {};
      for (const member of UPDATABLE) if (body[member] !== undefined) fields[member] = body[member];
      const withSecret = body.GenerateSecret === true;
      const refused = checkOAuth(fields, withSecret);
      if (refused) return refused;
      const client = createClient(String(body.ClientName), fields, withSecret);
      return ok({ UserPoolClient: view(client, true) });
    },
    DescribeUserPoolClient(body) {
      const client = target(body);
      return 'status' in client ? client : ok({ UserPoolClient: view(client, true) });
    },
    UpdateUserPoolClient(body) {
      const client = target(body);
      if ('status' in client) return client;
      const fields: Json = { ...DEFAULTS };
      for (const member of UPDATABLE) if (body[member] !== undefined) fields[member] = body[member];
      const refused = checkOAuth(fields, client.secrets.length > 0);
      if (refused) return refused;
      client.fields = fields;
      if (body.ClientName !== undefined) client.ClientName = String(body.ClientName);
      client.LastModifiedDate = emulator.now();
      return ok({ UserPoolClient: view(client) });
    },
    DeleteUserPoolClient(body) {
      const client = target(body);
      if ('status' in client) return client;
      clients.delete(client.ClientId);
      return ok();
    },
    ListUserPoolClients(body) {
      if (body.UserPoolId !== userPoolId) return awsError('ResourceNotFoundException', 'User pool does not exist.');
      const listed = page([...clients.values()], body, 60);
      return ok({
        UserPoolClients: listed.items.map(({ ClientId, ClientName }) => ({
          ClientId,
          UserPoolId: userPoolId,
          ClientName,
        })),
        ...(listed.NextToken ? { NextToken: listed.NextToken } : {}),
      });
    },
    ListResourceServers(body) {
      if (body.UserPoolId !== userPoolId) return awsError('ResourceNotFoundException', 'User pool does not exist.');
      const listed = page(resourceServers, body, 50);
      return ok({ ResourceServers: listed.items, ...(listed.NextToken ? { NextToken: listed.NextToken } : {}) });
    },
    AddUserPoolClientSecret(body) {
      const client = target(body);
      if ('status' in client) return client;
      if (client.secrets.length === 0)
        return awsError('InvalidParameterException', 'The app client has no client secret to add to.');
      if (client.secrets.length >= 2)
        return awsError('LimitExceededException', 'The app client already has the maximum number of client secrets.');
      const secret = newSecret(client.ClientId);
      if (typeof body.ClientSecret === 'string') secret.value = body.ClientSecret;
      client.secrets.push(secret);
      return ok({
        ClientSecretDescriptor: {
          ClientSecretId: secret.id,
          ...(typeof body.ClientSecret === 'string' ? {} : { ClientSecretValue: secret.value }),
          ClientSecretCreateDate: epoch(secret.created),
        },
      });
    },
    ListUserPoolClientSecrets(body) {
      const client = target(body);
      if ('status' in client) return client;
      return ok({
        ClientSecrets: client.secrets.map((secret) => ({
          ClientSecretId: secret.id,
          ClientSecretCreateDate: epoch(secret.created),
        })),
      });
    },
    DeleteUserPoolClientSecret(body) {
      const client = target(body);
      if ('status' in client) return client;
      const index = client.secrets.findIndex((secret) => secret.id === body.ClientSecretId);
      if (index < 0) return awsError('ResourceNotFoundException', 'The client secret does not exist.');
      if (client.secrets.length === 1)
        return awsError('InvalidParameterException', 'The last client secret of an app client cannot be deleted.');
      client.secrets.splice(index, 1);
      return ok();
    },
  };

  /** SigV4 with the emulator's access key (the signature itself is the SDK's; its presence and key are checked). */
  const signedBy = (request: EmulatorRequest) => {
    const authorization = request.headers.authorization;
    return (
      typeof authorization === 'string' &&
      authorization.startsWith(`AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/`) &&
      authorization.includes(`/${region}/cognito-idp/aws4_request`) &&
      typeof request.headers['x-amz-date'] === 'string'
    );
  };

  const spec = vendorSpecFile(MODEL);
  for (const [operation, handle] of Object.entries(operations)) {
    emulator.route(
      'POST',
      '/',
      (request) =>
        signedBy(request)
          ? handle(request.body as Json)
          : awsError('UnrecognizedClientException', 'The security token included in the request is invalid.'),
      {
        header: { name: 'x-amz-target', value: `${TARGET_PREFIX}.${operation}` },
        spec: awsOperationValidator(spec, operation),
      },
    );
  }

  /** The pool domain's token endpoint: client credentials, the client by HTTP Basic or in the form. */
  emulator.route(
    'POST',
    '/oauth2/token',
    (request) => {
      const form = (request.body ?? {}) as Record<string, string>;
      let clientId = form.client_id;
      let secret = form.client_secret;
      const basic = /^Basic (.+)$/.exec(String(request.headers.authorization ?? ''));
      if (basic) {
        const decoded = Buffer.from(basic[1]!, 'base64').toString();
        const colon = decoded.indexOf(':');
        clientId = decodeURIComponent(decoded.slice(0, colon));
        secret = decodeURIComponent(decoded.slice(colon + 1));
      }
      const client = clientId === undefined ? undefined : clients.get(clientId);
      if (!client?.secrets.some((held) => held.value === secret))
        return { status: 400, body: { error: 'invalid_client' } };
      if (form.grant_type !== 'client_credentials') return { status: 400, body: { error: 'unsupported_grant_type' } };
      if (!((client.fields.AllowedOAuthFlows as string[] | undefined) ?? []).includes('client_credentials'))
        return { status: 400, body: { error: 'unauthorized_client' } };
      return {
        status: 200,
        body: { access_token: randomId(40), expires_in: 3600, token_type: 'Bearer' },
      };
    },
    { spec: false },
  );

  // The pool's OpenID Provider metadata, at `<endpoint>/<pool id>` as at `cognito-idp.<region>.amazonaws.com`; its
  // OAuth endpoints are the pool domain's, here the emulator's own origin.
  emulator.route(
    'GET',
    `/${userPoolId}/.well-known/openid-configuration`,
    () => ({
      status: 200,
      body: {
        issuer: `${emulator.url}/${userPoolId}`,
        authorization_endpoint: `${emulator.url}/oauth2/authorize`,
        token_endpoint: `${emulator.url}/oauth2/token`,
        userinfo_endpoint: `${emulator.url}/oauth2/userInfo`,
        end_session_endpoint: `${emulator.url}/logout`,
        revocation_endpoint: `${emulator.url}/oauth2/revoke`,
        jwks_uri: `${emulator.url}/${userPoolId}/.well-known/jwks.json`,
        response_types_supported: ['code', 'token'],
        scopes_supported: ['openid', 'email', 'phone', 'profile'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
        token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      },
    }),
    { spec: false },
  );

  await emulator.start(options.port ?? 0);

  const isMarked = (client: StoredClient) => client.ClientName.startsWith('dcr-bridge,');
  return {
    emulator,
    userPoolId,
    region,
    credentials,
    ownedClientIds: () => [...clients.values()].filter(isMarked).map((client) => client.ClientId),
    client: (clientId) => {
      const client = clients.get(clientId);
      return (
        client && {
          ClientName: client.ClientName,
          fields: structuredClone(client.fields),
          secretIds: client.secrets.map((secret) => secret.id),
        }
      );
    },
    seedForeignClient: (name = 'Payroll service, made by the pool admin') => {
      const client = createClient(
        name,
        {
          AllowedOAuthFlows: ['client_credentials'],
          AllowedOAuthScopes: ['dcr-api/read'],
          AllowedOAuthFlowsUserPoolClient: true,
        },
        true,
      );
      return { clientId: client.ClientId, clientSecret: client.secrets[0]!.value };
    },
    seedClient: (clientName) => {
      const client = createClient(
        clientName,
        {
          AllowedOAuthFlows: ['client_credentials'],
          AllowedOAuthScopes: ['dcr-api/read'],
          AllowedOAuthFlowsUserPoolClient: true,
        },
        true,
      );
      return { clientId: client.ClientId, clientSecret: client.secrets[0]!.value };
    },
    clientState: () => JSON.parse(JSON.stringify([...clients.values()])),
    workingSecretCount: (clientId) => clients.get(clientId)?.secrets.length ?? 0,
    secretWorks: async (clientId, secret) => {
      const response = await fetch(`${emulator.url}/oauth2/token`, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/x-www-form-urlencoded',
          Authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`,
        },
        body: new URLSearchParams({ grant_type: 'client_credentials' }),
      });
      const body = (await response.json()) as { error?: string };
      // Cognito authenticates the client before it checks the flow: `unauthorized_client` means the secret was right.
      return response.status === 200 || body.error === 'unauthorized_client';
    },
    stop: () => emulator.stop(),
  };
}

export const cognitoEmulator: EmulatorDefinition = {
  name: 'cognito',
  async start({ port }) {
    const cognito = await startCognitoEmulator({ port });
    return {
      emulator: cognito.emulator,
      driverEnv: {
        DCR_DRIVER: 'cognito',
        COGNITO_USER_POOL_ID: cognito.userPoolId,
        AWS_REGION: cognito.region,
        AWS_ACCESS_KEY_ID: cognito.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: cognito.credentials.secretAccessKey,
        AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER: cognito.emulator.url,
        COGNITO_DEFAULT_SCOPES: 'dcr-api/read',
      },
    };
  },
};
