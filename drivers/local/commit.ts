/**
 * Group commit of the local store's client files. The writes (and removals) asked for in one turn of the event loop
 * form a batch: each file is written to a temporary file with synchronous calls (no thread-pool round trip per
 * call), every temporary file and the journal are fsynced in parallel, the files are renamed into place, and the
 * directory is fsynced once for the whole batch — only then is every write of the batch acknowledged. A busy store
 * pays about two fsync latencies per batch, not per client, and a batch does not wait for the one before it.
 *
 * The journal (one line per client id a batch touched) says which files may be newer than the store's index, so a
 * start after a crash re-reads exactly those. A write that does not write everything (a full disk) fails its change,
 * which then leaves the previous file in place.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsync, openSync, rename, renameSync, rmSync, unlink, writeSync } from 'node:fs';

/** The file calls a commit makes; tests pass a recording or failing wrapper of the real ones. */
export interface CommitFileSystem {
  openSync: typeof openSync;
  writeSync: (fd: number, text: string) => number;
  closeSync: typeof closeSync;
  renameSync: typeof renameSync;
  rmSync: typeof rmSync;
  rename: typeof rename;
  unlink: typeof unlink;
  fsync: typeof fsync;
}

export const nodeCommitFileSystem: CommitFileSystem = {
  openSync,
  writeSync: (fd, text) => writeSync(fd, text),
  closeSync,
  renameSync,
  rmSync,
  rename,
  unlink,
  fsync,
};

export interface CommitOptions {
  /** Whether `path` may exist already (default true); `false` lets the rename run synchronously. */
  replaces?: boolean;
  /** Called once the change is durable, before anyone is told. */
  onDurable?: () => void;
}

interface PendingChange {
  id: string;
  path: string;
  /** `undefined` removes the file. */
  contents: string | undefined;
  replaces: boolean;
  /** Called once the change is durable, before anyone is told. */
  onDurable(): void;
  resolve(): void;
  reject(error: unknown): void;
  temporary?: string;
  fd?: number;
  error?: unknown;
}

export class GroupCommit {
  readonly #directoryFd: number;
  readonly #fs: CommitFileSystem;
  #journalFd: number;
  #journalLines = 0;
  /** Whether the last journal write may have left part of a line (a full disk writes what fits and says so). */
  #journalTorn = false;
  #queue: PendingChange[] = [];
  #scheduled = false;
  readonly #inFlight = new Set<Promise<void>>();
  /** Set while an exclusive step waits or runs: no batch starts meanwhile. */
  #exclusive: Promise<void> | undefined;

  /** `directoryFd` and `journalFd` stay open; the committer fsyncs them and closes neither. */
  constructor(directoryFd: number, journalFd: number, fs: CommitFileSystem = nodeCommitFileSystem) {
    this.#directoryFd = directoryFd;
    this.#journalFd = journalFd;
    this.#fs = fs;
  }

  /** Client ids journaled since the journal was last replaced. */
  get journalLines(): number {
    return this.#journalLines;
  }

