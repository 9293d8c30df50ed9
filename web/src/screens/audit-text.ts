// The audit trail in sentences: what each change did, from its action and summary (what was
// asked for, and for edits what the fields held before). No internal id and no JSON reaches the
// screen; what the summary cannot say, the sentence leaves out.
import type { AuditAction } from '@keygate/sdk/documents';
import { type PolicyRules, policySentences } from './policy-text.ts';

export const ACTIONS: Record<AuditAction, string> = {
  createApplication: 'Application created',
  updateApplication: 'Application updated',
  setApplicationEnabled: 'Application enabled or disabled',
  createKey: 'Key created',
  editKey: 'Key edited',
  revokeKey: 'Key revoked',
  rollKey: 'Key rolled',
  setIpRules: 'IP rules set',
  setKeyEnabled: 'Key enabled or disabled',
  reportLeakedKey: 'Leaked key reported',
  createWebhookEndpoint: 'Webhook endpoint added',
  updateWebhookEndpoint: 'Webhook endpoint changed',
  deleteWebhookEndpoint: 'Webhook endpoint deleted',
  rotateWebhookSecret: 'Webhook secret rotated',
  sendTestWebhook: 'Test webhook sent',
  createRole: 'Role created',
  updateRole: 'Role changed',
  deleteRole: 'Role deleted',
  createIdentity: 'Identity created',
  updateIdentity: 'Identity changed',
  deleteIdentity: 'Identity deleted',
  registerImportPrefix: 'Import prefix registered',
  removeImportPrefix: 'Import prefix removed',
  importKeys: 'Keys imported',
  setPolicy: 'Key policy set',
  applySuggestion: 'Suggestion applied',
  setAnomalyResponses: 'Anomaly responses set',
};

type Summary = Record<string, unknown>;

