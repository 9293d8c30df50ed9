// IP rules: an ordered list of { cidr, action } plus a default action. The
// first rule whose range contains the client address decides; no match means
// the default. IPv4-mapped IPv6 addresses (::ffff:1.2.3.4) match IPv4 rules.
import ipaddr from 'ipaddr.js';

export type IpAction = 'ALLOW' | 'DENY';

export interface IpRule {
  cidr: string;
  action: IpAction;
}

export interface ParsedCidr {
  /** Canonical text: normalised address and explicit prefix length. */
  cidr: string;
  address: ipaddr.IPv4 | ipaddr.IPv6;
  prefixLength: number;
}

export type CidrParseResult = { ok: true; value: ParsedCidr } | { ok: false; error: string };

/**
 * Accepts an address ("10.0.0.1", "2001:db8::1") or a range in CIDR notation
 * ("10.0.0.0/8", "2001:db8::/32"). Host bits must be zero in a range, so that a
 * typo such as 10.0.0.1/8 is reported instead of silently widening the rule.
 */
export function parseCidr(text: string): CidrParseResult {
  const input = text.trim();
  if (input.length === 0 || input.length > 64) return { ok: false, error: 'must be an IP address or CIDR range' };
  const [addressText, lengthText, ...rest] = input.split('/');
  if (rest.length > 0 || addressText === undefined) return { ok: false, error: 'must be an IP address or CIDR range' };
  if (!isStandardAddress(addressText)) {
    return { ok: false, error: `"${addressText}" is not a valid IPv4 or IPv6 address` };
  }
  let address = ipaddr.parse(addressText);
  const maxLength = address.kind() === 'ipv4' ? 32 : 128;
  let prefixLength = maxLength;
  if (lengthText !== undefined) {
    if (!/^\d{1,3}$/.test(lengthText) || Number(lengthText) > maxLength) {
      return { ok: false, error: `prefix length must be 0 to ${maxLength}` };
    }
    prefixLength = Number(lengthText);
  }
  // ::ffff:a.b.c.d/n is the IPv4 range a.b.c.d/(n-96): store and match it as IPv4.
  if (address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress()) {
    if (prefixLength < 96) return { ok: false, error: 'an IPv4-mapped range needs a prefix length of 96 to 128' };
    address = (address as ipaddr.IPv6).toIPv4Address();
    prefixLength -= 96;
  }
  const network = networkAddress(address, prefixLength);
  if (network.toNormalizedString() !== address.toNormalizedString()) {
    return { ok: false, error: `host bits are set; did you mean ${network.toString()}/${prefixLength}?` };
  }
  return { ok: true, value: { cidr: `${address.toString()}/${prefixLength}`, address, prefixLength } };
}

/** A single address in standard notation (no legacy forms such as "10.1" or octal parts). */
export function parseIp(text: string): ipaddr.IPv4 | ipaddr.IPv6 | null {
  if (!isStandardAddress(text)) return null;
  const address = ipaddr.parse(text);
  if (address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress()) {
    return (address as ipaddr.IPv6).toIPv4Address();
  }
  return address;
}

export interface CompiledIpRules {
  decide(ip: string | null): IpAction;
}

/** Parses the rules once so that each decision is only range checks. */
/** No rules: the default decides every address. One shared object each (most keys have no rules). */
const NO_RULES: Record<IpAction, CompiledIpRules> = {
  ALLOW: { decide: () => 'ALLOW' },
  DENY: { decide: () => 'DENY' },
};

export function compileIpRules(rules: readonly IpRule[], defaultAction: IpAction): CompiledIpRules {
  if (rules.length === 0) return NO_RULES[defaultAction];
  const compiled = rules.map((rule) => {
    const parsed = parseCidr(rule.cidr);
    if (!parsed.ok) throw new Error(`stored IP rule ${rule.cidr} is invalid: ${parsed.error}`);
    return { ...parsed.value, action: rule.action };
  });
  return {
    decide(ip) {
      if (compiled.length === 0) return defaultAction;
      // Without a client address no range can match; the default decides.
      const address = ip === null ? null : parseIp(ip);
      if (address === null) return defaultAction;
      for (const rule of compiled) {
        if (rule.address.kind() === address.kind() && address.match(rule.address as never, rule.prefixLength)) {
          return rule.action;
        }
      }
      return defaultAction;
    },
  };
}

function isStandardAddress(text: string): boolean {
  return text.length <= 45 && (ipaddr.IPv4.isValidFourPartDecimal(text) || ipaddr.IPv6.isValid(text));
}

function networkAddress(address: ipaddr.IPv4 | ipaddr.IPv6, prefixLength: number): ipaddr.IPv4 | ipaddr.IPv6 {
  const bytes = address.toByteArray();
  for (let bit = prefixLength; bit < bytes.length * 8; bit++) {
    bytes[bit >> 3]! &= ~(0x80 >> (bit & 7));
  }
  return ipaddr.fromByteArray(bytes);
}

/**
 * Whether an address is on the public internet: not loopback, private, link-local (cloud
 * metadata at 169.254.169.254 included), multicast, carrier-grade NAT, unspecified or reserved.
 */
export function isPublicAddress(text: string): boolean {
  const address = parseIp(text);
  if (address === null || address.range() !== 'unicast') return false;
  if (address.kind() === 'ipv4') return true;
  // IPv6: only global unicast (2000::/3). ipaddr.js calls anything it has no name for
  // "unicast", e.g. the deprecated IPv4-compatible ::7f00:1 (127.0.0.1) or ::a9fe:a9fe
  // (the cloud metadata address), which some stacks still route to the IPv4 address.
  const first = (address as ipaddr.IPv6).parts[0]!;
  return first >= 0x2000 && first <= 0x3fff;
}

/** Dotted IPv4 without leading zeros: ipaddr.js reads each such text as the same four numbers. */
const PLAIN_IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/**
 * The network an address belongs to, as anomaly detection counts them: its IPv4 /24 or IPv6 /48
 * (e.g. "203.0.113.0/24", "2001:db8:7::/48"); null for text that is no address.
 */
export function networkOf(ip: string): string | null {
  // Most addresses arrive as plain dotted IPv4 (what canonicalIp makes of any IPv4 form): their /24
  // is the text up to the last dot. Parsing with ipaddr.js took about 5 µs an address, which a
  // flush of 20,000 keys paid on the API's event loop.
  if (PLAIN_IPV4.test(ip)) return `${ip.slice(0, ip.lastIndexOf('.'))}.0/24`;
  const address = parseIp(ip);
  if (address === null) return null;
  if (address.kind() === 'ipv4') {
    const [a, b, c] = (address as ipaddr.IPv4).octets;
    return `${a}.${b}.${c}.0/24`;
  }
  const [a, b, c] = (address as ipaddr.IPv6).parts;
  return `${a!.toString(16)}:${b!.toString(16)}:${c!.toString(16)}::/48`;
}
