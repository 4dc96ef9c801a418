/**
 * Rotation with a grace period, once for every IdP that holds more than one secret per client (Okta, Entra, Keycloak
 * with its rotation policy). A driver describes its IdP's secrets as a small list / add / remove interface; the
 * semantics are the kit's:
 *
 * 1. Before adding, every old secret but the newest is retired: a client holds at most two secrets (the new one and
 *    the one in its grace), so rotating again during a grace ends the older grace now.
 * 2. `add` is never repeated blindly. If it fails in a way the IdP may have acted on (`mayHaveBeenApplied`), the
 *    secrets are listed again and any secret that was not there before — one nobody holds — is removed.
 * 3. If the IdP adds a secret but returns no value, that secret is removed (nobody could use it) and the rotation
 *    fails with `502 idp_error`; the old secrets stay as they were.
 * 4. Without a grace, the old secrets are removed once the new one exists; if that fails, the new one is removed and
 *    the error reported, so the caller's old secret still works.
 * 5. The sweep (`retireSupersededSecrets`) counts each old secret's grace from the creation of its successor — the
 *    next newer secret — not from the newest one, so a secret never loses grace it was promised.
 * 6. A grace is marked on the client (`SecretSlots.markGrace`) BEFORE the grace secret is added, and the sweep
 *    (`createGraceSweep`) clears the mark only AFTER the last old secret is gone: a crash in between leaves a mark
 *    with nothing to retire (the next sweep clears it), never a secret in grace without a mark. So a sweep reads only
 *    the marked clients, where the IdP can search for the mark, and never reads the secrets of one whose grace has not
 *    ended yet.
 */
import { IdpError } from '../errors.js';
import { cleanUpIfApplied } from './admin-call.js';

export interface HeldSecret {
  /** Stable across the rotation (the IdP's key id, or whatever identifies this secret while it lives). */
  id: string;
  /** Epoch milliseconds; `NaN` when the IdP does not say. */
  createdAt: number;
}

export interface AddedSecret {
  /** The new secret's id; without one, the kit finds it by listing. */
  id?: string;
  /** The secret itself; the IdP shows it once. */
  value?: string;
  /** Epoch seconds; `0` = never. */
  expiresAt?: number;
}

/** A client's secrets at its IdP. `remove` either removes the secret or leaves it working, and "already gone" is done. */
export interface SecretSlots {
  list(): Promise<HeldSecret[]>;
  /** Unsafe: adds a secret (the kit never repeats it). */
  add(): Promise<AddedSecret>;
  /** Resolves `false` when the secret was already gone (another replica's sweep removed it): not counted as retired. */
  remove(secret: HeldSecret): Promise<boolean | void>;
  /** Marks the client as holding a secret in grace until `graceEndsAt` (epoch ms), for the sweep to find. */
  markGrace?(graceEndsAt: number): Promise<void>;
  /** Clears that mark (the sweep, once no secret in grace is left). */
  clearGrace?(): Promise<void>;
}

/** Issues a new secret by the semantics above; resolves with it (and its expiry, epoch seconds, `0` = never). */
export async function rotateWithGrace(slots: SecretSlots, graceSeconds: number): Promise<{ value: string; expiresAt: number }> {
  const held = oldestFirst(await slots.list());
  for (const secret of held.slice(0, -1)) await slots.remove(secret);
  const previous = held.slice(-1);
  // Marked before the add: a crash after it must not leave a secret in grace that no sweep looks for.
  if (graceSeconds > 0 && previous.length > 0) await slots.markGrace?.(Date.now() + graceSeconds * 1000);
  const added = await cleanUpIfApplied(() => slots.add(), () => removeUnknown(slots, previous));
  if (!added.value) {
    await (added.id ? slots.remove({ id: added.id, createdAt: Number.NaN }) : removeUnknown(slots, previous)).catch(() => undefined);
    throw new IdpError('The identity provider added a secret without returning it; the old secret still works.');
  }
  if (graceSeconds <= 0) {
    try {
      for (const secret of previous) await slots.remove(secret);
    } catch (error) {
      if (added.id) await slots.remove({ id: added.id, createdAt: Number.NaN }).catch(() => undefined);
      else await removeUnknown(slots, previous).catch(() => undefined);
      throw error;
    }
  }
  return { value: added.value, expiresAt: added.expiresAt ?? 0 };
}

/**
 * The sweep for one client: removes every secret whose successor was created more than the grace before `now`
 * (epoch milliseconds). The newest secret is never removed. Returns how many it removed itself, so replicas sweeping
 * at once report each secret once.
 */
