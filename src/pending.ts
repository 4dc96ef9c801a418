/**
 * Pending registrations: no client is left at the IdP that no portal learned of. Between the driver's
 * `registerClient` (the client exists at the IdP) and the last byte of the 201 (the portal knows its id and secret),
 * the client id is "pending" in a small journal: an append-only file in the data directory, each line written and
 * fsync'd before the bridge goes on. Then one of three things clears it:
 *
 * - the answer was written (`finish`): the record is cleared, the registration stands;
 * - the connection closed before that (`close` without `finish`): the client is deleted at once (compensation);
 * - the process died in between (crash, `kill -9`): the next start, or the sweep after it, deletes every client still
 *   pending after `DCR_PENDING_TIMEOUT_SECONDS`, through the driver.
 *
 * The file is `{"pending":id,"at":ms}` and `{"cleared":id}` lines; a torn last line is ignored, and the file is
 * rewritten with what is still pending when it is opened. One file per connection; it is never shared between
 * processes (each replica its own data directory, like the local IdP's).
 */
import { AsyncResource } from 'node:async_hooks';
import { mkdir, open, rename, readFile, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Response } from 'express';
import type { DcrDriver } from './driver/contract.js';
import { ClientNotFoundError, IdpUnavailableError } from './errors.js';
import type { BridgeEvents, Portal } from './events.js';
import type { Logger } from './logging.js';

export interface PendingJournal {
  /** Records `clientId` as pending; resolves once the record is on disk. */
  add(clientId: string, at: number): Promise<void>;
  /** Clears the record; resolves once that is on disk. */
  clear(clientId: string): Promise<void>;
  /** The ids pending since before `before` (epoch ms), oldest first. */
  pendingSince(before: number): string[];
  close(): Promise<void>;
}

/** A journal that lives only in memory: the cut-connection compensation without the crash recovery (tests). */
export function memoryJournal(): PendingJournal {
  const pending = new Map<string, number>();
  return {
    add: async (clientId, at) => void pending.set(clientId, at),
    clear: async (clientId) => void pending.delete(clientId),
    pendingSince: (before) => idsPendingSince(pending, before),
    close: async () => undefined,
  };
}

/** Opens (creating it and its directory when absent) the journal file and reads what is still pending. */
export async function openPendingJournal(file: string): Promise<PendingJournal> {
  await mkdir(dirname(file), { recursive: true });
  const pending = replay(await readFile(file, 'utf8').catch(ifMissing('')));
  // Start from a compact file: what is still pending, nothing else, written whole before it replaces the old one.
  const compacted = `${file}.compacting`;
  const fresh = await open(compacted, 'w');
  try {
    await fresh.writeFile([...pending].map(([id, at]) => line({ pending: id, at })).join(''));
    await fresh.datasync();
  } finally {
    await fresh.close();
  }
  await rename(compacted, file);
  await syncDirectory(dirname(file));
  const handle = await open(file, 'a');
  // Group commit: the lines that arrive while a write and its sync are under way go out together in the next one (one
  // write(2), one fdatasync), so concurrent registrations share the disk's flush instead of queueing one each.
  let queued: { text: string; settle: (error?: unknown) => void }[] = [];
  let writes = Promise.resolve();
  let flushing = false;
  const flush = async (): Promise<void> => {
    while (queued.length > 0) {
      const batch = queued;
      queued = [];
      try {
        // Whole lines far below a page, opened for append: a crash leaves them whole or the last one torn.
        await handle.write(batch.map(({ text }) => text).join(''));
        await handle.datasync();
        for (const { settle } of batch) settle();
      } catch (error) {
        for (const { settle } of batch) settle(error);
      }
    }
    flushing = false;
  };
  /** Appends one line; resolves once it is on disk. */
  const append = (text: string): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      queued.push({ text, settle: (error) => (error === undefined ? resolve() : reject(error)) });
      if (!flushing) {
        flushing = true;
        writes = flush();
      }
    });
  return {
    async add(clientId, at) {
      await append(line({ pending: clientId, at }));
      pending.set(clientId, at);
    },
    async clear(clientId) {
      if (!pending.has(clientId)) return;
      await append(line({ cleared: clientId }));
      pending.delete(clientId);
    },
    pendingSince: (before) => idsPendingSince(pending, before),
    close: () => writes.then(() => closeQuietly(handle)),
  };
}

function line(record: { pending: string; at: number } | { cleared: string }): string {
  return `${JSON.stringify(record)}\n`;
}

function replay(text: string): Map<string, number> {
  const pending = new Map<string, number>();
  for (const raw of text.split('\n')) {
    let record: unknown;
    try {
      record = JSON.parse(raw);
    } catch {
      continue; // a torn last line (the process died while writing it) or an empty one
    }
    if (typeof record !== 'object' || record === null) continue;
    const { pending: id, at, cleared } = record as { pending?: unknown; at?: unknown; cleared?: unknown };
    if (typeof id === 'string' && typeof at === 'number') pending.set(id, at);
    else if (typeof cleared === 'string') pending.delete(cleared);
  }
  return pending;
}

function idsPendingSince(pending: ReadonlyMap<string, number>, before: number): string[] {
  return [...pending]
    .filter(([, at]) => at <= before)
    .sort(([, a], [, b]) => a - b)
    .map(([id]) => id);
}

function ifMissing<T>(fallback: T): (error: unknown) => T {
  return (error) => {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return fallback;
    throw error;
  };
}

async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function closeQuietly(handle: FileHandle): Promise<void> {
  await handle.close().catch(() => undefined);
}

