/**
 * Reading an IdP's listings, each bounded: an SDK's self-paging collection, a listing by offset, and a listing whose
 * every page links to the next (Graph's `@odata.nextLink`, a `next` cursor).
 *
 *   for await (const client of pages.byOffset(100, 20, (offset, limit) => listClients(offset, limit))) ...
 */

/** One page of a linked listing: its items, and the link to the next page (`undefined` on the last). */
export interface LinkedPage<Item> {
  items: Item[];
  next: string | undefined;
}

export const pages = {
  /** The first `max` items of an async listing (an SDK collection that pages by itself); empty items are skipped. */
  async collect<T>(items: AsyncIterable<T>, max: number): Promise<T[]> {
    const collected: T[] = [];
    for await (const item of items) {
      if (item) collected.push(item);
      if (collected.length >= max) break;
    }
    return collected;
  },

  /** Every item of a listing read page by page by offset, up to `maxPages` pages. */
  async *byOffset<Item>(
    pageSize: number,
    maxPages: number,
    fetchPage: (offset: number, limit: number) => Promise<Item[]>,
  ): AsyncIterable<Item> {
    for (let page = 0; page < maxPages; page++) {
      const items = await fetchPage(page * pageSize, pageSize);
      yield* items;
      if (items.length < pageSize) return;
    }
  },

  /** Every item of a linked listing, page by page from `first`, up to `maxPages` pages; `fetchPage` reads one page. */
  async *byLink<Item>(
    first: string,
    maxPages: number,
    fetchPage: (link: string) => Promise<LinkedPage<Item>>,
  ): AsyncIterable<Item> {
    let link: string | undefined = first;
    for (let page = 0; link && page < maxPages; page++) {
      const { items, next }: LinkedPage<Item> = await fetchPage(link);
      yield* items;
      link = next;
    }
  },
};
