import { describe, expect, it } from 'vitest';
import {
  describePermissionError,
  MAX_EXPRESSION_DEPTH,
  MAX_EXPRESSION_LENGTH,
  type ParsedPermissions,
  parsePermissions,
} from './permissions.ts';
import { verifiableKey } from './testing.ts';
import { decide } from './verification.ts';

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
