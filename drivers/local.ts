/**
 * The `local` driver: an embedded OpenID Provider (node `oidc-provider`) mounted under `/local-idp`, so the bridge
 * works with no IdP at all and the clients it registers really obtain tokens with `client_credentials`.
 *
 * Clients live in this driver's own file store (one file per client under `DCR_LOCAL_DATA_DIR`), not in
 * oidc-provider's default in-memory LRU (which evicts) nor its static `clients` (cached forever). oidc-provider
 * reads a client through the adapter on every request and caches the instance under a hash of its metadata, so a
 * rotated secret or a deleted client takes effect on the next token request.
 */
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { RequestHandler } from 'express';
// @ts-expect-error oidc-provider ships no type declarations; the little used here is typed by OidcProvider below.
import Provider from 'oidc-provider';
import { envValue } from '../src/env.js';
import { api7ClientToWire } from '../src/metadata.js';
import { BridgeError, ClientNotFoundError, IdpUnavailableError, InvalidClientMetadataError, InvalidRedirectUriError } from '../src/errors.js';
import type {
  ClientMetadata,
  DcrDriver,
  DriverFactory,
  RegisteredClient,
  RegisteredClientWithSecret,
  RegistrationContext,
  RotatedSecret,
} from '../src/driver/contract.js';
import { ClientFileStore, ExpiringMemoryStore, writeFileAtomically } from './local-store.js';

export const LOCAL_IDP_PATH = '/local-idp';
const OWNER_MARK = 'dcr-bridge';
/** Tokens and grants the provider keeps in memory at most; the oldest go first beyond it. */
const MAX_TRANSIENT_ENTRIES = 50_000;
const ACCESS_TOKEN_TTL_SECONDS = 600;

export interface LocalDriverOptions {
  /** The URL the bridge is reached at; the issuer is this + `/local-idp`. */
  publicUrl: string;
  /** Where clients and signing keys are kept (`DCR_LOCAL_DATA_DIR`). */
  dataDir: string;
}

interface LocalClientRecord {
  /** Ownership mark: only clients carrying it are this bridge's. */
  createdBy: typeof OWNER_MARK;
  clientId: string;
  clientSecret: string;
  /** Epoch seconds. */
  clientIdIssuedAt: number;
  metadata: ClientMetadata;
  context: RegistrationContext;
}

interface ProviderKeys {
  jwks: { keys: Record<string, unknown>[] };
  cookieKeys: string[];
}

interface OidcProvider {
  issuer: string;
  proxy: boolean;
  Client: { validate(metadata: Record<string, unknown>): Promise<void> };
  callback(): RequestHandler;
}

interface OidcProviderError {
  error?: string;
  error_description?: string;
}

/** The adapter interface oidc-provider calls, one instance per model name. */
interface ProviderAdapter {
  upsert(id: string, payload: Record<string, unknown>, expiresIn?: number): Promise<void>;
  find(id: string): Promise<Record<string, unknown> | undefined>;
  findByUserCode(userCode: string): Promise<Record<string, unknown> | undefined>;
  findByUid(uid: string): Promise<Record<string, unknown> | undefined>;
  consume(id: string): Promise<void>;
  destroy(id: string): Promise<void>;
  revokeByGrantId(grantId: string): Promise<void>;
}

async function loadOrCreateKeys(dataDir: string): Promise<ProviderKeys> {
  const path = join(dataDir, 'keys.json');
  try {
    return JSON.parse(await readFile(path, 'utf8')) as ProviderKeys;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keys: ProviderKeys = {
    jwks: { keys: [{ ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), use: 'sig', alg: 'RS256' }] },
    cookieKeys: [randomBytes(32).toString('base64url')],
  };
  await writeFileAtomically(path, JSON.stringify(keys));
  return keys;
}

function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** Scopes oidc-provider itself knows; any other scope value is left to resource servers and not checked by it. */
const PROVIDER_SCOPES = new Set(['openid', 'offline_access']);

/** The client as oidc-provider reads it: RFC 7591 names, with only the scope values it knows. */
function toProviderMetadata(record: Omit<LocalClientRecord, 'createdBy' | 'context'>): Record<string, unknown> {
  const { metadata } = record;
  const providerScope = metadata.scope?.split(' ').filter((value) => PROVIDER_SCOPES.has(value)).join(' ');
  // The API7 dialect's body is the RFC 7591 client, which is what oidc-provider reads.
  return api7ClientToWire({
    clientId: record.clientId,
    clientSecret: record.clientSecret,
    clientIdIssuedAt: record.clientIdIssuedAt,
    clientSecretExpiresAt: 0,
    metadata: { ...metadata, scope: providerScope || undefined },
  });
}

function toRegisteredClient(record: LocalClientRecord): RegisteredClient {
  return { clientId: record.clientId, clientIdIssuedAt: record.clientIdIssuedAt, clientSecretExpiresAt: 0, metadata: record.metadata };
}

