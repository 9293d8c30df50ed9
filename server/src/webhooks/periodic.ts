// A scan every instance runs on a timer (expiry warnings, anomaly detection): one run at a time,
// the timer never keeps the process alive, and stopping waits for the run under way.

export abstract class PeriodicScan<T> {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | null = null;

  constructor(
    private readonly intervalMs: number,
    private readonly log: (error: unknown) => void,
  ) {}

  /** One scan's work. */
  protected abstract scan(): Promise<T>;

  start(): void {
    this.timer ??= setInterval(() => {
      if (this.running === null) void this.runOnce().catch(this.log);
    }, this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => {});
  }

  /** One scan now (tests call it; the timer skips a tick while one is under way). */
  async runOnce(): Promise<T> {
    const scan = this.scan();
    this.running = scan;
    try {
      return await scan;
    } finally {
      if (this.running === scan) this.running = null;
    }
  }
}
