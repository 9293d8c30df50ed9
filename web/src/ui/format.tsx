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

export function relativeTime(date: Date, now = Date.now()): string {
  const diff = date.getTime() - now;
  for (const [unit, size] of UNITS) {
    if (Math.abs(diff) >= size || unit === 'second') {
      if (unit === 'second' && Math.abs(diff) < 10_000) return 'just now';
      return relative.format(Math.round(diff / size), unit);
    }
  }
  return exact.format(date);
}

export function exactTime(date: Date): string {
  return exact.format(date);
}

/** A time both ways: "3 minutes ago" and, below it, the exact moment. */
export function When({ value, never = '—' }: { value: string | null; never?: string }) {
  if (value === null) return <span className="muted">{never}</span>;
  const date = new Date(value);
  return (
    <time dateTime={value} className="when">
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
