// Where a mutation's errors are shown: a ValidationError's issues on their fields, everything
// else on the form, and failed requests in words a merchant can act on.
import { CombinedError } from 'urql';
import { describe, expect, it } from 'vitest';
import { failureOf, formErrors, inOneLine } from './errors.ts';

const issue = (path: string[], message: string) => ({ __typename: 'FieldIssue' as const, path, message });

describe('form errors', () => {
  it('puts each issue on its field under input, and what has no field on the form', () => {
    const errors = formErrors({
      __typename: 'ValidationError',
      code: 'VALIDATION_FAILED',
      message: '2 fields are invalid',
      issues: [
        issue(['input', 'name'], 'must not be empty'),
        issue(['input', 'rules', '1', 'cidr'], 'is not an IP address'),
        issue(['input', 'name'], 'a second message for the same field is not shown'),
        issue(['input'], 'a merchant may have at most 20 webhook endpoints; delete one first'),
      ],
    } as never);
    expect(errors).toEqual({
      fields: { name: 'must not be empty', 'rules.1.cidr': 'is not an IP address' },
      form: 'a merchant may have at most 20 webhook endpoints; delete one first',
    });
  });

  it('puts a name conflict on the name field, other typed errors on the form', () => {
    expect(
      formErrors({ __typename: 'NameConflictError', code: 'NAME_CONFLICT', message: 'taken', name: 'Shop' } as never),
    ).toMatchObject({ fields: { name: 'taken' }, form: null });
    const missing = formErrors({
      __typename: 'NotFoundError',
      code: 'NOT_FOUND',
      message: 'API key x was not found',
    } as never);
    expect(missing.fields).toEqual({});
    expect(missing.form).toContain('not found');
  });

  it('says what a failed request means, and nothing for a success', () => {
    const offline = new CombinedError({ networkError: new TypeError('Failed to fetch') });
    expect(inOneLine(failureOf(offline, undefined))).toMatch(/could not be reached|offline/);
    expect(failureOf(undefined, { __typename: 'ApiKeyPayload' })).toBeNull();
    expect(inOneLine(null)).toBeNull();
    expect(inOneLine({ fields: { name: 'too long', url: 'not a URL' }, form: null })).toBe('too long; not a URL');
  });
});
