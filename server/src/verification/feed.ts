// The change feed for embedded verifiers (@keygate/verifier): every key change this instance
// hears (its own, and other instances' over PostgreSQL NOTIFY) goes to each connected verifier
// as a Server-Sent Event, in order, numbered. A verifier acknowledges each change once its cache
// has dropped what the change made stale; the change's mutation waits for those
// acknowledgements (bounded by ackTimeoutMs), as it waits for its own NOTIFY echo, so "refused
// on the next request" holds in a platform's process as it holds here. A verifier that did not
// acknowledge in time is told to drop its cache (`event: reset`) and its feed is ended: it
// verifies through Keygate until it has reconnected.
//
// Positions are `<instance>:<seq>`. A verifier that reconnects to the same instance within the
// replay window gets what it missed and keeps its cache; anything else (another instance, a
// position too old, this instance's own feed from PostgreSQL lost meanwhile) is a gap: reset.
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { KeyChange } from '@keygate/core';

export interface FeedOptions {
  /** A heartbeat event this often; verifiers stop trusting a feed silent for three of them. */
  heartbeatMs: number;
  /** How long a change waits for verifiers' acknowledgements before cutting the late ones. */
  ackTimeoutMs: number;
  /** Most verifiers connected to this instance at once. */
  maxSubscribers: number;
  /** Changes kept for verifiers that reconnect. */
  replay: number;
}

interface Subscriber {
  session: string;
  res: ServerResponse;
  acked: number;
  waiting: Map<number, () => void>;
}

/** What a change looks like on the feed: only what a cache needs to drop (ids and secret hashes). */
function wireChange(change: KeyChange): KeyChange {
  const out: KeyChange = {};
  if (change.keyIds?.length) out.keyIds = [...change.keyIds];
  if (change.applicationId !== undefined) out.applicationId = change.applicationId;
  if (change.hashes?.length) out.hashes = [...change.hashes];
  if (change.roleIds?.length) out.roleIds = [...change.roleIds];
  if (change.identityIds?.length) out.identityIds = [...change.identityIds];
  if (change.importPrefixes) out.importPrefixes = change.importPrefixes;
  if (change.misses) out.misses = true;
  return out;
}

export class FeedHub {
  /** Changes this instance numbered; a new id whenever continuity is lost. */
  private instance = randomUUID();
  private seq = 0;
  private ring: { seq: number; data: string }[] = [];
  private readonly subscribers = new Map<string, Subscriber>();
  private timer: NodeJS.Timeout | undefined;
  /** Counted for /metrics and tests. */
  readonly stats = { published: 0, cut: 0, resumed: 0, resets: 0 };
  /**
   * Told when the number of connected verifiers changes (presence across instances); a new
   * verifier is told `ready` once what it returns has settled, so every instance waits for it.
   */
  onCount: ((count: number) => Promise<void> | void) | null = null;

  constructor(private readonly options: FeedOptions) {}

  get ackTimeoutMs(): number {
    return this.options.ackTimeoutMs;
  }

  get count(): number {
    return this.subscribers.size;
  }

  start(): void {
    this.timer ??= setInterval(() => this.heartbeat(), this.options.heartbeatMs);
    this.timer.unref();
  }