function adapterClassFor(clients: ClientFileStore<LocalClientRecord>): new (model: string) => ProviderAdapter {
  const transient = new ExpiringMemoryStore<Record<string, unknown>>(MAX_TRANSIENT_ENTRIES);

  return class LocalProviderAdapter implements ProviderAdapter {
    readonly #model: string;

    constructor(model: string) {
      this.#model = model;
    }

    #key(id: string): string {
      return `${this.#model}:${id}`;
    }

    async upsert(id: string, payload: Record<string, unknown>, expiresIn?: number): Promise<void> {
      // Clients are written by the driver itself; the provider's own registration endpoint is disabled.
      if (this.#model === 'Client') throw new Error('clients are managed by the dcr-bridge local driver');
      transient.set(this.#key(id), payload, expiresIn);
    }

    async find(id: string): Promise<Record<string, unknown> | undefined> {
      if (this.#model === 'Client') {
        const record = clients.get(id);
        return record?.createdBy === OWNER_MARK ? toProviderMetadata(record) : undefined;
      }
      return transient.get(this.#key(id));
    }

    // Sessions and user codes belong to end-user flows, which the local IdP does not offer.
    async findByUserCode(): Promise<undefined> {
      return undefined;
    }

    async findByUid(): Promise<undefined> {
      return undefined;
    }

    async consume(id: string): Promise<void> {
      const payload = transient.get(this.#key(id));
      if (payload) payload.consumed = Math.floor(Date.now() / 1000);
    }

    async destroy(id: string): Promise<void> {
      transient.delete(this.#key(id));
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      transient.deleteWhere((payload) => payload.grantId === grantId);
    }
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

export async function createLocalDriver(options: LocalDriverOptions): Promise<DcrDriver> {
  const dataDir = resolve(options.dataDir);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const keys = await loadOrCreateKeys(dataDir);
  const clients = await ClientFileStore.open<LocalClientRecord>(join(dataDir, 'clients'));

  const issuer = `${options.publicUrl.replace(/\/+$/, '')}${LOCAL_IDP_PATH}`;
  const provider = new Provider(issuer, {
    adapter: adapterClassFor(clients),
    jwks: keys.jwks,
    cookies: { keys: keys.cookieKeys },
    ttl: { ClientCredentials: ACCESS_TOKEN_TTL_SECONDS },
    clientDefaults: { grant_types: ['client_credentials'], response_types: [], token_endpoint_auth_method: 'client_secret_basic' },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
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
  // Behind a TLS-terminating proxy the provider must trust X-Forwarded-Proto to see requests as https.
  provider.proxy = true;

  async function validated(record: LocalClientRecord): Promise<LocalClientRecord> {
    try {
      await provider.Client.validate(toProviderMetadata(record));
    } catch (error) {
      throw metadataRefusal(error);
    }
    return record;
  }

  function ownedRecord(record: LocalClientRecord | undefined): LocalClientRecord {
    if (record?.createdBy !== OWNER_MARK) throw new ClientNotFoundError();
    return record;
  }

  /** Reads, changes and writes one of the bridge's clients with no other write to it in between. */
  async function changeOwnedClient(clientId: string, change: (record: LocalClientRecord) => LocalClientRecord | Promise<LocalClientRecord>) {
    ownedRecord(clients.get(clientId)); // an unknown or unstorable id fails here, before any write is queued
    return stored(clients.update(clientId, (current) => change(ownedRecord(current))));
  }

  return {
    name: 'local',
    capabilities: { rotationGrace: false, apiAccessGrants: false },
    publicRoutes: { path: LOCAL_IDP_PATH, handler: provider.callback() },

    async registerClient(metadata, context): Promise<RegisteredClientWithSecret> {
      const record = await validated({
        createdBy: OWNER_MARK,
        clientId: randomBytes(16).toString('base64url'),
        clientSecret: newSecret(),
        clientIdIssuedAt: Math.floor(Date.now() / 1000),
        metadata,
        context,
      });
      await stored(clients.put(record.clientId, record));
      return { ...toRegisteredClient(record), clientSecret: record.clientSecret };
    },

    async getClient(clientId) {
      return toRegisteredClient(ownedRecord(clients.get(clientId)));
    },

    async updateClient(clientId, metadata) {
      return toRegisteredClient(await changeOwnedClient(clientId, (record) => validated({ ...record, metadata })));
    },

    async deleteClient(clientId) {
      const record = clients.get(clientId);
      if (record === undefined) return;
      if (record.createdBy !== OWNER_MARK) throw new ClientNotFoundError();
      await stored(clients.delete(clientId));
    },

    async rotateSecret(clientId): Promise<RotatedSecret> {
      const record = await changeOwnedClient(clientId, (current) => ({ ...current, clientSecret: newSecret() }));
      return { clientId, clientSecret: record.clientSecret, clientSecretExpiresAt: 0 };
    },

    async retireExpiredSecrets() {
      return 0;
    },

    // A real write: the store is ready only if it can persist a client now.
    async checkReadiness() {
      await stored(writeFileAtomically(join(dataDir, 'clients', '.readiness'), new Date().toISOString()));
    },

    // No API grants at this IdP; a client this bridge did not create is still not found.
    async grantApiAccess(clientId) {
      ownedRecord(clients.get(clientId));
    },

    async revokeApiAccess(clientId) {
      ownedRecord(clients.get(clientId));
    },

    async close() {
      await clients.flush();
    },
  };
}

export const createDriverFromEnv: DriverFactory = async (env, settings) =>
  createLocalDriver({ publicUrl: settings.publicUrl, dataDir: envValue(env, 'DCR_LOCAL_DATA_DIR') ?? './data' });
