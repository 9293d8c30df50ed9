// usage.exceeded: when a key's credits run out, its merchant is told — once per
// key and credits epoch (a refill period, or until the credits are changed),
// across instances: the notice row is inserted with the event, and the insert
// that conflicts sends nothing. Off the verification path: the meter only calls
// this when a reservation found the pool empty.
import { nextRefill } from '@keygate/core';
import { emit as emitEvent, keyEventData } from '@keygate/services/events';
import type { PrismaClient } from '@keygate/services/prisma';

export function usageExceededNotifier(
  prisma: PrismaClient,
  clock: () => number,
  log: (error: unknown) => void,
): (keyId: string, epoch: number) => void {
  return (keyId, epoch) => {
    const now = new Date(clock());
    void prisma
      .$transaction(async (tx) => {
        const inserted = await tx.$executeRaw`
          INSERT INTO key_usage_notices (key_id, epoch, created_at) VALUES (${keyId}::uuid, ${epoch}, ${now})
          ON CONFLICT DO NOTHING`;
        if (inserted === 0) return;
        const key = await tx.apiKey.findUnique({ where: { id: keyId } });
        if (!key) return;
        await emitEvent(
          tx,
          key.merchantId,
          {
            type: 'USAGE_EXCEEDED',
            data: {
              ...keyEventData(key, now),
              credits: {
                remaining: 0,
                refillAmount: key.refillAmount,
                refillInterval: key.refillInterval,
                nextRefillAt: key.refillInterval
                  ? new Date(nextRefill(key.refillInterval, key.refillDay, now.getTime())).toISOString()
                  : null,
              },
            },
          },
          now,
        );
      })
      .catch(log);
  };
}
