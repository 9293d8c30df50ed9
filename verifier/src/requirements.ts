// Permission expressions as the verifier takes them: parsed once per distinct text by core's
// parser (the one Keygate's verifyKey and /v1/auth use), a malformed one a typed error.
import { describePermissionError, parsePermissions } from '@keygate/core';

/** A parsed expression (core's PermissionExpression, named here so the package's types stay its own). */
export interface ParsedPermissionExpression {
  allows(keyScopes: readonly string[]): boolean;
}

/** A malformed requirement, e.g. a permission expression that does not parse: a bug in the caller's code. */
export class KeygateRequirementsError extends TypeError {
  override readonly name = 'KeygateRequirementsError';
  readonly code = 'BAD_REQUIREMENTS';
  constructor(
    message: string,
    /** Zero-based index of the problem in the expression. */
    readonly position: number,
  ) {
    super(message);
  }
}

/** The parsed expression, or a KeygateRequirementsError. */
export function checkedPermissions(text: unknown, what = 'requiredPermissions'): ParsedPermissionExpression {
  if (typeof text !== 'string') throw new KeygateRequirementsError(`${what} must be a string`, 0);
  const parsed = parsePermissions(text);
  if (!parsed.ok)
    throw new KeygateRequirementsError(`${what}: ${describePermissionError(parsed.error)}`, parsed.error.position);
  return parsed.value;
}
