// One HTTP attempt at a webhook, made safely: the host is resolved here and
// every address checked (no loopback, private, link-local or multicast target,
// unless allowed), and the connection goes to the address that was checked, so
// DNS cannot answer differently in between (rebinding). No redirects are
// followed, the whole attempt has a deadline, the answer's headers are bounded, and at most
// 1 KiB of its body is read.
import { createHmac } from 'node:crypto';
import type { LookupAddress } from 'node:dns';
import { lookup } from 'node:dns/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isPublicAddress, parseIp } from '@keygate/core';

export const RESPONSE_KEPT = 1024;
/** Most bytes of a receiver's status line and headers. */
export const MAX_ANSWER_HEADERS = 8 * 1024;

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

/** The promise, or a rejection naming `what` once `ms` have passed. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took more than ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
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
      : await within(lookup(host, { all: true, verbatim: true }), options.timeoutMs, 'the name lookup');
  } catch (error) {
    return { statusCode: null, error: `${host} does not resolve (${(error as Error).message})`, response: null };
  }
  const blocked = options.allowPrivate ? undefined : addresses.find((a) => !isPublicAddress(a.address));
  if (blocked) {
    // Recorded on the delivery, which its merchant reads: the internal address stays unnamed.
    return {
      statusCode: null,
      error: `refused: ${host} resolves to an address that is not public (loopback, private, link-local or reserved)`,
      response: null,
    };
  }
  const chosen = addresses[0]!;
  return new Promise<Attempt>((resolve) => {
    let settled = false;
    const finish = (attempt: Attempt) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      resolve(attempt);
    };
    const request = (secure ? httpsRequest : httpRequest)(
      url,
      {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        // A receiver's answer needs a status line and a few headers, no more.
        maxHeaderSize: MAX_ANSWER_HEADERS,
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
        const done = () => {
          const statusCode = response.statusCode ?? null;
          const ok = statusCode !== null && statusCode >= 200 && statusCode < 300;
          finish({
            statusCode,
            error: ok
              ? null
              : statusCode !== null && statusCode >= 300 && statusCode < 400
                ? `answered ${statusCode}: redirects are not followed`
                : `answered ${statusCode}`,
            response: Buffer.concat(chunks).toString('utf8'),
          });
          response.destroy();
        };
        response.on('data', (chunk: Buffer) => {
          chunks.push(chunk.subarray(0, RESPONSE_KEPT - kept));
          kept += Math.min(chunk.length, RESPONSE_KEPT - kept);
          // What is kept is all that is read: the rest of a long answer is never waited for.
          if (kept >= RESPONSE_KEPT) done();
        });
        response.on('end', done);
        response.on('close', done);
      },
    );
    // A deadline for the whole attempt, whatever arrives meanwhile: an idle timeout would never
    // cut off a receiver that drips a byte now and then, and this instance would wait on it.
    const deadline = setTimeout(() => {
      request.destroy();
      finish({ statusCode: null, error: `no complete answer within ${options.timeoutMs} ms`, response: null });
    }, options.timeoutMs);
    request.on('error', (error) => finish({ statusCode: null, error: error.message, response: null }));
    request.end(body);
  });
}
