// Sends the outbox's deliveries. Every instance runs one; each attempt is made
// by exactly one of them: a delivery is claimed with FOR UPDATE SKIP LOCKED by
// pushing its next attempt past the attempt's own time limit, so a claim that
// dies with its instance (SIGKILL) is simply attempted again later — at least
// once, never lost. Receivers deduplicate on webhook-id (the event's id).
//
// Attempts run independently: a claim is made whenever there is room, and each
// attempt is recorded as it ends, so one receiver that answers slowly never holds
// up the others. An instance makes at most `perEndpoint` attempts at once to one
// endpoint and `perMerchant` to one merchant's endpoints (`maxInFlight` in all):
// one merchant's slow endpoint uses only its own share.
//
// Retries back off exponentially with jitter until KEYGATE_WEBHOOK_RETRY_HOURS
// after the event, then the delivery is FAILED; an endpoint that has failed
// without a single success for KEYGATE_WEBHOOK_DISABLE_AFTER_HOURS is disabled,
// with the reason on it.
import type { PrismaClient } from '@keygate/services/prisma';
import { type Attempt, type DeliveryOptions, deliver, signature } from './deliver.ts';

export interface WorkerOptions extends DeliveryOptions {
  pollMs: number;
  /** Most attempts under way at once on this instance. */
  maxInFlight: number;
  /** Most attempts under way at once to one endpoint, and to one merchant's endpoints. */
  perEndpoint: number;
  perMerchant: number;
  /** The first retry's delay; each next one doubles, up to an hour, ±20 %. */
  retryBaseMs: number;
  /** How long after its event a delivery is attempted. */
  retryForMs: number;
  /** An endpoint failing this long, without a success, is disabled. */
  disableAfterMs: number;
}

interface Claimed {
  id: string;
  attempts: number;
  created_at: Date;
  endpoint_id: string;
  merchant_id: string;
  url: string;
  secret: string;
  failing_since: Date | null;
  event_id: string;
  type: string;
  data: unknown;
  event_at: Date;
}

export class WebhookWorker {
  private timer: NodeJS.Timeout | undefined;
  private claiming: Promise<number> | null = null;
  private stopped = false;
  private readonly underway = new Set<Promise<void>>();
  private readonly byEndpoint = new Map<string, number>();
  private readonly byMerchant = new Map<string, number>();
  /** Attempts made by this instance (tests, /metrics). */
  attempts = 0;

  constructor(
    private readonly prisma: PrismaClient,
    private readonly options: WorkerOptions,
    private readonly clock: () => number = Date.now,
    private readonly log: (error: unknown) => void = (error) => console.error('keygate: webhooks', error),
  ) {}

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  /** No new claims; the attempts under way finish (each within its deadline) and are recorded. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.claiming?.catch(() => {});
    await Promise.all(this.underway);
  }

  /** Claims what is due now and waits for those attempts (tests; a change that just wrote deliveries). */
  async runOnce(): Promise<number> {
    const started = new Set(this.underway);
    const claimed = await this.claim();
    await Promise.all([...this.underway].filter((attempt) => !started.has(attempt)));
    return claimed;
  }

