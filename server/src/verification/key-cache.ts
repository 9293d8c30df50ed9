// Verification's memory: stored keys by the hash of their secret, bounded and
// least-recently-used first out. Unknown hashes are remembered apart, in a
// smaller space, so a flood of random keys neither reaches the database nor
// pushes real keys out.
import type { VerifiableKey } from '@keygate/core';

export interface CacheOptions {
  /** Most known keys kept. */
  maxKeys: number;
  /** Most unknown hashes kept. */
  maxMisses: number;
  /** Longest an entry is trusted without a reload, as a safety net behind invalidation. */
  ttlMs: number;
}

interface Entry<T> {
  value: T;
  loadedAt: number;
}

class Lru<T> {
  private readonly map = new Map<string, Entry<T>>();
  constructor(private readonly max: number) {}

  get(key: string, oldest: number): T | undefined {
    const entry = this.map.get(key);
    if (entry === undefined) return undefined;
    if (entry.loadedAt < oldest) {
      this.map.delete(key);
      return undefined;
    }
    // Re-inserting moves the entry to the young end of the map's order.
    this.map.delete(key);
    this.map.set(key, entry);
    return entry.value;
  }

  /** Returns the entry pushed out to make room, if any. */
  set(key: string, value: T, now: number): [string, T] | undefined {
    this.map.delete(key);
    this.map.set(key, { value, loadedAt: now });
    if (this.map.size <= this.max) return undefined;
    const [evicted, entry] = this.map.entries().next().value as [string, Entry<T>];
    this.map.delete(evicted);
    return [evicted, entry.value];
  }

  delete(key: string): T | undefined {
    const entry = this.map.get(key);
    this.map.delete(key);
    return entry?.value;
  }

  clear(): void {
    this.map.clear();
  }

  get size(): number {
    return this.map.size;
  }
}

export type CacheLookup = { found: true; key: VerifiableKey } | { found: false } | undefined;

export class KeyCache {
  private readonly keys: Lru<VerifiableKey>;
  private readonly misses: Lru<true>;
  /** For invalidation by key id or application id. */
  private readonly hashByKeyId = new Map<string, string>();
  private readonly hashesByApplication = new Map<string, Set<string>>();

  constructor(private readonly options: CacheOptions) {
    this.keys = new Lru(options.maxKeys);
    this.misses = new Lru(options.maxMisses);
  }

  /** undefined: not cached; found false: known not to exist. */
  get(hash: string, now: number): CacheLookup {
    const oldest = now - this.options.ttlMs;
    const key = this.keys.get(hash, oldest);
    if (key !== undefined) return { found: true, key };
    return this.misses.get(hash, oldest) ? { found: false } : undefined;
  }

  set(hash: string, key: VerifiableKey | null, now: number): void {
    if (key === null) {
      this.misses.set(hash, true, now);
      return;
    }
    this.misses.delete(hash);
    this.hashByKeyId.set(key.id, hash);
    const hashes = this.hashesByApplication.get(key.applicationId) ?? new Set<string>();
    this.hashesByApplication.set(key.applicationId, hashes);
    hashes.add(hash);
    const evicted = this.keys.set(hash, key, now);
    if (evicted !== undefined) this.forgetIndexes(evicted[0], evicted[1]);
  }

  invalidate(change: { keyIds?: readonly string[]; applicationId?: string; hashes?: readonly string[] }): void {
    for (const hash of change.hashes ?? []) this.drop(hash);
    for (const id of change.keyIds ?? []) {
      const hash = this.hashByKeyId.get(id);
      if (hash !== undefined) this.drop(hash);
    }
    if (change.applicationId !== undefined) {
      for (const hash of [...(this.hashesByApplication.get(change.applicationId) ?? [])]) this.drop(hash);
    }
  }

  clear(): void {
    this.keys.clear();
    this.misses.clear();
    this.hashByKeyId.clear();
    this.hashesByApplication.clear();
  }

  get size(): { keys: number; misses: number } {
    return { keys: this.keys.size, misses: this.misses.size };
  }

  private drop(hash: string): void {
    this.misses.delete(hash);
    const key = this.keys.delete(hash);
    if (key !== undefined) this.forgetIndexes(hash, key);
  }

  private forgetIndexes(hash: string, key: VerifiableKey): void {
    if (this.hashByKeyId.get(key.id) === hash) this.hashByKeyId.delete(key.id);
    const hashes = this.hashesByApplication.get(key.applicationId);
    hashes?.delete(hash);
    if (hashes?.size === 0) this.hashesByApplication.delete(key.applicationId);
  }
}
