// Narrowing a mutation's result union in a test: the member a test expects, or a failure that
// names what came instead. With them, what a test reads of a result is typed.

type Typed = { __typename: string };
type Success<T extends Typed> = Exclude<T, { __typename: `${string}Error` }>;

/** The successful member of a result union; fails the test with the error that came instead. */
export function ok<T extends Typed>(result: T | null | undefined): Success<T> {
  if (!result || result.__typename.endsWith('Error')) {
    throw new Error(`expected a successful result, got ${JSON.stringify(result)}`);
  }
  return result as Success<T>;
}

/** The member of a result union named `typename` (an error a test provokes); fails the test otherwise. */
export function member<T extends Typed, N extends T['__typename']>(
  result: T | null | undefined,
  typename: N,
): Extract<T, { __typename: N }> {
  if (result?.__typename !== typename) throw new Error(`expected ${typename}, got ${JSON.stringify(result)}`);
  return result as Extract<T, { __typename: N }>;
}

/** The error members of a result union (a failure a test provokes, whichever it is); fails the test on a success. */
export function failed<T extends Typed>(result: T | null | undefined): Extract<T, { __typename: `${string}Error` }> {
  if (!result?.__typename.endsWith('Error')) throw new Error(`expected an error, got ${JSON.stringify(result)}`);
  return result as Extract<T, { __typename: `${string}Error` }>;
}
