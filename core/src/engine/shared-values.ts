// Values many cached keys hold alike (ids of their applications, access, scope lists, global
// ids), kept once: a verifier holding 100,000 keys of a few thousand applications would
// otherwise hold each in every key, as JSON.parse makes its own copy of every string.

/**
 * One value per text, made by `make` the first time the text is asked for. At most `max` are
 * held; when full it starts again from empty (every value is cheap to make again, and a bound
 * that never evicts one by one keeps the common lookup a single Map read).
 */
export class SharedValues<V> {
  private readonly values = new Map<string, V>();

  constructor(private readonly max = 50_000) {}

  get(text: string, make: (text: string) => V): V {
    let value = this.values.get(text);
    if (value === undefined) {
      if (this.values.size >= this.max) this.values.clear();
      value = make(text);
      this.values.set(text, value);
    }
    return value;
  }

  get size(): number {
    return this.values.size;
  }
}
