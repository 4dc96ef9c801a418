/**
 * Storage for the embedded local IdP: a file per client under the data directory (the bridge's own clients, which
 * must survive restarts and never be evicted), the provider's signing keys, and a bounded in-memory store with expiry
 * for everything else oidc-provider keeps (issued tokens, grants), which may be lost on restart.
 */
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ConfigurationError, fileErrorReason } from '../src/env.js';

const DATA_DIR_VARIABLE = 'DCR_LOCAL_DATA_DIR';

/** Client ids this store accepts: also the file name, so nothing path-like can ever reach the filesystem. */
export const storableClientId = /^[A-Za-z0-9_-]{1,128}$/;

/** The file operations a durable write needs; tests pass a recording wrapper of the real ones. */
export interface StoreFileSystem {
  open: typeof open;
  rename: typeof rename;
  rm: typeof rm;
}

const nodeFileSystem: StoreFileSystem = { open, rename, rm };

/** Flushes a directory's entries (a rename or an unlink in it) to disk. */
async function syncDirectory(directory: string, fs: StoreFileSystem): Promise<void> {
  const handle = await fs.open(directory, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Writes `contents` to `path` so a reader sees the old file or the new one, never half of one, and so a power cut
 * after it resolves cannot leave an empty file: the data is fsynced before the rename, the directory after it.
 */
export async function writeFileAtomically(path: string, contents: string, fs: StoreFileSystem = nodeFileSystem): Promise<void> {
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const file = await fs.open(temporary, 'w', 0o600);
    try {
      await file.writeFile(contents);
      await file.sync();
    } finally {
      await file.close();
    }
    await fs.rename(temporary, path);
  } catch (error) {
    await fs.rm(temporary, { force: true });
    throw error;
  }
  await syncDirectory(dirname(path), fs);
}

/** Removes `path` (if it exists) durably. */
export async function removeFileDurably(path: string, fs: StoreFileSystem = nodeFileSystem): Promise<void> {
  await fs.rm(path, { force: true });
  await syncDirectory(dirname(path), fs);
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

  /** Loads every client file; one that cannot be read or parsed is renamed `….damaged-<time>` and reported. */
  static async open<T>(directory: string, onDamaged: (damaged: DamagedClientFile) => void): Promise<ClientFileStore<T>> {
    let entries: string[];
    try {
      await mkdir(directory, { recursive: true, mode: 0o700 });
      entries = await readdir(directory);
    } catch (error) {
      throw new ConfigurationError(DATA_DIR_VARIABLE, `holds ${directory}, which cannot be read: ${fileErrorReason(error)}`);
    }
    const store = new ClientFileStore<T>(directory);
    for (const entry of entries) {
      // Left by a write that crashed before its rename; the previous version of that file is intact.
      if (entry.endsWith('.tmp')) await rm(join(directory, entry), { force: true });
      const id = entry.endsWith('.json') ? entry.slice(0, -'.json'.length) : '';
      if (!storableClientId.test(id)) continue;
      const file = join(directory, entry);
      const record = await readFile(file, 'utf8').then(parseJson, (error: unknown) => new Error(fileErrorReason(error)));
      if (typeof record === 'object' && record !== null && !(record instanceof Error)) {
        store.#records.set(id, record as T);
        continue;
      }
      const movedTo = `${file}.damaged-${Date.now()}`;
      await rename(file, movedTo);
      onDamaged({ file, movedTo, reason: record instanceof Error ? `cannot be read: ${record.message}` : 'is not a JSON object' });
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
      await removeFileDurably(path);
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

/** The embedded IdP's signing keys and cookie keys, generated once into `keys.json`. */
export interface ProviderKeys {
  jwks: { keys: Record<string, unknown>[] };
  cookieKeys: string[];
}

/** A client file that could not be read or parsed at start: moved aside so the bridge serves the others. */
export interface DamagedClientFile {
  file: string;
  movedTo: string;
  reason: string;
}

/**
 * Prepares `dataDir` for the local IdP: creates it, proves it writable, loads or generates the keys and opens the
 * client store. Anything in the way is a `ConfigurationError` naming the path, printed as the one start-up line.
 */
export async function openDataDirectory<T>(
  dataDir: string,
  onDamagedClientFile: (damaged: DamagedClientFile) => void,
): Promise<{ keys: ProviderKeys; clients: ClientFileStore<T> }> {
  try {
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    const probe = join(dataDir, `.write-probe-${randomBytes(6).toString('hex')}.tmp`);
    await writeFileAtomically(probe, '');
    await rm(probe);
  } catch (error) {
    throw new ConfigurationError(DATA_DIR_VARIABLE, `${dataDir} cannot be created or written: ${fileErrorReason(error)}`);
  }
  const keys = await loadOrCreateKeys(join(dataDir, 'keys.json'));
  const clients = await ClientFileStore.open<T>(join(dataDir, 'clients'), onDamagedClientFile);
  return { keys, clients };
}

async function loadOrCreateKeys(path: string): Promise<ProviderKeys> {
  let text: string | undefined;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new ConfigurationError(DATA_DIR_VARIABLE, `holds ${path}, which cannot be read: ${fileErrorReason(error)}`);
    }
  }
  if (text !== undefined) {
    const keys = parseJson(text) as Partial<ProviderKeys> | undefined;
    if (!Array.isArray(keys?.jwks?.keys) || !Array.isArray(keys.cookieKeys)) {
      // Not moved aside like a client file: new keys would silently invalidate every token and cookie issued so far.
      throw new ConfigurationError(DATA_DIR_VARIABLE, `holds ${path}, which is not a valid key file: restore it, or remove it to generate new keys`);
    }
    return keys as ProviderKeys;
  }
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keys: ProviderKeys = {
    jwks: { keys: [{ ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), use: 'sig', alg: 'RS256' }] },
    cookieKeys: [randomBytes(32).toString('base64url')],
  };
  await writeFileAtomically(path, JSON.stringify(keys));
  return keys;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
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
  Adapter: new (model: string) => ProviderAdapter;
  /** Forgets every token and grant issued to `clientId`, so introspection answers `active: false` for them. */
  revokeIssuedTo(clientId: string): void;
}

/**
 * Storage for oidc-provider: clients come from `findClient` (the driver's file store, read on every request; the
 * provider's own registration is disabled), everything else from a bounded expiring memory store.
 */
export function providerStorage(findClient: (id: string) => Record<string, unknown> | undefined, maxTransientEntries: number): ProviderStorage {
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
      transient.set(this.#key(id), payload, expiresIn);
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
  };
}
