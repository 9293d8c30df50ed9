// Anomaly detection, run by every instance every KEYGATE_ANOMALY_SCAN_SECONDS over the current and
// the previous hour of observed use. Each anomaly is a row inserted in the same transaction as its
// key.anomaly event (and, where the merchant chose it, the key's disabling): the insert that
// conflicts sends nothing, so each is found once across instances and restarts.

import { type AnomalyThresholds, detectAnomalies } from '@keygate/services/anomalies';
import type { KeyChangeListener } from '@keygate/services/context';
import type { KeyAnomaly, PrismaClient } from '@keygate/services/prisma';
import { PeriodicScan } from './periodic.ts';

export interface AnomalyOptions extends AnomalyThresholds {
  intervalMs: number;
}

export class AnomalyWatcher extends PeriodicScan<KeyAnomaly[]> {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly keyChanges: KeyChangeListener,
    private readonly options: AnomalyOptions,
    private readonly clock: () => number = Date.now,
    log: (error: unknown) => void = (error) => console.error('keygate: anomaly detection', error),
  ) {
    super(options.intervalMs, log);
  }

  /** One run: the anomalies it recorded (and sent). */
  protected scan(): Promise<KeyAnomaly[]> {
    return detectAnomalies(this.prisma, this.keyChanges, this.clock(), this.options);
  }
}
