/**
 * Storage for the embedded local IdP: a file per client under the data directory (the bridge's own clients, which
 * must survive restarts and never be evicted) and a bounded in-memory store with expiry for everything else
 * oidc-provider keeps (issued tokens, grants), which may be lost on restart.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Client ids this store accepts: also the file name, so nothing path-like can ever reach the filesystem. */
export const storableClientId = /^[A-Za-z0-9_-]{1,128}$/;

/** Writes `contents` to `path` so a reader sees the old file or the new one, never half of one. */
export async function writeFileAtomically(path: string, contents: string): Promise<void> {
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(temporary, contents, { mode: 0o600 });
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}

/**
 * Records keyed by client id, one JSON file each in `directory`, mirrored in memory. Writes to the same id run one
 * after another, so the last call wins on disk as in memory; writes to different ids run in parallel.
 */
export class ClientFileStore<T> {
  readonly #directory: string;
  readonly #records = new Map<string, T>();
  readonly #pendingWrites = new Map<string, Promise<void>>();

  private constructor(directory: string) {
    this.#directory = directory;
  }

  static async open<T>(directory: string): Promise<ClientFileStore<T>> {
    await mkdir(directory, { recursive: true, mode: 0o700 });
    const store = new ClientFileStore<T>(directory);
    for (const entry of await readdir(directory)) {
      // Left by a write that crashed before its rename; the previous version of that file is intact.
      if (entry.endsWith('.tmp')) await rm(join(directory, entry), { force: true });
      const id = entry.endsWith('.json') ? entry.slice(0, -'.json'.length) : '';
      if (!storableClientId.test(id)) continue;
      store.#records.set(id, JSON.parse(await readFile(join(directory, entry), 'utf8')) as T);
    }
    return store;
  }

  get(id: string): T | undefined {
    return storableClientId.test(id) ? this.#records.get(id) : undefined;
  }

  /** Every record, as it is in memory now. */
  values(): T[] {
    return [...this.#records.values()];
  }

  async put(id: string, record: T): Promise<void> {
    await this.update(id, () => record);
  }

  /**
   * Replaces the record with what `change` makes of the current one, after every earlier write to this id, so
   * concurrent read-modify-writes (an update and a rotation) never undo each other. `change` may throw to abort.
   */
  async update(id: string, change: (current: T | undefined) => T | Promise<T>): Promise<T> {
    const path = this.#pathOf(id);
    let written: T | undefined;
    await this.#serialized(id, async () => {
      const record = await change(this.#records.get(id));
      await writeFileAtomically(path, JSON.stringify(record));
      this.#records.set(id, record);
      written = record;
    });
    return written!;
  }

  /** Resolves whether or not the record existed. */
  async delete(id: string): Promise<void> {
    if (!storableClientId.test(id)) return;
    const path = this.#pathOf(id);
    await this.#serialized(id, async () => {
      await rm(path, { force: true });
      this.#records.delete(id);
    });
  }

  /** Resolves once every write started so far has finished. */
  async flush(): Promise<void> {
    await Promise.allSettled([...this.#pendingWrites.values()]);
  }

  #pathOf(id: string): string {
    if (!storableClientId.test(id)) throw new TypeError('client id is not storable');
    return join(this.#directory, `${id}.json`);
  }

  async #serialized(id: string, write: () => Promise<void>): Promise<void> {
    const previous = this.#pendingWrites.get(id) ?? Promise.resolve();
    const current = previous.catch(() => undefined).then(write);
    const tracked = current.catch(() => undefined);
    this.#pendingWrites.set(id, tracked);
    try {
      await current;
    } finally {
      if (this.#pendingWrites.get(id) === tracked) this.#pendingWrites.delete(id);
    }
  }
}

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
