/**
 * The identify limiter shared by every process of a bot, in Redis. Each `max_concurrency`
 * bucket is a lease (`SET NX PX`): its holder identifies, and once the identify is on the wire
 * the lease's expiry is moved to `intervalMs` after that moment (compare-and-expire: only the
 * holder can), so no two processes identify in one bucket within the window, and a holder
 * that dies frees the bucket by expiry. The session-start budget is read from one process's
 * `GET /gateway/bot` into Redis (the lowest reading wins) and counted down there, so a fleet
 * restart cannot overspend it.
 * Without Redis nothing identifies (fail closed); resumes do not need the limiter.
 * @module
 */
import { delay } from "../backoff.ts";
import { createBucketTurns, type IdentifyQueue } from "../gateway/identify_queue.ts";
import type { Logger } from "../log.ts";
import type { RedisClient } from "./redis.ts";

/** Moves KEYS[1]'s expiry to ARGV[2] ms from now if ARGV[1] holds it. */
const EXPIRE_IF_HELD = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`;

/** Deletes KEYS[1] if ARGV[1] holds it. */
const RELEASE_IF_HELD = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`;

/**
 * Seeds KEYS[1] with this process's reading ARGV[1] (expiring at Discord's reset, ARGV[2] ms):
 * when absent, or when the reading is lower. A reading counts every identify made before it;
 * the cluster's count may be older, so the lower of the two is the safe one.
 */
const SEED_SESSION_STARTS = `
local left = redis.call('GET', KEYS[1])
local reading = tonumber(ARGV[1])
if left == false then
  redis.call('SET', KEYS[1], reading, 'PX', ARGV[2])
elseif reading < tonumber(left) then
  redis.call('SET', KEYS[1], reading, 'KEEPTTL')
end
return 1`;

/**
 * Takes one session start from KEYS[1]; creates the budget from ARGV[1] (remaining) expiring
 * at Discord's reset (ARGV[2] ms) when absent. 0: taken; otherwise ms until the reset.
 */
const TAKE_SESSION_START = `
local left = redis.call('GET', KEYS[1])
if left == false then
  local remaining = tonumber(ARGV[1])
  if remaining <= 0 then return tonumber(ARGV[2]) end
  redis.call('SET', KEYS[1], remaining - 1, 'PX', ARGV[2])
  return 0
end
if tonumber(left) <= 0 then
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl < 1 then return 1 end
  return ttl
end
redis.call('DECR', KEYS[1])
return 0`;

/** Options of {@linkcode createRedisIdentifyQueue}. */
export interface RedisIdentifyQueueOptions {
  client: RedisClient;
  /** The bot's key prefix (`keyBase`). */
  base: string;
  /** Who holds a bucket (this process's member id). */
  owner: string;
  maxConcurrency: number;
  /** One identify per bucket per this many ms. @default 5000 */
  intervalMs?: number;
  /** `session_start_limit.remaining` as this process read it (used if the cluster has none). */
  remaining: number;
  /** `session_start_limit.reset_after`, ms. */
  resetAfterMs: number;
  /** How long a bucket is held for an identify that never reaches the wire. @default 30000 */
  sendTimeoutMs?: number;
  logger: Logger;
  /** Longest pause between two tries at a held bucket, ms. @default 1000 */
  pollMs?: number;
}

/** Creates the shared {@linkcode IdentifyQueue}. */
export function createRedisIdentifyQueue(
  options: RedisIdentifyQueueOptions,
): IdentifyQueue & { readonly granted: number } {
  const { client, base, owner, maxConcurrency, logger } = options;
  const intervalMs = options.intervalMs ?? 5000;
  const sendTimeoutMs = options.sendTimeoutMs ?? 30_000;
  const pollMs = options.pollMs ?? 1000;
  const log = logger.with({ component: "identify" });
  const turn = createBucketTurns(sendTimeoutMs);
  let granted = 0;
  let failing = false;
  const bucketKey = (b: number) => `${base}identify:${b}`;
  const budgetKey = `${base}session-start`;
  const seeded = client.eval(SEED_SESSION_STARTS, {
    keys: [budgetKey],
    arguments: [String(options.remaining), String(options.resetAfterMs)],
  }).catch((error) =>
    log.warn("could not record this process's session-start reading in Redis", {
      error: (error as Error).message,
    })
  );

  /** Runs a Redis call until it answers; logs an outage once. Identifies wait meanwhile. */
  const retrying = async <T>(what: () => Promise<T>, signal?: AbortSignal): Promise<T> => {
    for (let attempt = 0;; attempt++) {
      signal?.throwIfAborted();
      try {
        const r = await what();
        if (failing) log.info("Redis answers again; identifies continue");
        failing = false;
        return r;
      } catch (error) {
        if (!failing) {
          log.error("cannot reach Redis; no shard identifies until it answers", {
            error: (error as Error).message,
          });
        }
        failing = true;
        await delay(Math.min(5000, 200 * 2 ** Math.min(attempt, 5)), signal);
      }
    }
  };

  /** Holds bucket `b` for this process; resolves with the hold's token. */
  const acquire = async (b: number, signal?: AbortSignal): Promise<string> => {
    const token = `${owner}:${crypto.randomUUID()}`;
    for (;;) {
      const ok = await retrying(
        () => client.set(bucketKey(b), token, { NX: true, PX: sendTimeoutMs + intervalMs }),
        signal,
      );
      if (ok === "OK") return token;
      const ttl = Number(await retrying(() => client.pTTL(bucketKey(b)), signal));
      await delay(Math.min(pollMs, Math.max(20, ttl)), signal);
    }
  };

  /** Takes a session start, holding bucket `b` with `token`; returns the token it holds then. */
  const takeSessionStart = async (
    b: number,
    token: string,
    signal?: AbortSignal,
  ): Promise<string> => {
    for (;;) {
      const wait = Number(
        await retrying(
          () =>
            client.eval(TAKE_SESSION_START, {
              keys: [budgetKey],
              arguments: [String(options.remaining), String(options.resetAfterMs)],
            }),
          signal,
        ),
      );
      if (wait === 0) return token;
      log.error(
        "session start limit exhausted for the whole cluster; identifies wait for the reset",
        {
          waitMs: wait,
        },
      );
      // Do not sit on the bucket for hours: others may have resumes to do meanwhile.
      await retrying(
        () => client.eval(RELEASE_IF_HELD, { keys: [bucketKey(b)], arguments: [token] }),
        signal,
      );
      await delay(wait, signal);
      token = await acquire(b, signal);
    }
  };

  return {
    get granted() {
      return granted;
    },
    wait(shardId, signal) {
      const b = shardId % maxConcurrency;
      return turn(b, async () => {
        await seeded;
        const token = await takeSessionStart(b, await acquire(b, signal), signal);
        granted++;
        return token;
      }, async (token) => {
        // The window counts from the identify on the wire, as Discord counts arrivals.
        await client.eval(EXPIRE_IF_HELD, {
          keys: [bucketKey(b)],
          arguments: [token, String(intervalMs)],
        }).catch((error) =>
          // The hold's own expiry (send timeout + interval) still keeps the window.
          log.warn("could not shorten the bucket's hold; it expires later", {
            error: (error as Error).message,
          })
        );
      });
    },
  };
}