export async function retireSupersededSecrets(held: HeldSecret[], graceSeconds: number, now: number, remove: (secret: HeldSecret) => Promise<boolean | void>): Promise<number> {
  const sorted = oldestFirst(held);
  let retired = 0;
  for (let index = 0; index < sorted.length - 1; index++) {
    const supersededAt = sorted[index + 1]!.createdAt;
    if (!Number.isFinite(supersededAt) || supersededAt + graceSeconds * 1000 >= now) continue;
    if ((await remove(sorted[index]!)) !== false) retired++;
  }
  return retired;
}

/** What the sweep loop hands a driver's `retireExpiredSecrets`: its bound, and where it hears that the bound ended it. */
export interface SweepOptions {
  /** At most this many IdP calls in one sweep; the clients left are the next sweep's. Default `DEFAULT_SWEEP_MAX_IDP_CALLS`. */
  maxIdpCalls?: number;
  /** Called when the bound ended a sweep with clients left, with the IdP calls it made. */
  onUnfinished?: (idpCalls: number) => void;
}

export const DEFAULT_SWEEP_MAX_IDP_CALLS = 1000;

/**
 * One page of a listing, and the cursor of the next (`undefined` on the last page), asked for once the page's clients
 * are swept: an offset into a search for the mark moves back by the clients whose mark was cleared.
 */
export interface ListingPage<Client> {
  clients: Client[];
  next(): string | undefined;
}

/**
 * How a driver's sweep reads and changes its IdP; `costs` are the most IdP calls each step makes, for the bound
 * (a step not named costs one call).
 * `page` is one call: the clients that carry the grace mark, where the IdP can search for it, or else all of the
 * bridge's clients (then `graceEndsAt` says which are marked). A driver whose rotation has `SecretSlots` gives
 * `slots`, and the four steps after it default to the slots' `list`, `remove`, `markGrace` and `clearGrace`.
 */
export interface GraceSweepSource<Client> {
  page(cursor: string | undefined): Promise<ListingPage<Client>>;
  /** When the client's mark says its grace ends (epoch ms; `NaN`: marked, end unknown); `undefined`: not marked. */
  graceEndsAt(client: Client): number | undefined;
  /** A client's secret slots; the sweep makes one per client it reads, so a removal knows what the listing saw. */
  slots?(client: Client): SecretSlots;
  /** The client's secrets: as the page carries them (`fresh` false, when it does), or read again from the IdP. */
  secrets?(client: Client, fresh: boolean): Promise<HeldSecret[]>;
  remove?(client: Client, secret: HeldSecret): Promise<boolean | void>;
  /** Sets the mark again: a rotation added a secret while the sweep cleared the mark. */
  mark?(client: Client, graceEndsAt: number): Promise<void>;
  clearMark?(client: Client): Promise<void>;
  costs?: Partial<SweepCosts>;
}

/** The sweep's steps: the source's own, or else those of the client's slots (one `SecretSlots` per client). */
function sweepSteps<Client extends object>(source: GraceSweepSource<Client>): Required<Pick<GraceSweepSource<Client>, 'secrets' | 'remove' | 'mark' | 'clearMark'>> {
  const made = new WeakMap<Client, SecretSlots>();
  const slotsOf = (client: Client): SecretSlots => {
    if (!source.slots) throw new Error('A grace sweep source needs either `slots` or its own secrets, remove, mark and clearMark.');
    return made.get(client) ?? made.set(client, source.slots(client)).get(client)!;
  };
  return {
    secrets: source.secrets?.bind(source) ?? ((client) => slotsOf(client).list()),
    remove: source.remove?.bind(source) ?? ((client, secret) => slotsOf(client).remove(secret)),
    mark: source.mark?.bind(source) ?? (async (client, graceEndsAt) => slotsOf(client).markGrace?.(graceEndsAt)),
    clearMark: source.clearMark?.bind(source) ?? (async (client) => slotsOf(client).clearGrace?.()),
  };
}

/** A grace mark stored as epoch seconds, as `graceEndsAt` wants it: epoch ms, `NaN` when unreadable, `undefined` when absent. */
export function graceEndFromSeconds(mark: unknown): number | undefined {
  return mark === undefined ? undefined : typeof mark === 'number' ? mark * 1000 : Number.NaN;
}

/** The most IdP calls each step of the sweep makes: listing a client's secrets (as the page has them, or fresh), a removal, a mark, a clear. */
export interface SweepCosts {
  secrets: number;
  freshSecrets: number;
  remove: number;
  mark: number;
  clearMark: number;
}