/** The event as a title ("Key disabled") and the sentences that say what changed. */
export function describeEvent(action: AuditAction, summary: unknown): { title: string; details: string[] } {
  const s: Summary = summary !== null && typeof summary === 'object' ? (summary as Summary) : {};
  const was: Summary = s.before !== null && typeof s.before === 'object' ? (s.before as Summary) : {};
  switch (action) {
    case 'createApplication':
      return { title: 'Application created', details: s.description ? [`Description: ${text(s.description)}`] : [] };
    case 'updateApplication':
      return { title: 'Application updated', details: changes(s, was, ['name', 'description']) };
    case 'setApplicationEnabled':
      return s.enabled === false
        ? { title: 'Application disabled', details: ['None of its keys verify until it is enabled again.'] }
        : { title: 'Application enabled', details: [] };
    case 'createKey':
      return { title: 'Key created', details: keyFacts(s) };
    case 'editKey':
      return {
        title: 'Key edited',
        details: changes(s, was, [
          'name',
          'websiteUrl',
          'access',
          'scopes',
          'roles',
          'identityId',
          'expiresAt',
          'credits',
          'rateLimits',
          'metadata',
          'externalId',
        ]),
      };
    case 'revokeKey':
      return { title: 'Key revoked', details: ['It is refused from now on.'] };
    case 'rollKey': {
      const grace = Number(s.gracePeriodSeconds ?? 0);
      return {
        title: 'Key rolled',
        details: [
          s.prefix ? `Replaced by the new key ${text(s.prefix)}…` : 'Replaced by a new key',
          grace > 0
            ? `The old secret kept working for ${duration(grace)} more.`
            : 'The old secret stopped working at once.',
        ],
      };
    }
    case 'setIpRules':
      return { title: 'IP rules set', details: [ipRules(s)] };
    case 'setKeyEnabled':
      return s.enabled === false
        ? {
            title: 'Key disabled',
            details: [
              ...(s.anomaly
                ? [`By Keygate, on an anomaly (${text(s.anomaly).toLowerCase().replace('_', ' ')}), as you chose.`]
                : []),
              'It is refused until it is enabled again.',
            ],
          }
        : { title: 'Key enabled', details: [] };
    case 'reportLeakedKey':
      return {
        title: 'Key reported as leaked',
        details: [
          `Found${s.url ? ` at ${text(s.url)}` : ''}${s.source ? ` (reported by ${text(s.source)})` : ''}.`,
          ...(s.action ? [`Keygate ${leakOutcome(text(s.action))}.`] : []),
        ],
      };
    case 'createWebhookEndpoint':
      return {
        title: 'Webhook endpoint added',
        details: [
          ...(s.url ? [`Sends to ${text(s.url)}`] : []),
          ...(Array.isArray(s.events) ? [`Events: ${s.events.map(eventName).join(', ')}`] : []),
        ],
      };
    case 'updateWebhookEndpoint':
      return {
        title: 'Webhook endpoint changed',
        details: changes(s, was, ['url', 'events', 'description', 'enabled']),
      };
    case 'deleteWebhookEndpoint':
      return { title: 'Webhook endpoint deleted', details: s.url ? [`It sent to ${text(s.url)}`] : [] };
    case 'rotateWebhookSecret':
      return { title: 'Webhook signing secret rotated', details: ['Deliveries are signed with the new secret.'] };
    case 'sendTestWebhook':
      return { title: 'Test webhook sent', details: [] };
    case 'createRole':
      return {
        title: 'Role created',
        details: Array.isArray(s.scopes) ? [`Grants ${s.scopes.map(text).join(', ')}`] : [],
      };
    case 'updateRole':
      return { title: 'Role changed', details: changes(s, was, ['name', 'description', 'scopes']) };
    case 'deleteRole':
      return { title: 'Role deleted', details: s.name ? [`It was '${text(s.name)}'`] : [] };
    case 'createIdentity':
      return { title: 'Identity created', details: s.externalId ? [`External id: ${text(s.externalId)}`] : [] };
    case 'updateIdentity':
      return { title: 'Identity changed', details: changes(s, was, ['externalId', 'name', 'metadata']) };
    case 'registerImportPrefix':
      return {
        title: 'Import prefix registered',
        details: s.prefix ? [`Keys starting with ${text(s.prefix)} can be imported`] : [],
      };
    case 'removeImportPrefix':
      return { title: 'Import prefix removed', details: s.prefix ? [`${text(s.prefix)} is no longer looked up`] : [] };
    case 'applySuggestion': {
      if (s.kind === 'REVOKE_UNUSED') {
        return { title: 'Unused key revoked', details: ['Suggested: no verification passed with it in the window.'] };
      }
      const scopes = Array.isArray(s.scopes) ? (s.scopes as string[]) : [];
      return {
        title: 'Key narrowed to its use',
        details: [
          `Access: ${text(s.access)}${was.access && was.access !== s.access ? ` (was ${text(was.access)})` : ''}`,
          `Scopes: ${scopes.length > 0 ? scopes.join(', ') : 'none of its own'}`,
        ],
      };
    }
    case 'setAnomalyResponses': {
      const kinds = ['NEW_NETWORK', 'MANY_NETWORKS', 'VOLUME_SPIKE', 'REFUSAL_BURST'];
      const disabling = kinds.filter((kind) => s[kind] === 'DISABLE');
      return {
        title: 'Anomaly responses set',
        details: [
          disabling.length === 0
            ? 'Every anomaly is told, no key is disabled.'
            : `Keys are disabled on: ${disabling.map((kind) => kind.toLowerCase().replace('_', ' ')).join(', ')}.`,
        ],
      };
    }
    case 'setPolicy': {
      const rules = policySentences((s.rules ?? {}) as PolicyRules);
      return { title: 'Key policy set', details: rules.length > 0 ? rules : ['No rules: any key may be made.'] };
    }
    case 'importKeys':
      return {
        title: 'Keys imported',
        details: [
          `${plural(Number(s.imported ?? 0), 'key')} imported${Number(s.skipped ?? 0) > 0 ? `, ${number(s.skipped)} already there` : ''}`,
        ],
      };
    case 'deleteIdentity':
      return {
        title: 'Identity deleted',
        details: [
          ...(s.externalId ? [`It was ${text(s.externalId)}${s.name ? ` (${text(s.name)})` : ''}`] : []),
          ...(s.detachKeys ? ['Its keys were kept, belonging to no identity.'] : []),
        ],
      };
  }
}

const LABELS: Record<string, string> = {
  name: 'name',
  description: 'description',
  websiteUrl: 'website',
  access: 'access',
  scopes: 'scopes',
  expiresAt: 'expiry',
  externalId: 'external id',
  url: 'URL',
  events: 'events',
};

/** One sentence per field the edit sent: "Renamed 'A' to 'B'", "Access: read only → full access". */
function changes(s: Summary, was: Summary, fields: string[]): string[] {
  const out: string[] = [];
  for (const field of fields) {
    if (!(field in s)) continue;
    const now = s[field];
    const before = field in was ? was[field] : undefined;
    switch (field) {
      case 'name':
        out.push(before !== undefined ? `Renamed '${text(before)}' to '${text(now)}'` : `Renamed to '${text(now)}'`);
        break;
      case 'enabled':
        out.push(now === false ? 'Disabled' : 'Enabled');
        break;
      case 'credits':
        out.push(credits(now));
        break;
      case 'rateLimits':
        out.push(rateLimits(now));
        break;
      case 'metadata':
        out.push(now === null ? 'Metadata cleared' : 'Metadata replaced');
        break;
      case 'identityId':
        out.push(
          now === null ? 'Taken out of its identity' : before ? 'Moved to another identity' : 'Given an identity',
        );
        break;
      case 'roles':
        // Role ids mean nothing to a reader; the count says what happened.
        out.push(
          Array.isArray(now) && now.length > 0
            ? `Roles set (${plural(now.length, 'role')}${Array.isArray(before) ? `, was ${before.length}` : ''})`
            : 'Every role taken off',
        );
        break;
      default: {
        const label = LABELS[field] ?? field;
        const show = (value: unknown) => value_(field, value);
        if (now === null || (Array.isArray(now) && now.length === 0)) {
          out.push(`${capital(label)} removed${before != null ? ` (was ${show(before)})` : ''}`);
        } else if (before !== undefined && before !== null) {
          out.push(`${capital(label)}: ${show(before)} → ${show(now)}`);
        } else {
          out.push(`${capital(label)} set to ${show(now)}`);
        }
      }
    }
  }
  return out;
}

