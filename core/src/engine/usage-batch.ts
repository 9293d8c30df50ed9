// What verification records without a write per request: each key's newest use (last-used time
// and address), how often it was verified per hour and outcome, its refused verifications, and
// the credits spent from reservations. Kept in memory; `take()` hands over everything since the
// last take as one UsageReport, which the server writes in one statement (its own, and those
// that embedded verifiers send it, one request per flush interval).
import { networkOf } from '../ip-rules.ts';
import type { VerifyCode, VerifyRequest } from '../verification.ts';
import type { UsageSink } from './ports.ts';

const HOUR_MS = 3_600_000;
/** Refusals kept per key, in the database and in one flush's batch. */
export const REFUSALS_KEPT = 100;
/** Distinct client addresses (and so networks) one key's hour keeps in one flush; the rest are not told apart. */
export const ADDRESSES_KEPT = 1000;

/** One flush's worth of usage, as the database statement takes it (JSON-safe). */
export interface UsageReport {
  /**
   * Who sent it and its number (embedded verifiers): reports are numbered 1, 2, 3… in the order
   * sent, and Keygate writes each number once, so one sent again because its answer was lost is
   * not counted twice. Absent for the server's own reports.
   */
  reporter?: { id: string; seq: number };
  /** Newest valid use and credits spent, per key. */
  uses: { id: string; at: string | null; ip: string | null; epoch: number | null; spent: number }[];
  /** Verifications per key, hour (ISO) and outcome. */
  counts: { key_id: string; hour: string; code: VerifyCode; count: number }[];
  refusals: { key_id: string; at: string; code: VerifyCode; ip: string | null }[];
  /**
   * What each key's hour needed and where it came from (least privilege and anomaly detection):
   * valid verifications that needed only reading or writing, the scopes they named, and the client
   * networks (IPv4 /24, IPv6 /48) of valid and of refused verifications, each with its count.
   */
  observations?: {
    key_id: string;
    hour: string;
    read: number;
    write: number;
    scopes: Record<string, number>;
    valid_networks: Record<string, number>;
    refused_networks: Record<string, number>;
  }[];
}

interface Use {
  at: number;
  ip: string | null;
}
interface Refusal extends Use {
  code: VerifyCode;
}
interface Tally {
  hour: number;
  counts: Map<VerifyCode, number>;
  /** Valid verifications that needed reading only, and writing. */
  read: number;
  write: number;
  /** Scopes valid verifications named in lists; null until one did. */
  scopes: Map<string, number> | null;
  /** Permission expressions valid verifications required, each with its count. */
  expressions: Map<{ readonly scopes?: readonly string[] }, number> | null;
  /** Client addresses: valid and refused verifications from each; null until one had an address. */
  ips: Map<string, { valid: number; refused: number }> | null;
}
interface Spent {
  epoch: number;
  n: number;
}
interface Batch {
  uses: Map<string, Use>;
  spent: Map<string, Spent>;
  tallies: Map<string, Tally>;
  closed: { keyId: string; tally: Tally }[];
  refusals: Map<string, Refusal[]>;
}

const emptyBatch = (): Batch => ({
  uses: new Map(),
  spent: new Map(),
  tallies: new Map(),
  closed: [],
  refusals: new Map(),
});

/** A taken batch: its report, and a way to put it back when it could not be written. */
export interface TakenUsage {
  report: UsageReport;
  putBack(): void;
}

export class UsageBatch implements UsageSink {
  private batch = emptyBatch();

  /**
   * `observe: false` records counts, uses and refusals only, not what each verification needed
   * nor its network (what Keygate recorded before observations; the benchmark's baseline).
   */
  constructor(private readonly options: { observe?: boolean } = {}) {}

