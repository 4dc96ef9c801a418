/**
 * AWS Cognito: each client is an app client of one user pool (`COGNITO_USER_POOL_ID`), managed through
 * `@aws-sdk/client-cognito-identity-provider` with the SDK's default credential chain, `AWS_REGION`, and the SDK's own
 * `AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER` for an endpoint other than AWS's. Cognito assigns the client id. App
 * clients carry no tags nor any free-form field, so the bridge's mark is the one field it can write: the client's
 * `ClientName`, in a reserved form no caller can send (see `markedName`). A client holds up to two secrets
 * (`AddUserPoolClientSecret` / `ListUserPoolClientSecrets` / `DeleteUserPoolClientSecret`), so rotation keeps the old
 * one for the grace period, and the multiple-credentials calls map onto them one to one.
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type * as CognitoSdk from '@aws-sdk/client-cognito-identity-provider';
import type { UserPoolClientType } from '@aws-sdk/client-cognito-identity-provider';
import { ConfigurationError, envValue, requiredEnv } from '../src/env.js';
import { ConflictError, IdpError, InvalidClientMetadataError } from '../src/errors.js';
import { fetchDiscoveryJson } from '../src/discovery.js';
import { withoutUndefined } from '../src/records.js';
import {
  type AdminCallSettings,
  type CallSafety,
  checkClientId,
  checkHasSecret,
  cleanUpIfApplied,
  type ClientMetadata,
  createAdminCall,
  deleteOwned,
  type DriverFactory,
  type DriverImplementation,
  findByRegistration,
  foundOrUndefined,
  goneIsDone,
  graceRotation,
  loadSdk,
  openRegistrations,
  ownedClientSummary,
  pageOfOwnedClients,
  registeredClient,
  type RegisteredClient,
  requireOwned,
  rereadIfUnusable,
  type SecretSlots,
  statusFailure,
  type UpstreamFailure,
  usableAnswer,
} from '../src/driver/index.js';
import type { AddedClientSecret, ClientSecretInfo, StandardRegistration } from '../src/driver/contract.js';
import type { AddedSecret } from '../src/driver/rotation/grace.js';

// The SDK from its one-file bundle (src/driver/call/sdk.ts), with V8's code cache of it.
const sdk = loadSdk<typeof CognitoSdk>('@aws-sdk/client-cognito-identity-provider');

/** Cognito's own scopes; every other scope is `<resource server identifier>/<scope name>` of the pool. */
const STANDARD_SCOPES = new Set(['openid', 'email', 'phone', 'profile', 'aws.cognito.signin.user.admin']);
const GRANT_FLOWS: Record<string, 'code' | 'implicit' | 'client_credentials' | undefined> = {
  authorization_code: 'code',
  implicit: 'implicit',
  client_credentials: 'client_credentials',
  // Refresh tokens come with the code flow (the pool's `ALLOW_REFRESH_TOKEN_AUTH`): no flow of its own.
  refresh_token: undefined,
};
const AUTH_METHODS: Record<string, string> = { client_secret_basic: 'b', client_secret_post: 'p', none: 'n' };
/** Cognito holds at most two secrets per app client. */
const SECRET_LIMIT = 2;
/** `ListUserPoolClients` pages (60 clients, its most); the listings other than the sweep's read at most 50 of them. */
const PAGE_SIZE = 60;
const MAX_PAGES = 50;

/**
 * The mark, in `ClientName` (at most 128 characters of `[\w\s+=,.@-]`): `dcr-bridge,` then, comma-separated, the
 * registration id (16 random base64url characters, set before the create so a lost create answer can be found), the
 * flags (the auth method `b`/`p`/`n`; `c` named, `r` refresh_token asked, `o` open registration, `v` native), the grace
 * end (epoch seconds, or empty), the standard registration's access-token hash (or empty), then the caller's name.
 * The bridge writes the prefix itself and refuses a `client_name` that carries it, so a caller cannot forge it; who can
 * rename app clients in the pool (an AWS principal with `UpdateUserPoolClient`) can, which is the mark's limit.
 */
const MARK_PREFIX = 'dcr-bridge,';
const MARKED_NAME = /^dcr-bridge,([A-Za-z0-9_-]{16}),([bpn][crov]{0,4}),(\d{0,12}),([A-Za-z0-9_-]{43})?,(.*)$/s;
const NAME_LIMIT = 128;
/** The longest header the mark can have (a 10-digit grace end and a hash), so a later grace mark always fits. */
const MARK_HEADER_MAX = MARK_PREFIX.length + 16 + 1 + 5 + 1 + 10 + 1 + 43 + 1;

