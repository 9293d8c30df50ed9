// Cursor pages: the connection's pageInfo drives Previous and Next; the page's cursor lives
// in the screen's state (a page is "after X" or "before Y").
import { useState } from 'react';
import { Button } from './controls.tsx';

export type PageCursor = { after: string } | { before: string } | null;

export const PAGE_SIZE = 20;

/** The variables of a page: the first page, the page after a cursor, or the page before one. */
export function pageVariables(cursor: PageCursor, size = PAGE_SIZE) {
  if (cursor === null) return { first: size };
  return 'after' in cursor ? { first: size, after: cursor.after } : { last: size, before: cursor.before };
}

export function usePages(size = PAGE_SIZE) {
  const [cursor, setCursor] = useState<PageCursor>(null);
  return { variables: pageVariables(cursor, size), setCursor, reset: () => setCursor(null) };
}

export function Pager({
  pageInfo,
  onPage,
  total,
  noun,
}: {
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
  onPage: (cursor: PageCursor) => void;
  total: number;
  /** Singular; the plural adds an s. */
  noun: string;
}) {
  return (
    <nav className="pager" aria-label={`Pages of ${pluralOf(noun)}`}>
      <span className="muted">
        {total} {total === 1 ? noun : pluralOf(noun)}
      </span>
      <Button
        isDisabled={!pageInfo.hasPreviousPage || pageInfo.startCursor === null}
        onPress={() => onPage({ before: pageInfo.startCursor! })}
      >
        Previous page
      </Button>
      <Button
        isDisabled={!pageInfo.hasNextPage || pageInfo.endCursor === null}
        onPress={() => onPage({ after: pageInfo.endCursor! })}
      >
        Next page
      </Button>
    </nav>
  );
}

/** "key" → "keys", "identity" → "identities". */
export const pluralOf = (noun: string) => (/[^aeiou]y$/.test(noun) ? `${noun.slice(0, -1)}ies` : `${noun}s`);
