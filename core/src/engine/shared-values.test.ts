import { describe, expect, it } from 'vitest';
import { SharedValues } from './shared-values.ts';

describe('SharedValues', () => {
  it('makes a value once per text and hands the same one back', () => {
    const values = new SharedValues<{ text: string }>(10);
    let made = 0;
    const make = (text: string) => {
      made++;
      return { text };
    };
    const first = values.get('app-1', make);
    expect(values.get('app-1', make)).toBe(first);
    expect(values.get('app-2', make)).not.toBe(first);
    expect(made).toBe(2);
  });

  it('holds at most its bound, and answers correctly after starting again', () => {
    const values = new SharedValues<string>(100);
    const make = (text: string) => `made:${text}`;
    for (let i = 0; i < 1_000; i++) {
      expect(values.get(`k${i}`, make)).toBe(`made:k${i}`);
      expect(values.size).toBeLessThanOrEqual(100);
    }
    // Texts seen before the last fresh start are made again, with the same content.
    expect(values.get('k0', make)).toBe('made:k0');
    expect(values.size).toBeLessThanOrEqual(100);
  });
});
