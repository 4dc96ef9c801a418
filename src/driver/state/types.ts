/** The state store's interface and what its two implementations share (store.ts opens one). */
import { ConfigurationError } from '../../env.js';
import { BridgeError } from '../../errors.js';

/** What the store keeps about one client. */
export interface StoredRegistration {
  clientId: string;
  /** RFC 7592's `registration_client_uri`. */
  registrationClientUri: string;
  /** RFC 7592's registration access token: a secret, never logged. */
  registrationAccessToken: string;
  /** The bridge's own facts about the client (its ownership mark), as JSON. */
  data: Record<string, unknown>;
}

/** One client's record under its lock. */
export interface RegistrationSession {
  /** The record as the lock found it; `undefined` when the store holds no such client. */
  readonly current: StoredRegistration | undefined;
  /** Replaces the record (a rotated token); durable when it resolves. */
  replace(next: StoredRegistration): Promise<void>;
  /** Removes the record; durable when it resolves. */
  remove(): Promise<void>;
}

export interface StateStore {
  /** `sqlite` or `postgres`. */
  readonly kind: 'sqlite' | 'postgres';
  /** Where it is, without credentials (for the start line). */
  readonly location: string;
  /** Adds a record; durable when it resolves. A client id already held is replaced (the IdP issued it anew). */
  insert(namespace: string, registration: StoredRegistration): Promise<void>;
  /** Runs `work` with the client's record, under a lock no other request of any replica holds at the same time. */
  withRegistration<T>(
    namespace: string,
    clientId: string,
    work: (session: RegistrationSession) => Promise<T>,
  ): Promise<T>;
  /** Up to `limit` records of `namespace`, oldest first, after the first `offset` of them (0 when not given). */
  list(namespace: string, limit: number, offset?: number): Promise<StoredRegistration[]>;
  /** Resolves while the store answers (readiness). */
  check(): Promise<void>;
  close(): Promise<void>;
}

/** The store failed (unreachable, full, locked): `503`, retry later. Nothing about the store's address or content. */
export class StateStoreUnavailableError extends BridgeError {
  constructor(options?: { cause?: unknown }) {
    super(503, 'idp_unavailable', "The bridge's state store is unavailable; retry later.", options);
  }
}

/** A store that cannot be opened at the start: the one line the bridge prints before it refuses to start. */
export class StateStoreOpenError extends ConfigurationError {
  constructor(location: string, reason: string, options?: { cause?: unknown }) {
    super('DCR_STATE_URL', `names a state store the bridge cannot open (${location}): ${reason}`);
    this.name = 'StateStoreOpenError';
    if (options?.cause !== undefined) this.cause = options.cause;
  }
}

/** Per-client locks within one process: each `run` on a key starts when the one before it on that key ended. */
export class KeyedLocks {
  readonly #tails = new Map<string, Promise<unknown>>();

  async run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const before = this.#tails.get(key) ?? Promise.resolve();
    const mine = before.then(work, work);
    const tail = mine.catch(() => undefined);
    this.#tails.set(key, tail);
    try {
      return await mine;
    } finally {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    }
  }
}

/** The versioned schema, as each store's dialect writes it: migration `n` brings the schema from version n to n + 1. */
export const schemaTable = 'dcr_bridge_schema';
export const registrationsTable = 'dcr_bridge_registrations';