interface NameMark {
  registrationId: string;
  authMethod: string;
  named: boolean;
  refresh: boolean;
  open: boolean;
  native: boolean;
  /** Epoch seconds, when a secret is kept for a rotation grace. */
  graceEndsAt?: number;
  accessTokenHash?: string;
  name: string;
}

function readMark(clientName: string | undefined): NameMark | undefined {
  const match = MARKED_NAME.exec(clientName ?? '');
  if (!match) return undefined;
  const [, registrationId, flags, grace, accessTokenHash, name] = match as unknown as string[];
  const method = Object.entries(AUTH_METHODS).find(([, letter]) => letter === flags![0])![0];
  return {
    registrationId: registrationId!,
    authMethod: method,
    named: flags!.includes('c'),
    refresh: flags!.includes('r'),
    open: flags!.includes('o'),
    native: flags!.includes('v'),
    ...(grace ? { graceEndsAt: Number(grace) } : {}),
    ...(accessTokenHash ? { accessTokenHash } : {}),
    name: name!,
  };
}

function markedName(mark: NameMark): string {
  const flags = `${AUTH_METHODS[mark.authMethod]}${mark.named ? 'c' : ''}${mark.refresh ? 'r' : ''}${mark.open ? 'o' : ''}${mark.native ? 'v' : ''}`;
  return `${MARK_PREFIX}${[mark.registrationId, flags, mark.graceEndsAt ?? '', mark.accessTokenHash ?? '', mark.name].join(',')}`;
}

/**
 * The part of `ClientName` a caller's name may use: Cognito's alphabet (others become `_`), within what the longest mark
 * leaves (82 characters; 39 beside a registration token's hash).
 */
function storableName(name: string | undefined, withHash: boolean): string {
  if (name === undefined) return '';
  if (name.includes(MARK_PREFIX))
    throw new InvalidClientMetadataError(`The client_name must not contain "${MARK_PREFIX}", the bridge's own mark.`);
  return name.replace(/[^A-Za-z0-9_ \t+=,.@-]/g, '_').slice(0, NAME_LIMIT - MARK_HEADER_MAX + (withHash ? 0 : 43));
}

const isOwned = (client: { ClientName?: string | undefined }) => readMark(client.ClientName) !== undefined;

/** Cognito's client ids (`[\w+]+`): any other id names no app client, and is never sent. */
const COGNITO_CLIENT_ID = /^[A-Za-z0-9_+]{1,128}$/;

/** The AWS error names that are not the status they come with (Cognito answers most errors `400`). */
const ERROR_STATUS: Record<string, number> = {
  ResourceNotFoundException: 404,
  TooManyRequestsException: 429,
  // Cognito's per-account request quotas; the secret limit is checked before the call, so this is throttling too.
  LimitExceededException: 429,
  NotAuthorizedException: 403,
  AccessDeniedException: 403,
  UnrecognizedClientException: 403,
  InvalidParameterException: 400,
  ScopeDoesNotExistException: 400,
  InvalidOAuthFlowException: 400,
  ConcurrentModificationException: 409,
  InternalErrorException: 500,
  InternalServerException: 500,
};

/**
 * The SDK's service exceptions as upstream failures: by the AWS error name, else the HTTP status. An error without an
 * HTTP error status (a socket failure, a 2xx the SDK could not parse) is left to the kit.
 */
export function describeCognitoError(error: unknown): UpstreamFailure | undefined {
  const { name, $metadata, $response } = error as {
    name?: unknown;
    $metadata?: { httpStatusCode?: unknown };
    $response?: { headers?: Record<string, string> };
  };
  const httpStatus = $metadata?.httpStatusCode;
  if (typeof httpStatus !== 'number' || httpStatus < 300) return undefined;
  const status = (typeof name === 'string' ? ERROR_STATUS[name] : undefined) ?? httpStatus;
  return statusFailure(status, $response?.headers);
}

export interface CognitoDriverOptions extends AdminCallSettings {
  userPoolId: string;
  region: string;
  /** The SDK's `endpoint`; unset, the SDK's own resolution (`AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER`, else AWS). */
  endpoint?: string;
  /** Static credentials (tests); unset, the SDK's default credential chain. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  rotationGraceSeconds?: number;
  /** The scopes a client-credentials client gets when it asks for none (`COGNITO_DEFAULT_SCOPES`). */
  defaultScopes?: string[];
}

type SmithyRequest = {
  protocol: string;
  hostname: string;
  port?: number;
  method: string;
  path: string;
  query?: Record<string, string | string[] | null>;
  headers: Record<string, string>;
  body?: string | Uint8Array;
};

