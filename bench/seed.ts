// The population of the scale benchmarks: 1,000,000 keys across 10,000 applications of 100
// merchants ('scale-0' … 'scale-99'), made in SQL. 900,000 have hashes nobody holds the secret
// of; 100,000 are real keys, 10 per application, whose secrets are returned (in the order made).
import { generateKey } from '@keygate/core';
import type { PrismaClient } from '@keygate/services/prisma';

export async function seedMillionKeys(prisma: PrismaClient): Promise<string[]> {
  await prisma.$executeRawUnsafe("INSERT INTO merchants (id) SELECT 'scale-' || m FROM generate_series(0, 99) m");
  await prisma.$executeRawUnsafe(`
    INSERT INTO applications (id, merchant_id, name, normalized_name, updated_at)
    SELECT gen_random_uuid(), 'scale-' || (a % 100), 'app ' || a, 'app ' || a, now() - a * interval '1 second'
    FROM generate_series(0, 9999) a`);
  await prisma.$executeRawUnsafe(`
    INSERT INTO api_keys (id, merchant_id, application_id, name, prefix, hash, access, environment, updated_at)
    SELECT gen_random_uuid(), a.merchant_id, a.id, 'filler ' || g, 'kg_live_0000',
           encode(sha256(convert_to(a.id::text || ':' || g, 'UTF8')), 'hex'), 'READ_ONLY', 'LIVE', now()
    FROM applications a CROSS JOIN generate_series(1, 90) g`);
  const apps = await prisma.$queryRawUnsafe<{ id: string; merchant_id: string }[]>(
    'SELECT id, merchant_id FROM applications ORDER BY id',
  );
  const secrets: string[] = [];
  for (let batch = 0; batch < 10; batch++) {
    const rows = apps.map((app) => {
      const key = generateKey('live');
      secrets.push(key.secret);
      return { app, key };
    });
    await prisma.$executeRawUnsafe(
      `INSERT INTO api_keys (id, merchant_id, application_id, name, prefix, hash, access, environment, updated_at)
       SELECT gen_random_uuid(), m, a, 'real', p, h, 'FULL_ACCESS', 'LIVE', now()
       FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[]) AS t(m, a, p, h)`,
      rows.map((r) => r.app.merchant_id),
      rows.map((r) => r.app.id),
      rows.map((r) => r.key.prefix),
      rows.map((r) => r.key.hash),
    );
  }
  await prisma.$executeRawUnsafe('ANALYZE');
  return secrets;
}
