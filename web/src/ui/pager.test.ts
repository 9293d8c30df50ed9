import { describe, expect, it } from 'vitest';
import { PAGE_SIZE, pageVariables, pluralOf } from './pager.tsx';

describe('page variables', () => {
  it('asks for the first page, the page after a cursor, or the page before one', () => {
    expect(pageVariables(null)).toEqual({ first: PAGE_SIZE });
    expect(pageVariables({ after: 'c1' }, 5)).toEqual({ first: 5, after: 'c1' });
    // Backwards: the last items before the cursor, so Previous shows the page that came before.
    expect(pageVariables({ before: 'c9' }, 5)).toEqual({ last: 5, before: 'c9' });
  });
});

describe('the pager’s count', () => {
  it('names the plural of every list’s noun', () => {
    expect(['key', 'application', 'identity', 'role', 'endpoint', 'day'].map(pluralOf)).toEqual([
      'keys',
      'applications',
      'identities',
      'roles',
      'endpoints',
      'days',
    ]);
  });
});
