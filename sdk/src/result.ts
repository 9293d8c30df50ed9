// Mutation results as a discriminated union: `ok` tells which side you have,
// and on the error side `error.code` (and `error.__typename`) tell which failure.

export type Result<T, E> = { ok: true; value: T } | { ok: false; error: E };

/** Splits a GraphQL result union into the success member and the error members. */
export function split<U extends { __typename: string }, S extends U['__typename'], T>(
  union: U,
  success: S,
  pick: (member: Extract<U, { __typename: S }>) => T,
): Result<T, Exclude<U, { __typename: S }>> {
  if (union.__typename === success) return { ok: true, value: pick(union as Extract<U, { __typename: S }>) };
  return { ok: false, error: union as Exclude<U, { __typename: S }> };
}
