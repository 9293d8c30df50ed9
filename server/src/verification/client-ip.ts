// The client address of a forward-auth request. Forwarding headers are
// believed only when the connection comes from a configured trusted proxy;
// otherwise anyone could claim any address and slip past IP rules.

import type { IncomingMessage } from 'node:http';
import { type CompiledIpRules, compileIpRules, parseIp } from '@keygate/core';
import { LRUCache } from 'lru-cache';
import proxyaddr from 'proxy-addr';

/** Told (once per peer) that a peer that is not trusted sent forwarding headers. */
export type UntrustedForwarderWarning = (peer: string) => void;

export class TrustedProxies {
  private readonly rules: CompiledIpRules;
  /** Peer addresses already judged; a gateway connects from the same few addresses again and again. */
  private readonly judged = new LRUCache<string, boolean>({ max: 10_000 });
  private readonly warned = new Set<string>();
  readonly empty: boolean;

  /** `cidrs` must already be valid (config checks them). */
  constructor(
    cidrs: readonly string[],
    private readonly warn?: UntrustedForwarderWarning,
  ) {
    this.rules = compileIpRules(
      cidrs.map((cidr) => ({ cidr, action: 'ALLOW' as const })),
      'DENY',
    );
    this.empty = cidrs.length === 0;
  }

  /**
   * A proxy that is not configured as trusted makes all its clients one
   * address: one guesser then locks every one of them out. Said once per peer.
   */
  forwardedByUntrusted(peer: string): void {
    if (!this.warn || this.warned.has(peer) || this.warned.size >= 1000) return;
    this.warned.add(peer);
    this.warn(peer);
  }

  /** proxy-addr's trust function: the forwarded hops come raw from the header. */
  readonly trustsHop = (hop: string): boolean => {
    const address = normalise(hop);
    return address !== null && this.trusts(address);
  };

  trusts(ip: string): boolean {
    if (this.empty) return false;
    let trusted = this.judged.get(ip);
    if (trusted === undefined) {
      trusted = this.rules.decide(ip) === 'ALLOW';
      this.judged.set(ip, trusted);
    }
    return trusted;
  }
}

/**
 * The socket's peer address in canonical form. The kernel already gives a
 * normalised address; only the IPv4-mapped form needs unwrapping.
 */
export function peerAddress(remoteAddress: string | undefined): string | null {
  if (!remoteAddress) return null;
  return remoteAddress.startsWith('::ffff:') && remoteAddress.includes('.') ? remoteAddress.slice(7) : remoteAddress;
}

/**
 * Walks X-Forwarded-For from the right (the hop nearest to us) past trusted
 * proxies, with proxy-addr: the first address that is not one is the client.
 * X-Real-IP is used when there is no X-Forwarded-For. A hop that is not an
 * address ends the walk at the peer. Addresses come back canonical.
 */
export function clientIp(
  peer: string | undefined,
  headers: { xff?: string; realIp?: string },
  proxies: TrustedProxies,
): string | null {
  const socketIp = peerAddress(peer);
  if (socketIp === null) return null;
  if (!proxies.trusts(socketIp)) {
    if (headers.xff || headers.realIp) proxies.forwardedByUntrusted(socketIp);
    return socketIp;
  }
  if (headers.xff) {
    // One hop (a gateway that sets X-Forwarded-For to its client's address): that is the client.
    if (!headers.xff.includes(',')) return normalise(headers.xff.trim()) ?? socketIp;
    const forwarded = { socket: { remoteAddress: socketIp }, headers: { 'x-forwarded-for': headers.xff } };
    return normalise(proxyaddr(forwarded as unknown as IncomingMessage, proxies.trustsHop)) ?? socketIp;
  }
  if (headers.realIp) return normalise(headers.realIp.trim()) ?? socketIp;
  return socketIp;
}

/**
 * Canonical text of an address (IPv4-mapped IPv6 as IPv4), or null when it is not one. A gateway
 * forwards the same client addresses again and again; parsing one costs more than the rest of a
 * cached verification (measured with the gateway benchmark), so recent answers are kept.
 */
const canonical = new LRUCache<string, string | false>({ max: 10_000 });
function normalise(text: string): string | null {
  let known = canonical.get(text);
  if (known === undefined) {
    known = text.length <= 64 ? (parseIp(text)?.toString() ?? false) : false;
    canonical.set(text, known);
  }
  return known === false ? null : known;
}
