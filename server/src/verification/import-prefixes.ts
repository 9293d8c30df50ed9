// The registered prefixes of imported keys (every merchant's), which the verification engine
// holds so that a string that is neither a Keygate key nor starts with one is MALFORMED without
// a database statement. Changes arrive with their announcements; this reads them all at start
// and every 30 s, for a change missed while the change feed was down.
import type { Verifier } from '@keygate/core/engine';
import type { PrismaClient } from '@keygate/services/prisma';

const EVERY_MS = 30_000;

export async function loadImportPrefixes(prisma: PrismaClient): Promise<string[]> {
  const rows = await prisma.importPrefix.findMany({ distinct: ['prefix'], select: { prefix: true } });
  return rows.map((row) => row.prefix);
}

export class ImportPrefixes {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly prisma: PrismaClient,
    private readonly verifier: Verifier,
    private readonly onError: (error: unknown) => void,
  ) {}

  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh().catch(this.onError), EVERY_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
  }

  async refresh(): Promise<void> {
    const generation = this.verifier.importPrefixGeneration;
    this.verifier.setImportPrefixes(await loadImportPrefixes(this.prisma), generation);
  }
}