  /**
   * Resolves once `contents` is in `path` (or `path` is gone, for `undefined`) and survives a power cut; `onDurable`
   * runs just before, in the same turn as the rest of its batch.
   */
  commit(
    id: string,
    path: string,
    contents: string | undefined,
    { replaces = true, onDurable = () => undefined }: CommitOptions = {},
  ): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({
        id,
        path,
        contents,
        replaces: replaces || contents === undefined,
        onDurable,
        resolve,
        reject,
      });
      if (this.#scheduled) return;
      this.#scheduled = true;
      // After this turn's other requests have queued theirs. Batches overlap: a client id is never in two at once,
      // since the store writes one id one write after another.
      setImmediate(() => this.#startBatch());
    });
  }

  #startBatch(): void {
    if (this.#exclusive !== undefined) return; // started again once the exclusive step is done
    this.#scheduled = false;
    const batch = this.#queue;
    this.#queue = [];
    if (batch.length === 0) return;
    const running: Promise<void> = this.#runBatch(batch)
      .catch((error: unknown) => {
        for (const change of batch) change.reject(error);
      })
      .finally(() => this.#inFlight.delete(running));
    this.#inFlight.add(running);
  }

  /**
   * Runs `step` between batches, with no write on its way to disk: writes asked for meanwhile wait for it. `step`
   * may return a new journal to use from then on.
   */
  exclusive(step: () => Promise<number | undefined>): Promise<void> {
    const run = (this.#exclusive ?? Promise.resolve()).then(async () => {
      await Promise.all([...this.#inFlight]);
      const journalFd = await step();
      if (journalFd !== undefined) {
        this.#journalFd = journalFd;
        this.#journalLines = 0;
      }
    });
    const done: Promise<void> = run.then(
      () => this.#afterExclusive(done),
      () => this.#afterExclusive(done),
    );
    this.#exclusive = done;
    return run;
  }

  #afterExclusive(done: Promise<void>): void {
    if (this.#exclusive !== done) return;
    this.#exclusive = undefined;
    if (this.#scheduled) this.#startBatch();
  }

  /** Resolves once every commit asked for so far has been answered. */
  async idle(): Promise<void> {
    while (this.#scheduled || this.#inFlight.size > 0 || this.#exclusive !== undefined) {
      await new Promise((resolve) => setImmediate(resolve));
      await Promise.all([...this.#inFlight, this.#exclusive]);
    }
  }

  async #runBatch(batch: PendingChange[]): Promise<void> {
    const fs = this.#fs;
    let shared: unknown;
    try {
      // After a torn journal write, a newline first: the torn line stays a line of its own, never glued to an id.
      const lines = `${this.#journalTorn ? '\n' : ''}${batch.map((change) => `${change.id}\n`).join('')}`;
      this.#journalTorn = true;
      writeWhole(fs, this.#journalFd, lines);
      this.#journalTorn = false;
      this.#journalLines += batch.length;
    } catch (error) {
      shared = error;
    }
    const syncs: Promise<unknown>[] =
      shared === undefined ? [fsyncOf(fs, this.#journalFd).catch((error: unknown) => (shared = error))] : [];
    for (const change of batch) {
      if (shared !== undefined || change.contents === undefined) continue;
      try {
        change.temporary = temporaryPath(change.path);
        change.fd = fs.openSync(change.temporary, 'w', 0o600);
        writeWhole(fs, change.fd, change.contents);
        syncs.push(fsyncOf(fs, change.fd).catch((error: unknown) => (change.error = error)));
      } catch (error) {
        change.error = error;
      }
    }
    await Promise.all(syncs);
    const replacements: Promise<unknown>[] = [];
    for (const change of batch) {
      if (change.fd !== undefined) closeQuietly(fs, change.fd);
      change.error ??= shared;
      if (change.error !== undefined) {
        if (change.temporary !== undefined) removeQuietly(fs, change.temporary);
      } else if (change.replaces) {
        // Freeing the replaced file's blocks can take milliseconds: in the thread pool, not on the event loop.
        replacements.push(replaceOrRemove(fs, change).catch((error: unknown) => (change.error = error)));
      } else {
        try {
          fs.renameSync(change.temporary!, change.path);
        } catch (error) {
          change.error = error;
          removeQuietly(fs, change.temporary!);
        }
      }
    }
    await Promise.all(replacements);
    const directorySynced = await fsyncOf(fs, this.#directoryFd).then(
      () => undefined,
      (error: unknown) => error,
    );
    for (const change of batch) {
      const error = change.error ?? directorySynced;
      if (error !== undefined) {
        change.reject(error);
        continue;
      }
      change.onDurable();
      change.resolve();
    }
  }
}

/**
 * Writes all of `text` or throws: `write(2)` on a full disk writes what fits and reports the count, not an error, and
 * a short file fsynced, renamed and acknowledged would be lost at the next start.
 */
function writeWhole(fs: CommitFileSystem, fd: number, text: string): void {
  const written = fs.writeSync(fd, text);
  const expected = Buffer.byteLength(text);
  if (written !== expected) {
    throw Object.assign(new Error(`short write: ${written} of ${expected} bytes (the disk may be full)`), {
      code: 'ENOSPC',
    });
  }
}

/** Renames the temporary file over `path`, or removes `path` for a removal, in the thread pool. */
function replaceOrRemove(fs: CommitFileSystem, change: PendingChange): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (error: NodeJS.ErrnoException | null) => {
      if (!error || (error.code === 'ENOENT' && change.temporary === undefined)) return resolve();
      if (change.temporary !== undefined) removeQuietly(fs, change.temporary);
      reject(error);
    };
    if (change.temporary === undefined) fs.unlink(change.path, done);
    else fs.rename(change.temporary, change.path, done);
  });
}

function fsyncOf(fs: CommitFileSystem, fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fsync(fd, (error) => (error ? reject(error) : resolve())));
}

function closeQuietly(fs: CommitFileSystem, fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // The data is already fsynced or the write already failed; a failed close changes neither.
  }
}

function removeQuietly(fs: CommitFileSystem, path: string): void {
  try {
    fs.rmSync(path, { force: true });
  } catch {
    // Left for the next start, which removes temporary files.
  }
}

/** A fresh name for a temporary file next to `path`. */
export function temporaryPath(path: string): string {
  return `${path}.${randomBytes(6).toString('hex')}.tmp`;
}
