// Waits for PostgreSQL at start-up. Under a supervisor or compose file the
// database often comes up after Keygate does: retry with backoff until the
// deadline, then give up with one line that says where and why, never a stack.
import pg from 'pg';
import { StartupError } from '../startup-error.ts';

export class DatabaseUnavailableError extends StartupError {
  override name = 'DatabaseUnavailableError';
}

/** Failures that waiting does not fix: wrong password, unknown role or database. */
const PERMANENT = new Set(['28P01', '28000', '3D000']);

export interface WaitOptions {
  timeoutMs: number;
  /** Told once, at the first failure, that Keygate is waiting. */
  onWaiting?: (message: string) => void;
}

export async function waitForPostgres(url: string, { timeoutMs, onWaiting }: WaitOptions): Promise<void> {
  const where = describeTarget(url);
  const deadline = Date.now() + timeoutMs;
  let delay = 250;
  for (let attempt = 1; ; attempt++) {
    const remaining = deadline - Date.now();
    const client = new pg.Client({
      connectionString: url,
      // A host that drops packets must not hold one attempt past the deadline.
      connectionTimeoutMillis: Math.max(1000, Math.min(5000, remaining)),
    });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return;
    } catch (error) {
      const cause = describeError(error);
      const code = (error as { code?: string }).code;
      if ((code && PERMANENT.has(code)) || Date.now() + delay >= deadline) {
        const waited = attempt > 1 ? ` after ${Math.round(timeoutMs / 1000)} s (${attempt} attempts)` : '';
        throw new DatabaseUnavailableError(`cannot connect to PostgreSQL at ${where}${waited}: ${cause}`);
      }
      if (attempt === 1) {
        onWaiting?.(
          `waiting for PostgreSQL at ${where} (${cause}); retrying for up to ${Math.round(timeoutMs / 1000)} s (KEYGATE_DB_CONNECT_TIMEOUT_SECONDS)`,
        );
      }
    } finally {
      await client.end().catch(() => {});
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 2000);
  }
}

/** host:port, database "name": what the URL points at, without its credentials. */
export function describeTarget(url: string): string {
  try {
    const parsed = new URL(url);
    const host = parsed.searchParams.get('host') ?? (decodeURIComponent(parsed.hostname) || 'localhost');
    const port = parsed.searchParams.get('port') ?? (parsed.port || '5432');
    const database = decodeURIComponent(parsed.pathname.slice(1)) || decodeURIComponent(parsed.username) || 'postgres';
    return `${host}:${port}, database "${database}"`;
  } catch {
    return 'DATABASE_URL (unparsable)';
  }
}

function describeError(error: unknown): string {
  // `localhost` can resolve to two addresses; Node then reports both failures at once.
  const first = error instanceof AggregateError && error.errors.length > 0 ? error.errors[0] : error;
  const { code, message } = (first ?? {}) as { code?: string; message?: string };
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused (ECONNREFUSED); is PostgreSQL running and listening there?';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `the host name could not be resolved (${code})`;
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `no route or no answer (${code})`;
    default:
      if (message && /timeout/i.test(message)) return 'no answer in time (connection timeout)';
      // PostgreSQL's own errors carry an SQLSTATE: "password authentication failed …", "database … does not exist".
      return code
        ? `${message} (${/^[0-9A-Z]{5}$/.test(code) ? `SQLSTATE ${code}` : code})`
        : (message ?? String(first));
  }
}