  record(keyId: string, code: VerifyCode, ip: string | null, at: number, request?: VerifyRequest): void {
    const { batch } = this;
    if (code === 'VALID') {
      // The newest use, updated in place: no allocation per verification.
      const use = batch.uses.get(keyId);
      if (use === undefined) batch.uses.set(keyId, { at, ip });
      else {
        use.at = at;
        use.ip = ip;
      }
    }
    const hour = Math.floor(at / HOUR_MS);
    let tally = batch.tallies.get(keyId);
    if (tally === undefined || tally.hour !== hour) {
      if (tally !== undefined) batch.closed.push({ keyId, tally });
      tally = { hour, counts: new Map(), read: 0, write: 0, scopes: null, expressions: null, ips: null };
      batch.tallies.set(keyId, tally);
    }
    tally.counts.set(code, (tally.counts.get(code) ?? 0) + 1);
    if (ip !== null && this.options.observe !== false) {
      // Addresses now, their networks at the flush: a Map lookup here, the parsing once per address.
      let ips = tally.ips;
      if (ips === null) {
        ips = new Map();
        tally.ips = ips;
      }
      let seen = ips.get(ip);
      if (seen === undefined && ips.size < ADDRESSES_KEPT) {
        seen = { valid: 0, refused: 0 };
        ips.set(ip, seen);
      }
      if (seen !== undefined) {
        if (code === 'VALID') seen.valid++;
        else seen.refused++;
      }
    }
    if (code === 'VALID' && request !== undefined && this.options.observe !== false) {
      if (request.requiredAccess === 'FULL_ACCESS') tally.write++;
      else tally.read++;
      const listed = request.requiredScopes;
      if (listed?.length) {
        let scopes = tally.scopes;
        if (scopes === null) {
          scopes = new Map();
          tally.scopes = scopes;
        }
        for (const scope of listed) scopes.set(scope, (scopes.get(scope) ?? 0) + 1);
      }
      // An expression is parsed once per text, so it is counted as itself (one Map update) and
      // spread over its scopes at the flush.
      const expression = request.requiredPermissions;
      if (expression?.scopes?.length) {
        let expressions = tally.expressions;
        if (expressions === null) {
          expressions = new Map();
          tally.expressions = expressions;
        }
        expressions.set(expression, (expressions.get(expression) ?? 0) + 1);
      }
    }
    if (code !== 'VALID') {
      const refusals = batch.refusals.get(keyId) ?? [];
      if (refusals.length === 0) batch.refusals.set(keyId, refusals);
      refusals.push({ at, ip, code });
      if (refusals.length > REFUSALS_KEPT) refusals.shift();
    }
  }

  /** Credits spent from a reservation of the given epoch (an older epoch's spending no longer counts). */
  spend(keyId: string, epoch: number, n: number): void {
    addSpent(this.batch.spent, keyId, epoch, n);
  }

  /** Keys with something recorded since the last take. */
  get size(): number {
    return this.batch.tallies.size + this.batch.spent.size;
  }

  /** Everything since the last take, or null when nothing was recorded. */
  take(): TakenUsage | null {
    const batch = this.swap();
    if (batch === null) return null;
    const building = toReport(batch);
    let step = building.next();
    while (!step.done) step = building.next();
    return { report: step.value, putBack: () => this.putBack(batch) };
  }

  /**
   * As take(), with the event loop let in every `keysPerTurn` keys while the report is made. A
   * verifier's flush runs on the API's event loop: a batch of 20,000 keys took 90–135 ms to turn
   * into a report, and every request of the API waited that long. Verifications meanwhile go to
   * the next batch.
   */
  async takeInTurns(keysPerTurn = 500): Promise<TakenUsage | null> {
    const batch = this.swap();
    if (batch === null) return null;
    const building = toReport(batch, keysPerTurn);
    let step = building.next();
    while (!step.done) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      step = building.next();
    }
    return { report: step.value, putBack: () => this.putBack(batch) };
  }

  /** The batch so far, a new one started; null (and nothing changed) when it is empty. */
  private swap(): Batch | null {
    const batch = this.batch;
    if (batch.tallies.size === 0 && batch.closed.length === 0 && batch.spent.size === 0) return null;
    this.batch = emptyBatch();
    return batch;
  }

  /** A failed batch waits for the next take, merged with what arrived meanwhile. */
  private putBack(failed: Batch): void {
    const current = this.batch;
    for (const [id, use] of failed.uses) if (!current.uses.has(id)) current.uses.set(id, use);
    for (const [id, spent] of failed.spent) addSpent(current.spent, id, spent.epoch, spent.n);
    current.closed.push(...failed.closed, ...[...failed.tallies].map(([keyId, tally]) => ({ keyId, tally })));
    for (const [id, list] of failed.refusals) {
      const merged = [...list, ...(current.refusals.get(id) ?? [])].slice(-REFUSALS_KEPT);
      current.refusals.set(id, merged);
    }
  }
}

