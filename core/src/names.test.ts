import { expect, it } from 'vitest';
import { normalizeName } from './names.ts';

it('compares names case-insensitively, ignoring surrounding space and Unicode forms', () => {
  expect(normalizeName(' Production Web Store ')).toBe('production web store');
  expect(normalizeName('ＳＴＡＧＩＮＧ')).toBe('staging');
  expect(normalizeName('Cafe\u0301')).toBe(normalizeName('Café'));
  expect(normalizeName('a b')).not.toBe(normalizeName('ab'));
});
