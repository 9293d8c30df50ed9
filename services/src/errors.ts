// Failures a client is expected to handle. Each is a member of the result
// union of the mutations that can produce it; anything else stays masked.

export const ERROR_CODES = [
  'VALIDATION_FAILED',
  'NOT_FOUND',
  'NAME_CONFLICT',
  'KEY_LIMIT_REACHED',
  'KEY_REVOKED',
  'ROLE_IN_USE',
  'IDENTITY_IN_USE',
  'POLICY_VIOLATION',
  'SUGGESTION_OUTDATED',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export abstract class KeygateError extends Error {
  abstract readonly code: ErrorCode;
}

export interface FieldIssue {
  /** Path of the offending value from the operation's arguments, e.g. ["input", "ipRules", "2", "cidr"]. */
  path: string[];
  message: string;
}

export class ValidationError extends KeygateError {
  override readonly code = 'VALIDATION_FAILED';
  constructor(readonly issues: FieldIssue[]) {
    super(
      issues.length === 1
        ? `${issues[0]!.path.join('.')}: ${issues[0]!.message}`
        : `${issues.length} fields are invalid`,
    );
  }

  /** From a Standard Schema validator's issues (zod's, through Pothos' validation plugin). */
  static fromStandardSchema(
    issues: readonly { message: string; path?: readonly (PropertyKey | { key: PropertyKey })[] }[],
  ): ValidationError {
    return new ValidationError(
      issues.map((issue) => ({
        path: (issue.path ?? []).map((part) => String(typeof part === 'object' ? part.key : part)),
        message: issue.message,
      })),
    );
  }
}

export type ResourceType = 'Application' | 'ApiKey' | 'WebhookEndpoint' | 'Role' | 'Identity';

const RESOURCE_NAMES: Record<ResourceType, string> = {
  Application: 'Application',
  ApiKey: 'API key',
  WebhookEndpoint: 'Webhook endpoint',
  Role: 'Role',
  Identity: 'Identity',
};

export class NotFoundError extends KeygateError {
  override readonly code = 'NOT_FOUND';
  constructor(
    readonly resource: ResourceType,
    readonly id: string,
  ) {
    super(`${RESOURCE_NAMES[resource]} ${id} was not found`);
  }
}

export class NameConflictError extends KeygateError {
  override readonly code = 'NAME_CONFLICT';
  constructor(
    readonly applicationName: string,
    kind: 'application' | 'role' | 'identity' = 'application',
  ) {
    super(
      kind === 'identity'
        ? `An identity with the external id "${applicationName}" already exists`
        : `${kind === 'role' ? 'A role' : 'An application'} named "${applicationName}" already exists`,
    );
  }
}

/** A role that keys still have cannot be deleted: without it they could do more, or less, at once. */
export class RoleInUseError extends KeygateError {
  override readonly code = 'ROLE_IN_USE';
  constructor(
    readonly roleId: string,
    readonly keyCount: number,
  ) {
    super(
      `${keyCount} ${keyCount === 1 ? 'key that is not revoked has' : 'keys that are not revoked have'} this role; take it off them (editKey roles) first`,
    );
  }
}

export class KeyLimitReachedError extends KeygateError {
  override readonly code = 'KEY_LIMIT_REACHED';
  constructor(readonly limit: number) {
    super(`This application already has ${limit} keys that are not revoked, the most it may have; revoke one first`);
  }
}

export class KeyRevokedError extends KeygateError {
  override readonly code = 'KEY_REVOKED';
  constructor(
    readonly keyId: string,
    readonly revokedAt: Date,
    action: 'revoke' | 'change',
  ) {
    super(action === 'revoke' ? 'This API key is already revoked' : 'A revoked API key cannot be changed');
  }
}

/**
 * A request a service cannot serve as asked (a bad cursor, a page above the largest, a usage
 * range too long): the caller's to fix, answered as a BAD_USER_INPUT error of the request
 * rather than a member of a result union.
 */
export class BadRequestError extends Error {
  readonly code = 'BAD_USER_INPUT';
}

/** An identity keys still belong to is deleted only when asked to detach them (deleteIdentity detachKeys). */
export class IdentityInUseError extends KeygateError {
  override readonly code = 'IDENTITY_IN_USE';
  constructor(
    readonly identityId: string,
    readonly keyCount: number,
  ) {
    super(
      `${keyCount} ${keyCount === 1 ? 'key that is not revoked belongs' : 'keys that are not revoked belong'} to this identity; move them (editKey identityId) or delete with detachKeys: true`,
    );
  }
}

/** One rule of the merchant's key policy a change would break, and the input field to change. */
export interface PolicyViolationIssue {
  rule:
    | 'MAX_LIFETIME'
    | 'FULL_ACCESS_NEEDS_IP_RULES'
    | 'NO_WILDCARD_SCOPES_IN_LIVE'
    | 'ALLOWED_SCOPES'
    | 'MAX_GRACE_PERIOD';
  /** The key field the rule is about, e.g. "expiresAt". */
  field: string;
  /** The input value to change, from the operation's arguments, e.g. ["input", "keys", "3", "expiresAt"]. */
  path: string[];
  message: string;
}

/** The change would leave a key outside the merchant's key policy (or the operator's default). */
export class PolicyViolationError extends KeygateError {
  override readonly code = 'POLICY_VIOLATION';
  constructor(readonly violations: PolicyViolationIssue[]) {
    super(
      violations.length === 1
        ? `Refused by the key policy (${violations[0]!.rule}): ${violations[0]!.message}`
        : `Refused by the key policy: ${violations.length} rules are broken (${[...new Set(violations.map((v) => v.rule))].join(', ')})`,
    );
  }
}