/** Why a registration was deleted again: its connection closed before the answer, or it stayed pending too long. */
export type UndoReason = 'connection_closed' | 'pending_timeout' | 'journal_failed';

export interface PendingRegistrationsOptions {
  /** Opens the journal; called once, on first use. */
  openJournal(): Promise<PendingJournal>;
  driver: Pick<DcrDriver, 'deleteClient'>;
  events: BridgeEvents;
  logger: Logger;
  /** `DCR_PENDING_TIMEOUT_SECONDS` in ms: how long a record may stay pending before the sweep deletes its client. */
  timeoutMs: number;
  now?: () => number;
}

/** The one place that holds a registration between the IdP's create and the last byte of its answer. */
export class PendingRegistrations {
  readonly #options: PendingRegistrationsOptions;
  readonly #now: () => number;
  #journal: Promise<PendingJournal> | undefined;
  /** Held by a request of this process right now: never the sweep's, however long its answer takes. */
  readonly #answering = new Set<string>();

  constructor(options: PendingRegistrationsOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  #opened(): Promise<PendingJournal> {
    this.#journal ??= this.#options.openJournal();
    return this.#journal;
  }

  /**
   * Call right after the driver created `clientId`, before writing the answer. Records it as pending; once the answer
   * is written, clears it and emits `client.registered`; if the connection closes first, deletes the client. Throws
   * (the client deleted again) when the record cannot be written or the connection is already gone.
   */
  async hold(res: Response, clientId: string, portal: Portal): Promise<void> {
    res.locals.clientId = clientId;
    try {
      await (await this.#opened()).add(clientId, this.#now());
    } catch (error) {
      await this.#undo(clientId, portal, 'journal_failed');
      throw new IdpUnavailableError('The registration could not be recorded and was deleted again; retry it.', {
        cause: error,
      });
    }
    if (connectionGone(res)) {
      await this.#undo(clientId, portal, 'connection_closed');
      throw new IdpUnavailableError('The connection closed before the answer; the registration was deleted again.');
    }
    this.#answering.add(clientId);
    let settled = false;
    // Bound to the request's context: the audit trail attributes the event to this request.
    res.once(
      'finish',
      AsyncResource.bind(() => {
        settled = true;
        this.#answering.delete(clientId);
        this.#options.events.emit('client.registered', { clientId, portal });
        void this.#opened()
          .then((journal) => journal.clear(clientId))
          .catch(() => this.#options.logger.error('a pending registration could not be cleared', { clientId }));
      }),
    );
    res.once(
      'close',
      AsyncResource.bind(() => {
        if (settled) return;
        settled = true;
        this.#answering.delete(clientId);
        void this.#undo(clientId, portal, 'connection_closed');
      }),
    );
  }

  /**
   * Call right after the driver added `secretId` to `clientId` (multiple credentials), before writing the answer: if
   * the connection closes before the answer is written, the secret is revoked again (in process only: a crash in
   * between leaves the secret, which the portal can list and revoke). `secret.added` is emitted once it is written.
   */
  async holdSecret(
    res: Response,
    added: { clientId: string; secretId: string },
    revoke: () => Promise<void>,
    portal: Portal,
  ): Promise<void> {
    const { events, logger } = this.#options;
    // Ids only: `added` may be the driver's answer, which carries the secret's value.
    const ids = { clientId: added.clientId, secretId: added.secretId };
    const undo = async (): Promise<void> => {
      await revoke().then(
        () => events.emit('secret.undone', { ...ids, portal }),
        () => logger.error('a secret no portal learned of could not be revoked', ids),
      );
    };
    if (connectionGone(res)) {
      await undo();
      throw new IdpUnavailableError('The connection closed before the answer; the secret was revoked again.');
    }
    let settled = false;
    res.once(
      'finish',
      AsyncResource.bind(() => {
        settled = true;
        events.emit('secret.added', { ...ids, portal });
      }),
    );
    res.once(
      'close',
      AsyncResource.bind(() => {
        if (settled) return;
        settled = true;
        void undo();
      }),
    );
  }

  /** Deletes, through the driver, every client pending for longer than the timeout; returns how many. */
  async sweep(): Promise<number> {
    const journal = await this.#opened();
    let deleted = 0;
    for (const clientId of journal.pendingSince(this.#now() - this.#options.timeoutMs)) {
      if (this.#answering.has(clientId)) continue;
      if (await this.#undo(clientId, undefined, 'pending_timeout')) deleted += 1;
    }
    return deleted;
  }

  async close(): Promise<void> {
    if (this.#journal) await (await this.#journal).close();
  }

  /** Deletes the client (gone already is done) and clears its record; false when the IdP refused, so it stays pending. */
  async #undo(clientId: string, portal: Portal | undefined, reason: UndoReason): Promise<boolean> {
    const { driver, events, logger } = this.#options;
    try {
      await driver.deleteClient(clientId).catch((error: unknown) => {
        if (!(error instanceof ClientNotFoundError)) throw error;
      });
    } catch {
      logger.error('a registration no portal learned of could not be deleted; it stays pending', { clientId, reason });
      return false;
    }
    await this.#opened()
      .then((journal) => journal.clear(clientId))
      .catch(() => logger.error('a pending registration could not be cleared', { clientId }));
    events.emit('registration.undone', { clientId, reason, ...(portal ? { portal } : {}) });
    return true;
  }
}

function connectionGone(res: Response): boolean {
  return res.destroyed || res.socket === null || res.socket.destroyed;
}
