/**
 * The switch of a reshard: while the old and the new shard set are both connected, Discord
 * sends each dispatch to both, a few milliseconds apart and in either order. During the
 * overlap every dispatch from either set passes here, and each is delivered once: by
 * whichever set brought it first.
 * @module
 */

/** Options of {@linkcode createOverlapDedupe}. */
export interface OverlapDedupeOptions {
  /** How long an identity is remembered, ms: longer than the skew between the two sets. */
  windowMs: number;
  /** @default Date.now */
  now?: () => number;
}

/** Decides which copy of a dispatch is delivered. */
export interface OverlapDedupe {
  /**
   * `true` when this copy is to be delivered: the first copy of a dispatch, from any set.
   * `set` tells the sets apart (their shard counts); `d` is the dispatch's `d` as JSON text.
   */
  admit(set: number, t: string, d: string): boolean;
  /** Copies held back so far. */
  readonly deduped: number;
  /** Identities remembered now. */
  readonly size: number;
}

interface Seen {
  at: number;
  /** Copies admitted per set: an event Discord really sends twice is seen twice by each set. */
  counts: Map<number, number>;
}

/** Creates an {@linkcode OverlapDedupe}. */
export function createOverlapDedupe(options: OverlapDedupeOptions): OverlapDedupe {
  const { windowMs, now = Date.now } = options;
  if (!(windowMs > 0)) throw new RangeError(`windowMs must be > 0, got ${windowMs}`);
  const seen = new Map<string, Seen>();
  let deduped = 0;
  const evict = (at: number) => {
    // Insertion order is first-seen order: stop at the first entry still in the window.
    for (const [key, entry] of seen) {
      if (at - entry.at <= windowMs) break;
      seen.delete(key);
    }
  };
  return {
    admit(set, t, d) {
      const at = now();
      evict(at);
      const key = `${t}\u0000${d.length}\u0000${hash(d)}`;
      let entry = seen.get(key);
      if (!entry) {
        entry = { at, counts: new Map() };
        seen.set(key, entry);
      }
      const mine = (entry.counts.get(set) ?? 0) + 1;
      entry.counts.set(set, mine);
      let others = 0;
      for (const [other, n] of entry.counts) if (other !== set) others = Math.max(others, n);
      if (mine > others) return true;
      deduped++;
      return false;
    },
    get deduped() {
      return deduped;
    },
    get size() {
      return seen.size;
    },
  };
}

/** Two 32-bit FNV-1a hashes with different offsets: 64 bits, cheap, no allocation per char. */
function hash(text: string): string {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193) ^ (b >>> 13);
  }
  return (a >>> 0).toString(36) + (b >>> 0).toString(36);
}
