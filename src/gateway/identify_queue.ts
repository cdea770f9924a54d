import { delay } from "../backoff.ts";
import type { Logger } from "../log.ts";

/**
 * Decides when a shard may identify. One method, so a Redis- or HTTP-backed
 * implementation can coordinate several processes later.
 */
export interface IdentifyQueue {
  /** Resolves when `shardId` may send its identify; rejects if `signal` aborts first. */
  wait(shardId: number, signal?: AbortSignal): Promise<void>;
}

/** Options of {@linkcode createIdentifyQueue}. */
export interface IdentifyQueueOptions {
  /** Discord's `max_concurrency`: identifies in bucket `shardId % maxConcurrency` are serial. */
  maxConcurrency: number;
  /** Minimum spacing of two identifies in one bucket, ms. @default 5000 */
  intervalMs?: number;
  /** `session_start_limit.remaining`; when it reaches 0 identifies wait for the reset. */
  remaining?: number;
  /** `session_start_limit.reset_after`, ms from now. */
  resetAfterMs?: number;
  /** `session_start_limit.total`, restored at each reset. */
  total?: number;
  logger?: Logger;
  /** @default Date.now */
  now?: () => number;
  /** @default delay */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/** The in-memory {@linkcode IdentifyQueue}: per bucket FIFO, one identify per `intervalMs`. */
export function createIdentifyQueue(options: IdentifyQueueOptions): IdentifyQueue & {
  /** Identifies granted so far. */
  readonly granted: number;
  /** When `shardId`'s bucket may next identify (epoch ms). */
  nextSlot(shardId: number): number;
} {
  const {
    maxConcurrency,
    intervalMs = 5000,
    total = Infinity,
    logger,
    now = Date.now,
    sleep = delay,
  } = options;
  if (!Number.isInteger(maxConcurrency) || maxConcurrency < 1) {
    throw new RangeError(`maxConcurrency must be a positive integer, got ${maxConcurrency}`);
  }
  if (!(intervalMs >= 0)) throw new RangeError(`intervalMs must be >= 0, got ${intervalMs}`);
  let remaining = options.remaining ?? Infinity;
  let resetAt = now() + (options.resetAfterMs ?? 86_400_000);
  let granted = 0;
  const lastAt = new Map<number, number>();
  const tails = new Map<number, Promise<void>>();

  const takeSessionStart = async (signal?: AbortSignal) => {
    if (now() >= resetAt) {
      remaining = total;
      resetAt = now() + 86_400_000;
    }
    if (remaining <= 0) {
      const wait = Math.max(0, resetAt - now());
      logger?.error("session start limit exhausted; identifies wait for Discord's reset", {
        waitMs: wait,
      });
      await sleep(wait, signal);
      remaining = total;
      resetAt = now() + 86_400_000;
    }
    remaining--;
  };

  return {
    get granted() {
      return granted;
    },
    nextSlot(shardId) {
      const last = lastAt.get(shardId % maxConcurrency);
      return last === undefined ? now() : Math.max(now(), last + intervalMs);
    },
    wait(shardId, signal) {
      const bucket = shardId % maxConcurrency;
      const previous = tails.get(bucket) ?? Promise.resolve();
      const turn = previous.catch(() => {}).then(async () => {
        signal?.throwIfAborted();
        const last = lastAt.get(bucket);
        if (last !== undefined) {
          const wait = last + intervalMs - now();
          if (wait > 0) await sleep(wait, signal);
        }
        await takeSessionStart(signal);
        lastAt.set(bucket, now());
        granted++;
      });
      tails.set(bucket, turn);
      return turn;
    },
  };
}
