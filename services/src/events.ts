// The outbox. An event is written in the transaction of the change it
// describes, together with one delivery per enabled endpoint of the merchant
// that subscribed to its type: a change never loses its event, a rolled-back
// change never has one. The server's webhook worker sends the deliveries.
import { EVENT_TYPES, type EventTypeName, globalId, keyStatus } from '@keygate/core';
import type { ApiKey, Application, Prisma } from './prisma.ts';
import type { Transaction } from './transaction.ts';

export interface EventEntry {
  type: EventTypeName;
  data: Prisma.InputJsonObject;
}

/** Writes the event and its deliveries; `onlyEndpoint` sends it to that endpoint alone (test events). */
export async function emit(
  tx: Transaction,
  merchantId: string,
  { type, data }: EventEntry,
  at: Date,
  onlyEndpoint?: string,
): Promise<{ eventId: string }> {
  const wire = EVENT_TYPES[type];
  const event = await tx.event.create({ data: { merchantId, type: wire, data, createdAt: at } });
  const only = onlyEndpoint ?? null;
  await tx.$executeRaw`
    INSERT INTO webhook_deliveries (id, endpoint_id, event_id, status, attempts, next_attempt_at, created_at, updated_at)
    SELECT gen_random_uuid(), e.id, ${event.id}::uuid, 'PENDING', 0, ${at}, ${at}, ${at}
    FROM webhook_endpoints e
    WHERE e.merchant_id = ${merchantId}
      AND ((${only}::uuid IS NULL AND e.enabled AND ${wire} = ANY(e.events)) OR e.id = ${only}::uuid)`;
  return { eventId: event.id };
}

/** A key's public fields, as events carry them (never its secret or hash). */
export function keyEventData(key: ApiKey, now: Date = new Date()): Prisma.InputJsonObject {
  return {
    id: globalId('ApiKey', key.id),
    applicationId: globalId('Application', key.applicationId),
    name: key.name,
    prefix: key.prefix,
    environment: key.environment,
    access: key.access,
    scopes: key.scopes,
    status: keyStatus(key, now),
    enabled: key.enabled,
    expiresAt: key.expiresAt?.toISOString() ?? null,
    revokedAt: key.revokedAt?.toISOString() ?? null,
    externalId: key.externalId,
    metadata: (key.metadata ?? null) as Prisma.InputJsonValue,
    createdAt: key.createdAt.toISOString(),
  } as Prisma.InputJsonObject;
}

export function applicationEventData(application: Application): Prisma.InputJsonObject {
  return {
    id: globalId('Application', application.id),
    name: application.name,
    description: application.description,
    enabled: application.enabled,
    createdAt: application.createdAt.toISOString(),
  };
}