  /** Ends every feed (the server stops): verifiers reconnect elsewhere or wait. */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    for (const subscriber of [...this.subscribers.values()]) this.drop(subscriber, false);
  }

  /**
   * Continuity is lost (this instance's own change notifications dropped): every verifier is told
   * to drop its cache, and no position from before is resumable.
   */
  reset(): void {
    this.instance = randomUUID();
    this.ring = [];
    for (const subscriber of [...this.subscribers.values()]) this.drop(subscriber, true);
  }

  /** Opens a verifier's feed; false when this instance has no room for another. */
  subscribe(res: ServerResponse, session: string, lastEventId: string | null): boolean {
    if (this.subscribers.size >= this.options.maxSubscribers && !this.subscribers.has(session)) return false;
    const previous = this.subscribers.get(session);
    if (previous) this.drop(previous, false);
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
    });
    res.socket?.setNoDelay(true);
    const subscriber: Subscriber = { session, res, acked: this.seq, waiting: new Map() };
    // Resume from a position of this instance still in the replay window, or start clean.
    let resumed = false;
    if (lastEventId !== null) {
      const [instance, at] = lastEventId.split(':');
      const seq = Number(at);
      const oldest = this.ring[0]?.seq ?? this.seq + 1;
      if (instance === this.instance && Number.isInteger(seq) && seq <= this.seq && seq >= oldest - 1) {
        resumed = true;
        this.stats.resumed++;
        for (const entry of this.ring) if (entry.seq > seq) res.write(entry.data);
      }
    }
    if (!resumed) {
      this.stats.resets++;
      res.write('event: reset\ndata: {}\n\n');
    }
    // Changes from here on reach it; `ready` (trust your cache) follows once the other instances
    // know to wait for this verifier's acknowledgements.
    const position = this.seq;
    const instance = this.instance;
    this.subscribers.set(session, subscriber);
    res.on('close', () => {
      if (this.subscribers.get(session) === subscriber) this.forget(subscriber);
    });
    void Promise.resolve(this.onCount?.(this.subscribers.size)).then(() => {
      if (this.subscribers.get(session) !== subscriber) return;
      res.write(
        `id: ${instance}:${position}\nevent: ready\ndata: ${JSON.stringify({ heartbeatMs: this.options.heartbeatMs, resumed })}\n\n`,
      );
    });
    return true;
  }

  /** A verifier has applied every change up to `seq`. False for an unknown session. */
  ack(session: string, seq: number): boolean {
    const subscriber = this.subscribers.get(session);
    if (!subscriber) return false;
    if (seq > subscriber.acked) subscriber.acked = Math.min(seq, this.seq);
    for (const [waitingFor, resolve] of subscriber.waiting) {
      if (waitingFor <= subscriber.acked) {
        subscriber.waiting.delete(waitingFor);
        resolve();
      }
    }
    return true;
  }

  /**
   * Sends a change to every connected verifier and settles once each has acknowledged it, or has
   * been cut for not doing so within ackTimeoutMs. Resolves to the number it was sent to.
   */
  async publish(change: KeyChange): Promise<number> {
    const seq = ++this.seq;
    const data = `id: ${this.instance}:${seq}\nevent: change\ndata: ${JSON.stringify({ seq, change: wireChange(change) })}\n\n`;
    this.ring.push({ seq, data });
    if (this.ring.length > this.options.replay) this.ring.shift();
    this.stats.published++;
    const subscribers = [...this.subscribers.values()];
    if (subscribers.length === 0) return 0;
    const acknowledged = subscribers.map((subscriber) => {
      subscriber.res.write(data);
      return new Promise<void>((resolve) => subscriber.waiting.set(seq, resolve));
    });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(acknowledged),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, this.options.ackTimeoutMs);
      }),
    ]);
    clearTimeout(timer);
    for (const subscriber of subscribers) {
      if (subscriber.acked < seq && this.subscribers.get(subscriber.session) === subscriber) {
        this.stats.cut++;
        this.drop(subscriber, true);
      }
    }
    return subscribers.length;
  }

  private heartbeat(): void {
    const data = `event: heartbeat\ndata: {"seq":${this.seq}}\n\n`;
    for (const subscriber of this.subscribers.values()) subscriber.res.write(data);
  }

  /** Ends a verifier's feed; with `reset`, it is first told to drop its cache. */
  private drop(subscriber: Subscriber, reset: boolean): void {
    this.forget(subscriber);
    if (reset) subscriber.res.write('event: reset\ndata: {}\n\n');
    subscriber.res.end();
  }

  private forget(subscriber: Subscriber): void {
    if (this.subscribers.get(subscriber.session) !== subscriber) return;
    this.subscribers.delete(subscriber.session);
    for (const resolve of subscriber.waiting.values()) resolve();
    subscriber.waiting.clear();
    this.onCount?.(this.subscribers.size);
  }
}
