// The events Keygate tells merchants about, by their GraphQL name and their name
// on the wire (Standard Webhooks' `type`). Only events whose feature exists are
// here; the rest of the catalogue lands with its feature.

export const EVENT_TYPES = {
  KEY_CREATED: 'key.created',
  KEY_UPDATED: 'key.updated',
  KEY_ROLLED: 'key.rolled',
  KEY_REVOKED: 'key.revoked',
  KEY_ENABLED: 'key.enabled',
  KEY_DISABLED: 'key.disabled',
  KEY_EXPIRING: 'key.expiring',
  KEY_EXPIRED: 'key.expired',
  KEY_LEAKED: 'key.leaked',
  KEY_ANOMALY: 'key.anomaly',
  USAGE_EXCEEDED: 'usage.exceeded',
  APPLICATION_CREATED: 'application.created',
  APPLICATION_UPDATED: 'application.updated',
  APPLICATION_ENABLED: 'application.enabled',
  APPLICATION_DISABLED: 'application.disabled',
  WEBHOOK_TEST: 'webhook.test',
} as const;

export type EventTypeName = keyof typeof EVENT_TYPES;
export type WireEventType = (typeof EVENT_TYPES)[EventTypeName];

const BY_WIRE = new Map(Object.entries(EVENT_TYPES).map(([name, wire]) => [wire as string, name as EventTypeName]));

export function eventTypeName(wire: string): EventTypeName | null {
  return BY_WIRE.get(wire) ?? null;
}
