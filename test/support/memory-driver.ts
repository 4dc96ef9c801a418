/**
 * A real in-memory driver over a Map, for app-level tests: it keeps clients and secrets, honours the not-found and
 * idempotency rules of the interface, and lets a test make the next operations fail with a typed error.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type {
  AddedClientSecret,
  ApiAccess,
  ClientSecretInfo,
  ClientMetadata,
  DcrDriver,
  ListClientsOptions,
  OwnedClientsPage,
  DriverCapabilities,
  DriverImplementation,
  RegisteredClient,
  RegisteredClientWithSecret,
  RegistrationContext,
  RotatedSecret,
  StandardRegistration,
} from '../../src/driver/contract.js';
import { ownedClientSummary, pageOfOwnedClients } from '../../src/driver/ownership.js';
import { ClientNotFoundError, ConflictError } from '../../src/errors.js';

interface StoredSecret {
  secretId: string;
  value: string;
  createdAt: number;
}

interface StoredClient {
  client: RegisteredClient;
  /** Oldest first; rotation leaves only the new one. */
  secrets: StoredSecret[];
  context: RegistrationContext;
  apiAccess: ApiAccess[];
}

function newSecret(): StoredSecret {
  return {
    secretId: randomUUID(),
    value: randomBytes(32).toString('base64url'),
    createdAt: Math.floor(Date.now() / 1000),
  };
}

function infoOf(clientId: string, secret: StoredSecret): ClientSecretInfo {
  return { secretId: secret.secretId, clientId, status: 'ACTIVE', createdAt: secret.createdAt };
}

export class MemoryDriver implements DcrDriver {
  readonly name = 'memory';
  readonly capabilities: DriverCapabilities;
  /** The `now` of every sweep, in order. */
  readonly sweeps: number[] = [];
  readonly clients = new Map<string, StoredClient>();
  /** Ids of clients someone else created at the "IdP": the bridge must treat them as not found. */
  readonly foreignClientIds = new Set<string>();
  readonly #failures: Error[] = [];
  closed = false;

  /** Secrets a client holds at most (multiple credentials). */
  readonly maxSecrets: number;

  constructor(options: { rotationGrace?: boolean; maxSecrets?: number } = {}) {
    this.capabilities = { rotationGrace: options.rotationGrace ?? false, apiAccessGrants: true };
    this.maxSecrets = options.maxSecrets ?? 2;
  }

  /** The next `count` operations (readiness included) reject with `error` (a typed error, or any error to test the 500 path). */
  failNext(error: Error, count = 1): void {
    for (let index = 0; index < count; index += 1) this.#failures.push(error);
  }

  /** The newest secret of the client. */
  secretOf(clientId: string): string | undefined {
    return this.clients.get(clientId)?.secrets.at(-1)?.value;
  }

  /** Every secret value the client holds, oldest first. */
  secretsOf(clientId: string): string[] {
    return this.clients.get(clientId)?.secrets.map((secret) => secret.value) ?? [];
  }

