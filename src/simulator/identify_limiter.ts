/** Snapshot of `session_start_limit` as `/gateway/bot` returns it. */
export interface SessionStartLimit {
  total: number;
  remaining: number;
  reset_after: number;
  max_concurrency: number;
}

/** Outcome of asking to start a session. */
export type IdentifyVerdict = "ok" | "bucket-busy" | "exhausted";

/**
 * Discord's identify limits: one accepted identify per bucket
 * (`shard_id % max_concurrency`) per window, and a daily session start quota.
 */
export interface IdentifyLimiter {
  /** Checks the limits and, when "ok", consumes one start and marks the bucket. */
  tryStart(shardId: number, now: number): IdentifyVerdict;
  limit(now: number): SessionStartLimit;
}

/** Options of {@linkcode createIdentifyLimiter}. */
export interface IdentifyLimiterOptions {
  maxConcurrency: number;
  intervalMs: number;
  total: number;
  remaining: number;
  resetAfterMs: number;
  now: number;
}

/** Creates the limiter; the quota refills `resetAfterMs` after creation, then periodically. */
export function createIdentifyLimiter(
  options: IdentifyLimiterOptions,
): IdentifyLimiter {
  const { maxConcurrency, intervalMs, total, resetAfterMs } = options;
  let remaining = options.remaining;
  let resetAt = options.now + resetAfterMs;
  const lastStart = new Map<number, number>();

  const refill = (now: number) => {
    if (now < resetAt) return;
    remaining = total;
    resetAt = now + resetAfterMs;
  };

  return {
    tryStart(shardId, now) {
      refill(now);
      const bucket = shardId % maxConcurrency;
      const last = lastStart.get(bucket);
      if (last !== undefined && now - last < intervalMs) return "bucket-busy";
      if (remaining <= 0) return "exhausted";
      remaining--;
      lastStart.set(bucket, now);
      return "ok";
    },
    limit(now) {
      refill(now);
      return {
        total,
        remaining,
        reset_after: Math.max(0, resetAt - now),
        max_concurrency: maxConcurrency,
      };
    },
  };
}
