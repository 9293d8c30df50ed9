// Relay global ids and keyset pagination. Every id a client sends is decoded
// here; anything malformed is treated exactly like an id that does not exist.
import { decodeGlobalID, encodeGlobalID } from '@pothos/plugin-relay';
import { GraphQLError } from 'graphql';

export type NodeType = 'Merchant' | 'Application' | 'ApiKey';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The database id behind a global id of the given type, or null when it cannot be one. */
export function localId(globalId: string, type: Exclude<NodeType, 'Merchant'>): string | null {
  if (globalId.length > 200) return null;
  try {
    const { typename, id } = decodeGlobalID(globalId);
    return typename === type && UUID.test(id) ? id : null;
  } catch {
    return null;
  }
}

export function globalId(type: NodeType, id: string): string {
  return encodeGlobalID(type, id);
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
  if (cursor.id === undefined || !UUID.test(cursor.id)) {
    throw new GraphQLError('Invalid pagination cursor', { extensions: { code: 'BAD_USER_INPUT' } });
  }
  return { query: rest, where: { id: rest.take > 0 ? { lt: cursor.id } : { gt: cursor.id } } };
}

export const newestFirst = { id: 'desc' } as const;

/** Global id decoding for the builder: malformed ids decode to a type that loads nothing. */
export function decodeNodeId(id: string): { typename: string; id: string } {
  try {
    return decodeGlobalID(id);
  } catch {
    return { typename: '', id: '' };
  }
}

/** Whether a decoded node id can name a row at all (so the database never sees garbage). */
export function isLoadableNodeId({ typename, id }: { typename: string; id: string }): boolean {
  if (typename === 'Application' || typename === 'ApiKey') return UUID.test(id);
  return typename === 'Merchant' && id.length > 0 && id.length <= 128;
}

/** Pages larger than the maximum are refused, not silently shortened. */
export function checkPageSize(args: { first?: number | null; last?: number | null }, maxPageSize: number): void {
  for (const name of ['first', 'last'] as const) {
    const value = args[name];
    if (value != null && value > maxPageSize) {
      throw new GraphQLError(`${name} must be at most ${maxPageSize}`, { extensions: { code: 'BAD_USER_INPUT' } });
    }
  }
}