  #maybeFail(): void {
    const failure = this.#failures.shift();
    if (failure) throw failure;
  }

  #owned(clientId: string): StoredClient {
    const stored = this.clients.get(clientId);
    if (!stored || this.foreignClientIds.has(clientId)) throw new ClientNotFoundError();
    return stored;
  }

  async registerClient(metadata: ClientMetadata, context: RegistrationContext): Promise<RegisteredClientWithSecret> {
    this.#maybeFail();
    const client: RegisteredClient = {
      clientId: randomUUID(),
      clientIdIssuedAt: Math.floor(Date.now() / 1000),
      clientSecretExpiresAt: 0,
      metadata: structuredClone(metadata),
      ...(context.registration ? { registration: { ...context.registration } } : {}),
    };
    const secret = newSecret();
    this.clients.set(client.clientId, { client, secrets: [secret], context: { ...context }, apiAccess: [] });
    return { ...structuredClone(client), clientSecret: secret.value };
  }

  async listClients(options: ListClientsOptions): Promise<OwnedClientsPage> {
    this.#maybeFail();
    return pageOfOwnedClients(this.clients.values(), options, ({ client, context }) =>
      this.foreignClientIds.has(client.clientId)
        ? undefined
        : ownedClientSummary(
            client.clientId,
            {
              portal: context.portal,
              portalId: context.portalId,
              organizationId: context.organizationId,
              developerId: context.developerId,
              standardRegistration: client.registration,
            },
            { clientName: client.metadata.clientName, createdAt: client.clientIdIssuedAt },
          ),
    );
  }

  async getClient(clientId: string): Promise<RegisteredClient> {
    this.#maybeFail();
    return structuredClone(this.#owned(clientId).client);
  }

  async updateClient(
    clientId: string,
    metadata: ClientMetadata,
    changes?: { registration?: StandardRegistration },
  ): Promise<RegisteredClient> {
    this.#maybeFail();
    const stored = this.#owned(clientId);
    stored.client.metadata = structuredClone(metadata);
    if (changes?.registration) stored.client.registration = { ...changes.registration };
    return structuredClone(stored.client);
  }

  async deleteClient(clientId: string): Promise<void> {
    this.#maybeFail();
    if (this.foreignClientIds.has(clientId)) throw new ClientNotFoundError();
    this.clients.delete(clientId);
  }

  async rotateSecret(clientId: string): Promise<RotatedSecret> {
    this.#maybeFail();
    const stored = this.#owned(clientId);
    const secret = newSecret();
    stored.secrets = [secret];
    return { clientId, clientSecret: secret.value, clientSecretExpiresAt: 0 };
  }

  async listSecrets(clientId: string): Promise<ClientSecretInfo[]> {
    this.#maybeFail();
    return this.#owned(clientId).secrets.map((secret) => infoOf(clientId, secret));
  }

  async addSecret(clientId: string): Promise<AddedClientSecret> {
    this.#maybeFail();
    const stored = this.#owned(clientId);
    if (stored.secrets.length >= this.maxSecrets) {
      throw new ConflictError(`The client already holds ${this.maxSecrets} secrets, the most it may hold.`);
    }
    const secret = newSecret();
    stored.secrets.push(secret);
    return { ...infoOf(clientId, secret), clientSecret: secret.value };
  }

  async revokeSecret(clientId: string, secretId: string): Promise<void> {
    this.#maybeFail();
    const stored = this.#owned(clientId);
    if (!stored.secrets.some((secret) => secret.secretId === secretId)) return;
    if (stored.secrets.length === 1) throw new ConflictError("The secret is the client's last; it is never revoked.");
    stored.secrets = stored.secrets.filter((secret) => secret.secretId !== secretId);
  }

  /** Keeps one secret per client, so there is never an old one to retire; the sweep is only recorded. */
  async retireExpiredSecrets(now: number): Promise<number> {
    this.sweeps.push(now);
    this.#maybeFail();
    return 0;
  }

  async checkReadiness(): Promise<void> {
    this.#maybeFail();
  }

  async grantApiAccess(clientId: string, access: ApiAccess): Promise<void> {
    this.#maybeFail();
    this.#owned(clientId).apiAccess.push({ ...access });
  }

  async revokeApiAccess(clientId: string, access: ApiAccess): Promise<void> {
    this.#maybeFail();
    const stored = this.#owned(clientId);
    stored.apiAccess = stored.apiAccess.filter((granted) => granted.apiProductVersionId !== access.apiProductVersionId);
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

/** The memory driver as a driver module without the multiple-credentials operations would write it. */
export function singleSecretDriver(memory: MemoryDriver): DriverImplementation {
  return {
    name: 'single',
    capabilities: memory.capabilities,
    registerClient: (metadata, context) => memory.registerClient(metadata, context),
    getClient: (clientId) => memory.getClient(clientId),
    updateClient: (clientId, metadata, changes) => memory.updateClient(clientId, metadata, changes),
    deleteClient: (clientId) => memory.deleteClient(clientId),
    rotateSecret: (clientId) => memory.rotateSecret(clientId),
    checkReadiness: () => memory.checkReadiness(),
  };
}
