// What a gateway route requires of a key, read from the query string of the auth URL the
// gateway is configured with (`/v1/auth?access=FULL_ACCESS&scopes=orders:write&cost=5`, or
// `permissions=orders:read%20AND%20(refunds:write%20OR%20admin)` for an expression).
// Only the gateway's configuration writes that URL; a client can add headers to its own
// request, and nginx and Traefik hand those on to the auth endpoint, so headers are never
// read for requirements or cost.
//
// Envoy's ext_authz appends the original request's path (query included) to its path
// prefix. A prefix ending in `path=` (`/v1/auth?cost=1&path=`) stops the reading there:
// whatever follows is the client's and is never read.
import {
  type Access,
  describePermissionError,
  type PermissionExpression,
  parseAccess,
  parseCost,
  parsePermissions,
  parseScopeList,
} from '@keygate/core';
import { LRUCache } from 'lru-cache';

export interface GatewayRequirements {
  /** Explicit access, or null: inferred from the method (GET, HEAD, OPTIONS read; others write). */
  access: Access | null;
  scopes: string[];
  /** A permission expression the key's scopes must satisfy, or null. */
  permissions: PermissionExpression | null;
  cost: number;
}

export type ParsedRequirements =
  | { ok: true; value: GatewayRequirements }
  | { ok: false; code: 'BAD_REQUIREMENTS' | 'BAD_COST'; error: string };

const NONE: ParsedRequirements = { ok: true, value: { access: null, scopes: [], permissions: null, cost: 1 } };

/** A gateway sends the same few query strings again and again: each is read once. */
const parsed = new LRUCache<string, ParsedRequirements>({ max: 1000 });

/** The requirements in `query` (the text after `?`, possibly empty). */
export function gatewayRequirements(query: string): ParsedRequirements {
  const end = configuredEnd(query);
  const configured = end === query.length ? query : query.slice(0, end);
  if (configured === '') return NONE;
  let result = parsed.get(configured);
  if (result === undefined) {
    result = parse(configured);
    parsed.set(configured, result);
  }
  return result;
}

/** Where the configured part ends: at the first `path=` parameter, else the whole string. */
function configuredEnd(query: string): number {
  if (query.startsWith('path=')) return 0;
  const at = query.indexOf('&path=');
  return at === -1 ? query.length : at;
}

function parse(query: string): ParsedRequirements {
  const seen = new Set<string>();
  let access: Access | null = null;
  let scopes: string[] = [];
  let permissions: PermissionExpression | null = null;
  let cost = 1;
  for (const pair of query.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const name = eq === -1 ? pair : pair.slice(0, eq);
    let value: string;
    try {
      value = decodeURIComponent((eq === -1 ? '' : pair.slice(eq + 1)).replace(/\+/g, ' '));
    } catch {
      return { ok: false, code: 'BAD_REQUIREMENTS', error: `the auth URL's ${name} is not valid percent-encoding` };
    }
    if (seen.has(name)) return { ok: false, code: 'BAD_REQUIREMENTS', error: `the auth URL names ${name} twice` };
    seen.add(name);
    switch (name) {
      case 'access': {
        const read = parseAccess(value);
        if (read === null)
          return { ok: false, code: 'BAD_REQUIREMENTS', error: 'access must be READ_ONLY or FULL_ACCESS' };
        access = read;
        break;
      }
      case 'scopes': {
        const read = parseScopeList(value);
        if (read === null) {
          return {
            ok: false,
            code: 'BAD_REQUIREMENTS',
            error: 'scopes must be at most 50 scopes (letters, digits, _ . : * -), comma-separated',
          };
        }
        scopes = read;
        break;
      }
      case 'permissions': {
        const read = parsePermissions(value);
        if (!read.ok) {
          return { ok: false, code: 'BAD_REQUIREMENTS', error: `permissions: ${describePermissionError(read.error)}` };
        }
        permissions = read.value;
        break;
      }
      case 'cost': {
        const read = parseCost(value);
        if (read === null)
          return { ok: false, code: 'BAD_COST', error: 'cost must be a whole number from 0 to 1000000' };
        cost = read;
        break;
      }
      default:
        return {
          ok: false,
          code: 'BAD_REQUIREMENTS',
          error: `the auth URL has an unknown parameter "${name.slice(0, 40)}" (known: access, scopes, permissions, cost, path)`,
        };
    }
  }
  return { ok: true, value: { access, scopes, permissions, cost } };
}
