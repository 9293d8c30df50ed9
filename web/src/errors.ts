// Mutation results are unions of a payload and typed errors (ErrorFields): this puts each
// error where it belongs, a ValidationError's issues on their fields (by their path under
// `input`), the others on the form; a request that failed outright goes on the form too.
import type { ErrorFieldsFragment } from '@keygate/sdk/documents';
import type { CombinedError } from 'urql';
import { explain } from './client.ts';

export interface FormErrors {
  /** Field path under the input ("name", "rules.1.cidr") → message. */
  fields: Record<string, string>;
  /** What belongs to no one field. */
  form: string | null;
}

export const NO_ERRORS: FormErrors = { fields: {}, form: null };

export function isError<T extends { __typename: string }>(
  result: T,
): result is Extract<T, { __typename: ErrorFieldsFragment['__typename'] }> {
  return result.__typename.endsWith('Error');
}

export function formErrors(error: ErrorFieldsFragment, nameField = 'name'): FormErrors {
  switch (error.__typename) {
    case 'ValidationError': {
      const fields: Record<string, string> = {};
      const loose: string[] = [];
      for (const issue of error.issues) {
        const path = issue.path[0] === 'input' ? issue.path.slice(1) : issue.path;
        const key = path.join('.');
        if (key === '') loose.push(issue.message);
        else fields[key] ??= issue.message;
      }
      return { fields, form: loose.length > 0 ? loose.join('; ') : null };
    }
    case 'PolicyViolationError': {
      // Each broken rule on its field (when the form has it), and all of them said on the form.
      const fields: Record<string, string> = {};
      for (const violation of error.violations) {
        const path = violation.path[0] === 'input' ? violation.path.slice(1) : violation.path;
        fields[path.join('.')] ??= violation.message;
      }
      const messages = [...new Set(error.violations.map((violation) => violation.message))];
      return { fields, form: `Your key policy refuses this: ${messages.join('; ')}.` };
    }
    case 'NameConflictError':
      return { fields: { [nameField]: error.message }, form: null };
    case 'NotFoundError':
      return { fields: {}, form: `${error.message}. It may have been deleted, or it belongs to another account.` };
    default:
      return { fields: {}, form: error.message };
  }
}

/** What went wrong with a mutation, placed; null when it succeeded. */
export function failureOf(
  error: CombinedError | undefined,
  payload: { __typename: string } | null | undefined,
  nameField = 'name',
): FormErrors | null {
  if (error) return { fields: {}, form: explain(error) };
  if (payload && isError(payload)) return formErrors(payload as ErrorFieldsFragment, nameField);
  return null;
}

/** The same as one sentence, for a dialog that has no fields to put it on. */
export function inOneLine(errors: FormErrors | null): string | null {
  if (errors === null) return null;
  return errors.form ?? Object.values(errors.fields).join('; ');
}
