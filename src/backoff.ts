/**
 * Capped exponential backoff, an abortable delay and a time bound on a promise, shared by every
 * stage that retries or waits on an upstream (REST proxy, Discord, the event handler, Redis).
 * @module
 */

/** Options of {@linkcode backoffDelay}. */
export interface BackoffOptions {
  /** First delay, ms. @default 1000 */
  baseMs?: number;
  /** Largest delay, ms. @default 30000 */
  maxMs?: number;
  /** Random spread, 0..1, so many retriers do not stampede. @default 0.1 */
  jitter?: number;
  /** @default Math.random */
  random?: () => number;
}

/** Delay before retry number `attempt` (0-based): base * 2^attempt, capped, jittered. */
export function backoffDelay(attempt: number, options: BackoffOptions = {}): number {
  const { baseMs = 1000, maxMs = 30_000, jitter = 0.1, random = Math.random } = options;
  if (attempt < 0 || !Number.isFinite(attempt)) {
    throw new RangeError(`attempt must be >= 0, got ${attempt}`);
  }
  const raw = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.max(0, Math.round(raw * (1 - jitter + 2 * jitter * random())));
}

/** Resolves after `ms`, or rejects with the signal's reason once it aborts. */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * `p`, or a rejection with "`what` within `ms` ms" once `ms` passed (`p` goes on unobserved):
 * for a peer that stops answering without closing the connection.
 */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
