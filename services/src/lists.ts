// Every list a connection shows (applications, the audit trail, expiring keys, webhook
// endpoints and their deliveries): newest first, paged by a keyset over the time-ordered
// (UUIDv7) id, forward and backward alike. One helper, so every list checks its page size the
// same way and reads only what its page holds.
import { type ConnectionQuery, checkPageSize, keysetQuery, newestFirst } from './pagination.ts';

export interface PageArgs {
  first?: number | null;
  last?: number | null;
}

/** What a list's model is asked for: the page (its size and selection), its keyset, the order. */
export interface ListPage {
  /** Its size, and the selection Pothos made for the GraphQL query (select/include), passed on as it is. */
  query: { take: number };
  /** The cursor as a condition on the id: put it beside the list's own filter (AND). */
  keyset: { id?: { lt: string } | { gt: string } };
  orderBy: typeof newestFirst;
}

/** One page of a list: the page size checked against the largest, the cursor turned into a keyset. */
export function listPage<Row>(
  rawQuery: ConnectionQuery,
  args: PageArgs,
  maxPageSize: number,
  find: (page: ListPage) => Promise<Row[]>,
): Promise<Row[]> {
  checkPageSize(args, maxPageSize);
  const { query, where } = keysetQuery(rawQuery);
  return find({ query: query as { take: number }, keyset: where as ListPage['keyset'], orderBy: newestFirst });
}

/** Text to match literally in a LIKE pattern (Prisma's `contains` is one): % and _ match themselves. */
export function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (char) => `\\${char}`);
}
