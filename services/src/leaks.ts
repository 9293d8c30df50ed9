// A leaked key, as a secret scanner reported it: revoked at once (or only
// flagged, when the operator chose so), audited with the actor "leak-report",
// and announced to the merchant as a key.leaked event saying where it was found.
import { globalId } from '@keygate/core';
import { recorded } from './audit.ts';
import { clockOf, type MerchantContext } from './context.ts';
import { KeyRevokedError } from './errors.ts';
import { keyEventData } from './events.ts';
import { updateUnrevokedKey } from './keys.ts';
import type { ApiKey } from './prisma.ts';
import type { Transaction } from './transaction.ts';

export interface LeakReport {
  /** Where the secret was found (a public URL). */
  url: string | null;
  /** What kind of place (GitHub: content, commit, pull_request, issue, …). */
  source: string | null;
  /** The finding without its secret (SHA-256 of token, url and source): acted on once. */
  finding: string;
}

/** A finding already acted on: its transaction is rolled back, nothing is written twice. */
class AlreadyReported extends Error {}

/** Acts on a real key found in public; `ctx` acts for the key's merchant. */
export async function reportLeakedKey(
  ctx: MerchantContext,
  key: ApiKey,
  report: LeakReport,
  action: 'revoke' | 'flag',
): Promise<'revoked' | 'flagged' | 'already reported'> {
  const revoke = action === 'revoke' && key.revokedAt === null;
  const outcome = revoke ? 'revoked' : 'flagged';
  const write = async (tx: Transaction) => {
    // A replayed report (the same finding again, signed as before) does nothing the second time.
    const fresh = await tx.$executeRaw`
      INSERT INTO leak_findings (id, key_id) VALUES (${report.finding}, ${key.id}::uuid) ON CONFLICT (id) DO NOTHING`;
    if (fresh === 0) throw new AlreadyReported();
    return revoke
      ? updateUnrevokedKey(tx, key.id, globalId('ApiKey', key.id), 'revoke', { revokedAt: new Date(clockOf(ctx)) })
      : key;
  };
  try {
    await recorded(
      ctx,
      write,
      (written) => ({
        action: 'reportLeakedKey',
        target: { type: 'ApiKey', id: key.id },
        summary: { url: report.url, source: report.source, action: outcome },
        event: {
          type: 'KEY_LEAKED',
          data: { ...keyEventData(written), leak: { url: report.url, source: report.source, action: outcome } },
        },
      }),
      () => ({ keyIds: [key.id] }),
    );
  } catch (error) {
    if (error instanceof AlreadyReported) return 'already reported';
    // Revoked meanwhile: it is safe; report it as flagged rather than fail the whole report.
    if (!(error instanceof KeyRevokedError)) throw error;
    return reportLeakedKey(ctx, { ...key, revokedAt: error.revokedAt }, report, 'flag');
  }
  return outcome;
}
