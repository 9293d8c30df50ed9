import { describe, expect, it } from 'vitest';
import { parseLsn, replicaName } from './replicas.ts';

describe('WAL positions', () => {
  it('compare as PostgreSQL orders them, across the 4 GB boundary of the high word', () => {
    expect(parseLsn('0/0')).toBe(0);
    expect(parseLsn('0/16B3748')).toBe(0x16b3748);
    expect(parseLsn('1/0')).toBe(2 ** 32);
    expect(parseLsn('16/B374D848')).toBe(0x16 * 2 ** 32 + 0xb374d848);
    expect(parseLsn('0/FFFFFFFF')).toBeLessThan(parseLsn('1/0'));
    expect(parseLsn('A/1')).toBeGreaterThan(parseLsn('9/FFFFFFFF'));
  });
});

describe('replica names', () => {
  it('say host, port and database, never the user or the password', () => {
    expect(replicaName('postgres://keygate:s3cret-pw@replica-1.internal:6432/keygate?sslmode=require')).toBe(
      'replica-1.internal:6432/keygate',
    );
    expect(replicaName('postgresql://u:p@10.0.0.7/keygate')).toBe('10.0.0.7:5432/keygate');
    expect(replicaName('not a url')).toBe('replica');
  });
});
