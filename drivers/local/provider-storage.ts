/**
 * What oidc-provider stores for the embedded local IdP: clients come from the driver's file store, everything else
 * (issued tokens, grants) from a bounded in-memory store with expiry, which a restart may lose.
 */
interface ExpiringEntry<T> {
  value: T;
  /** Epoch milliseconds; `Infinity` = no expiry. */
  expiresAt: number;
}

/**
 * A bounded map whose entries expire: when full, the entries inserted longest ago go first. Enough for the short-lived
 * things an OpenID Provider issues (tokens, grants), which a restart may lose.
 */
export class ExpiringMemoryStore<T> {
  readonly #entries = new Map<string, ExpiringEntry<T>>();
  readonly #maxEntries: number;

  constructor(maxEntries: number) {
    this.#maxEntries = maxEntries;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: string, now = Date.now()): T | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= now) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  set(key: string, value: T, expiresInSeconds: number | undefined, now = Date.now()): void {
    this.#entries.delete(key);
    const expiresAt = expiresInSeconds === undefined ? Infinity : now + expiresInSeconds * 1000;
    this.#entries.set(key, { value, expiresAt });
    for (const oldest of this.#entries.keys()) {
      if (this.#entries.size <= this.#maxEntries) break;
      this.#entries.delete(oldest);
    }
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }

  /** Deletes every live entry for which `matches` is true. */
  deleteWhere(matches: (value: T) => boolean, now = Date.now()): void {
    for (const [key, entry] of this.#entries) {
      if (entry.expiresAt <= now || matches(entry.value)) this.#entries.delete(key);
    }
  }
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

export interface ProviderStorage {
  /** The class oidc-provider's `adapter` option takes. */
  Adapter: new (
    model: string,
  ) => ProviderAdapter;
  /** Forgets every token and grant issued to `clientId`, so introspection answers `active: false` for them. */
  revokeIssuedTo(clientId: string): void;
  /** Forgets what was issued to `clientId` on presenting its secret `secretId`; what its other secrets obtained stays. */
  revokeIssuedWith(clientId: string, secretId: string): void;
}

/** Where an entry notes the secret its request presented (oidc-provider reads back only the members it knows). */
const ISSUED_WITH = 'dcrBridgeSecretId';

/**
 * Storage for oidc-provider: clients come from `findClient` (the driver's file store, read on every request; the
 * provider's own registration is disabled), everything else from a bounded expiring memory store, each entry noted
 * with `presentedSecretId` of its client (which of the client's secrets the request that issued it presented).
 */
export function providerStorage(
  findClient: (id: string) => Record<string, unknown> | undefined,
  maxTransientEntries: number,
  presentedSecretId: (clientId: string) => string | undefined = () => undefined,
): ProviderStorage {
  const transient = new ExpiringMemoryStore<Record<string, unknown>>(maxTransientEntries);

  class LocalProviderAdapter implements ProviderAdapter {
    readonly #model: string;

    constructor(model: string) {
      this.#model = model;
    }

    #key(id: string): string {
      return `${this.#model}:${id}`;
    }

    async upsert(id: string, payload: Record<string, unknown>, expiresIn?: number): Promise<void> {
      if (this.#model === 'Client') throw new Error('clients are managed by the dcr-bridge local driver');
      const secretId = typeof payload.clientId === 'string' ? presentedSecretId(payload.clientId) : undefined;
      transient.set(
        this.#key(id),
        secretId === undefined ? payload : { ...payload, [ISSUED_WITH]: secretId },
        expiresIn,
      );
    }

    async find(id: string): Promise<Record<string, unknown> | undefined> {
      return this.#model === 'Client' ? findClient(id) : transient.get(this.#key(id));
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
  }

  return {
    Adapter: LocalProviderAdapter,
    revokeIssuedTo: (clientId) => transient.deleteWhere((payload) => payload.clientId === clientId),
    revokeIssuedWith: (clientId, secretId) =>
      transient.deleteWhere((payload) => payload.clientId === clientId && payload[ISSUED_WITH] === secretId),
  };
}
