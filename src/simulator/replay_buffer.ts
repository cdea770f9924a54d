/** One serialized dispatch and its sequence number. */
export interface BufferedDispatch {
  s: number;
  text: string;
}

/**
 * Bounded FIFO of a session's dispatches (a ring, so pushing at high rates
 * costs O(1)). Sequence numbers are consecutive, so "is seq still covered"
 * is a comparison with the oldest kept `s`.
 */
export interface ReplayBuffer {
  push(entry: BufferedDispatch): void;
  /** Whether every dispatch after `seq` is still held. */
  covers(seq: number): boolean;
  /** Dispatches with `s > seq`, oldest first. */
  after(seq: number): BufferedDispatch[];
  clear(): void;
  readonly size: number;
}

/** Creates a replay buffer holding at most `capacity` dispatches. */
export function createReplayBuffer(capacity: number): ReplayBuffer {
  let ring: (BufferedDispatch | undefined)[] = new Array(capacity);
  let head = 0; // index of the oldest entry
  let size = 0;
  // Highest `s` dropped for lack of room. Sessions start at s = 1, so while
  // nothing was dropped every seq >= 0 is covered.
  let evictedUpTo = 0;

  const at = (i: number) => ring[(head + i) % capacity] as BufferedDispatch;

  return {
    push(entry) {
      if (size === capacity) {
        evictedUpTo = at(0).s;
        ring[head] = entry;
        head = (head + 1) % capacity;
        return;
      }
      ring[(head + size) % capacity] = entry;
      size++;
    },
    covers(seq) {
      return seq >= evictedUpTo;
    },
    after(seq) {
      const out: BufferedDispatch[] = [];
      for (let i = 0; i < size; i++) {
        const entry = at(i);
        if (entry.s > seq) out.push(entry);
      }
      return out;
    },
    clear() {
      ring = new Array(capacity);
      head = 0;
      size = 0;
    },
    get size() {
      return size;
    },
  };
}