  private schedule(delay: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      void this.claim()
        .catch((error) => {
          this.log(error);
          return 0;
        })
        // Claimed something: there may be more; else look again after the poll interval.
        .then((claimed) => this.schedule(claimed > 0 ? 0 : this.options.pollMs));
    }, delay);
    this.timer.unref();
  }

  /** One claim at a time on this instance; the number of attempts it started. */
  private async claim(): Promise<number> {
    while (this.claiming) await this.claiming.catch(() => {});
    this.claiming = this.claimDue();
    try {
      return await this.claiming;
    } finally {
      this.claiming = null;
    }
  }

  /**
   * Claims due deliveries while there is room, at most one per endpoint and per merchant in
   * one claim, none for an endpoint or merchant already at its limit, and starts them.
   */
  private async claimDue(): Promise<number> {
    const room = this.options.maxInFlight - this.underway.size;
    if (room <= 0 || this.stopped) return 0;
    const now = new Date(this.clock());
    // Past any attempt's own time limit: only a dead instance's claim comes due again.
    const claimUntil = new Date(now.getTime() + this.options.timeoutMs * 3 + 30_000);
    const fullEndpoints = full(this.byEndpoint, this.options.perEndpoint);
    const fullMerchants = full(this.byMerchant, this.options.perMerchant);
    const claimed = await this.prisma.$queryRaw<Claimed[]>`
      WITH due AS (
        SELECT d.id, d.next_attempt_at, d.endpoint_id, e.merchant_id FROM webhook_deliveries d
        JOIN webhook_endpoints e ON e.id = d.endpoint_id AND e.enabled
        WHERE d.status = 'PENDING' AND d.next_attempt_at <= ${now}
          AND NOT (d.endpoint_id = ANY(${fullEndpoints}::uuid[]))
          AND NOT (e.merchant_id = ANY(${fullMerchants}::text[]))
        ORDER BY d.next_attempt_at
        LIMIT 1000
      ), ranked AS (
        SELECT id, next_attempt_at,
          row_number() OVER (PARTITION BY endpoint_id ORDER BY next_attempt_at) AS of_endpoint,
          row_number() OVER (PARTITION BY merchant_id ORDER BY next_attempt_at) AS of_merchant
        FROM due
      ), chosen AS (
        SELECT d.id FROM webhook_deliveries d
        WHERE d.id IN (
          SELECT id FROM ranked WHERE of_endpoint = 1 AND of_merchant = 1 ORDER BY next_attempt_at LIMIT ${room}
        )
          AND d.status = 'PENDING' AND d.next_attempt_at <= ${now}
        FOR UPDATE SKIP LOCKED
      ), claimed AS (
        UPDATE webhook_deliveries d SET next_attempt_at = ${claimUntil}, attempts = d.attempts + 1, updated_at = ${now}
        FROM chosen WHERE d.id = chosen.id
        RETURNING d.id, d.attempts, d.created_at, d.endpoint_id, d.event_id
      )
      SELECT c.id, c.attempts, c.created_at, c.endpoint_id, e.merchant_id, e.url, e.secret, e.failing_since,
             c.event_id, ev.type, ev.data, ev.created_at AS event_at
      FROM claimed c
      JOIN webhook_endpoints e ON e.id = c.endpoint_id
      JOIN events ev ON ev.id = c.event_id`;
    for (const delivery of claimed) this.launch(delivery);
    return claimed.length;
  }

  private launch(delivery: Claimed): void {
    bump(this.byEndpoint, delivery.endpoint_id, 1);
    bump(this.byMerchant, delivery.merchant_id, 1);
    const attempt = this.attempt(delivery)
      .catch((error) => this.log(error))
      .finally(() => {
        bump(this.byEndpoint, delivery.endpoint_id, -1);
        bump(this.byMerchant, delivery.merchant_id, -1);
        this.underway.delete(attempt);
        // Room again: look for more without waiting for the poll.
        this.schedule(0);
      });
    this.underway.add(attempt);
  }

  private async attempt(delivery: Claimed): Promise<void> {
    // When the attempt is made, by the wall clock (receivers check it against theirs).
    const timestamp = Math.floor(Date.now() / 1000);
    const body = JSON.stringify({
      type: delivery.type,
      timestamp: delivery.event_at.toISOString(),
      data: delivery.data,
    });
    const headers = {
      'user-agent': 'Keygate-Webhooks/1',
      'webhook-id': delivery.event_id,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': signature(delivery.secret, delivery.event_id, timestamp, body),
    };
    this.attempts++;
    const result = await deliver(delivery.url, headers, body, this.options);
    await this.record(delivery, result);
  }

  private async record(delivery: Claimed, result: Attempt): Promise<void> {
    const now = new Date(this.clock());
    const response = result.response?.slice(0, 1024) ?? null;
    const error = result.error?.slice(0, 1024) ?? null;
    if (result.error === null) {
      await this.prisma.$executeRaw`
        WITH done AS (
          UPDATE webhook_deliveries SET status = 'SUCCEEDED', last_status_code = ${result.statusCode},
            last_error = NULL, last_response = ${response}, updated_at = ${now}
          WHERE id = ${delivery.id}::uuid RETURNING endpoint_id
        )
        UPDATE webhook_endpoints SET failing_since = NULL
        WHERE id = (SELECT endpoint_id FROM done) AND failing_since IS NOT NULL`;
      return;
    }
    const exponent = Math.min(delivery.attempts - 1, 20);
    const delay = Math.min(this.options.retryBaseMs * 2 ** exponent, 3_600_000) * (0.8 + Math.random() * 0.4);
    const next = new Date(now.getTime() + delay);
    const expired = next.getTime() - delivery.created_at.getTime() > this.options.retryForMs;
    const failingSince = delivery.failing_since ?? now;
    const disable = now.getTime() - failingSince.getTime() >= this.options.disableAfterMs;
    const reason = disable
      ? `disabled by Keygate on ${now.toISOString()}: every delivery failed since ${failingSince.toISOString()} (last: ${error})`
      : null;
    await this.prisma.$executeRaw`
      WITH attempted AS (
        UPDATE webhook_deliveries SET status = ${expired ? 'FAILED' : 'PENDING'}::"WebhookDeliveryStatus",
          next_attempt_at = ${next}, last_status_code = ${result.statusCode}, last_error = ${error},
          last_response = ${response}, updated_at = ${now}
        WHERE id = ${delivery.id}::uuid RETURNING endpoint_id
      )
      UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, ${now}),
        enabled = CASE WHEN ${disable} THEN false ELSE enabled END,
        disabled_reason = CASE WHEN ${disable} THEN ${reason} ELSE disabled_reason END
      WHERE id = (SELECT endpoint_id FROM attempted)`;
  }
}

function bump(counts: Map<string, number>, id: string, by: number): void {
  const next = (counts.get(id) ?? 0) + by;
  if (next <= 0) counts.delete(id);
  else counts.set(id, next);
}

/** The ids at or above their limit. */
function full(counts: Map<string, number>, limit: number): string[] {
  const ids: string[] = [];
  for (const [id, count] of counts) if (count >= limit) ids.push(id);
  return ids;
}
