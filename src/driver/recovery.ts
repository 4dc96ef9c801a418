/**
 * Lost-answer recoveries more than one IdP needs, beside `cleanUpIfApplied` and `rereadIfUnusable` (admin-call.ts):
 * a create under an id the bridge chose, adopted after a failure when the client there carries this registration's
 * mark; a secret regeneration that is never repeated, whose new secret is read back after an ambiguous failure; the
 * client of a registration found by its mark in a listing; and a create whose "already exists" is done.
 */
import { randomBytes } from 'node:crypto';
import { ConflictError } from '../errors.js';
import { mayHaveBeenApplied } from './admin-call.js';
import type { BridgeMark } from './ownership.js';

/** How a recovery finds a client the bridge made and reads its mark and its id. */
export interface MarkedLookup<Client> {
  markOf(client: Client): BridgeMark | undefined;
  idOf(client: Client): string;
}

/** A client id the bridge chooses before the create (`dcr-` and 24 hex digits), so that `createOrAdopt` can repeat it. */
export const chosenClientId = (): string => `dcr-${randomBytes(12).toString('hex')}`;

/**
 * Creates a client under an id the bridge chose, so the create is safe to repeat: when it fails (a repeat after a lost
 * answer meets the IdP's conflict), the client `find` finds under that id is adopted if its mark carries this
 * registration's `registrationId`; otherwise (none, a foreign one, another registration's) the create's error is thrown.
 */
export async function createOrAdopt<Client>(create: () => Promise<string>, registrationId: string, find: () => Promise<Client | undefined>, lookup: MarkedLookup<Client>): Promise<string> {
  try {
    return await create();
  } catch (error) {
    const existing = await find().catch(() => undefined);
    if (existing === undefined || lookup.markOf(existing)?.registrationId !== registrationId) throw error;
    return lookup.idOf(existing);
  }
}

/**
 * Regenerates a client's secret (the one an IdP holds, or its current one) with an unsafe call that is never repeated:
 * a repeat would replace the secret the first call issued. After a failure the IdP may have acted on (`recoverable`,
 * by default `mayHaveBeenApplied`), the secret is read again, and one that differs from `before` is the secret the IdP
 * generated behind the lost or unusable answer: it is handed out, not left unknown. When the re-read fails, finds no
 * secret or the old one, the call's own error is thrown.
 */
export async function regeneratedSecret(regenerate: () => Promise<string>, before: string | undefined, reread: () => Promise<unknown>, recoverable: (error: unknown) => boolean = mayHaveBeenApplied): Promise<string> {
  try {
    return await regenerate();
  } catch (error) {
    if (!recoverable(error)) throw error;
    const now = await reread().catch(() => undefined);
    if (typeof now !== 'string' || now === '' || now === before) throw error;
    return now;
  }
}

/** The first of `clients` whose mark carries `registrationId`: the client of a create whose answer was lost. */
export async function findByRegistration<Client>(clients: AsyncIterable<Client>, registrationId: string, markOf: (client: Client) => BridgeMark | undefined): Promise<Client | undefined> {
  for await (const client of clients) if (markOf(client)?.registrationId === registrationId) return client;
  return undefined;
}

/** Runs an IdP create whose "already exists" (`ConflictError`, a 409) means the wanted state holds, so a repeat is harmless. */
export async function existingIsDone(create: Promise<unknown>): Promise<void> {
  try {
    await create;
  } catch (error) {
    if (!(error instanceof ConflictError)) throw error;
  }
}
