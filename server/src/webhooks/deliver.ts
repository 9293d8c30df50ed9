// One HTTP attempt at a webhook, made safely: the host is resolved here and
// every address checked (no loopback, private, link-local or multicast target,
// unless allowed), and the connection goes to the address that was checked, so
// DNS cannot answer differently in between (rebinding). No redirects are
// followed, the attempt is bounded in time, and at most 1 KiB of the answer is kept.
import { createHmac } from 'node:crypto';
import type { LookupAddress } from 'node:dns';
import { lookup } from 'node:dns/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isPublicAddress, parseIp } from '@keygate/core';

export const RESPONSE_KEPT = 1024;

export interface DeliveryOptions {
  allowInsecure: boolean;
  allowPrivate: boolean;
  timeoutMs: number;
}

export interface Attempt {
  statusCode: number | null;
  /** What went wrong, when it did (no answer, a refused target, a non-2xx answer). */
  error: string | null;
  response: string | null;
}

/** Standard Webhooks: v1,<base64 HMAC-SHA256 of "id.timestamp.body" under the secret's bytes>. */
export function signature(secret: string, id: string, timestamp: number, body: string): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
}

export async function deliver(
  target: string,
  headers: Record<string, string>,
  body: string,
  options: DeliveryOptions,
): Promise<Attempt> {
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return { statusCode: null, error: 'the URL is not valid', response: null };
  }
  const secure = url.protocol === 'https:';
  if (!secure && !(url.protocol === 'http:' && options.allowInsecure)) {
    return { statusCode: null, error: 'refused: only https:// URLs are allowed', response: null };
  }
  const host = url.hostname.replace(/^\[|\]$/g, '');
  let addresses: LookupAddress[];
  try {
    addresses = parseIp(host)
      ? [{ address: host, family: host.includes(':') ? 6 : 4 }]
      : await lookup(host, { all: true, verbatim: true });
  } catch (error) {
    return { statusCode: null, error: `${host} does not resolve (${(error as Error).message})`, response: null };
  }
  const blocked = options.allowPrivate ? undefined : addresses.find((a) => !isPublicAddress(a.address));
  if (blocked) {
    return {
      statusCode: null,
      error: `refused: ${host} resolves to ${blocked.address}, which is not a public address`,
      response: null,
    };
  }
  const chosen = addresses[0]!;
  return new Promise<Attempt>((resolve) => {
    const request = (secure ? httpsRequest : httpRequest)(
      url,
      {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        timeout: options.timeoutMs,
        // Connect to the address that was checked, whatever DNS says now.
        lookup: (_hostname, lookupOptions, callback) => {
          if ((lookupOptions as { all?: boolean }).all)
            (callback as (e: null, a: LookupAddress[]) => void)(null, [chosen]);
          else callback(null, chosen.address, chosen.family);
        },
      },
      (response) => {
        const chunks: Buffer[] = [];
        let kept = 0;
        response.on('data', (chunk: Buffer) => {
          if (kept < RESPONSE_KEPT) {
            chunks.push(chunk.subarray(0, RESPONSE_KEPT - kept));
            kept += Math.min(chunk.length, RESPONSE_KEPT - kept);
          }
          if (kept >= RESPONSE_KEPT) response.destroy();
        });
        const done = () => {
          const statusCode = response.statusCode ?? null;
          const ok = statusCode !== null && statusCode >= 200 && statusCode < 300;
          resolve({
            statusCode,
            error: ok
              ? null
              : statusCode !== null && statusCode >= 300 && statusCode < 400
                ? `answered ${statusCode}: redirects are not followed`
                : `answered ${statusCode}`,
            response: Buffer.concat(chunks).toString('utf8'),
          });
        };
        response.on('end', done);
        response.on('close', done);
      },
    );
    request.on('timeout', () => request.destroy(new Error(`no answer within ${options.timeoutMs} ms`)));
    request.on('error', (error) => resolve({ statusCode: null, error: error.message, response: null }));
    request.end(body);
  });
}
