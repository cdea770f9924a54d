/** Options of {@linkcode waitFor}. */
export interface WaitForOptions {
  /** Give up after this long. @default {5000} */
  timeoutMs?: number;
  /** Poll period. @default {10} */
  intervalMs?: number;
  /** Describes the condition in the timeout error. */
  message?: string;
  /** Aborts the wait (rejects with the signal's reason). */
  signal?: AbortSignal;
}

/**
 * Polls `predicate` until it returns a truthy value and resolves with that
 * value; rejects with an Error after `timeoutMs`. Use it instead of sleeping:
 * tests then wait exactly as long as a loaded machine needs.
 *
 * @example
 * ```ts
 * const close = await waitFor(() => sim.closes.find((c) => c.code === 4004));
 * ```
 */
export async function waitFor<T>(
  predicate: () => T | Promise<T>,
  options: WaitForOptions = {},
): Promise<NonNullable<T>> {
  const { timeoutMs = 5000, intervalMs = 10, message, signal } = options;
  if (!(timeoutMs >= 0)) throw new RangeError(`waitFor timeoutMs must be >= 0, got ${timeoutMs}`);
  if (!(intervalMs > 0)) throw new RangeError(`waitFor intervalMs must be > 0, got ${intervalMs}`);
  const deadline = Date.now() + timeoutMs;
  while (true) {
    signal?.throwIfAborted();
    const value = await predicate();
    if (value) return value as NonNullable<T>;
    if (Date.now() >= deadline) {
      throw new Error(`waitFor timed out after ${timeoutMs} ms${message ? `: ${message}` : ""}`);
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, Math.min(intervalMs, Math.max(0, deadline - Date.now())));
      function done() {
        signal?.removeEventListener("abort", done);
        clearTimeout(timer);
        resolve();
      }
      signal?.addEventListener("abort", done, { once: true });
    });
  }
}
