// Anomaly detection, run by every instance every KEYGATE_ANOMALY_SCAN_SECONDS over the current and
// the previous hour of observed use. Each anomaly is a row inserted in the same transaction as its
// key.anomaly event (and, where the merchant chose it, the key's disabling): the insert that
// conflicts sends nothing, so each is found once across instances and restarts.

import { type AnomalyThresholds, detectAnomalies } from '@keygate/services/anomalies';
import type { KeyChangeListener } from '@keygate/services/context';
import type { KeyAnomaly, PrismaClient } from '@keygate/services/prisma';

export interface AnomalyOptions extends AnomalyThresholds {
  intervalMs: number;
}

export class AnomalyWatcher {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | null = null;

  constructor(
    private readonly prisma: PrismaClient,
    private readonly keyChanges: KeyChangeListener,
    private readonly options: AnomalyOptions,
    private readonly clock: () => number = Date.now,
    private readonly log: (error: unknown) => void = (error) => console.error('keygate: anomaly detection', error),
  ) {}

  start(): void {
    this.timer ??= setInterval(() => {
      if (this.running === null) void this.runOnce().catch(this.log);
    }, this.options.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => {});
  }

  /** One run: the anomalies it recorded (and sent). */
  async runOnce(): Promise<KeyAnomaly[]> {
    const run = detectAnomalies(this.prisma, this.keyChanges, this.clock(), this.options);
    this.running = run;
    try {
      return await run;
    } finally {
      if (this.running === run) this.running = null;
    }
  }
}
