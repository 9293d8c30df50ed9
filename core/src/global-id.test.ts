import { describe, expect, it } from 'vitest';
import { decodeGlobalId, globalId, isLoadableNodeId, localId } from './global-id.ts';

const KEY = '0190f1a2-3b4c-7d5e-8f60-718293a4b5c6';

describe('global ids', () => {
  it('round-trip a type and a database id', () => {
    const id = globalId('ApiKey', KEY);
    expect(id).toBe(Buffer.from(`ApiKey:${KEY}`).toString('base64'));
    expect(decodeGlobalId(id)).toEqual({ typename: 'ApiKey', id: KEY });
    expect(localId(id, 'ApiKey')).toBe(KEY);
  });

  it('treat another type, a malformed id or a non-uuid like no id at all', () => {
    expect(localId(globalId('Application', KEY), 'ApiKey')).toBeNull();
    expect(localId(globalId('ApiKey', 'not-a-uuid'), 'ApiKey')).toBeNull();
    for (const text of ['', 'nope', '!!!!', 'QXBpS2V5', globalId('ApiKey', KEY).slice(0, -2), 'x'.repeat(300)]) {
      expect(localId(text, 'ApiKey')).toBeNull();
    }
    expect(decodeGlobalId(Buffer.from(':abc').toString('base64'))).toEqual({ typename: '', id: '' });
    expect(decodeGlobalId(Buffer.from('1Type:abc').toString('base64'))).toEqual({ typename: '', id: '' });
  });

  it('keeps ids that contain a colon whole', () => {
    expect(decodeGlobalId(globalId('Merchant', 'acme:eu'))).toEqual({ typename: 'Merchant', id: 'acme:eu' });
  });

  it('loads only ids that can name a row', () => {
    expect(isLoadableNodeId({ typename: 'ApiKey', id: KEY })).toBe(true);
    expect(isLoadableNodeId({ typename: 'ApiKey', id: 'x' })).toBe(false);
    expect(isLoadableNodeId({ typename: 'Merchant', id: 'acme' })).toBe(true);
    expect(isLoadableNodeId({ typename: 'Merchant', id: 'm'.repeat(129) })).toBe(false);
    expect(isLoadableNodeId({ typename: 'Other', id: KEY })).toBe(false);
  });
});