function value_(field: string, value: unknown): string {
  if (field === 'access') return value === 'FULL_ACCESS' ? 'full access' : 'read only';
  if (field === 'expiresAt') return date(value);
  if (field === 'events' && Array.isArray(value)) return value.map(eventName).join(', ');
  if (Array.isArray(value)) return value.map(text).join(', ');
  return text(value);
}

/** What a new key was made with. */
function keyFacts(s: Summary): string[] {
  const facts: string[] = [];
  // Its name and prefix are the event's target, shown beside it.
  const what = [s.access === 'FULL_ACCESS' ? 'Full access' : 'Read only'];
  if (s.environment === 'TEST') what.push('test mode');
  facts.push(what.join(', '));
  if (Array.isArray(s.scopes) && s.scopes.length > 0) facts.push(`Scopes: ${s.scopes.map(text).join(', ')}`);
  if (Array.isArray(s.roles) && s.roles.length > 0) facts.push(`With ${plural(s.roles.length, 'role')}`);
  if (s.identityId) facts.push('Belongs to an identity');
  if (s.websiteUrl) facts.push(`Website: ${text(s.websiteUrl)}`);
  if (s.expiresAt) facts.push(`Expires ${date(s.expiresAt)}`);
  if (s.credits) facts.push(credits(s.credits));
  if (Array.isArray(s.rateLimits) && s.rateLimits.length > 0) facts.push(rateLimits(s.rateLimits));
  if (s.externalId) facts.push(`External id: ${text(s.externalId)}`);
  return facts;
}

function credits(value: unknown): string {
  if (value === null || typeof value !== 'object') return 'Credits removed: unlimited use';
  const c = value as Summary;
  const refill =
    c.refillInterval && c.refillAmount != null
      ? `, refilled to ${number(c.refillAmount)} ${String(c.refillInterval).toLowerCase()}`
      : '';
  return `Credits set to ${number(c.remaining)}${refill}`;
}

function rateLimits(value: unknown): string {
  if (!Array.isArray(value) || value.length === 0) return 'Rate limits removed';
  const limits = value.map((limit: Summary) => `${number(limit.limit)} per ${duration(Number(limit.windowSeconds))}`);
  return `Rate limits: ${limits.join(', ')}`;
}

function ipRules(s: Summary): string {
  const rules = Array.isArray(s.rules) ? (s.rules as Summary[]) : [];
  const fallback = s.defaultAction === 'DENY' ? 'default deny' : 'default allow';
  if (rules.length === 0)
    return `No rules; ${fallback === 'default deny' ? 'every address denied' : 'every address allowed'}`;
  const allow = rules.filter((rule) => rule.action === 'ALLOW').length;
  const deny = rules.length - allow;
  const counts = [allow ? plural(allow, 'allow rule') : null, deny ? plural(deny, 'deny rule') : null].filter(Boolean);
  const listed = rules
    .slice(0, 4)
    .map((rule) => `${rule.action === 'ALLOW' ? 'allow' : 'deny'} ${text(rule.cidr)}`)
    .join(', ');
  return `${counts.join(', ')}, ${fallback} (${listed}${rules.length > 4 ? ', …' : ''})`;
}

function leakOutcome(action: string): string {
  if (action === 'revoked') return 'revoked it';
  if (action === 'flagged') return 'flagged it and left it working';
  return action;
}

const eventName = (value: unknown) => text(value).toLowerCase().replace('_', '.');
const text = (value: unknown): string => (typeof value === 'string' ? value : (JSON.stringify(value) ?? ''));
const capital = (value: string) => value.charAt(0).toUpperCase() + value.slice(1);
const number = (value: unknown) => (typeof value === 'number' ? value.toLocaleString('en') : text(value));
const plural = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`;

function date(value: unknown): string {
  const parsed = typeof value === 'string' ? new Date(value) : null;
  if (!parsed || Number.isNaN(parsed.getTime())) return text(value);
  return parsed.toLocaleString('en', { dateStyle: 'medium', timeStyle: 'short' });
}

/** 86400 → "24 hours", 10 → "10 seconds", 604800 → "7 days". */
export function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return String(seconds);
  for (const [unit, size] of [
    ['day', 86_400],
    ['hour', 3600],
    ['minute', 60],
  ] as const) {
    if (seconds >= size && seconds % size === 0 && !(unit === 'day' && seconds / size === 1)) {
      return plural(seconds / size, unit);
    }
  }
  return plural(seconds, 'second');
}
