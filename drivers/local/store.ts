/**
 * Storage for the embedded local IdP: a file per client under the data directory (the bridge's own clients, which
 * must survive restarts and never be evicted) and the provider's signing keys. What oidc-provider keeps besides is
 * in `provider-storage.ts`.
 */
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { GroupCommit } from './commit.js';
import { ConfigurationError, fileErrorReason } from '../../src/env.js';

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
export async function writeFileAtomically(
  path: string,
  contents: string,
  fs: StoreFileSystem = nodeFileSystem,
): Promise<void> {
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

/** Journal lines after which the index is written afresh and a new journal started. */
const INDEX_EVERY_CHANGES = 10_000;
/** Up to this many indexed clients, every file is checked against the index before the store opens; beyond, after. */
const CHECK_BEFORE_OPEN_LIMIT = 1_000;
const CHECK_CHUNK = 250;

/**
 * The index as read: its first line is `{"version":1,"generation":N}` (the journal listing the clients changed since
 * is `clients.journal.<N>`), then one line per client, `<id> <record as JSON>`, kept unparsed until first used.
 */
interface ClientIndex {
  generation: number;
  clients: Map<string, string>;
}

/**
 * Records keyed by client id, one JSON file each in `directory`, mirrored in memory. Writes to the same id run one
 * after another, so the last call wins on disk as in memory; writes to different ids are committed together
 * (`GroupCommit`). The files are the truth; `<directory>.index` (every record, written now and then) and the journal
 * of ids changed since (`<directory>.journal.<generation>`, fsynced with each batch) let a start read only the files
 * that changed since the index, whatever the number of clients. Every other file is checked against the index too,
 * after the store opened when there are many: a damaged one is moved aside and reported as at start.
 */
export class ClientFileStore<T> {
  readonly #directory: string;
  readonly #indexPath: string;
  /** A string is a record as the index holds it, parsed on first use. */
  readonly #records = new Map<string, T | string>();
  readonly #pendingWrites = new Map<string, Promise<void>>();
  readonly #onDamaged: (damaged: DamagedClientFile) => void;
  #commit!: GroupCommit;
  #directoryFd!: number;
  #journalFd!: number;
  #generation = 0;
  #indexing = false;
  #closed = false;
  /** Settles once every file loaded from the index has been checked against it. */
  checked: Promise<void> = Promise.resolve();

  private constructor(directory: string, onDamaged: (damaged: DamagedClientFile) => void) {
    this.#directory = directory;
    this.#indexPath = `${directory}.index`;
    this.#onDamaged = onDamaged;
  }

  /** Loads every client; a file that cannot be read or parsed is renamed `….damaged-<time>` and reported. */
  static async open<T>(
    directory: string,
    onDamaged: (damaged: DamagedClientFile) => void,
    { checkBeforeOpenLimit = CHECK_BEFORE_OPEN_LIMIT } = {},
  ): Promise<ClientFileStore<T>> {
    const store = new ClientFileStore<T>(directory, onDamaged);
    let entries: string[];
    try {
      mkdirSync(directory, { recursive: true, mode: 0o700 });
      entries = readdirSync(directory);
      store.#directoryFd = openSync(directory, 'r');
    } catch (error) {
      throw new ConfigurationError(
        DATA_DIR_VARIABLE,
        `holds ${directory}, which cannot be read: ${fileErrorReason(error)}`,
      );
    }
    const onDisk = new Set<string>();
    for (const entry of entries) {
      // Left by a write that crashed before its rename; the previous version of that file is intact.
      if (entry.endsWith('.tmp')) rmSync(join(directory, entry), { force: true });
      const id = entry.endsWith('.json') ? entry.slice(0, -'.json'.length) : '';
      if (storableClientId.test(id)) onDisk.add(id);
    }
    const index = store.#readIndex();
    const journals = store.#journals();
    const changed = new Set<string>(index ? [] : onDisk);
    for (const [id, text] of index?.clients ?? []) if (onDisk.has(id)) store.#records.set(id, text);
    for (const id of onDisk) if (!store.#records.has(id)) changed.add(id);
    for (const journal of journals) {
      if (index && journal.generation < index.generation) continue;
      for (const id of readJournal(journal.path)) if (onDisk.has(id)) changed.add(id);
    }
    const unchanged = [...store.#records.keys()].filter((id) => !changed.has(id));
    for (const id of changed) store.#load(id);
    const checkNow = unchanged.length <= checkBeforeOpenLimit;
    const stale = checkNow && store.#checkAll(unchanged);
    const current = journals.find((journal) => journal.generation === index?.generation);
    const upToDate =
      index !== undefined &&
      current !== undefined &&
      !stale &&
      changed.size === 0 &&
      onDisk.size === index.clients.size &&
      journals.length <= 1;
    try {
      if (upToDate) {
        store.#generation = index.generation;
        store.#journalFd = openSync(current.path, 'a', 0o600);
      } else {
        store.#journalFd = await store.#writeIndex(
          Math.max(index?.generation ?? 0, ...journals.map((journal) => journal.generation)) + 1,
        );
      }
    } catch (error) {
      throw new ConfigurationError(
        DATA_DIR_VARIABLE,
        `holds ${directory}, which cannot be written: ${fileErrorReason(error)}`,
      );
    }
    store.#commit = new GroupCommit(store.#directoryFd, store.#journalFd);
    if (!checkNow) store.checked = store.#checkInBackground(unchanged);
    return store;
  }

  get(id: string): T | undefined {
    return storableClientId.test(id) ? this.#record(id) : undefined;
  }

  /** Every record, as it is in memory now. */
  values(): T[] {
    return [...this.#records.keys()].map((id) => this.#record(id)!);
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
      const current = this.#record(id);
      const record = await change(current);
      await this.#commit.commit(id, path, JSON.stringify(record), {
        replaces: current !== undefined,
        onDurable: () => this.#records.set(id, record),
      });
      written = record;
    });
    return written!;
  }

  /** Resolves whether or not the record existed. */
  async delete(id: string): Promise<void> {
    if (!storableClientId.test(id)) return;
    const path = this.#pathOf(id);
    await this.#serialized(id, () =>
      this.#commit.commit(id, path, undefined, { onDurable: () => this.#records.delete(id) }),
    );
  }

  /** Resolves once every write started so far has finished. */
  async flush(): Promise<void> {
    await Promise.allSettled([...this.#pendingWrites.values()]);
    await this.#commit.idle();
  }

  /** Finishes the writes under way, writes the index (so the next start reads no client file) and closes. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.flush();
    await this.checked;
    if (this.#commit.journalLines > 0) await this.#rewriteIndex();
    closeSync(this.#journalFd);
    closeSync(this.#directoryFd);
  }

  #pathOf(id: string): string {
    if (!storableClientId.test(id)) throw new TypeError('client id is not storable');
    return join(this.#directory, `${id}.json`);
  }

  #journalPath(generation: number): string {
    return `${this.#directory}.journal.${generation}`;
  }

  /** The record of `id`, parsed if it is still as the index holds it (and read from its file if that fails). */
  #record(id: string): T | undefined {
    const entry = this.#records.get(id);
    if (typeof entry !== 'string') return entry;
    const record = parseJson(entry);
    if (typeof record === 'object' && record !== null) this.#records.set(id, record as T);
    else this.#load(id);
    return this.#records.get(id) as T | undefined;
  }

  /** The index, or `undefined` if there is none or it is not one (a cache only: then every client file is read). */
  #readIndex(): ClientIndex | undefined {
    let lines: string[];
    try {
      lines = readFileSync(this.#indexPath, 'utf8').split('\n');
    } catch {
      return undefined;
    }
    const header = parseJson(lines[0] ?? '') as { version?: unknown; generation?: unknown } | undefined;
    if (header?.version !== 1 || !Number.isSafeInteger(header.generation) || lines.at(-1) !== '') return undefined;
    const clients = new Map<string, string>();
    for (let line = 1; line < lines.length - 1; line++) {
      const text = lines[line]!;
      const space = text.indexOf(' ');
      clients.set(text.slice(0, space), text.slice(space + 1));
    }
    return { generation: header.generation as number, clients };
  }

  #journals(): { generation: number; path: string }[] {
    const prefix = `${basename(this.#directory)}.journal.`;
    return readdirSync(dirname(this.#directory))
      .filter((name) => name.startsWith(prefix) && /^\d{1,15}$/.test(name.slice(prefix.length)))
      .map((name) => ({ generation: Number(name.slice(prefix.length)), path: join(dirname(this.#directory), name) }));
  }

  /**
   * Writes every record into a new index naming a new, empty journal `generation`, then removes the older journals.
   * Runs with no batch on its way to disk, so the index holds every write acknowledged before it.
   */
  async #writeIndex(generation: number): Promise<number> {
    const journalPath = this.#journalPath(generation);
    // Created before the index names it; the index's directory fsync makes its entry durable.
    const journalFd = openSync(journalPath, 'a', 0o600);
    try {
      const lines = [JSON.stringify({ version: 1, generation })];
      for (const [id, entry] of this.#records)
        lines.push(`${id} ${typeof entry === 'string' ? entry : JSON.stringify(entry)}`);
      await writeFileAtomically(this.#indexPath, `${lines.join('\n')}\n`);
    } catch (error) {
      closeSync(journalFd);
      rmSync(journalPath, { force: true });
      throw error;
    }
    for (const journal of this.#journals())
      if (journal.generation !== generation) rmSync(journal.path, { force: true });
    this.#generation = generation;
    return journalFd;
  }

  async #rewriteIndex(): Promise<void> {
    await this.#commit.exclusive(async () => {
      const previous = this.#journalFd;
      try {
        this.#journalFd = await this.#writeIndex(this.#generation + 1);
      } catch {
        return undefined; // the index is a cache: the current journal still lists every change since the last one
      }
      closeSync(previous);
      return this.#journalFd;
    });
  }

  /** Reads one client file into memory at start; a damaged one is moved aside and reported. */
  #load(id: string): void {
    const file = join(this.#directory, `${id}.json`);
    let record: unknown;
    try {
      record = parseJson(readFileSync(file, 'utf8'));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        this.#records.delete(id);
        return;
      }
      record = new Error(fileErrorReason(error));
    }
    // A record that names a client id names its own: a file copied or renamed by hand is never served under another.
    const namesAnother =
      typeof record === 'object' &&
      record !== null &&
      typeof (record as { clientId?: unknown }).clientId === 'string' &&
      (record as { clientId: string }).clientId !== id;
    if (typeof record === 'object' && record !== null && !(record instanceof Error) && !namesAnother) {
      this.#records.set(id, record as T);
      return;
    }
    this.#records.delete(id);
    const movedTo = `${file}.damaged-${Date.now()}`;
    renameSync(file, movedTo);
    this.#onDamaged({
      file,
      movedTo,
      reason:
        record instanceof Error
          ? `cannot be read: ${record.message}`
          : namesAnother
            ? 'names another client id than its file name'
            : 'is not a JSON object',
    });
  }

  /** Checks indexed clients against their files (skipping those being written): the file wins. */
  #checkAll(ids: string[]): boolean {
    let changed = false;
    for (const id of ids) {
      const entry = this.#records.get(id);
      if (entry === undefined || this.#pendingWrites.has(id)) continue;
      let text: string | undefined;
      try {
        text = readFileSync(join(this.#directory, `${id}.json`), 'utf8');
      } catch {
        // reported by #load below, which reads it again
      }
      if (text === (typeof entry === 'string' ? entry : JSON.stringify(entry))) continue;
      changed = true;
      this.#load(id);
    }
    return changed;
  }

  async #checkInBackground(ids: string[]): Promise<void> {
    let changed = false;
    for (let from = 0; from < ids.length && !this.#closed; from += CHECK_CHUNK) {
      await new Promise((resolve) => setImmediate(resolve));
      try {
        changed = this.#checkAll(ids.slice(from, from + CHECK_CHUNK)) || changed;
      } catch {
        // a damaged file that cannot even be moved aside stays where it is; the next start reports it
      }
    }
    if (changed && !this.#closed) await this.#rewriteIndex();
  }

  #afterCommit(): void {
    if (this.#indexing || this.#closed || this.#commit.journalLines < INDEX_EVERY_CHANGES) return;
    this.#indexing = true;
    void this.#rewriteIndex().finally(() => (this.#indexing = false));
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
      this.#afterCommit();
    }
  }
}

/** The client ids a journal lists, complete lines only (a crash may have cut the last one). */
function readJournal(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  return text
    .slice(0, text.lastIndexOf('\n') + 1)
    .split('\n')
    .filter((id) => storableClientId.test(id));
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
    throw new ConfigurationError(
      DATA_DIR_VARIABLE,
      `${dataDir} cannot be created or written: ${fileErrorReason(error)}`,
    );
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
      throw new ConfigurationError(
        DATA_DIR_VARIABLE,
        `holds ${path}, which is not a valid key file: restore it, or remove it to generate new keys`,
      );
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
