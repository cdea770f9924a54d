import { delay } from "../backoff.ts";
import type { Logger } from "../log.ts";

/**
 * Decides when a shard may identify. One method, so a Redis- or HTTP-backed
 * implementation can coordinate several processes later.
 */
export interface IdentifyQueue {
  /**
   * Resolves when `shardId` may identify; rejects if `signal` aborts first.
   * The caller calls the ticket's `sent()` the moment the identify payload is on
   * the wire: the bucket's next identify is spaced from then, not from the grant,
   * because opening a socket takes a variable time and Discord counts arrivals.
   */
  wait(shardId: number, signal?: AbortSignal): Promise<IdentifyTicket>;
}

/** A granted identify. */
export interface IdentifyTicket {
  /** The identify payload was sent (idempotent). */
  sent(): void;
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
  /** How long a bucket waits for `sent()` before moving on (a connect that hangs). @default 30000 */
  sendTimeoutMs?: number;
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
    sendTimeoutMs = 30_000,
  } = options;
  if (!Number.isInteger(maxConcurrency) || maxConcurrency < 1) {
    throw new RangeError(`maxConcurrency must be a positive integer, got ${maxConcurrency}`);
  }
  if (!(intervalMs >= 0)) throw new RangeError(`intervalMs must be >= 0, got ${intervalMs}`);
  let remaining = options.remaining ?? Infinity;
  let resetAt = now() + (options.resetAfterMs ?? 86_400_000);
  let granted = 0;
  const lastAt = new Map<number, number>();
  const turn = createBucketTurns(sendTimeoutMs);

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
      return turn(bucket, async () => {
        signal?.throwIfAborted();
        const last = lastAt.get(bucket);
        if (last !== undefined) {
          const wait = last + intervalMs - now();
          if (wait > 0) await sleep(wait, signal);
        }
        await takeSessionStart(signal);
        granted++;
      }, () => void lastAt.set(bucket, now()));
    },
  };
}

/**
 * Takes a turn at a bucket of an identify limiter: one bucket's identifies run one after
 * another. `prepare` waits for the bucket's window and takes a session start (a rejection
 * rejects this turn's ticket and frees the bucket for the next); then the ticket is handed out
 * and the bucket stays held until its `sent()` (or `sendTimeoutMs`, a connect that hangs), after
 * which `afterSent` records the moment the next identify is spaced from.
 */
export type BucketTurn = <T>(
  bucket: number,
  prepare: () => Promise<T>,
  afterSent: (held: T) => Promise<void> | void,
) => Promise<IdentifyTicket>;

/** Creates the {@linkcode BucketTurn} every identify limiter here shares. */
export function createBucketTurns(sendTimeoutMs: number): BucketTurn {
  const tails = new Map<number, Promise<void>>();
  return (bucket, prepare, afterSent) => {
    const previous = tails.get(bucket) ?? Promise.resolve();
    const ticket = Promise.withResolvers<IdentifyTicket>();
    const next = previous.catch(() => {}).then(async () => {
      let held;
      try {
        held = await prepare();
      } catch (error) {
        ticket.reject(error);
        return;
      }
      // The bucket stays held until the identify is on the wire (or the connect gave up).
      const sent = Promise.withResolvers<void>();
      const timer = setTimeout(sent.resolve, sendTimeoutMs);
      ticket.resolve({ sent: () => sent.resolve() });
      await sent.promise;
      clearTimeout(timer);
      await afterSent(held);
    });
    tails.set(bucket, next);
    return ticket.promise;
  };
}
