// Last-used time and IP without a database write per verification: the
// newest use of each key is kept in memory and written in one statement per
// flush interval, and once more when the server stops.
import type { PrismaClient } from '@keygate/schema/prisma';

interface Use {
  /** Milliseconds since the epoch. */
  at: number;
  ip: string | null;
}

export class UsageRecorder {
  private pending = new Map<string, Use>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly prisma: PrismaClient,
    private readonly intervalMs: number,
    private readonly onError: (error: unknown) => void = (error) =>
      console.error('keygate: last-used flush failed', error),
  ) {}

  start(): void {
    this.timer ??= setInterval(() => void this.flush(), this.intervalMs);
    this.timer.unref();
  }

  record(keyId: string, ip: string | null, at: number): void {
    this.pending.set(keyId, { at, ip });
  }

  /** Writes what has been recorded so far; concurrent calls run one after another. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.write());
    return this.flushing;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  private async write(): Promise<void> {
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    const rows = [...batch].map(([id, use]) => ({ id, at: new Date(use.at).toISOString(), ip: use.ip }));
    try {
      // One statement for every key used since the last flush; never moves a time backwards.
      await this.prisma.$executeRaw`
        UPDATE api_keys AS k SET last_used_at = u.at, last_used_ip = u.ip
        FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS u(id uuid, at timestamptz, ip text)
        WHERE k.id = u.id AND (k.last_used_at IS NULL OR k.last_used_at < u.at)`;
    } catch (error) {
      // Put the batch back (unless newer uses arrived meanwhile) for the next attempt.
      for (const [id, use] of batch) if (!this.pending.has(id)) this.pending.set(id, use);
      this.onError(error);
    }
  }
}
