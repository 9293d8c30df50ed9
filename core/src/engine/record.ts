// A key's verification record as it travels: what the database function keygate_load_key
// returns, in JSON-safe form. The server answers verifiers with it (by the hash of the secret,
// never the secret); both sides compile it into the VerifiableKey that decide() reads.
import { compileIpRules, type IpAction } from '../ip-rules.ts';
import type { VerifiableKey } from '../verification.ts';
import { SharedValues } from './shared-values.ts';

/** A VerifiableKey with its IP rules as stored (not compiled), so that it travels as JSON. */
export type KeyRecord = Omit<VerifiableKey, 'ipRules'> & {
  ipRules: { defaultAction: IpAction; rules: { cidr: string; action: IpAction }[] };
};

/**
 * Strings many cached keys share (application and merchant ids, access, environment), kept once:
 * a verifier holding 100,000 keys of a few thousand applications saves about 100 bytes a key.
 * (JSON.parse makes its own copy of each, 'FULL_ACCESS' included.)
 */
const strings = new SharedValues<string>();
const same = (text: string): string => text;
const intern = (text: string): string => strings.get(text, same);

/**
 * Scope lists many cached keys share (a product has a few kinds of key), kept once per distinct
 * list: a key with two scopes held its own array and strings, about 100 bytes. Nothing changes a
 * key's list (the verifier freezes it with the key's answer).
 */
const scopeLists = new SharedValues<readonly string[]>();
const internScopes = (scopes: readonly string[]): readonly string[] =>
  scopeLists.get(JSON.stringify(scopes), () => scopes);

export function fromRecord(record: KeyRecord): VerifiableKey {
  return {
    id: record.id,
    prefix: record.prefix,
    applicationId: intern(record.applicationId),
    merchantId: intern(record.merchantId),
    environment: intern(record.environment) as VerifiableKey['environment'],
    access: intern(record.access) as VerifiableKey['access'],
    scopes: internScopes(record.scopes),
    ...(record.roleIds?.length ? { roleIds: record.roleIds.map(intern) } : {}),
    expiresAt: record.expiresAt,
    revoked: record.revoked,
    enabled: record.enabled,
    applicationEnabled: record.applicationEnabled,
    ipRules: compileIpRules(record.ipRules.rules, record.ipRules.defaultAction),
    meter: record.meter,
    // Its own id unless a rolled key shares its replacement's quota: the same string, not a copy.
    meterKeyId: record.meterKeyId === record.id ? record.id : record.meterKeyId,
    metadata: record.metadata,
    externalId: record.externalId,
    ...(record.identity ? { identity: record.identity } : {}),
  };
}