export function createCognitoDriver(options: CognitoDriverOptions): DriverImplementation {
  const poolId = options.userPoolId;
  const graceSeconds = options.rotationGraceSeconds ?? 0;
  // Where the SDK sends its calls (its own variables, in its order), for the failure reports and the discovery URL.
  const endpoint =
    options.endpoint ??
    process.env.AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER ??
    process.env.AWS_ENDPOINT_URL ??
    `https://cognito-idp.${options.region}.amazonaws.com`;
  const adminCall = createAdminCall({ ...options, host: new URL(endpoint).host, describe: describeCognitoError });
  // The SDK's public HTTP hook: every request through the kit's pool with the attempt's abort signal; the SDK's own
  // retries off (the kit's retry layer decides what is repeated).
  const requestHandler = {
    async handle(request: SmithyRequest, handlerOptions?: { abortSignal?: AbortSignal }) {
      const query = new URLSearchParams();
      for (const [key, value] of Object.entries(request.query ?? {}))
        for (const item of Array.isArray(value) ? value : [value ?? '']) query.append(key, item);
      const search = query.size > 0 ? `?${query}` : '';
      const url = `${request.protocol}//${request.hostname}${request.port ? `:${request.port}` : ''}${request.path}${search}`;
      const { host: _host, 'content-length': _length, ...headers } = request.headers;
      const answer = await adminCall.http.request(url, {
        method: request.method,
        headers,
        ...(request.body === undefined ? {} : { body: request.body }),
        ...(handlerOptions?.abortSignal ? { signal: handlerOptions.abortSignal } : {}),
      });
      const answerHeaders: Record<string, string> = {};
      for (const [name, value] of Object.entries(answer.headers))
        if (value !== undefined) answerHeaders[name] = Array.isArray(value) ? value.join(', ') : value;
      return {
        response: {
          statusCode: answer.status,
          reason: '',
          headers: answerHeaders,
          body: Readable.from([Buffer.from(answer.text, 'utf8')]),
        },
      };
    },
    updateHttpClientConfig: () => undefined,
    httpHandlerConfigs: () => ({}),
    destroy: () => undefined,
  };
  const client = new sdk.CognitoIdentityProviderClient({
    region: options.region,
    maxAttempts: 1,
    requestHandler: requestHandler as unknown as CognitoSdk.CognitoIdentityProviderClientConfig['requestHandler'],
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
  });

  /** One Cognito call: the command sent with the attempt's signal. */
  const send = <T>(operation: string, safety: CallSafety, command: () => unknown): Promise<T> =>
    adminCall(operation, safety, (abortSignal) =>
      client.send(command() as Parameters<typeof client.send>[0], { abortSignal }),
    ) as Promise<T>;

  async function findClient(clientId: string): Promise<UserPoolClientType | undefined> {
    checkClientId(clientId);
    if (!COGNITO_CLIENT_ID.test(clientId)) return undefined;
    return foundOrUndefined(
      send<CognitoSdk.DescribeUserPoolClientResponse>(
        'read client',
        'idempotent',
        () => new sdk.DescribeUserPoolClientCommand({ UserPoolId: poolId, ClientId: clientId }),
      ).then((answer) =>
        usableAnswer(
          answer.UserPoolClient,
          (value): value is UserPoolClientType & { ClientId: string } =>
            typeof (value as UserPoolClientType | undefined)?.ClientId === 'string',
          'the client lookup',
        ),
      ),
    );
  }

  const findOwnedClient = async (clientId: string) => requireOwned(await findClient(clientId), isOwned);

  /** The pool's app clients (id and name only), page by page; at most `maxPages` pages. */
  async function* listClients(operation: string, maxPages = MAX_PAGES) {
    let next: string | undefined;
    for (let page = 0; page < maxPages; page++) {
      const answer = await send<CognitoSdk.ListUserPoolClientsResponse>(
        operation,
        'idempotent',
        () =>
          new sdk.ListUserPoolClientsCommand({
            UserPoolId: poolId,
            MaxResults: PAGE_SIZE,
            ...(next === undefined ? {} : { NextToken: next }),
          }),
      );
      yield* usableAnswer(
        answer.UserPoolClients,
        Array.isArray,
        'the client listing',
      ) as CognitoSdk.UserPoolClientDescription[];
      next = answer.NextToken;
      if (!next) return;
    }
  }

  /** The scopes Cognito will accept: its own and the pool's resource servers'; an unknown one is `400` naming it. */
  async function checkScopes(scopes: string[]): Promise<void> {
    const custom = scopes.filter((scope) => !STANDARD_SCOPES.has(scope));
    if (custom.length === 0) return;
    const known = new Set<string>();
    let next: string | undefined;
    do {
      const answer = await send<CognitoSdk.ListResourceServersResponse>(
        'list scopes',
        'idempotent',
        () =>
          new sdk.ListResourceServersCommand({
            UserPoolId: poolId,
            MaxResults: 50,
            ...(next === undefined ? {} : { NextToken: next }),
          }),
      );
      for (const server of usableAnswer(
        answer.ResourceServers,
        Array.isArray,
        'the resource server listing',
      ) as CognitoSdk.ResourceServerType[])
        for (const scope of server.Scopes ?? []) known.add(`${server.Identifier}/${scope.ScopeName}`);
      next = answer.NextToken;
    } while (next);
    const unknown = custom.find((scope) => !known.has(scope));
    if (unknown !== undefined)
      throw new InvalidClientMetadataError(
        `The scope ${unknown} is not one of the user pool's resource server scopes.`,
      );
  }

  /** The app client fields the metadata sets, checked against what Cognito accepts. */
  async function toAppClient(metadata: ClientMetadata) {
    const unsupported = metadata.grantTypes.find((grant) => !(grant in GRANT_FLOWS));
    if (unsupported) throw new InvalidClientMetadataError(`Cognito does not support the grant type ${unsupported}.`);
    const flows = [...new Set(metadata.grantTypes.map((grant) => GRANT_FLOWS[grant]).filter((flow) => !!flow))];
    if (flows.length === 0)
      throw new InvalidClientMetadataError('Cognito needs authorization_code, implicit or client_credentials.');
    if (flows.includes('client_credentials') && flows.length > 1)
      throw new InvalidClientMetadataError('Cognito allows client_credentials only as the one grant type of a client.');
    if (metadata.grantTypes.includes('refresh_token') && !flows.includes('code'))
      throw new InvalidClientMetadataError('Cognito issues refresh tokens with authorization_code only.');
    if (!(metadata.tokenEndpointAuthMethod in AUTH_METHODS))
      throw new InvalidClientMetadataError(
        'Cognito supports the token endpoint auth methods client_secret_basic, client_secret_post and none.',
      );
    const unknownResponse = metadata.responseTypes.find((type) => !['code', 'token', 'id_token'].includes(type));
    if (unknownResponse)
      throw new InvalidClientMetadataError(`Cognito does not support the response type ${unknownResponse}.`);
    const machine = flows.includes('client_credentials');
    const asked = (metadata.scope ?? '').split(' ').filter(Boolean);
    const scopes = asked.length > 0 ? asked : machine ? (options.defaultScopes ?? []) : ['openid'];
    if (machine && scopes.length === 0)
      throw new InvalidClientMetadataError(
        "Cognito's client_credentials needs at least one resource server scope: send scope, or set COGNITO_DEFAULT_SCOPES.",
      );
    const standard = machine ? scopes.find((scope) => STANDARD_SCOPES.has(scope)) : undefined;
    if (standard)
      throw new InvalidClientMetadataError(`Cognito's client_credentials cannot have the scope ${standard}.`);
    await checkScopes(scopes);
    return {
      AllowedOAuthFlows: flows as Array<'code' | 'implicit' | 'client_credentials'>,
      AllowedOAuthScopes: scopes,
      AllowedOAuthFlowsUserPoolClient: true,
      CallbackURLs: metadata.redirectUris,
      LogoutURLs: metadata.postLogoutRedirectUris ?? [],
    };
  }

  /** The mark of a client with this metadata: its registration id and grace `kept`, the standard registration if any. */
  const markFor = (
    metadata: ClientMetadata,
    kept: Pick<NameMark, 'registrationId' | 'graceEndsAt'>,
    registration?: StandardRegistration,
  ): NameMark => ({
    ...kept,
    authMethod: metadata.tokenEndpointAuthMethod,
    named: metadata.clientName !== undefined,
    refresh: metadata.grantTypes.includes('refresh_token'),
    open: registration?.openRegistration ?? false,
    native: metadata.applicationType === 'native',
    ...(registration ? { accessTokenHash: registration.accessTokenHash } : {}),
    name: storableName(metadata.clientName, registration !== undefined),
  });

  /**
   * `UpdateUserPoolClient` replaces the whole client (a field left out goes back to its default), so an update sends
   * every field the client has, with the bridge's changes over it.
   */
  function replacement(current: UserPoolClientType, changes: Partial<CognitoSdk.UpdateUserPoolClientRequest>) {
    return withoutUndefined({
      UserPoolId: poolId,
      ClientId: current.ClientId,
      ClientName: current.ClientName,
      RefreshTokenValidity: current.RefreshTokenValidity,
      AccessTokenValidity: current.AccessTokenValidity,
      IdTokenValidity: current.IdTokenValidity,
      TokenValidityUnits: current.TokenValidityUnits,
      ReadAttributes: current.ReadAttributes,
      WriteAttributes: current.WriteAttributes,
      ExplicitAuthFlows: current.ExplicitAuthFlows,
      SupportedIdentityProviders: current.SupportedIdentityProviders,
      CallbackURLs: current.CallbackURLs,
      LogoutURLs: current.LogoutURLs,
      DefaultRedirectURI: current.DefaultRedirectURI,
      AllowedOAuthFlows: current.AllowedOAuthFlows,
      AllowedOAuthScopes: current.AllowedOAuthScopes,
      AllowedOAuthFlowsUserPoolClient: current.AllowedOAuthFlowsUserPoolClient,
      AnalyticsConfiguration: current.AnalyticsConfiguration,
      PreventUserExistenceErrors: current.PreventUserExistenceErrors,
      EnableTokenRevocation: current.EnableTokenRevocation,
      EnablePropagateAdditionalUserContextData: current.EnablePropagateAdditionalUserContextData,
      AuthSessionValidity: current.AuthSessionValidity,
      RefreshTokenRotation: current.RefreshTokenRotation,
      ...changes,
    }) as CognitoSdk.UpdateUserPoolClientRequest;
  }

  const updateClient = (
    operation: string,
    current: UserPoolClientType,
    changes: Partial<CognitoSdk.UpdateUserPoolClientRequest>,
  ) =>
    send<CognitoSdk.UpdateUserPoolClientResponse>(
      operation,
      'idempotent',
      () => new sdk.UpdateUserPoolClientCommand(replacement(current, changes)),
    ).then((answer) => usableAnswer(answer.UserPoolClient, isAppClient, 'the client update'));

  /** Sets (or clears) the grace end in the mark, on the client as Cognito holds it now (read again just before). */
  async function writeGraceMark(clientId: string, graceEndsAt: number | undefined): Promise<void> {
    const current = await findClient(clientId);
    const mark = readMark(current?.ClientName);
    if (!current || !mark) return;
    const { graceEndsAt: _previous, ...rest } = mark;
    const updated: NameMark =
      graceEndsAt === undefined ? rest : { ...rest, graceEndsAt: Math.ceil(graceEndsAt / 1000) };
    await updateClient('mark grace', current, { ClientName: markedName(updated) });
  }

  function secretSlots(clientId: string): SecretSlots {
    return {
      list: async () =>
        (await listSecretsOf(clientId)).map((secret) => ({ id: secret.id, createdAt: secret.createdAt })),
      async add() {
        const answer = await send<CognitoSdk.AddUserPoolClientSecretResponse>(
          'create secret',
          'unsafe',
          () => new sdk.AddUserPoolClientSecretCommand({ UserPoolId: poolId, ClientId: clientId }),
        );
        const added = usableAnswer(
          answer.ClientSecretDescriptor,
          (value): value is CognitoSdk.ClientSecretDescriptorType & { ClientSecretId: string } =>
            typeof (value as CognitoSdk.ClientSecretDescriptorType | undefined)?.ClientSecretId === 'string',
          'the secret creation',
        );
        // With its creation time, which `addSecret` hands on.
        return {
          id: added.ClientSecretId,
          ...(added.ClientSecretValue ? { value: added.ClientSecretValue } : {}),
          createdAt: added.ClientSecretCreateDate,
        } as AddedSecret;
      },
      remove: async ({ id }) =>
        !(await goneIsDone(
          send(
            'delete secret',
            'idempotent',
            () =>
              new sdk.DeleteUserPoolClientSecretCommand({ UserPoolId: poolId, ClientId: clientId, ClientSecretId: id }),
          ),
        )),
      markGrace: (graceEndsAt) => writeGraceMark(clientId, graceEndsAt),
      clearGrace: () => writeGraceMark(clientId, undefined),
    };
  }

  async function listSecretsOf(clientId: string): Promise<Array<{ id: string; createdAt: number }>> {
    const secrets: Array<{ id: string; createdAt: number }> = [];
    let next: string | undefined;
    do {
      const answer = await send<CognitoSdk.ListUserPoolClientSecretsResponse>(
        'list secrets',
        'idempotent',
        () =>
          new sdk.ListUserPoolClientSecretsCommand({
            UserPoolId: poolId,
            ClientId: clientId,
            ...(next === undefined ? {} : { NextToken: next }),
          }),
      );
      const listed = usableAnswer(
        answer.ClientSecrets,
        (value): value is Array<CognitoSdk.ClientSecretDescriptorType & { ClientSecretId: string }> =>
          Array.isArray(value) && value.every((secret) => typeof secret?.ClientSecretId === 'string'),
        'the secret listing',
      );
      for (const secret of listed)
        secrets.push({ id: secret.ClientSecretId, createdAt: secret.ClientSecretCreateDate?.getTime() ?? Number.NaN });
      next = answer.NextToken;
    } while (next);
    return secrets;
  }

  const rotation = graceRotation<CognitoSdk.UserPoolClientDescription & { ClientId: string }>(graceSeconds, {
    async page(after) {
      const answer = await send<CognitoSdk.ListUserPoolClientsResponse>(
        'list clients',
        'idempotent',
        () =>
          new sdk.ListUserPoolClientsCommand({
            UserPoolId: poolId,
            MaxResults: PAGE_SIZE,
            ...(after === undefined ? {} : { NextToken: after }),
          }),
      );
      const clients = usableAnswer(answer.UserPoolClients, Array.isArray, 'the client listing') as Array<
        CognitoSdk.UserPoolClientDescription & { ClientId: string }
      >;
      return { clients: clients.filter((found) => found.ClientId && isOwned(found)), next: () => answer.NextToken };
    },
    graceEndsAt: (found) => {
      const end = readMark(found.ClientName)?.graceEndsAt;
      return end === undefined ? undefined : end * 1000;
    },
    slots: (found) => secretSlots(found.ClientId),
    // A mark reads the client, then replaces it.
    costs: { mark: 2, clearMark: 2 },
  });

  /** The client's secrets as the multiple-credentials calls list them: those older than the newest end with a grace. */
  async function secretInfos(clientId: string, graceEndsAt?: number): Promise<ClientSecretInfo[]> {
    const held = (await listSecretsOf(clientId)).sort((a, b) => a.createdAt - b.createdAt);
    return held.map((secret, index) =>
      withoutUndefined({
        secretId: secret.id,
        clientId,
        status: 'ACTIVE' as const,
        createdAt: Number.isFinite(secret.createdAt) ? Math.floor(secret.createdAt / 1000) : undefined,
        expiresAt: graceEndsAt !== undefined && index < held.length - 1 ? graceEndsAt : undefined,
      }),
    ) as ClientSecretInfo[];
  }

  return {
    name: 'cognito',
    capabilities: { rotationGrace: true, apiAccessGrants: false },

    async registerClient(metadata, context) {
      const fields = await toAppClient(metadata);
      const mark = markFor(metadata, { registrationId: randomBytes(12).toString('base64url') }, context.registration);
      const secret = metadata.tokenEndpointAuthMethod !== 'none';
      const create = async () =>
        usableAnswer(
          (
            await send<CognitoSdk.CreateUserPoolClientResponse>(
              'register client',
              'unsafe',
              () =>
                new sdk.CreateUserPoolClientCommand({
                  UserPoolId: poolId,
                  ClientName: markedName(mark),
                  GenerateSecret: secret,
                  ...fields,
                  ...(fields.AllowedOAuthFlows.includes('client_credentials')
                    ? {}
                    : { SupportedIdentityProviders: ['COGNITO'] }),
                }),
            )
          ).UserPoolClient,
          (value): value is UserPoolClientType & { ClientId: string } =>
            isAppClient(value) && (!secret || typeof value.ClientSecret === 'string'),
          'the client creation',
        );
      const created = await cleanUpIfApplied(create, async () => {
        const orphan = await findByRegistration(
          listClients('find unconfirmed client'),
          mark.registrationId,
          (found) => {
            const read = readMark(found.ClientName);
            return read && { registrationId: read.registrationId };
          },
        );
        if (orphan?.ClientId)
          await goneIsDone(
            send(
              'delete client',
              'idempotent',
              () => new sdk.DeleteUserPoolClientCommand({ UserPoolId: poolId, ClientId: orphan.ClientId! }),
            ),
          );
      });
      return { ...toRegisteredClient(created), clientSecret: created.ClientSecret ?? '' };
    },

    getClient: async (clientId) => toRegisteredClient(await findOwnedClient(clientId)),

    async updateClient(clientId, metadata, changes) {
      const current = await findOwnedClient(clientId);
      const mark = readMark(current.ClientName)!;
      if ((mark.authMethod === 'none') !== (metadata.tokenEndpointAuthMethod === 'none'))
        throw new InvalidClientMetadataError(
          'Cognito cannot add or remove the secret of an app client; register a new client for another auth method.',
        );
      const fields = await toAppClient(metadata);
      const updated = markFor(
        metadata,
        {
          registrationId: mark.registrationId,
          ...(mark.graceEndsAt === undefined ? {} : { graceEndsAt: mark.graceEndsAt }),
        },
        changes?.registration ??
          (mark.accessTokenHash
            ? { accessTokenHash: mark.accessTokenHash, ...(mark.open ? { openRegistration: true } : {}) }
            : undefined),
      );
      return toRegisteredClient(
        await rereadIfUnusable(
          () => updateClient('update client', current, { ...fields, ClientName: markedName(updated) }),
          () => findOwnedClient(clientId),
        ),
      );
    },

    deleteClient: async (clientId) =>
      deleteOwned(await findClient(clientId), isOwned, async (found) => {
        await goneIsDone(
          send(
            'delete client',
            'idempotent',
            () => new sdk.DeleteUserPoolClientCommand({ UserPoolId: poolId, ClientId: found.ClientId! }),
          ),
        );
      }),

    async rotateSecret(clientId) {
      const current = await findOwnedClient(clientId);
      checkHasSecret(readMark(current.ClientName)!.authMethod);
      const { value } = await rotation.rotate(secretSlots(clientId));
      return { clientId, clientSecret: value, clientSecretExpiresAt: 0 };
    },

    retireExpiredSecrets: rotation.sweep,

    async listSecrets(clientId) {
      const current = await findOwnedClient(clientId);
      return secretInfos(clientId, readMark(current.ClientName)!.graceEndsAt);
    },

    async addSecret(clientId): Promise<AddedClientSecret> {
      const current = await findOwnedClient(clientId);
      checkHasSecret(readMark(current.ClientName)!.authMethod);
      const slots = secretSlots(clientId);
      const before = await slots.list();
      if (before.length >= SECRET_LIMIT)
        throw new ConflictError(`Cognito holds at most ${SECRET_LIMIT} secrets per client; revoke one first.`);
      // A secret added behind a lost answer is one nobody holds: it is removed before the error is passed on.
      const removeUnknown = async () => {
        const known = new Set(before.map((secret) => secret.id));
        for (const secret of await slots.list()) if (!known.has(secret.id)) await slots.remove(secret);
      };
      const added = await cleanUpIfApplied(() => slots.add(), removeUnknown);
      if (!added.value || !added.id) {
        await removeUnknown().catch(() => undefined);
        throw new IdpError('Cognito added a secret without returning it; nothing was added.');
      }
      const createdAt = (added as { createdAt?: Date }).createdAt;
      return withoutUndefined({
        secretId: added.id,
        clientId,
        status: 'ACTIVE' as const,
        createdAt: createdAt ? Math.floor(createdAt.getTime() / 1000) : undefined,
        clientSecret: added.value,
      }) as AddedClientSecret;
    },

    async revokeSecret(clientId, secretId) {
      await findOwnedClient(clientId);
      const held = await listSecretsOf(clientId);
      if (!held.some((secret) => secret.id === secretId)) return;
      if (held.length <= 1) throw new ConflictError("This is the client's last secret; delete the client instead.");
      await secretSlots(clientId).remove({ id: secretId, createdAt: Number.NaN });
    },

    listOpenRegistrations: async (limit) =>
      openRegistrations(
        listClients('list clients'),
        limit,
        (found) => {
          const mark = readMark(found.ClientName);
          return mark?.open && mark.accessTokenHash
            ? { standardRegistration: { accessTokenHash: mark.accessTokenHash, openRegistration: true } }
            : undefined;
        },
        (found) => found.ClientId,
      ),

    // The operator's view: the pool's app clients whose ClientName carries the mark, in Cognito's order, from the listing
    // alone (id and name: no client is described, so no secret is read). The mark holds neither the portal's ids nor a
    // creation time, so the list shows the name, the standard dialect, open registration and a pending grace.
    listClients: (listing) =>
      pageOfOwnedClients(listClients('list clients', Number.POSITIVE_INFINITY), listing, (found) => {
        const mark = found.ClientId === undefined ? undefined : readMark(found.ClientName);
        if (!mark) return undefined;
        return ownedClientSummary(
          found.ClientId!,
          mark.accessTokenHash
            ? {
                standardRegistration: {
                  accessTokenHash: mark.accessTokenHash,
                  ...(mark.open ? { openRegistration: true } : {}),
                },
              }
            : {},
          { clientName: mark.named ? mark.name : undefined, pending: mark.graceEndsAt !== undefined },
        );
      }),

    // The pool's issuer is `<endpoint>/<pool id>` (`https://cognito-idp.<region>.amazonaws.com/<pool id>` at AWS).
    fetchDiscoveryDocument: () =>
      fetchDiscoveryJson(
        adminCall.http,
        `${endpoint.replace(/\/+$/, '')}/${encodeURIComponent(poolId)}/.well-known/openid-configuration`,
        adminCall.policy.timeoutMs,
      ),

    checkReadiness: async () => {
      await send(
        'readiness',
        'idempotent',
        () => new sdk.ListUserPoolClientsCommand({ UserPoolId: poolId, MaxResults: 1 }),
      );
    },

    close: async () => {
      client.destroy();
      await adminCall.close();
    },
  };
}

