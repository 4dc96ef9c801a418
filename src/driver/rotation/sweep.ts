/**
 * The grace sweep (`retireExpiredSecrets`): page by page through the clients that carry the grace mark, bounded in IdP
 * calls, retiring each old secret whose grace ended (`retireSupersededSecrets`, grace.ts) and clearing the mark once
 * none in grace is left. Also the listing such a sweep pages through at an IdP that lists clients by offset and
 * searches a client attribute only where its operator configured the search (Keycloak searches none by default and
 * refuses the query): the first pass after start lists every client (so a grace from before the mark existed is found
 * too, by the driver's `graceEndsAt`); from the next pass on it searches the grace mark, and once the IdP refused the
 * search (`refused`), it lists every client again and never searches again.
 */
import type { SweepOptions } from '../contract.js';
import { oldestFirst, retireSupersededSecrets, rotateWithGrace, type HeldSecret, type SecretSlots } from './grace.js';

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
function sweepSteps<Client extends object>(
  source: GraceSweepSource<Client>,
): Required<Pick<GraceSweepSource<Client>, 'secrets' | 'remove' | 'mark' | 'clearMark'>> {
  const made = new WeakMap<Client, SecretSlots>();
  const slotsOf = (client: Client): SecretSlots => {
    if (!source.slots)
      throw new Error('A grace sweep source needs either `slots` or its own secrets, remove, mark and clearMark.');
    return made.get(client) ?? made.set(client, source.slots(client)).get(client)!;
  };
  return {
    secrets: source.secrets?.bind(source) ?? ((client) => slotsOf(client).list()),
    remove: source.remove?.bind(source) ?? ((client, secret) => slotsOf(client).remove(secret)),
    mark: source.mark?.bind(source) ?? (async (client, graceEndsAt) => slotsOf(client).markGrace?.(graceEndsAt)),
    clearMark: source.clearMark?.bind(source) ?? (async (client) => slotsOf(client).clearGrace?.()),
  };
}

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
export function createGraceSweep<Client extends object>(
  graceSeconds: number,
  source: GraceSweepSource<Client>,
): (now: number, options?: SweepOptions) => Promise<number> {
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

/** Rotation with a grace at an IdP that holds more than one secret per client: the rotation, and the sweep that retires what it left. */
export interface GraceRotation {
  /** Issues a new secret in `slots` (the client's), resolving with it and its expiry (epoch seconds, `0` = never). */
  rotate(slots: SecretSlots): Promise<{ value: string; expiresAt: number }>;
  /** The driver's `retireExpiredSecrets`. */
  sweep(now: number, options?: SweepOptions): Promise<number>;
}

/** Rotation with `graceSeconds` of grace: `rotate` is `rotateWithGrace` (grace.ts), `sweep` is `createGraceSweep` over `source`. */
export function graceRotation<Client extends object>(
  graceSeconds: number,
  source: GraceSweepSource<Client>,
): GraceRotation {
  return { rotate: (slots) => rotateWithGrace(slots, graceSeconds), sweep: createGraceSweep(graceSeconds, source) };
}

export interface MarkSearchOptions<Client> {
  /** Clients per page; default 100. */
  pageSize?: number;
  /** One page of the IdP's clients from `first`: those carrying the grace mark when `marked`, else all of them. */
  list(first: number, max: number, marked: boolean): Promise<Client[]>;
  isOwned(client: Client): boolean;
  /** Whether a failed search means the IdP does not search the mark (Keycloak: `400`). */
  refused(error: unknown): boolean;
}

/**
 * `createGraceSweep` paging through `markSearchListing`: the driver says how its IdP lists, reads and changes a
 * client, and a client whose mark the sweep cleared moves the next page's offset.
 */
export function createMarkSearchSweep<Client extends object>(
  graceSeconds: number,
  source: MarkSearchOptions<Client> &
    Omit<GraceSweepSource<Client>, 'page'> &
    Required<Pick<GraceSweepSource<Client>, 'clearMark'>>,
): (now: number, options?: SweepOptions) => Promise<number> {
  const listing = markSearchListing(source);
  return createGraceSweep<Client>(graceSeconds, {
    ...source,
    page: (cursor) => listing.page(cursor),
    clearMark: async (client) => {
      await source.clearMark(client);
      listing.cleared(client);
    },
  });
}

interface MarkSearchListing<Client> {
  page(cursor: string | undefined): Promise<ListingPage<Client>>;
  /** The client left the search (its mark was cleared), so the next page starts one earlier. */
  cleared(client: Client): void;
}

/** The sweep's pages, by offset, through a search for the grace mark where the IdP answers it, else every client. */
function markSearchListing<Client extends object>(options: MarkSearchOptions<Client>): MarkSearchListing<Client> {
  const { pageSize = 100, isOwned } = options;
  let searchable: boolean | undefined;
  const unmarked = new WeakSet<Client>();
  return {
    async page(cursor) {
      const first = Number(cursor ?? 0);
      if (searchable) {
        try {
          const found = await options.list(first, pageSize, true);
          return {
            clients: found.filter(isOwned),
            next: () =>
              found.length < pageSize
                ? undefined
                : String(first + found.filter((client) => !unmarked.has(client)).length),
          };
        } catch (error) {
          if (!options.refused(error)) throw error;
          searchable = false;
          return { clients: [], next: () => '0' };
        }
      }
      const listed = await options.list(first, pageSize, false);
      if (listed.length < pageSize) searchable ??= true;
      return {
        clients: listed.filter(isOwned),
        next: () => (listed.length < pageSize ? undefined : String(first + listed.length)),
      };
    },
    cleared: (client) => void unmarked.add(client),
  };
}
