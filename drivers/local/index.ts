/**
 * The `local` driver: an embedded OpenID Provider (node `oidc-provider`) mounted under `/local-idp`, so the bridge
 * works with no IdP at all and the clients it registers really obtain tokens with `client_credentials`.
 *
 * Clients live in this driver's own file store (one file per client under `DCR_LOCAL_DATA_DIR`), not in
 * oidc-provider's default in-memory LRU (which evicts) nor its static `clients` (cached forever). oidc-provider
 * reads a client through the adapter on every request and caches the instance under a hash of its metadata, so a
 * rotated secret or a deleted client takes effect on the next token request.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { RequestListener } from 'node:http';
import { join, resolve } from 'node:path';
// @ts-expect-error oidc-provider ships no type declarations; the little used here is typed by OidcProvider below.
import Provider from 'oidc-provider';
import { envValue, integerEnv } from '../../src/env.js';
import { api7ClientToWire } from '../../src/metadata.js';
import {
  BridgeError,
  ClientNotFoundError,
  ConflictError,
  IdpUnavailableError,
  InvalidClientMetadataError,
  InvalidRedirectUriError,
} from '../../src/errors.js';
import type {
  AddedClientSecret,
  ClientMetadata,
  ClientSecretInfo,
  DriverImplementation,
  DriverFactory,
  DriverSettings,
  RegisteredClient,
  RegisteredClientWithSecret,
  RegistrationContext,
  RotatedSecret,
} from '../../src/driver/contract.js';
import { ownedClientSummary, pageOfOwnedClients } from '../../src/driver/index.js';
import { providerDiscoveryDocument } from './discovery.js';
import { providerStorage } from './provider-storage.js';
import { openDataDirectory, writeFileAtomically } from './store.js';
import { localIdpRoutes, type KoaProvider } from './routes.js';

export const LOCAL_IDP_PATH = '/local-idp';
const OWNER_MARK = 'dcr-bridge';
/** Tokens and grants the provider keeps in memory at most; the oldest go first beyond it. */
const MAX_TRANSIENT_ENTRIES = 50_000;
const ACCESS_TOKEN_TTL_SECONDS = 600;
const ACCEPTED_METADATA_LIMIT = 1_000;

export interface LocalDriverOptions {
  /** The URL the bridge is reached at; the issuer is this + `/local-idp`. */
  publicUrl: string;
  /** Where clients and signing keys are kept (`DCR_LOCAL_DATA_DIR`). */
  dataDir: string;
  /** Requests per minute per client address to `/token` and its introspection and revocation (default 120). */
  tokenRateLimitPerMinute?: number;
  /** Secrets one client may hold at once (`DCR_LOCAL_MAX_SECRETS`, default 2); adding past it is a `409`. */
  maxSecretsPerClient?: number;
  /**
   * RFC 7662 §4: the resource servers (client ids, `DCR_LOCAL_INTROSPECTION_CLIENTS`) that may introspect any client's
   * tokens; every other client may introspect only its own (another's answers `active: false`).
   */
  introspectionClients?: ReadonlySet<string>;
  warn?: DriverSettings['warn'];
}

/** One secret of a client; its id is random, so it says nothing of the value. */
interface LocalSecret {
  secretId: string;
  value: string;
  /** Epoch seconds. */
  createdAt: number;
}

interface LocalClientRecord {
  /** Ownership mark: only clients carrying it are this bridge's. */
  createdBy: typeof OWNER_MARK;
  clientId: string;
  /** Oldest first, never empty. */
  secrets: LocalSecret[];
  /** Epoch seconds. */
  clientIdIssuedAt: number;
  metadata: ClientMetadata;
  context: RegistrationContext;
}

/** The part of oidc-provider's request context (its public `Provider.ctx`) read to tell which secret a request presents. */
interface ProviderContext {
  headers?: Record<string, string | string[] | undefined>;
  oidc?: { params?: Record<string, unknown> };
}