const isAppClient = (value: unknown): value is UserPoolClientType & { ClientId: string } =>
  typeof (value as UserPoolClientType | undefined)?.ClientId === 'string';

function toRegisteredClient(found: UserPoolClientType): RegisteredClient {
  const mark = readMark(found.ClientName)!;
  const flows = found.AllowedOAuthFlows ?? [];
  const grantTypes = [
    ...(flows.includes('code') ? ['authorization_code'] : []),
    ...(flows.includes('code') && mark.refresh ? ['refresh_token'] : []),
    ...(flows.includes('implicit') ? ['implicit'] : []),
    ...(flows.includes('client_credentials') ? ['client_credentials'] : []),
  ];
  const scopes = found.AllowedOAuthScopes ?? [];
  const metadata: ClientMetadata = {
    ...withoutUndefined({
      clientName: mark.named ? mark.name : undefined,
      scope: scopes.length > 0 ? scopes.join(' ') : undefined,
      postLogoutRedirectUris: found.LogoutURLs?.length ? found.LogoutURLs : undefined,
    }),
    redirectUris: found.CallbackURLs ?? [],
    grantTypes,
    responseTypes: [...(flows.includes('code') ? ['code'] : []), ...(flows.includes('implicit') ? ['token'] : [])],
    tokenEndpointAuthMethod: mark.authMethod,
    applicationType: mark.native ? 'native' : 'web',
  };
  const registration: StandardRegistration | undefined = mark.accessTokenHash
    ? { accessTokenHash: mark.accessTokenHash, ...(mark.open ? { openRegistration: true } : {}) }
    : undefined;
  return registeredClient(found.ClientId!, metadata, registration ? { standardRegistration: registration } : {}, {
    issuedAt: Math.floor((found.CreationDate?.getTime() ?? Date.now()) / 1000),
  });
}

