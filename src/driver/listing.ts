/**
 * Reading an IdP's listings: an SDK's self-paging collection up to a bound, and a listing whose every page links to
 * the next (Graph's `@odata.nextLink`, a `next` cursor). (Listings by offset: `offsetPages`, rotation.ts.)
 */

/** The first `max` items of an async listing (an SDK collection that pages by itself); empty items are skipped. */
export async function collectUpTo<T>(items: AsyncIterable<T>, max: number): Promise<T[]> {
  const collected: T[] = [];
  for await (const item of items) {
    if (item) collected.push(item);
    if (collected.length >= max) break;
  }
  return collected;
}

/** One page of a linked listing: its items, and the link to the next page (`undefined` on the last). */
export interface LinkedPage<Item> {
  items: Item[];
  next: string | undefined;
}

/** Every item of a linked listing, page by page from `first`, up to `maxPages` pages; `fetchPage` reads one page. */
export async function* followPages<Item>(first: string, maxPages: number, fetchPage: (link: string) => Promise<LinkedPage<Item>>): AsyncIterable<Item> {
  let link: string | undefined = first;
  for (let page = 0; link && page < maxPages; page++) {
    const { items, next }: LinkedPage<Item> = await fetchPage(link);
    yield* items;
    link = next;
  }
}
