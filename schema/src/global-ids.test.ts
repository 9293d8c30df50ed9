// The hot path names keys with @keygate/core's global ids, without loading
// Pothos; the schema encodes and decodes them with Pothos' relay plugin. The
// two must agree on every id, or a key id in a gateway header would not load.
import { decodeGlobalId, globalId } from '@keygate/core';
import { decodeGlobalID, encodeGlobalID } from '@pothos/plugin-relay';
import { expect, it } from 'vitest';

const pothosDecode = (text: string) => {
  try {
    return decodeGlobalID(text);
  } catch {
    return { typename: '', id: '' };
  }
};

it('encodes as Pothos does and decodes what Pothos decodes, refusing what it refuses', () => {
  const ids = ['0190f1a2-3b4c-7d5e-8f60-718293a4b5c6', 'acme', 'acme:eu', 'ü-merchant', 'x'];
  for (const type of ['ApiKey', 'Application', 'Merchant'] as const) {
    for (const id of ids) {
      expect(globalId(type, id)).toBe(encodeGlobalID(type, id));
      expect(decodeGlobalId(globalId(type, id))).toEqual(pothosDecode(globalId(type, id)));
    }
  }
  const odd = ['', 'nope', 'QXBpS2V5', 'QXBpS2V5Og==', 'OmFiYw==', 'MVR5cGU6YWJj', 'QXBpS2V5OjphYmM=', '====', 'YQ'];
  for (const text of odd) expect(decodeGlobalId(text), text).toEqual(pothosDecode(text));
});