/** Thrown inside a sweep when its bound is reached; never leaves it. */
class SweepBoundReached extends Error {}

/**
 * The periodic sweep over the marked clients (`retireExpiredSecrets`), page by page through every one of them, at
 * most `maxIdpCalls` IdP calls per sweep: a sweep that reaches its bound stops before the call that would pass it,
 * and the next sweep continues from the page it stopped on (a failed sweep's successor starts over). For each marked client whose grace ended, the secrets
 * whose grace ended are retired (`retireSupersededSecrets`); when none in grace is left, the mark is cleared, then
 * the secrets are read once more and, if a rotation added one meanwhile, the client is marked again. Without a grace
 * there is nothing to retire and nothing is listed. Resolves with how many secrets this sweep retired itself.
 */
export function createGraceSweep<Client extends object>(graceSeconds: number, source: GraceSweepSource<Client>): (now: number, options?: SweepOptions) => Promise<number> {
  const steps = sweepSteps(source);
  let resumeAt: string | undefined;
  return async (now, options = {}) => {
    if (graceSeconds <= 0) return 0;
    const maxCalls = options.maxIdpCalls ?? DEFAULT_SWEEP_MAX_IDP_CALLS;
    let calls = 0;
    const spend = (cost: number) => {
      if (calls + cost > maxCalls) throw new SweepBoundReached();
      calls += cost;
    };
    const costs: SweepCosts = { secrets: 1, freshSecrets: 1, remove: 1, mark: 1, clearMark: 1, ...source.costs };
    let retired = 0;
    let cursor = resumeAt;
    try {
      for (;;) {
        spend(1);
        const page = await source.page(cursor);
        for (const client of page.clients) {
          const endsAt = source.graceEndsAt(client);
          if (endsAt === undefined || endsAt > now) continue;
          spend(costs.secrets);
          const held = await steps.secrets(client, false);
          const counted = await retireSupersededSecrets(held, graceSeconds, now, (secret) => {
            spend(costs.remove);
            return steps.remove(client, secret);
          });
          retired += counted;
          if (stillHeld(held, graceSeconds, now) > 1) continue;
          spend(costs.clearMark + costs.freshSecrets + costs.mark);
          await steps.clearMark(client);
          const after = oldestFirst(await steps.secrets(client, true));
          if (after.length > 1) await steps.mark(client, (after[1]!.createdAt || now) + graceSeconds * 1000);
        }
        const next = page.next();
        if (next === undefined) {
          resumeAt = undefined;
          return retired;
        }
        cursor = next;
      }
    } catch (error) {
      // After a failure the next sweep starts over (a cursor may have expired); after the bound, it continues on the
      // page this one stopped on, where what this one finished is no longer marked.
      resumeAt = error instanceof SweepBoundReached ? cursor : undefined;
      if (!(error instanceof SweepBoundReached)) throw error;
      options.onUnfinished?.(calls);
      return retired;
    }
  };
}

/** How many of `held` the sweep at `now` leaves: every secret whose successor's grace has not ended, and the newest. */
function stillHeld(held: HeldSecret[], graceSeconds: number, now: number): number {
  const sorted = oldestFirst(held);
  return sorted.filter((_, index) => {
    const successor = sorted[index + 1];
    return !successor || !Number.isFinite(successor.createdAt) || successor.createdAt + graceSeconds * 1000 >= now;
  }).length;
}

/** Every item of a listing read page by page by offset, up to `maxPages` pages. */
export async function* offsetPages<Item>(pageSize: number, maxPages: number, fetchPage: (offset: number, limit: number) => Promise<Item[]>): AsyncIterable<Item> {
  for (let page = 0; page < maxPages; page++) {
    const items = await fetchPage(page * pageSize, pageSize);
    yield* items;
    if (items.length < pageSize) return;
  }
}

/** After an add whose outcome is unknown: the secrets that were not there before are ones nobody holds. */
async function removeUnknown(slots: SecretSlots, previous: HeldSecret[]): Promise<void> {
  const known = new Set(previous.map((secret) => secret.id));
  for (const secret of await slots.list()) if (!known.has(secret.id)) await slots.remove(secret);
}

/** Oldest first; the sort is stable, so secrets with equal (or unknown) times keep the IdP's own order. */
function oldestFirst(secrets: HeldSecret[]): HeldSecret[] {
  return [...secrets].sort((a, b) => (Number.isFinite(a.createdAt) && Number.isFinite(b.createdAt) ? a.createdAt - b.createdAt : 0));
}
