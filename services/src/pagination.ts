// Keyset pagination over time-ordered (UUIDv7) ids, newest first.
import { isUuid } from '@keygate/core';
import { BadRequestError } from './errors.ts';

/** What Pothos hands a connection's resolver: a page (take ±, cursor with skip 1) and a selection. */
export interface ConnectionQuery {
  take: number;
  skip?: number;
  cursor?: { id?: string };
  include?: unknown;
  select?: unknown;
}

/**
 * Turns the position cursor of a Pothos connection query ({ cursor, skip, take })
 * into a keyset condition on the time-ordered id (newest first). Unlike Prisma's
 * cursor, which looks the cursor row up, this depends on the cursor value only:
 * a cursor naming another merchant's row behaves like one naming no row.
 */
export function keysetQuery<Q extends { take: number; skip?: number; cursor?: { id?: string } }>(query: Q) {
  const { cursor, skip: _skip, ...rest } = query;
  if (!cursor) return { query: rest, where: {} };
  if (cursor.id === undefined || !isUuid(cursor.id)) {
    throw new BadRequestError('Invalid pagination cursor');
  }
  return { query: rest, where: { id: rest.take > 0 ? { lt: cursor.id } : { gt: cursor.id } } };
}

export const newestFirst = { id: 'desc' } as const;

/** Pages larger than the maximum are refused, not silently shortened (the server checks first, with variables). */
export function checkPageSize(args: { first?: number | null; last?: number | null }, maxPageSize: number): void {
  for (const name of ['first', 'last'] as const) {
    const value = args[name];
    if (value != null && value > maxPageSize) {
      throw new BadRequestError(`${name} must be at most ${maxPageSize}`);
    }
  }
}
