/**
 * Recovery: "may the IdP have acted?" and what a driver does about it. A failed unsafe call may still have been
 * carried out (a lost answer, a 5xx); an answer may come back unusable after the IdP acted; a half-made change is
 * taken back. Here the one answer to that question, and the recoveries more than one IdP needs: undo, clean-up,
 * re-read, "already gone" and "not found" as outcomes, a create under an id the bridge chose adopted after a failure
 * when the client there carries this registration's mark, a secret regeneration that is never repeated, and the
 * client of a registration found by its mark in a listing.
 */
import { randomBytes } from 'node:crypto';
import { ClientNotFoundError } from '../errors.js';
import { UnusableAnswerError, failureOf } from './call/failure.js';
import type { BridgeMark } from './ownership.js';

/**
 * Whether a failed unsafe call may still have been carried out by the IdP: its answer was lost (a timeout, a dropped
 * connection after sending) or it failed after acting (a 5xx). A refusal (4xx) or a request that provably never left
 * (connection refused, DNS, TLS) was not applied. The one answer every driver's lost-answer recovery asks.
 */
export function mayHaveBeenApplied(error: unknown): boolean {
  if (error instanceof UnusableAnswerError) return true;
  const failure = failureOf(error);
  if (!failure || failure.notSent) return false;
  if (failure.kind === 'timeout' || failure.kind === 'network') return true;
  return failure.status === undefined || failure.status >= 500;
}

/** Runs `step` of a half-made change; if it fails, `undo` takes the change back (best effort) and the step's error is thrown. */
export async function undoOnFailure<T>(step: () => Promise<T>, undo: () => Promise<unknown>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    await undo().catch(() => undefined);
    throw error;
  }
}

/**
 * Runs an unsafe call; if it fails in a way the IdP may have acted on (`mayHaveBeenApplied`), `cleanUp` removes what it
 * may have made (best effort, e.g. the client found by its registration id) before the call's error is thrown.
 */
export async function cleanUpIfApplied<T>(unsafeCall: () => Promise<T>, cleanUp: () => Promise<unknown>): Promise<T> {
  try {
    return await unsafeCall();
  } catch (error) {
    if (mayHaveBeenApplied(error)) await cleanUp().catch(() => undefined);
    throw error;
  }
}

/** Runs a call whose answer the driver never reads: a 2xx it could not parse (`UnusableAnswerError`) is done all the same. */
export async function answerUnread(call: Promise<unknown>): Promise<void> {
  try {
    await call;
  } catch (error) {
    if (!(error instanceof UnusableAnswerError)) throw error;
  }
}

/**
 * Runs a call the IdP carries out even when its answer comes back unusable (a 2xx the driver cannot read): then
 * `reread` asks the IdP for what the answer should have said (the updated client, the rotated secret), so the caller
 * learns the state the IdP is in; a re-read that fails too is the call's error.
 */
export async function rereadIfUnusable<T>(call: () => Promise<T>, reread: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (!(error instanceof UnusableAnswerError)) throw error;
    return reread();
  }
}

/**
 * Runs an IdP call whose "not found" means the wanted state already holds; resolves `true` when it was gone. Its
 * answer is never read, so a 2xx the SDK could not parse (`UnusableAnswerError`) is done too.
 */
export async function goneIsDone(call: Promise<unknown>): Promise<boolean> {
  try {
    await answerUnread(call);
    return false;
  } catch (error) {
    if (error instanceof ClientNotFoundError) return true;
    throw error;
  }
}

/** An IdP lookup whose "not found" (`ClientNotFoundError`) means there is no such client. */
export async function foundOrUndefined<T>(lookup: Promise<T>): Promise<T | undefined> {
  try {
    return await lookup;
  } catch (error) {
    if (error instanceof ClientNotFoundError) return undefined;
    throw error;
  }
}

/** How a recovery finds a client the bridge made and reads its mark and its id. */
export interface MarkedLookup<Client> {
  markOf(client: Client): BridgeMark | undefined;
  idOf(client: Client): string;
}

/** A client id the bridge chooses before the create (`dcr-` and 24 hex digits), so that a repeated create meets a conflict, not a second client. */
export const chosenClientId = (): string => `dcr-${randomBytes(12).toString('hex')}`;

/**
 * Creates a client under an id the bridge chose, so the create is safe to repeat: when it fails (a repeat after a lost
 * answer meets the IdP's conflict), the client `find` finds under that id is adopted if its mark carries this
 * registration's `registrationId`; otherwise (none, a foreign one, another registration's) the create's error is thrown.
 */
export async function createOrAdopt<Client>(
  create: () => Promise<string>,
  registrationId: string,
  find: () => Promise<Client | undefined>,
  lookup: MarkedLookup<Client>,
): Promise<string> {
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
 * a repeat would replace the secret the first call issued. After a failure the IdP may have acted on
 * (`mayHaveBeenApplied`; with `after: 'unusable answer'`, only after an answer the driver could not use), the secret is
 * read again, and one that differs from `before` is the secret the IdP generated behind the lost or unusable answer:
 * it is handed out, not left unknown. When the re-read fails, finds no secret or the old one, the call's own error is
 * thrown.
 */
export async function regeneratedSecret(
  regenerate: () => Promise<string>,
  before: string | undefined,
  reread: () => Promise<unknown>,
  options: { after?: 'may have acted' | 'unusable answer' } = {},
): Promise<string> {
  const recoverable =
    options.after === 'unusable answer' ? (error: unknown) => error instanceof UnusableAnswerError : mayHaveBeenApplied;
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
export async function findByRegistration<Client>(
  clients: AsyncIterable<Client> | Iterable<Client>,
  registrationId: string,
  markOf: (client: Client) => BridgeMark | undefined,
): Promise<Client | undefined> {
  for await (const client of clients) if (markOf(client)?.registrationId === registrationId) return client;
  return undefined;
}
