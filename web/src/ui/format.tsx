// Times and statuses as a merchant reads them.
import type { KeyStatus } from '@keygate/sdk/documents';

const relative = new Intl.RelativeTimeFormat('en', { numeric: 'auto' });
const exact = new Intl.DateTimeFormat('en', { dateStyle: 'medium', timeStyle: 'medium' });
const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
  ['year', 365 * 86_400_000],
  ['month', 30 * 86_400_000],
  ['day', 86_400_000],
  ['hour', 3_600_000],
  ['minute', 60_000],
  ['second', 1000],
];

const relativeShort = new Intl.RelativeTimeFormat('en', { numeric: 'auto', style: 'short' });

/** "3 minutes ago", or with `short` "3 min. ago" (for table columns). */
export function relativeTime(date: Date, now = Date.now(), short = false): string {
  const diff = date.getTime() - now;
  for (const [unit, size] of UNITS) {
    if (Math.abs(diff) >= size || unit === 'second') {
      if (unit === 'second' && Math.abs(diff) < 10_000) return 'just now';
      return (short ? relativeShort : relative).format(Math.round(diff / size), unit);
    }
  }
  return exact.format(date);
}

export function exactTime(date: Date): string {
  return exact.format(date);
}

const short = new Intl.DateTimeFormat('en', { month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit' });
/** "Dec 4, 7:18 PM": a moment within the year, briefly. */
export function shortTime(date: Date): string {
  return short.format(date);
}

/**
 * A time as "3 minutes ago", on one line; the exact moment in its tooltip and datetime, or below it
 * (`exact="below"`) where there is room.
 */
export function When({
  value,
  never = '—',
  exact = 'tooltip',
}: {
  value: string | null;
  never?: string;
  exact?: 'tooltip' | 'below';
}) {
  if (value === null) return <span className="muted">{never}</span>;
  const date = new Date(value);
  if (exact === 'tooltip') {
    return (
      <time dateTime={value} className="when" title={exactTime(date)}>
        {relativeTime(date, Date.now(), true)}
      </time>
    );
  }
  return (
    <time dateTime={value} className="when when-both">
      <span>{relativeTime(date)}</span>
      <span className="when-exact">{exactTime(date)}</span>
    </time>
  );
}

const STATUS_LABELS: Record<KeyStatus, string> = {
  ACTIVE: 'Active',
  DISABLED: 'Disabled',
  EXPIRED: 'Expired',
  REVOKED: 'Revoked',
};

export function StatusBadge({ status }: { status: KeyStatus }) {
  return <span className={`badge badge-${status.toLowerCase()}`}>{STATUS_LABELS[status]}</span>;
}

export function accessLabel(access: 'READ_ONLY' | 'FULL_ACCESS'): string {
  return access === 'READ_ONLY' ? 'Read only' : 'Full access';
}

/** Why a verification was refused, as a merchant reads it, and what to do about it. */
export const REFUSALS: Record<string, { label: string; meaning: string }> = {
  MALFORMED: { label: 'Not a key', meaning: 'What was sent is not shaped like a key: a typo or a truncated copy.' },
  NOT_FOUND: { label: 'Unknown key', meaning: 'No key has this secret. It may belong to another account.' },
  REVOKED: { label: 'Revoked', meaning: 'The key was revoked. Whoever still sends it needs a new key.' },
  KEY_DISABLED: { label: 'Disabled', meaning: 'The key is disabled. Enable it again, or give the caller another key.' },
  EXPIRED: { label: 'Expired', meaning: 'The key passed its expiry date. Roll it, or create a new one.' },
  APPLICATION_DISABLED: {
    label: 'Application disabled',
    meaning: "The key's application is disabled, so none of its keys work.",
  },
  IP_DENIED: {
    label: 'Address not allowed',
    meaning: "The request came from an address the key's IP rules do not allow. Add the address, or check the caller.",
  },
  INSUFFICIENT_ACCESS: {
    label: 'Read-only key writing',
    meaning: 'A read-only key was used for a request that changes data. Use a full-access key for it.',
  },
  INSUFFICIENT_SCOPE: {
    label: 'Missing scope',
    meaning: "The request needs a scope the key does not have. Add the scope in the key's settings.",
  },
  USAGE_EXCEEDED: {
    label: 'Out of credits',
    meaning: 'The key used all its credits. Add credits, or wait for the next refill.',
  },
  RATE_LIMITED: {
    label: 'Rate limited',
    meaning: 'More requests than one of its rate limits allows in a window. The caller should slow down and retry.',
  },
  TOO_MANY_FAILURES: {
    label: 'Too many failed attempts',
    meaning: 'The address sent too many wrong keys in a short time and is paused; someone may be guessing.',
  },
};

export const refusalOf = (code: string) => REFUSALS[code] ?? { label: code, meaning: '' };
