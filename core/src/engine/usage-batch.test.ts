// Observed use: what each key's hour of valid verifications needed (access, scopes) and where its
// verifications came from (networks), handed over with the counts in one report.
import { describe, expect, it } from 'vitest';
import { parsePermissions } from '../permissions.ts';
import { ADDRESSES_KEPT, UsageBatch } from './usage-batch.ts';

const HOUR = 3_600_000;
const at = Date.parse('2026-11-02T10:15:00Z');
const expression = (text: string) => {
  const parsed = parsePermissions(text);
  if (!parsed.ok) throw new Error(text);
  return parsed.value;
};

describe('observations', () => {
  it('counts access, scopes (lists and expressions) and networks per key and hour', () => {
    const batch = new UsageBatch();
    const k = '0190c1de-0000-7000-8000-000000000001';
    batch.record(k, 'VALID', '203.0.113.7', at, { key: 'x', requiredScopes: ['orders:read'] });
    batch.record(k, 'VALID', '203.0.113.200', at + 1, { key: 'x', requiredScopes: ['orders:read'] });
    const either = expression('orders:write OR admin');
    batch.record(k, 'VALID', '2001:db8:7:1::5', at + 2, {
      key: 'x',
      requiredAccess: 'FULL_ACCESS',
      requiredPermissions: either,
    });
    batch.record(k, 'VALID', '2001:db8:7:ffff::9', at + 3, {
      key: 'x',
      requiredAccess: 'FULL_ACCESS',
      requiredPermissions: either,
    });
    batch.record(k, 'IP_DENIED', '198.51.100.4', at + 4, { key: 'x', requiredScopes: ['refunds:write'] });
    // Another hour is another row.
    batch.record(k, 'VALID', '203.0.113.7', at + HOUR, { key: 'x' });
    const report = batch.take()!.report;
    expect(report.observations).toEqual([
      {
        key_id: k,
        hour: '2026-11-02T10:00:00.000Z',
        read: 2,
        write: 2,
        scopes: { 'orders:read': 2, 'orders:write': 2, admin: 2 },
        valid_networks: { '203.0.113.0/24': 2, '2001:db8:7::/48': 2 },
        refused_networks: { '198.51.100.0/24': 1 },
      },
      {
        key_id: k,
        hour: '2026-11-02T11:00:00.000Z',
        read: 1,
        write: 0,
        scopes: {},
        valid_networks: { '203.0.113.0/24': 1 },
        refused_networks: {},
      },
    ]);
  });

  it('keeps a bounded number of addresses per key and hour', () => {
    const batch = new UsageBatch();
    for (let i = 0; i < ADDRESSES_KEPT + 500; i++) {
      batch.record('k', 'VALID', `10.${i >> 8}.${i & 255}.1`, at, { key: 'x' });
    }
    const [row] = batch.take()!.report.observations!;
    const counted = Object.values(row!.valid_networks).reduce((a, b) => a + b, 0);
    expect(counted).toBe(ADDRESSES_KEPT);
    expect(row!.read).toBe(ADDRESSES_KEPT + 500);
  });

  it('a batch that could not be written keeps its observations for the next', () => {
    const batch = new UsageBatch();
    batch.record('k', 'VALID', '203.0.113.7', at, { key: 'x', requiredScopes: ['orders:read'] });
    batch.take()!.putBack();
    batch.record('k', 'VALID', '203.0.113.8', at, { key: 'x', requiredScopes: ['orders:read'] });
    const rows = batch.take()!.report.observations!;
    const sum = (pick: (row: (typeof rows)[number]) => number) => rows.reduce((n, row) => n + pick(row), 0);
    expect(sum((row) => row.read)).toBe(2);
    expect(sum((row) => row.scopes['orders:read'] ?? 0)).toBe(2);
  });

  it('observe: false records counts only', () => {
    const batch = new UsageBatch({ observe: false });
    batch.record('k', 'VALID', '203.0.113.7', at, { key: 'x', requiredScopes: ['orders:read'] });
    const report = batch.take()!.report;
    expect(report.counts).toHaveLength(1);
    expect(report.observations).toEqual([]);
  });
});

describe('a report made in turns', () => {
  const fill = (batch: UsageBatch, keys: number, from = 0) => {
    for (let i = from; i < from + keys; i++) {
      const k = `0190c1de-0000-7000-8000-${String(i).padStart(12, '0')}`;
      batch.record(k, 'VALID', `203.0.${i % 250}.${i % 7}`, at + i, { key: 'x', requiredScopes: ['orders:read'] });
      if (i % 3 === 0) batch.record(k, 'IP_DENIED', `198.51.100.${i % 200}`, at + i + 1, { key: 'x' });
      if (i % 5 === 0) batch.spend(k, 2, 3);
    }
  };

  it('is the same report as take() makes, and lets the event loop in while it is made', async () => {
    const whole = new UsageBatch();
    fill(whole, 2_500);
    const expected = whole.take()!.report;
    const inTurns = new UsageBatch();
    fill(inTurns, 2_500);
    let turns = 0;
    const ticking = setInterval(() => turns++, 0);
    const making = inTurns.takeInTurns(100);
    // Verifications while it is made go to the next report.
    fill(inTurns, 1, 9_000);
    const taken = (await making)!;
    clearInterval(ticking);
    expect(taken.report).toEqual(expected);
    expect(turns).toBeGreaterThan(0);
    expect(inTurns.take()!.report.uses.map((u) => u.id)).toEqual(['0190c1de-0000-7000-8000-000000009000']);
    // Put back, it is in the next report again.
    taken.putBack();
    expect((await inTurns.takeInTurns())!.report.uses).toHaveLength(2_500);
    expect(await inTurns.takeInTurns()).toBeNull();
  });
});