/**
 * The report, in one pass over each map, pausing (yield) every `keysPerTurn` keys. It runs on the
 * event loop of the API it serves (a verifier's flush): with 7,500 keys, the spread-and-map
 * version blocked it for 40 ms. Each hour's text is made once.
 */
function* toReport(batch: Batch, keysPerTurn = Number.POSITIVE_INFINITY): Generator<void, UsageReport> {
  let done = 0;
  const hours = new Map<number, string>();
  const hourText = (hour: number): string => {
    let text = hours.get(hour);
    if (text === undefined) {
      text = new Date(hour * HOUR_MS).toISOString();
      hours.set(hour, text);
    }
    return text;
  };
  const uses: UsageReport['uses'] = [];
  for (const [id, use] of batch.uses) {
    if (++done % keysPerTurn === 0) yield;
    const spent = batch.spent.get(id);
    uses.push({
      id,
      at: new Date(use.at).toISOString(),
      ip: use.ip,
      epoch: spent === undefined ? null : spent.epoch,
      spent: spent === undefined ? 0 : spent.n,
    });
  }
  for (const [id, spent] of batch.spent) {
    if (!batch.uses.has(id)) uses.push({ id, at: null, ip: null, epoch: spent.epoch, spent: spent.n });
  }
  const counts: UsageReport['counts'] = [];
  const observations: NonNullable<UsageReport['observations']> = [];
  const tally = (keyId: string, tally: Tally): void => {
    const hour = hourText(tally.hour);
    for (const [code, count] of tally.counts) counts.push({ key_id: keyId, hour, code, count });
    if (tally.read + tally.write === 0 && tally.ips === null) return;
    const valid: Record<string, number> = {};
    const refused: Record<string, number> = {};
    if (tally.ips !== null) {
      for (const [ip, seen] of tally.ips) {
        const network = networkOf(ip);
        if (network === null) continue;
        if (seen.valid > 0) valid[network] = (valid[network] ?? 0) + seen.valid;
        if (seen.refused > 0) refused[network] = (refused[network] ?? 0) + seen.refused;
      }
    }
    observations.push({
      key_id: keyId,
      hour,
      read: tally.read,
      write: tally.write,
      scopes: scopesOf(tally),
      valid_networks: valid,
      refused_networks: refused,
    });
  };
  for (const closed of batch.closed) {
    if (++done % keysPerTurn === 0) yield;
    tally(closed.keyId, closed.tally);
  }
  for (const [keyId, open] of batch.tallies) {
    if (++done % keysPerTurn === 0) yield;
    tally(keyId, open);
  }
  const refusals: UsageReport['refusals'] = [];
  for (const [keyId, list] of batch.refusals) {
    if (++done % keysPerTurn === 0) yield;
    for (const r of list) refusals.push({ key_id: keyId, at: new Date(r.at).toISOString(), code: r.code, ip: r.ip });
  }
  return { uses, counts, refusals, observations };
}

function scopesOf(tally: Tally): Record<string, number> {
  const scopes: Record<string, number> = Object.fromEntries(tally.scopes ?? []);
  for (const [expression, count] of tally.expressions ?? []) {
    for (const scope of expression.scopes ?? []) scopes[scope] = (scopes[scope] ?? 0) + count;
  }
  return scopes;
}

/** Adds spending of an epoch; a newer epoch replaces an older one's (made once per key and epoch). */
function addSpent(spent: Map<string, Spent>, keyId: string, epoch: number, n: number): void {
  const current = spent.get(keyId);
  if (current === undefined || current.epoch < epoch) spent.set(keyId, { epoch, n });
  else if (current.epoch === epoch) current.n += n;
}
