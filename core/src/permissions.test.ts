import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  describePermissionError,
  MAX_EXPRESSION_DEPTH,
  MAX_EXPRESSION_LENGTH,
  MAX_EXPRESSION_SCOPES,
  type ParsedPermissions,
  parsePermissions,
} from './permissions.ts';
import { verifiableKey } from './testing.ts';
import { decide, scopeGranted } from './verification.ts';

const parsed = (text: string) => {
  const result = parsePermissions(text);
  if (!result.ok) throw new Error(describePermissionError(result.error));
  return result.value;
};
const failure = (result: ParsedPermissions) => (result.ok ? null : result.error);

describe('permission expressions', () => {
  it('read AND before OR, with parentheses, in any letter case, into one normal form', () => {
    expect(parsed('orders.read AND (refunds.write OR admin)').text).toBe('orders.read AND (refunds.write OR admin)');
    expect(parsed('a or b and c').text).toBe('a OR b AND c');
    expect(parsed('(a OR b) and c').tree).toEqual({ and: [{ or: [{ scope: 'a' }, { scope: 'b' }] }, { scope: 'c' }] });
    // Nested runs of one operator flatten; redundant parentheses go.
    expect(parsed('((a AND b) AND (c))').tree).toEqual({ and: [{ scope: 'a' }, { scope: 'b' }, { scope: 'c' }] });
    expect(parsed('  orders:*  ').text).toBe('orders:*');
    // Any white space separates (found by the fuzz test below: a no-break space threw).
    expect(parsed('a\u00a0AND\u2003b\vOR\fc').text).toBe('a AND b OR c');
    expect(failure(parsePermissions('\u00a0'))).toEqual({ position: 0, message: 'is empty' });
  });

  it('decide the way requiredScopes does, wildcards included', () => {
    const expression = parsed('orders.read AND (refunds.write OR admin)');
    expect(expression.allows(['orders.read', 'admin'])).toBe(true);
    expect(expression.allows(['orders.read', 'refunds.write'])).toBe(true);
    expect(expression.allows(['orders.read'])).toBe(false);
    expect(expression.allows(['refunds.write', 'admin'])).toBe(false);
    expect(expression.allows(['orders.*', 'refunds.*'])).toBe(true);
    expect(expression.allows(['*'])).toBe(true);
    // A key without scopes is limited by its access level only, as with requiredScopes.
    expect(expression.allows([])).toBe(true);
  });

  it('make a verification INSUFFICIENT_SCOPE when the key does not satisfy them', () => {
    const key = verifiableKey({ scopes: ['orders.read', 'refunds.write'] });
    const now = Date.now();
    expect(decide(key, { key: '', requiredPermissions: parsed('orders.read AND (refunds.write OR admin)') }, now)).toBe(
      'VALID',
    );
    expect(decide(key, { key: '', requiredPermissions: parsed('orders.read AND admin') }, now)).toBe(
      'INSUFFICIENT_SCOPE',
    );
    // Beside requiredScopes: both must hold.
    expect(
      decide(key, { key: '', requiredScopes: ['admin'], requiredPermissions: parsed('orders.read OR admin') }, now),
    ).toBe('INSUFFICIENT_SCOPE');
  });

  it('refuse malformed text with the position of the problem', () => {
    const cases: [string, number, RegExp][] = [
      ['', 0, /is empty/],
      ['   ', 0, /is empty/],
      ['a AND', 5, /expected a scope or \( after AND, found the end/],
      ['a AND OR b', 6, /expected a scope or \( after AND, found OR/],
      ['(a OR b', 7, /expected \) to close the \( at 1, found the end/],
      ['a OR b)', 6, /\) without a matching \(/],
      ['a b', 2, /expected AND, OR or the end, found "b"/],
      ['orders.read AND refunds$write', 16, /"refunds\$write" is not a scope/],
      ['()', 1, /expected a scope or \( after \(, found \)/],
      ['a AND -b', 6, /"-b" is not a scope/],
    ];
    for (const [text, position, message] of cases) {
      const error = failure(parsePermissions(text));
      expect(error, text).not.toBeNull();
      expect(error!.position, text).toBe(position);
      expect(error!.message, text).toMatch(message);
    }
    expect(describePermissionError(failure(parsePermissions('a AND'))!)).toBe(
      'expected a scope or ( after AND, found the end (at character 6)',
    );
  });

  it('are bounded in length, depth and scopes', () => {
    const deep = `${'('.repeat(MAX_EXPRESSION_DEPTH)}a${')'.repeat(MAX_EXPRESSION_DEPTH)}`;
    expect(parsePermissions(deep).ok).toBe(true);
    const deeper = `${'('.repeat(MAX_EXPRESSION_DEPTH + 1)}a${')'.repeat(MAX_EXPRESSION_DEPTH + 1)}`;
    expect(failure(parsePermissions(deeper))).toEqual({
      position: MAX_EXPRESSION_DEPTH,
      message: expect.stringMatching(/deeper than 8/),
    });
    // A hostile 250 KB text is refused without being read through.
    expect(failure(parsePermissions('a OR '.repeat(50_000)))?.message).toMatch(/longer than 1000 characters/);
    const many = Array.from({ length: 51 }, (_, i) => `s${i}`).join(' OR ');
    expect(many.length).toBeLessThanOrEqual(MAX_EXPRESSION_LENGTH);
    expect(failure(parsePermissions(many))?.message).toMatch(/more than 50 scopes/);
  });

  it('are parsed once per distinct text', () => {
    const text = 'cache.probe AND (x OR y)';
    expect(parsePermissions(text)).toBe(parsePermissions(text));
    // Beyond the cache's size the oldest go, and nothing breaks.
    for (let i = 0; i < 1500; i++) parsePermissions(`p${i} OR q`);
    expect(parsePermissions(text).ok).toBe(true);
  });
});

// Fuzzing: random expressions (well-formed or not) never throw, an error always points inside the
// text, and every well-formed expression decides exactly as the tree it was generated from.
describe('permission expressions, fuzzed', () => {
  const scope = fc.constantFrom('orders.read', 'orders.write', 'refunds.write', 'admin', 'a', 'b:c', 'x-y_z');
  type Tree = { scope: string } | { and: Tree[] } | { or: Tree[] };
  const { tree } = fc.letrec<{ tree: Tree }>((tie) => ({
    tree: fc.oneof(
      { depthSize: 'medium', withCrossShrink: true },
      scope.map((s) => ({ scope: s })),
      fc.array(tie('tree'), { minLength: 2, maxLength: 3 }).map((and) => ({ and })),
      fc.array(tie('tree'), { minLength: 2, maxLength: 3 }).map((or) => ({ or })),
    ),
  }));
  const print = (node: Tree): string =>
    'scope' in node
      ? node.scope
      : `(${('and' in node ? node.and : node.or).map(print).join('and' in node ? ' and ' : ' OR ')})`;
  const holds = (node: Tree, granted: readonly string[]): boolean =>
    'scope' in node
      ? scopeGranted(granted, node.scope)
      : 'and' in node
        ? node.and.every((child) => holds(child, granted))
        : node.or.some((child) => holds(child, granted));
  const depth = (node: Tree): number =>
    'scope' in node ? 0 : 1 + Math.max(...('and' in node ? node.and : node.or).map(depth));
  const count = (node: Tree): number =>
    'scope' in node ? 1 : ('and' in node ? node.and : node.or).reduce((sum, child) => sum + count(child), 0);
  const keyScopes = fc.subarray(['orders.read', 'orders.*', 'refunds.write', 'admin', 'a', '*', 'b:c']);

  it('never throws, and an error names a position inside the text', () => {
    const token = fc.constantFrom(
      'AND',
      'OR',
      'and',
      'Or',
      '(',
      ')',
      ' ',
      'orders.read',
      '*',
      'a',
      '',
      '\u0000',
      'é',
      '))',
    );
    const soup = fc.oneof(
      fc.array(token, { maxLength: 40 }).map((parts) => parts.join(' ')),
      fc.array(token, { maxLength: 40 }).map((parts) => parts.join('')),
      fc.string({ maxLength: 200 }),
      fc.string({ unit: 'grapheme', maxLength: 50 }),
      fc.nat({ max: 30 }).map((n) => `${'('.repeat(n)}a${')'.repeat(n)}`),
    );
    fc.assert(
      fc.property(soup, (text) => {
        const result = parsePermissions(text);
        if (result.ok) {
          expect(parsePermissions(result.value.text).ok).toBe(true);
          return;
        }
        expect(result.error.position).toBeGreaterThanOrEqual(0);
        expect(result.error.position).toBeLessThanOrEqual(text.length);
        expect(describePermissionError(result.error)).toMatch(/\(at character \d+\)$/);
      }),
      { numRuns: 3000 },
    );
  });

  it('decides every well-formed expression as its tree says, for any key scopes', () => {
    fc.assert(
      fc.property(tree, keyScopes, (node, granted) => {
        const text = print(node);
        const result = parsePermissions(text);
        const withinBounds =
          depth(node) <= MAX_EXPRESSION_DEPTH &&
          count(node) <= MAX_EXPRESSION_SCOPES &&
          text.length <= MAX_EXPRESSION_LENGTH;
        expect(result.ok).toBe(withinBounds);
        if (!result.ok) return;
        // A key without scopes is not narrowed: it satisfies every expression.
        expect(result.value.allows(granted)).toBe(granted.length === 0 || holds(node, granted));
        // Its normal form means the same.
        const again = parsePermissions(result.value.text);
        expect(again.ok && again.value.allows(granted)).toBe(result.value.allows(granted));
      }),
      { numRuns: 3000 },
    );
  });
});
