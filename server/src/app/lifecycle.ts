// The server's parts are started one after another and stopped in the reverse order, once,
// by the same code whether a start failed half-way or the server shuts down: what started
// last (the listening socket) stops first, and the database closes last.
export class Lifecycle {
  private readonly parts: { name: string; stop: () => Promise<void> | void }[] = [];
  private stopping: Promise<void> | null = null;

  constructor(private readonly onError: (part: string, error: unknown) => void) {}

  /** Records how to stop a part that has just started. */
  started(name: string, stop: () => Promise<void> | void): void {
    this.parts.push({ name, stop });
  }

  /** Stops every part started so far, newest first; one that fails to stop does not keep the rest running. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      for (const part of [...this.parts].reverse()) {
        try {
          await part.stop();
        } catch (error) {
          this.onError(part.name, error);
        }
      }
    })();
    return this.stopping;
  }
}
