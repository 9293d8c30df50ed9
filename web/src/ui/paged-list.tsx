// One list screen's body: the query's state, the empty state, the rows (a table with its
// columns, or a list of cards), and the pager. Every list of the dashboard is one of these.
import type { ReactNode } from 'react';
import { QueryState } from './feedback.tsx';
import { type PageCursor, Pager } from './pager.tsx';

interface Connection<Edge> {
  edges: readonly Edge[];
  totalCount: number;
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
}

export interface Column {
  label: string;
  /** Shown only on wide screens (below 640 px, what it says moves into the first column). */
  wideOnly?: boolean;
  /** Shown only on large screens (1024 px and up); the row's own page has it. */
  largeOnly?: boolean;
  /** Read by screen readers only (a column of row actions). */
  hidden?: boolean;
  /** A fixed width (CSS length) for tables laid out by their columns; the others share what is left. */
  width?: string;
}

export function PagedList<Edge>({
  query,
  connection,
  empty,
  columns,
  rows,
  items,
  noun,
  onPage,
}: {
  query: { error: Parameters<typeof QueryState>[0]['error']; fetching: boolean };
  connection: Connection<Edge> | undefined;
  /** What an empty page says (and offers). */
  empty: ReactNode;
  /** A table's columns, with `rows` its rows; or `items`, a list's items, without columns. */
  columns?: readonly Column[];
  rows?: (edges: readonly Edge[]) => ReactNode;
  items?: (edges: readonly Edge[]) => ReactNode;
  /** Singular; the plural adds an s (a consonant's y becomes ies). */
  noun: string;
  onPage: (cursor: PageCursor) => void;
}) {
  return (
    <>
      <QueryState error={query.error} fetching={query.fetching} hasData={connection !== undefined} />
      {connection === undefined ? null : connection.edges.length === 0 ? (
        <div className="empty">{empty}</div>
      ) : (
        <>
          {columns && rows ? (
            <div className="table-wrap">
              <table className={columns.some((column) => column.width) ? 'table table-fixed' : 'table'}>
                <thead>
                  <tr>
                    {columns.map((column) => (
                      <th
                        key={column.label}
                        scope="col"
                        className={column.largeOnly ? 'large-only' : column.wideOnly ? 'wide-only' : undefined}
                        style={column.width ? { width: column.width } : undefined}
                      >
                        {column.hidden ? <span className="visually-hidden">{column.label}</span> : column.label}
                      </th>
                    ))}
                  </tr>
                </thead>
                <tbody>{rows(connection.edges)}</tbody>
              </table>
            </div>
          ) : (
            items?.(connection.edges)
          )}
          <Pager pageInfo={connection.pageInfo} onPage={onPage} total={connection.totalCount} noun={noun} />
        </>
      )}
    </>
  );
}
