/**
 * The listing a grace sweep pages through (`GraceSweepSource.page`, rotation.ts) at an IdP that lists clients by
 * offset and searches a client attribute only where its operator configured the search (Keycloak searches none by
 * default and refuses the query). The first pass after start lists every client (so a grace from before the mark
 * existed is found too, by the driver's `graceEndsAt`); from the next pass on it searches the grace mark, and once the
 * IdP refused the search (`refused`), it lists every client again and never searches again.
 */
import { createGraceSweep, type GraceSweepSource, type ListingPage, type SweepOptions } from './rotation.js';

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
export function createMarkSearchSweep<Client extends object>(graceSeconds: number, source: MarkSearchOptions<Client> & Omit<GraceSweepSource<Client>, 'page'> & Required<Pick<GraceSweepSource<Client>, 'clearMark'>>): (now: number, options?: SweepOptions) => Promise<number> {
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
          return { clients: found.filter(isOwned), next: () => (found.length < pageSize ? undefined : String(first + found.filter((client) => !unmarked.has(client)).length)) };
        } catch (error) {
          if (!options.refused(error)) throw error;
          searchable = false;
          return { clients: [], next: () => '0' };
        }
      }
      const listed = await options.list(first, pageSize, false);
      if (listed.length < pageSize) searchable ??= true;
      return { clients: listed.filter(isOwned), next: () => (listed.length < pageSize ? undefined : String(first + listed.length)) };
    },
    cleared: (client) => void unmarked.add(client),
  };
}
