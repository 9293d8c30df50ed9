import { describe, expect, it } from 'vitest';
import { compileIpRules, networkOf, parseCidr, parseIp } from './ip-rules.ts';

describe('parseCidr', () => {
  it.each([
    ['10.0.0.0/8', '10.0.0.0/8'],
    ['192.168.1.7', '192.168.1.7/32'],
    [' 192.168.1.0/24 ', '192.168.1.0/24'],
    ['0.0.0.0/0', '0.0.0.0/0'],
    ['2001:DB8::/32', '2001:db8::/32'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1/128'],
    ['::/0', '::/0'],
    ['::1', '::1/128'],
    ['::ffff:192.0.2.1', '192.0.2.1/32'],
    ['::ffff:192.0.2.0/120', '192.0.2.0/24'],
  ])('accepts %s as %s', (input, canonical) => {
    const result = parseCidr(input);
    expect(result.ok && result.value.cidr).toBe(canonical);
  });

  it.each([
    ['', 'must be an IP address'],
    ['10.0.0.0/33', 'prefix length must be 0 to 32'],
    ['2001:db8::/129', 'prefix length must be 0 to 128'],
    ['10.0.0.1/8', 'did you mean 10.0.0.0/8'],
    ['300.1.1.1', 'not a valid'],
    ['10.1', 'not a valid'],
    ['0x0a.0.0.1', 'not a valid'],
    ['10.0.0.0/8/8', 'must be an IP address'],
    ['10.0.0.0/-1', 'prefix length'],
    ['10.0.0.0/ 8', 'prefix length'],
    ['example.com', 'not a valid'],
    ['::ffff:10.0.0.0/80', 'prefix length of 96 to 128'],
  ])('rejects %s (%s)', (input, message) => {
    const result = parseCidr(input);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error).toContain(message);
  });
});

describe('parseIp', () => {
  it('accepts standard IPv4 and IPv6 notation only', () => {
    expect(parseIp('203.0.113.9')?.toString()).toBe('203.0.113.9');
    expect(parseIp('::ffff:203.0.113.9')?.toString()).toBe('203.0.113.9');
    expect(parseIp('2001:DB8::1')?.toString()).toBe('2001:db8::1');
    for (const legacy of ['1.2.3', '10.1', '0x7f.0.0.1', '4294967295', '', ' 1.2.3.4']) {
      expect(parseIp(legacy), legacy).toBeNull();
    }
  });
});

describe('compileIpRules', () => {
  const rules = compileIpRules(
    [
      { cidr: '10.1.0.0/16', action: 'DENY' },
      { cidr: '10.0.0.0/8', action: 'ALLOW' },
      { cidr: '2001:db8::/32', action: 'ALLOW' },
      { cidr: '2001:db8:bad::/48', action: 'DENY' },
    ],
    'DENY',
  );

  it.each([
    ['10.1.2.3', 'DENY'],
    ['10.2.3.4', 'ALLOW'],
    ['11.0.0.1', 'DENY'],
    ['::ffff:10.2.3.4', 'ALLOW'],
    ['::ffff:10.1.0.1', 'DENY'],
    ['2001:db8::1', 'ALLOW'],
    // The first matching rule decides, even when a later one is more specific.
    ['2001:db8:bad::1', 'ALLOW'],
    ['2001:db9::1', 'DENY'],
    ['not an ip', 'DENY'],
  ])('%s → %s', (ip, action) => {
    expect(rules.decide(ip)).toBe(action);
  });

  it('applies the default when there are no rules or no address', () => {
    expect(compileIpRules([], 'ALLOW').decide('1.2.3.4')).toBe('ALLOW');
    expect(compileIpRules([], 'DENY').decide('1.2.3.4')).toBe('DENY');
    expect(compileIpRules([{ cidr: '0.0.0.0/0', action: 'DENY' }], 'ALLOW').decide(null)).toBe('ALLOW');
  });

  it('never lets an IPv4 rule match an unrelated IPv6 address', () => {
    const v4only = compileIpRules([{ cidr: '0.0.0.0/0', action: 'ALLOW' }], 'DENY');
    expect(v4only.decide('2001:db8::1')).toBe('DENY');
    expect(v4only.decide('::ffff:203.0.113.9')).toBe('ALLOW');
  });
});

describe('networkOf', () => {
  /** The network as ipaddr.js reads the address, without the dotted-IPv4 shortcut. */
  const parsed = (ip: string): string | null => {
    const address = parseIp(ip);
    if (address === null) return null;
    if (address.kind() === 'ipv4') return `${address.toByteArray().slice(0, 3).join('.')}.0/24`;
    const parts = address.toNormalizedString().split(':').slice(0, 3);
    return `${parts.map((p) => Number.parseInt(p, 16).toString(16)).join(':')}::/48`;
  };

  it('names an address’s /24 or /48 as parsing it does, for every form of address', () => {
    const texts = [
      '0.0.0.0',
      '255.255.255.255',
      '203.0.113.9',
      '10.0.0.1',
      '1.2.3.4',
      '01.2.3.4',
      '1.2.3.04',
      '256.1.1.1',
      '1.2.3',
      '1.2.3.4.5',
      '1.2.3.4 ',
      ' 1.2.3.4',
      '1.2.3.4\n',
      '::ffff:203.0.113.9',
      '::ffff:cb00:7109',
      '2001:db8:7:1::1',
      '2001:DB8:0007::',
      '::1',
      'fe80::1%eth0',
      'not an address',
      '',
    ];
    // And 5,000 random dotted addresses, some with leading zeros or out of range.
    let seed = 7;
    const next = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed;
    };
    for (let i = 0; i < 5000; i++) {
      const octet = () => {
        const n = next() % 300;
        return next() % 17 === 0 ? `0${n}` : String(n);
      };
      texts.push(`${octet()}.${octet()}.${octet()}.${octet()}`);
    }
    for (const text of texts) expect(networkOf(text), JSON.stringify(text)).toBe(parsed(text));
    expect(networkOf('203.0.113.9')).toBe('203.0.113.0/24');
    expect(networkOf('::ffff:203.0.113.9')).toBe('203.0.113.0/24');
    expect(networkOf('2001:db8:7:1::1')).toBe('2001:db8:7::/48');
  });
});
