// Walks a whole Relay connection, page by page, as an async iterator.

export interface Page<T> {
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
  edges: readonly { node: T }[];
}

export async function* walk<T>(fetchPage: (after: string | null) => Promise<Page<T> | null>): AsyncGenerator<T> {
  let after: string | null = null;
  for (;;) {
    const page = await fetchPage(after);
    if (!page) return;
    for (const edge of page.edges) yield edge.node;
    if (!page.pageInfo.hasNextPage || page.pageInfo.endCursor === null) return;
    after = page.pageInfo.endCursor;
  }
}
