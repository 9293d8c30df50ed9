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
import { type KeyChangeListener, reportLeakedKey, type SchemaSettings } from '@keygate/schema';
import type { PrismaClient } from '@keygate/schema/prisma';
import { readBody, sendJson } from './http-json.ts';

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
  let cached: { at: number; keys: Map<string, string> } | null = null;
  const publicKeys = async (refresh: boolean): Promise<Map<string, string>> => {
    if (cached && !refresh && Date.now() - cached.at < 3_600_000) return cached.keys;
    const text = /^https?:\/\//.test(options.keys)
      ? await fetch(options.keys, { signal: AbortSignal.timeout(10_000) }).then((r) => {
          if (!r.ok) throw new Error(`${options.keys} answered ${r.status}`);
          return r.text();
        })
      : await readFile(options.keys, 'utf8');
    const parsed = JSON.parse(text) as PublicKeys;
    cached = { at: Date.now(), keys: new Map(parsed.public_keys.map((k) => [k.key_identifier, k.key])) };
    return cached.keys;
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
      pem = (await publicKeys(false)).get(keyId) ?? (await publicKeys(true)).get(keyId);
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
            {
              url: typeof item.url === 'string' ? item.url.slice(0, 2048) : null,
              source: typeof item.source === 'string' ? item.source.slice(0, 64) : null,
            },
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
