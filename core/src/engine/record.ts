// A key's verification record as it travels: what the database function keygate_load_key
// returns, in JSON-safe form. The server answers verifiers with it (by the hash of the secret,
// never the secret); both sides compile it into the VerifiableKey that decide() reads.
import { compileIpRules, type IpAction } from '../ip-rules.ts';
import type { KeyMeter } from '../metering.ts';
import type { Access, VerifiableKey } from '../verification.ts';

export interface KeyRecord {
  id: string;
  prefix: string;
  applicationId: string;
  merchantId: string;
  environment: 'LIVE' | 'TEST';
  access: Access;
  scopes: string[];
  /** Milliseconds since the epoch, or null. */
  expiresAt: number | null;
  revoked: boolean;
  enabled: boolean;
  applicationEnabled: boolean;
  ipRules: { defaultAction: IpAction; rules: { cidr: string; action: IpAction }[] };
  meter: KeyMeter | null;
  meterKeyId: string;
  metadata: string | null;
  externalId: string | null;
}

export function fromRecord(record: KeyRecord): VerifiableKey {
  return {
    id: record.id,
    prefix: record.prefix,
    applicationId: record.applicationId,
    merchantId: record.merchantId,
    environment: record.environment,
    access: record.access,
    scopes: record.scopes,
    expiresAt: record.expiresAt,
    revoked: record.revoked,
    enabled: record.enabled,
    applicationEnabled: record.applicationEnabled,
    ipRules: compileIpRules(record.ipRules.rules, record.ipRules.defaultAction),
    meter: record.meter,
    meterKeyId: record.meterKeyId,
    metadata: record.metadata,
    externalId: record.externalId,
  };
}
