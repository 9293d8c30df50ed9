// Verifying Keygate's webhooks on the receiving side: the Standard Webhooks
// scheme (https://www.standardwebhooks.com), with Web Crypto, so it runs in
// Node 20+, Deno, Bun, Cloudflare Workers and browsers alike.
//
//   const event = await verifyWebhook(process.env.KEYGATE_WEBHOOK_SECRET, rawBody, request.headers);
//   if (event.type === 'key.revoked') …
//
// Pass the body exactly as received (a string, before any JSON parsing).

export interface WebhookEvent {
  /** key.created, key.revoked, application.disabled, webhook.test, … */
  type: string;
  /** When the change happened (ISO 8601). */
  timestamp: string;
  /** The object's public fields (never a secret). */
  data: Record<string, unknown>;
}

export class WebhookVerificationError extends Error {
  override name = 'WebhookVerificationError';
}

type Headers_ = Headers | Record<string, string | string[] | undefined>;

function header(headers: Headers_, name: string): string | null {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name);
  const value = (headers as Record<string, string | string[] | undefined>)[name];
  return Array.isArray(value) ? (value[0] ?? null) : (value ?? null);
}

function base64ToBytes(text: string): Uint8Array {
  const binary = atob(text);
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

function bytesToBase64(bytes: ArrayBuffer): string {
  return btoa(String.fromCharCode(...new Uint8Array(bytes)));
}

/**
 * Checks `webhook-id`, `webhook-timestamp` (within `toleranceSeconds` of now, default 5 minutes,
 * against replays) and `webhook-signature` (any of its `v1,` signatures, so a secret rotation
 * can overlap), and returns the parsed event; throws WebhookVerificationError otherwise.
 * Deduplicate on `webhook-id`: a delivery may arrive more than once.
 */
export async function verifyWebhook(
  secret: string,
  body: string,
  headers: Headers_,
  { toleranceSeconds = 300, now = Date.now() }: { toleranceSeconds?: number; now?: number } = {},
): Promise<WebhookEvent> {
  const id = header(headers, 'webhook-id');
  const timestamp = header(headers, 'webhook-timestamp');
  const signatures = header(headers, 'webhook-signature');
  if (!id || !timestamp || !signatures)
    throw new WebhookVerificationError('missing webhook-id, -timestamp or -signature');
  const seconds = Number(timestamp);
  if (!Number.isInteger(seconds) || Math.abs(now / 1000 - seconds) > toleranceSeconds) {
    throw new WebhookVerificationError('webhook-timestamp is too far from now');
  }
  const key = await crypto.subtle.importKey(
    'raw',
    base64ToBytes(secret.replace(/^whsec_/, '')) as BufferSource,
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign'],
  );
  const expected = bytesToBase64(
    await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(`${id}.${seconds}.${body}`)),
  );
  const matches = signatures.split(' ').some((candidate) => {
    const [version, value] = candidate.split(',');
    return version === 'v1' && value !== undefined && constantTimeEqual(value, expected);
  });
  if (!matches) throw new WebhookVerificationError('no webhook-signature matches');
  return JSON.parse(body) as WebhookEvent;
}

function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return difference === 0;
}
