// Relay global ids: base64 of "<Type>:<id>", as Pothos' relay plugin encodes
// them (a schema test holds the two to the same text). Here so that the hot
// path can name a key without loading the GraphQL schema.

export type NodeType = 'Merchant' | 'Application' | 'ApiKey' | 'WebhookEndpoint' | 'Role' | 'Identity';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function isUuid(text: string): boolean {
  return UUID.test(text);
}

export function globalId(type: NodeType, id: string): string {
  return Buffer.from(`${type}:${id}`, 'utf8').toString('base64');
}

const BASE64 = /^(?:[\d+/A-Za-z]{4})*(?:[\d+/A-Za-z]{2}==|[\d+/A-Za-z]{3}=)?$/;
const TYPENAME = /^[A-Z_a-z]\w*$/;
const MALFORMED = { typename: '', id: '' };

/**
 * The type and id inside a global id, accepting exactly what Pothos' decoder
 * accepts; `{ typename: '', id: '' }` (a type that names nothing) for anything else.
 */
export function decodeGlobalId(text: string): { typename: string; id: string } {
  if (!BASE64.test(text)) return MALFORMED;
  const [typename = '', first = '', ...rest] = Buffer.from(text, 'base64').toString('utf8').split(':');
  if (!first || !TYPENAME.test(typename)) return MALFORMED;
  return { typename, id: [first, ...rest].join(':') };
}

/** The database id behind a global id of the given type, or null when it cannot be one. */
export function localId(text: string, type: Exclude<NodeType, 'Merchant'>): string | null {
  if (text.length > 200) return null;
  const { typename, id } = decodeGlobalId(text);
  return typename === type && UUID.test(id) ? id : null;
}

/** Whether a decoded node id can name a row at all (so the database never sees garbage). */
export function isLoadableNodeId({ typename, id }: { typename: string; id: string }): boolean {
  if (
    typename === 'Application' ||
    typename === 'ApiKey' ||
    typename === 'WebhookEndpoint' ||
    typename === 'Role' ||
    typename === 'Identity'
  ) {
    return UUID.test(id);
  }
  return typename === 'Merchant' && id.length > 0 && id.length <= 128;
}