interface OidcProvider extends KoaProvider {
  issuer: string;
  Client: { validate(metadata: Record<string, unknown>): Promise<void> };
}

interface OidcProviderError {
  error?: string;
  error_description?: string;
}

const DEFAULT_MAX_SECRETS = 2;

function newSecret(): LocalSecret {
  return {
    secretId: `lsec_${randomBytes(12).toString('base64url')}`,
    value: randomBytes(32).toString('base64url'),
    createdAt: Math.floor(Date.now() / 1000),
  };
}

/** A record as stored before several secrets (one `clientSecret`): read with that one secret, under an id derived one-way. */
type StoredClientRecord = Omit<LocalClientRecord, 'secrets'> & { secrets?: LocalSecret[]; clientSecret?: string };

function withSecrets(record: StoredClientRecord): LocalClientRecord {
  if (record.secrets !== undefined || record.clientSecret === undefined) return record as LocalClientRecord;
  const { clientSecret, ...rest } = record;
  const secretId = `lsec_${createHash('sha256').update(`dcr-bridge local secret id\0${clientSecret}`).digest('base64url').slice(0, 16)}`;
  return { ...rest, secrets: [{ secretId, value: clientSecret, createdAt: record.clientIdIssuedAt }] };
}

function sameSecret(presented: string, value: string): boolean {
  const a = Buffer.from(presented);
  const b = Buffer.from(value);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** How a request presents its client secret: in the body, or as HTTP Basic; undefined when it presents none. */
function presentedAuthMethod(
  ctx: ProviderContext | undefined,
): 'client_secret_post' | 'client_secret_basic' | undefined {
  if (typeof ctx?.oidc?.params?.client_secret === 'string') return 'client_secret_post';
  const authorization = ctx?.headers?.authorization;
  return typeof authorization === 'string' && /^basic /i.test(authorization) ? 'client_secret_basic' : undefined;
}

/** The client secret a token request carries (`client_secret_post`, or `client_secret_basic` as RFC 6749 §2.3.1 encodes it). */
function presentedClientSecret(ctx: ProviderContext | undefined): string | undefined {
  const posted = ctx?.oidc?.params?.client_secret;
  if (typeof posted === 'string') return posted;
  const authorization = ctx?.headers?.authorization;
  if (typeof authorization !== 'string' || !/^basic /i.test(authorization)) return undefined;
  const basic = Buffer.from(authorization.slice(6).trim(), 'base64').toString('utf8');
  const colon = basic.indexOf(':');
  try {
    return colon === -1 ? undefined : decodeURIComponent(basic.slice(colon + 1).replace(/\+/g, '%20'));
  } catch {
    return undefined;
  }
}

/** Scopes oidc-provider itself knows; any other scope value is left to resource servers and not checked by it. */
const PROVIDER_SCOPES = new Set(['openid', 'offline_access']);

/**
 * The client as oidc-provider reads it: RFC 7591 names, with only the scope values it knows. oidc-provider compares one
 * `client_secret`, so it is given the secret the request presents when the client holds it, else the newest.
 */
function toProviderMetadata(
  record: Omit<LocalClientRecord, 'createdBy' | 'context'>,
  secret: LocalSecret = record.secrets.at(-1)!,
): Record<string, unknown> {
  const { metadata } = record;
  const providerScope = metadata.scope
    ?.split(' ')
    .filter((value) => PROVIDER_SCOPES.has(value))
    .join(' ');
  // The API7 dialect's body is the RFC 7591 client, which is what oidc-provider reads; a `none` client has no secret.
  return api7ClientToWire({
    clientId: record.clientId,
    ...(metadata.tokenEndpointAuthMethod === 'none' ? {} : { clientSecret: secret.value }),
    clientIdIssuedAt: record.clientIdIssuedAt,
    clientSecretExpiresAt: 0,
    metadata: { ...metadata, scope: providerScope || undefined },
  });
}

function secretInfo(clientId: string, secret: LocalSecret): ClientSecretInfo {
  return { secretId: secret.secretId, clientId, status: 'ACTIVE', createdAt: secret.createdAt };
}

function toRegisteredClient(record: LocalClientRecord): RegisteredClient {
  const { registration } = record.context;
  return {
    clientId: record.clientId,
    clientIdIssuedAt: record.clientIdIssuedAt,
    clientSecretExpiresAt: 0,
    metadata: record.metadata,
    ...(registration ? { registration } : {}),
  };
}

/** Maps oidc-provider's refusal of client metadata to the bridge's typed errors; anything else is rethrown. */
function metadataRefusal(error: unknown): Error {
  const { error: code, error_description: description } = (error ?? {}) as OidcProviderError;
  const sentence = `The client metadata is invalid: ${description ?? 'refused by the local identity provider'}.`;
  if (code === 'invalid_redirect_uri') return new InvalidRedirectUriError(sentence);
  if (code === 'invalid_client_metadata') return new InvalidClientMetadataError(sentence);
  return error instanceof Error ? error : new Error(String(error));
}

/** A failure of the data directory is the local IdP being unavailable, never a raw filesystem error. */
async function stored<T>(write: Promise<T>): Promise<T> {
  try {
    return await write;
  } catch (error) {
    if (error instanceof BridgeError) throw error;
    throw new IdpUnavailableError('The local identity provider cannot write to its data directory.', { cause: error });
  }
}

export async function createLocalDriver(options: LocalDriverOptions): Promise<DriverImplementation> {
  const dataDir = resolve(options.dataDir);
  const maxSecrets = options.maxSecretsPerClient ?? DEFAULT_MAX_SECRETS;
  const { keys, clients } = await openDataDirectory<StoredClientRecord>(dataDir, (damaged) =>
    options.warn?.('moved aside a client file that cannot be loaded', { ...damaged }),
  );

  const issuer = `${options.publicUrl.replace(/\/+$/, '')}${LOCAL_IDP_PATH}`;
  /** The client's secret the current token request presents, if it holds it. */
  const presentedSecretOf = (record: LocalClientRecord): LocalSecret | undefined => {
    const presented = presentedClientSecret((Provider as { ctx?: ProviderContext }).ctx);
    return presented === undefined ? undefined : record.secrets.find((secret) => sameSecret(presented, secret.value));
  };
  /**
   * oidc-provider takes `client_secret_basic` and `client_secret_post` for each other; the client's registered
   * method is enforced here: presented the other way, the provider is shown a secret nobody holds (`invalid_client`).
   */
  const secretForProvider = (record: LocalClientRecord): LocalSecret | undefined => {
    const method = presentedAuthMethod((Provider as { ctx?: ProviderContext }).ctx);
    const registered = record.metadata.tokenEndpointAuthMethod ?? 'client_secret_basic';
    if (method !== undefined && method !== registered)
      return { secretId: '', value: randomBytes(32).toString('base64url'), createdAt: 0 };
    return presentedSecretOf(record);
  };
  const ownedClient = (id: string): LocalClientRecord | undefined => {
    const record = clients.get(id);
    return record?.createdBy === OWNER_MARK ? withSecrets(record) : undefined;
  };
  const storage = providerStorage(
    (id) => {
      const record = ownedClient(id);
      return record && toProviderMetadata(record, secretForProvider(record));
    },
    MAX_TRANSIENT_ENTRIES,
    (clientId) => {
      const record = ownedClient(clientId);
      return record && presentedSecretOf(record)?.secretId;
    },
  );
  const introspectionClients = options.introspectionClients ?? new Set<string>();
  const provider = new Provider(issuer, {
    adapter: storage.Adapter,
    jwks: keys.jwks,
    cookies: { keys: keys.cookieKeys },
    ttl: { ClientCredentials: ACCESS_TOKEN_TTL_SECONDS },
    clientDefaults: {
      grant_types: ['client_credentials'],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: {
        enabled: true,
        allowedPolicy: async (_ctx: unknown, client: { clientId: string }, token: { clientId?: string }) =>
          token.clientId === client.clientId || introspectionClients.has(client.clientId),
      },
      revocation: { enabled: true },
      registration: { enabled: false },
    },
    // The local IdP has no end users: only machine clients obtain tokens here.
    findAccount: async () => undefined,
    // Its token endpoint is for servers; no browser origin is allowed to call it.
    clientBasedCORS: () => false,
    renderError: async (ctx: { type: string; body: unknown }, out: Record<string, string>) => {
      ctx.type = 'application/json';
      ctx.body = out;
    },
  }) as OidcProvider;
  const routes = localIdpRoutes(provider, {
    publicUrl: options.publicUrl,
    tokenRateLimitPerMinute: options.tokenRateLimitPerMinute ?? 120,
  });

  // Metadata the provider accepted, keyed without the client's id, secret and time (their shape never changes here): a
  // register or update with the same metadata skips validating it again. Never with a sector identifier (fetched).
  const accepted = new Set<string>();
  async function validated(record: LocalClientRecord): Promise<LocalClientRecord> {
    const {
      client_id: id,
      client_secret: secret,
      client_id_issued_at: _issuedAt,
      ...rest
    } = toProviderMetadata(record);
    const key =
      rest.sector_identifier_uri === undefined
        ? `${String(id).length} ${String(secret).length} ${JSON.stringify(rest)}`
        : undefined;
    if (key !== undefined && accepted.has(key)) return record;
    try {
      await provider.Client.validate(toProviderMetadata(record));
    } catch (error) {
      throw metadataRefusal(error);
    }
    if (key !== undefined && accepted.add(key).size > ACCEPTED_METADATA_LIMIT)
      accepted.delete(accepted.values().next().value!);
    return record;
  }

  function ownedRecord(record: StoredClientRecord | undefined): LocalClientRecord {
    if (record?.createdBy !== OWNER_MARK) throw new ClientNotFoundError();
    return withSecrets(record);
  }

  /** Reads, changes and writes one of the bridge's clients with no other write to it in between. */
  async function changeOwnedClient(
    clientId: string,
    change: (record: LocalClientRecord) => LocalClientRecord | Promise<LocalClientRecord>,
  ): Promise<LocalClientRecord> {
    ownedRecord(clients.get(clientId)); // an unknown or unstorable id fails here, before any write is queued
    return withSecrets(await stored(clients.update(clientId, (current) => change(ownedRecord(current)))));
  }

  return {
    name: 'local',
    capabilities: { rotationGrace: false, apiAccessGrants: false },
    publicRoutes: { path: LOCAL_IDP_PATH, handler: routes.handler },

    async registerClient(metadata, context): Promise<RegisteredClientWithSecret> {
      const record = await validated({
        createdBy: OWNER_MARK,
        clientId: randomBytes(16).toString('base64url'),
        secrets: [newSecret()],
        clientIdIssuedAt: Math.floor(Date.now() / 1000),
        metadata,
        context,
      });
      await stored(clients.put(record.clientId, record));
      return { ...toRegisteredClient(record), clientSecret: record.secrets[0]!.value };
    },

    async getClient(clientId) {
      return toRegisteredClient(ownedRecord(clients.get(clientId)));
    },

    async updateClient(clientId, metadata, changes) {
      const registration = changes?.registration;
      return toRegisteredClient(
        await changeOwnedClient(clientId, (record) =>
          validated({
            ...record,
            metadata,
            context: registration ? { ...record.context, registration } : record.context,
          }),
        ),
      );
    },

    async deleteClient(clientId) {
      const record = clients.get(clientId);
      if (record === undefined) return;
      if (record.createdBy !== OWNER_MARK) throw new ClientNotFoundError();
      await stored(clients.delete(clientId));
      storage.revokeIssuedTo(clientId);
    },

    // No grace here: the new secret replaces every secret the client holds, which stop working at once with their tokens.
    async rotateSecret(clientId): Promise<RotatedSecret> {
      const secret = newSecret();
      await changeOwnedClient(clientId, (current) => ({ ...current, secrets: [secret] }));
      storage.revokeIssuedTo(clientId);
      return { clientId, clientSecret: secret.value, clientSecretExpiresAt: 0 };
    },

    async listSecrets(clientId) {
      const record = ownedRecord(clients.get(clientId));
      return record.secrets.map((secret) => secretInfo(clientId, secret));
    },

    async addSecret(clientId): Promise<AddedClientSecret> {
      const secret = newSecret();
      await changeOwnedClient(clientId, (current) => {
        if (current.secrets.length >= maxSecrets) {
          throw new ConflictError(
            `The local identity provider holds at most ${maxSecrets} secrets per client (DCR_LOCAL_MAX_SECRETS); revoke one before adding another.`,
          );
        }
        return { ...current, secrets: [...current.secrets, secret] };
      });
      return { ...secretInfo(clientId, secret), clientSecret: secret.value };
    },

    // The secret and the tokens obtained with it stop working at once; the client's other secrets and tokens do not.
    async revokeSecret(clientId, secretId) {
      if (!ownedRecord(clients.get(clientId)).secrets.some((secret) => secret.secretId === secretId)) return;
      await changeOwnedClient(clientId, (current) => {
        const kept = current.secrets.filter((secret) => secret.secretId !== secretId);
        if (kept.length === 0) {
          throw new ConflictError(
            "This is the client's last secret, so it is not revoked: a client without a secret cannot authenticate; delete the client instead.",
          );
        }
        return { ...current, secrets: kept };
      });
      storage.revokeIssuedWith(clientId, secretId);
    },

    async listOpenRegistrations(limit) {
      const open = clients
        .values()
        .filter((record) => record.createdBy === OWNER_MARK && record.context.registration?.openRegistration === true);
      return open.slice(0, limit).map((record) => record.clientId);
    },

    // The operator's view: every client of the store that carries the mark, in the store's order.
    listClients: (options) =>
      pageOfOwnedClients(clients.values(), options, (record) =>
        record.createdBy === OWNER_MARK
          ? ownedClientSummary(
              record.clientId,
              {
                portal: record.context.portal,
                portalId: record.context.portalId,
                organizationId: record.context.organizationId,
                developerId: record.context.developerId,
                standardRegistration: record.context.registration,
              },
              { clientName: record.metadata.clientName, createdAt: record.clientIdIssuedAt },
            )
          : undefined,
      ),

    fetchDiscoveryDocument: () => providerDiscoveryDocument(provider.callback() as unknown as RequestListener, issuer),

    // A real write: the store is ready only if it can persist a client now.
    async checkReadiness() {
      await stored(writeFileAtomically(join(dataDir, 'clients', '.readiness'), new Date().toISOString()));
    },

    async close() {
      routes.close();
      await clients.close();
    },
  };
}

export const createDriverFromEnv: DriverFactory = async (env, settings) =>
  createLocalDriver({
    publicUrl: settings.publicUrl,
    // DCR_DATA_DIR is the driver-neutral name (the state store's default file lives there too); the old one still works.
    dataDir: envValue(env, 'DCR_DATA_DIR') ?? envValue(env, 'DCR_LOCAL_DATA_DIR') ?? './data',
    tokenRateLimitPerMinute: integerEnv(env, 'DCR_LOCAL_TOKEN_RATE_LIMIT_PER_MINUTE', 120, { min: 1, max: 1_000_000 }),
    maxSecretsPerClient: integerEnv(env, 'DCR_LOCAL_MAX_SECRETS', DEFAULT_MAX_SECRETS, { min: 1, max: 100 }),
    introspectionClients: new Set(
      (envValue(env, 'DCR_LOCAL_INTROSPECTION_CLIENTS') ?? '')
        .split(',')
        .map((id) => id.trim())
        .filter((id) => id !== ''),
    ),
    warn: settings.warn,
  });
