/**
 * A small seeded pseudo-random generator (mulberry32) for randomized tests: the same
 * seed gives the same sequence on every machine, so a failing seed replays exactly.
 * @module
 */

/** Seeded choices. */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Integer in [lo, hi], both included. */
  int(lo: number, hi: number): number;
  /** True with probability `p`. */
  chance(p: number): boolean;
  /** One element of a non-empty list. */
  pick<T>(items: readonly T[]): T;
  /** One key of `[key, weight]` pairs; weights <= 0 are never chosen. */
  weighted<K>(table: readonly (readonly [K, number])[]): K;
}

/** Creates an {@linkcode Rng} over mulberry32 seeded with `seed` (any 32-bit integer). */
export function createRng(seed: number): Rng {
  if (!Number.isInteger(seed)) throw new TypeError(`seed must be an integer, got ${seed}`);
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    chance: (p) => next() < p,
    pick(items) {
      if (items.length === 0) throw new RangeError("pick() needs at least one item");
      return items[Math.floor(next() * items.length)];
    },
    weighted(table) {
      const total = table.reduce((sum, [, w]) => sum + Math.max(0, w), 0);
      if (!(total > 0)) throw new RangeError("weighted() needs a positive weight");
      let x = next() * total;
      for (const [key, w] of table) {
        if (w <= 0) continue;
        x -= w;
        if (x < 0) return key;
      }
      return table.findLast(([, w]) => w > 0)![0];
    },
  };
}
