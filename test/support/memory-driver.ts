/**
 * A real in-memory driver over a Map, for app-level tests: it keeps clients and secrets, honours the not-found and
 * idempotency rules of the interface, and lets a test make the next operations fail with a typed error.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type {
  ApiAccess,
  ClientMetadata,
  DcrDriver,
  ListClientsOptions,
  OwnedClientsPage,
  DriverCapabilities,
  RegisteredClient,
  RegisteredClientWithSecret,
  RegistrationContext,
  RotatedSecret,
  StandardRegistration,
} from '../../src/driver/contract.js';
import { ownedClientSummary, pageOfOwnedClients } from '../../src/driver/ownership.js';
import { ClientNotFoundError } from '../../src/errors.js';

interface StoredClient {
  client: RegisteredClient;
  secret: string;
  context: RegistrationContext;
  apiAccess: ApiAccess[];
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

  constructor(options: { rotationGrace?: boolean } = {}) {
    this.capabilities = { rotationGrace: options.rotationGrace ?? false, apiAccessGrants: true };
  }

  /** The next `count` operations (readiness included) reject with `error` (a typed error, or any error to test the 500 path). */
  failNext(error: Error, count = 1): void {
    for (let index = 0; index < count; index += 1) this.#failures.push(error);
  }

  secretOf(clientId: string): string | undefined {
    return this.clients.get(clientId)?.secret;
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
    const secret = randomBytes(32).toString('base64url');
    this.clients.set(client.clientId, { client, secret, context: { ...context }, apiAccess: [] });
    return { ...structuredClone(client), clientSecret: secret };
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
    stored.secret = randomBytes(32).toString('base64url');
    return { clientId, clientSecret: stored.secret, clientSecretExpiresAt: 0 };
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
