// The change feed from Keygate (Server-Sent Events on /v1/verifier/changes): each change drops
// what it made stale from the cache, then is acknowledged, so the mutation that made it returns
// only once this process refuses accordingly. The cache is trusted only while the feed is
// connected and heard from (a heartbeat at least every three intervals); otherwise every
// verification asks Keygate. A reconnect resumes from the last position when Keygate still has
// it (the cache is kept: what was missed is replayed), and drops the cache on any gap.
import type { ClientRequest, IncomingMessage } from 'node:http';
import type { KeyChange } from '@keygate/core';
import type { Transport } from './transport.ts';

export interface FeedEvents {
  /** The cache may be used (resumed: keep what it holds) or may not. */
  trust(trusted: boolean, keep: boolean): void;
  change(change: KeyChange): void;
  error(error: Error): void;
}

export class ChangeFeed {
  readonly session: string;
  private request: ClientRequest | null = null;
  private lastEventId: string | null = null;
  private heartbeatMs = 5000;
  private watchdog: NodeJS.Timeout | undefined;
  private retry: NodeJS.Timeout | undefined;
  private backoff = 100;
  private closed = false;
  private acked = 0;
  private acking: Promise<void> | null = null;
  private pendingAck = 0;
  connected = false;
  changes = 0;
  acks = 0;
  private readyWaiters: (() => void)[] = [];

  constructor(
    private readonly transport: Transport,
    private readonly events: FeedEvents,
  ) {
    this.session = `v${crypto.randomUUID().replaceAll('-', '')}`;
  }

  start(): void {
    this.connect();
  }

  ready(timeoutMs: number): Promise<void> {
    if (this.connected) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`the change feed did not connect within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.readyWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.watchdog);
    clearTimeout(this.retry);
    this.request?.destroy();
    this.request = null;
  }

  private connect(): void {
    if (this.closed) return;
    const headers: Record<string, string> = {};
    if (this.lastEventId !== null) headers['last-event-id'] = this.lastEventId;
    const request = this.transport.stream(`/v1/verifier/changes?session=${this.session}`, headers);
    this.request = request;
    // The feed alone never keeps the process alive: a script that verifies once may exit.
    request.on('socket', (socket) => socket.unref());
    request.on('response', (res) => this.read(request, res));
    request.on('error', (error) => this.lost(request, error));
    request.end();
    this.arm(request);
  }

  private read(request: ClientRequest, res: IncomingMessage): void {
    if (res.statusCode !== 200) {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        let message = Buffer.concat(chunks).toString('utf8').slice(0, 300);
        try {
          message = (JSON.parse(message) as { error?: string }).error ?? message;
        } catch {}
        this.lost(request, new Error(`the change feed answered ${res.statusCode}: ${message}`));
      });
      return;
    }
    res.setEncoding('utf8');
    let buffer = '';
    res.on('data', (chunk: string) => {
      this.arm(request);
      buffer += chunk;
      let end = buffer.indexOf('\n\n');
      while (end !== -1) {
        this.event(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
        end = buffer.indexOf('\n\n');
      }
    });
    res.on('end', () => this.lost(request));
    res.on('error', (error) => this.lost(request, error));
  }

  private event(block: string): void {
    let type = 'message';
    let data = '';
    let id: string | null = null;
    for (const line of block.split('\n')) {
      if (line.startsWith('event: ')) type = line.slice(7);
      else if (line.startsWith('data: ')) data += line.slice(6);
      else if (line.startsWith('id: ')) id = line.slice(4);
    }
    switch (type) {
      case 'reset':
        // A gap: whatever the cache holds may be stale.
        this.events.trust(false, false);
        break;
      case 'ready': {
        const ready = JSON.parse(data) as { heartbeatMs: number; resumed: boolean };
        this.heartbeatMs = ready.heartbeatMs;
        // Changes sent between the connection and `ready` came first and were applied; the position
        // moves forward only (a reconnect resumes from the newest one).
        if (id !== null && (this.lastEventId === null || this.lastEventId.split(':')[0] !== id.split(':')[0])) {
          this.lastEventId = id;
          this.acked = Number(id.split(':')[1]);
        }
        this.connected = true;
        this.backoff = 100;
        this.events.trust(true, true);
        for (const resolve of this.readyWaiters.splice(0)) resolve();
        break;
      }
      case 'change': {
        const { seq, change } = JSON.parse(data) as { seq: number; change: KeyChange };
        this.changes++;
        this.events.change(change);
        if (id !== null) this.lastEventId = id;
        this.ack(seq);
        break;
      }
      // heartbeat: being heard is all it says
    }
  }

  /** Acknowledges changes up to `seq`; one request at a time, the newest position when it goes. */
  private ack(seq: number): void {
    this.pendingAck = Math.max(this.pendingAck, seq);
    if (this.acking !== null) return;
    const send = async (): Promise<void> => {
      while (this.pendingAck > this.acked) {
        const upTo = this.pendingAck;
        this.acks++;
        try {
          const answer = await this.transport.json<{ ok: boolean }>('POST', '/v1/verifier/ack', {
            session: this.session,
            seq: upTo,
          });
          this.acked = upTo;
          // Keygate no longer knows this session (it cut it): the cache is not to be trusted.
          if (!answer.ok) this.events.trust(false, false);
        } catch (error) {
          this.events.error(error as Error);
          return;
        }
      }
    };
    this.acking = send().finally(() => {
      this.acking = null;
    });
  }

  /** Silence for three heartbeats is a lost feed, even when the connection looks open. */
  private arm(request: ClientRequest): void {
    clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => {
      this.lost(request, new Error(`the change feed was silent for ${this.heartbeatMs * 3} ms`));
      request.destroy();
    }, this.heartbeatMs * 3);
    this.watchdog.unref();
  }

  private lost(request: ClientRequest, error?: Error): void {
    if (this.request !== request) return;
    this.request = null;
    clearTimeout(this.watchdog);
    request.destroy();
    if (this.connected || error) {
      this.connected = false;
      // Not trusted until the feed is back; kept, in case it resumes where it stopped.
      this.events.trust(false, true);
    }
    if (error && !this.closed) this.events.error(error);
    if (this.closed) return;
    this.retry = setTimeout(() => this.connect(), this.backoff);
    this.retry.unref();
    this.backoff = Math.min(this.backoff * 2, 5000);
  }
}
