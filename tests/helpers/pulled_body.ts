/**
 * A response body made on demand, to check how much of it a reader pulls.
 * @module
 */

/**
 * A body of `totalBytes`: `prefix`, then 1 KiB chunks of the byte `fill`, one per read,
 * counting what was pulled and whether the reader cancelled.
 */
export function pulledBody(prefix: string, totalBytes: number, fill: number) {
  const state = { pulled: 0, cancelled: false };
  const first = new TextEncoder().encode(prefix);
  const stream = new ReadableStream<Uint8Array>({
    pull(c) {
      if (state.pulled >= totalBytes) return c.close();
      const chunk = state.pulled === 0 ? first.slice() : new Uint8Array(1024).fill(fill);
      state.pulled += chunk.length;
      c.enqueue(chunk);
    },
    cancel() {
      state.cancelled = true;
    },
  }, { highWaterMark: 0 });
  return { stream, state };
}