export const createDriverFromEnv: DriverFactory = async (env, settings) => {
  const userPoolId = requiredEnv(
    env,
    'COGNITO_USER_POOL_ID',
    'the id of the Cognito user pool, e.g. eu-west-1_AbCdEf123',
  );
  if (!/^[\w-]+_[0-9a-zA-Z]+$/.test(userPoolId) || userPoolId.length > 55)
    throw new ConfigurationError('COGNITO_USER_POOL_ID', 'must be a user pool id, e.g. eu-west-1_AbCdEf123');
  const region = requiredEnv(env, 'AWS_REGION', "the user pool's AWS region, e.g. eu-west-1");
  const defaultScopes = (envValue(env, 'COGNITO_DEFAULT_SCOPES') ?? '').split(/\s+/).filter(Boolean);
  // Read from the settings given, not the SDK's own look at process.env: a connection of DCR_CONFIG_FILE carries its
  // own endpoint and keys. Without keys in them, the SDK's default credential chain (web identity, instance role…).
  const endpoint = envValue(env, 'AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER') ?? envValue(env, 'AWS_ENDPOINT_URL');
  const accessKeyId = envValue(env, 'AWS_ACCESS_KEY_ID');
  const secretAccessKey = envValue(env, 'AWS_SECRET_ACCESS_KEY');
  const sessionToken = envValue(env, 'AWS_SESSION_TOKEN');
  const credentials =
    accessKeyId && secretAccessKey
      ? { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) }
      : undefined;
  return createCognitoDriver({
    userPoolId,
    region,
    defaultScopes,
    ...(endpoint ? { endpoint } : {}),
    ...(credentials ? { credentials } : {}),
    ...settings,
  });
};
