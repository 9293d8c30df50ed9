// POST /v1/leaks: leaked-key reports from a secret scanner, in GitHub's secret
// scanning partner format. The body is a JSON array of { token, type, url,
// source }, signed with ECDSA (P-256, SHA-256): Github-Public-Key-Identifier names
// the key, Github-Public-Key-Signature carries the base64 DER signature of the raw
// body. The public keys come from KEYGATE_LEAK_REPORT_KEYS: a URL or a file in
// the format of https://api.github.com/meta/public_keys/secret_scanning.
// The answer is [{ token_hash, token_type, label }]: true_positive for a real
// Keygate key (revoked at once, or flagged: KEYGATE_LEAK_ACTION), false_positive
// for anything else, which reveals nothing more.
import { createHash, verify } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { hashKey, parseKey } from '@keygate/core';
import type { KeyChangeListener, SchemaSettings } from '@keygate/services';
import { reportLeakedKey } from '@keygate/services/leaks';
import type { PrismaClient } from '@keygate/services/prisma';
import { readBody, sendJson } from './json.ts';

const MAX_BODY = 1024 * 1024;
const MAX_TOKENS = 1000;

export interface LeakOptions {
  /** URL or file of the signers' public keys. */
  keys: string;
  action: 'revoke' | 'flag';
}

interface PublicKeys {
  public_keys: { key_identifier: string; key: string; is_current?: boolean }[];
}

export function createLeakHandler(
  options: LeakOptions,
  prisma: PrismaClient,
  keyChanges: KeyChangeListener,
  settings: SchemaSettings,
  log: (line: string) => void,
) {
  const now = settings.clock ?? Date.now;
  // The signers' public keys: fetched when first needed and again once an hour. A report naming
  // a key id not among them may fetch them again, but at most once a minute and one fetch at a
  // time, whatever arrives: unsigned requests with made-up ids would otherwise spend the
  // reporter's rate limit (GitHub allows 60 unauthenticated requests an hour). A failed fetch
  // keeps the keys already known.
  let known: { at: number; keys: Map<string, string> } | null = null;
  let lastFetch = 0;
  let fetching: Promise<Map<string, string>> | null = null;
  const fetchKeys = (): Promise<Map<string, string>> => {
    if (fetching) return fetching;
    lastFetch = now();
    fetching = (async () => {
      try {
        const text = /^https?:\/\//.test(options.keys)
          ? await fetch(options.keys, { signal: AbortSignal.timeout(10_000) }).then((r) => {
              if (!r.ok) throw new Error(`${options.keys} answered ${r.status}`);
              return r.text();
            })
          : await readFile(options.keys, 'utf8');
        const parsed = JSON.parse(text) as PublicKeys;
        known = { at: now(), keys: new Map(parsed.public_keys.map((k) => [k.key_identifier, k.key])) };
        return known.keys;
      } catch (error) {
        if (known) {
          log(`leak report: public keys could not be refreshed, the known ones stay: ${(error as Error).message}`);
          return known.keys;
        }
        throw error;
      } finally {
        fetching = null;
      }
    })();
    return fetching;
  };
  /** The key for an id: from the known keys, refreshed when stale or (once a minute) when the id is new. */
  const publicKey = async (keyId: string): Promise<string | undefined> => {
    if (!known || now() - known.at > 3_600_000) await fetchKeys();
    const found = known?.keys.get(keyId);
    if (found !== undefined || now() - lastFetch < 60_000) return found;
    return (await fetchKeys()).get(keyId);
  };
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (req.method !== 'POST') return sendJson(res, 405, { error: 'POST a report' });
    const body = await readBody(req, MAX_BODY);
    if (body === null) return sendJson(res, 413, { error: 'the report is too large' });
    const keyId = req.headers['github-public-key-identifier'];
    const signature = req.headers['github-public-key-signature'];
    if (typeof keyId !== 'string' || typeof signature !== 'string') {
      return sendJson(res, 401, { error: 'unsigned report' });
    }
    let pem: string | undefined;
    try {
      pem = await publicKey(keyId);
    } catch (error) {
      log(`leak report: public keys unavailable: ${(error as Error).message}`);
      return sendJson(res, 503, { error: 'public keys unavailable' });
    }
    let valid = false;
    try {
      valid = pem !== undefined && verify('sha256', body, pem, Buffer.from(signature, 'base64'));
    } catch {
      valid = false;
    }
    if (!valid) return sendJson(res, 401, { error: 'bad signature' });

    let items: unknown;
    try {
      items = JSON.parse(body.toString('utf8'));
    } catch {
      return sendJson(res, 400, { error: 'the report is not JSON' });
    }
    if (!Array.isArray(items) || items.length > MAX_TOKENS) {
      return sendJson(res, 400, { error: `a report is a JSON array of at most ${MAX_TOKENS} findings` });
    }
    const results = [];
    for (const item of items as Record<string, unknown>[]) {
      const token = typeof item?.token === 'string' ? item.token : '';
      const type = typeof item?.type === 'string' ? item.type : '';
      const tokenHash = createHash('sha256').update(token).digest('hex');
      const url = typeof item?.url === 'string' ? item.url.slice(0, 2048) : null;
      const source = typeof item?.source === 'string' ? item.source.slice(0, 64) : null;
      const finding = createHash('sha256')
        .update(JSON.stringify([token, url, source]))
        .digest('hex');
      let label = 'false_positive';
      if (parseKey(token) !== null) {
        const key = await prisma.apiKey.findUnique({ where: { hash: hashKey(token) } });
        if (key) {
          const outcome = await reportLeakedKey(
            {
              prisma,
              viewer: { merchantId: key.merchantId, subject: 'leak-report' },
              service: null,
              settings,
              keyChanges,
              request: { id: `leak-report-${tokenHash.slice(0, 16)}`, ip: null },
            },
            key,
            { url, source, finding },
            options.action,
          );
          log(`leak report: key ${key.prefix}… ${outcome} (found at ${String(item.url)})`);
          label = 'true_positive';
        }
      }
      results.push({ token_hash: tokenHash, token_type: type, label });
    }
    return sendJson(res, 200, results);
  };
}
