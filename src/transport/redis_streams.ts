/**
 * `TRANSPORT=redis-streams`: each event is appended to its shard's Redis stream
 * (`<keyBase>stream:<shardId>`) instead of being POSTed, and the bot reads the streams through a
 * consumer group (`src/consumer.ts`). The format, the keys and the guarantees are in
 * docs/redis-streams.md; this module is the gateway's side.
 *
 * Appends are one Lua script per batch rather than a MULTI of XADDs: the same XADDs, atomic, plus
 * what a MULTI cannot do, looking at the group's cursor at the moment trimming removes entries, so
 * that what trimming removed before the group acknowledged it is counted exactly. Redis 7.0's own
 * `entries-read`/`lag` cannot serve: they go wrong once trimming passes the group's cursor or a
 * read skips a deleted entry (docs/redis-streams.md shows both).
 * Over 400 lines: a third of it is the Lua append script and why; split from its caller the shared contract would be harder to see.
 * @module
 */
import { withTimeout } from "../backoff.ts";
import type { Logger } from "../log.ts";
import type { RedisClient } from "../cluster/redis.ts";
import { SYNTHETIC_EVENTS } from "../shaping/event_names.ts";
import { registryKey, streamKey } from "../consumer.ts";
import { type DeliveryResult, encodeEvent, type OutboundEvent, type Transport } from "./http.ts";

/** Options of {@linkcode createRedisStreamsTransport}. */
export interface RedisStreamsTransportOptions {
  /** The gateway's Redis connection (`connectRedis`); the transport uses it, never closes it. */
  redis: { readonly client: RedisClient };
  /** Where the bot's keys live, `keyBase(REDIS_KEY_PREFIX, token)`: `prefix:botId:`. */
  keyBase: string;
  /** `REDIS_STREAM_MAXLEN`: entries each stream keeps, approximately (`MAXLEN ~`). */
  maxLen: number;
  /** `REDIS_STREAM_GROUP`: the consumer group created on every stream and watched for acks. */
  group: string;
  logger: Logger;
  /** How often the ack of an interaction is looked for while the gateway waits for it, ms. @default 20 */
  ackPollMs?: number;
  /**
   * Longest wait for an interaction's ack when the delivery queue does not cut the attempt
   * (no deferral is possible any more), ms; the entry then stays and counts as delivered.
   * @default 3000
   */
  ackWaitMs?: number;
  /** Longest a Redis call may take before the attempt fails (verdict `retry`), ms. @default 10000 */
  timeoutMs?: number;
}

/** Counters of a {@linkcode RedisStreamsTransport}, for metrics; they start at 0 with the process. */
export interface RedisStreamsStats {
  /** Entries appended (those taken back later included). */
  appended: number;
  /** Entries trimming removed before the group acknowledged them: `trimmedUnread + trimmedPending`. */
  trimmedUnacked: number;
  /** Of those, entries no consumer of the group had read. */
  trimmedUnread: number;
  /** Of those, entries a consumer had read but not acknowledged (it may still hold them). */
  trimmedPending: number;
  /**
   * Entries taken back unread from attempts cut while waiting for an interaction's ack: the
   * interaction and the events of its batch.
   */
  withdrawn: number;
  /** Attempts that failed: Redis errors and timeouts, interactions not acknowledged in time. */
  failures: number;
}

/** The Redis Streams {@linkcode Transport}, with counters. */
export interface RedisStreamsTransport extends Transport {
  sendBatch(events: readonly OutboundEvent[], signal?: AbortSignal): Promise<DeliveryResult>;
  /** Ends waits for acks (they fail); later sends fail. The Redis connection stays open. */
  close(): void;
  stats(): RedisStreamsStats;
}

/** Finds the group's `last-delivered-id` and compares stream ids (as strings of any length). */
const LUA_HELPERS = `
local function cursorOf(stream, group)
  for _, g in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
    local name, id
    for i = 1, #g, 2 do
      if g[i] == 'name' then name = g[i + 1] elseif g[i] == 'last-delivered-id' then id = g[i + 1] end
    end
    if name == group then return id end
  end
end
local function cmpPart(a, b)
  if #a ~= #b then return #a < #b and -1 or 1 end
  if a == b then return 0 end
  return a < b and -1 or 1
end
local function cmp(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  local c = cmpPart(am, bm)
  if c ~= 0 then return c end
  return cmpPart(as, bs)
end
local function numberOf(fields)
  for i = 1, #fields, 2 do if fields[i] == 'n' then return tonumber(fields[i + 1]) end end
end
`;

/**
 * Appends ARGV[4..] to KEYS[1] (MAXLEN ~ ARGV[3]), each with its entry number `n`, counted in
 * the registry hash KEYS[2] (field ARGV[2]); creates group ARGV[1] first if it is missing.
 * Returns `{unread, pending, id...}`: what this call's trimming removed that the group had not
 * read, and had read without acknowledging.
 *
 * Entry numbers are consecutive over the stream's live entries (an interaction removed again
 * gives its number back), so the unread entries trimming removed between the group's cursor
 * and the new first entry are a subtraction of two numbers, read before and after the XADDs.
 */
const APPEND_SCRIPT = LUA_HELPERS + `
local stream, registry = KEYS[1], KEYS[2]
local group, field, maxlen = ARGV[1], ARGV[2], tonumber(ARGV[3])
local count = #ARGV - 3
redis.pcall('XGROUP', 'CREATE', stream, group, '0', 'MKSTREAM')
local before = redis.call('XLEN', stream)
local watch = before + count > maxlen
local cursor, firstBefore, cursorN
if watch then
  cursor = cursorOf(stream, group) or '0-0'
  local head = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)[1]
  firstBefore = head and head[1]
  if firstBefore and cmp(cursor, firstBefore) >= 0 then
    local at = redis.call('XRANGE', stream, cursor, cursor)[1]
    cursorN = at and numberOf(at[2])
  end
end
local n = redis.call('HINCRBY', registry, field, count) - count
local out = {0, 0}
for i = 1, count do
  out[i + 2] = redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*', 'e', ARGV[i + 3], 'n', n + i)
end
if watch then
  local trimmed = before + count - redis.call('XLEN', stream)
  if trimmed > 0 then
    local head = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)[1]
    if firstBefore == nil or cmp(cursor, firstBefore) < 0 then
      out[1] = trimmed
    elseif cmp(cursor, head[1]) < 0 and cursorN then
      out[1] = numberOf(head[2]) - 1 - cursorN
    end
    if firstBefore then
      out[2] = #redis.call('XPENDING', stream, group, firstBefore, '(' .. head[1], trimmed)
    end
  end
end
return out
`;

/**
 * Where entry ARGV[2] of KEYS[1] stands for group ARGV[1]: 0 not read by any consumer,
 * 1 read and pending, 2 acknowledged.
 */
const STATUS_SCRIPT = LUA_HELPERS + `
local cursor = cursorOf(KEYS[1], ARGV[1])
if cursor == nil or cmp(ARGV[2], cursor) > 0 then return 0 end
if #redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1) > 0 then return 1 end
return 2
`;

/**
 * Removes, newest first, the entries ARGV[3..] (ascending) of KEYS[1] that no consumer of group
 * ARGV[1] has read, giving each one's number back (registry KEYS[2], field ARGV[2]) when it is the
 * last, so numbers stay consecutive. Stops at the first entry a consumer has read: the group's
 * cursor only moves forward, so every older one was read too. Returns `{removed, kept}`.
 */
const WITHDRAW_SCRIPT = LUA_HELPERS + `
local stream, registry, group, field = KEYS[1], KEYS[2], ARGV[1], ARGV[2]
local cursor = cursorOf(stream, group)
local removed = 0
for i = #ARGV, 3, -1 do
  local id = ARGV[i]
  if cursor and cmp(id, cursor) <= 0 then return {removed, i - 2} end
  local entry = redis.call('XRANGE', stream, id, id)[1]
  if entry then
    redis.call('XDEL', stream, id)
    removed = removed + 1
    if numberOf(entry[2]) == tonumber(redis.call('HGET', registry, field)) then
      redis.call('HINCRBY', registry, field, -1)
    end
  end
end
return {removed, 0}
`;

const INTERACTION = "INTERACTION_CREATE";

/**
 * Creates the Redis Streams {@linkcode Transport}. `sendBatch` appends the events (one shard's,
 * in order) with one script call; an undeferred interaction is acknowledged only once the
 * consumer group acknowledged its entry (see docs/redis-streams.md#interactions). Never throws:
 * a Redis error or timeout is verdict `retry`, and the events stay queued in the gateway.
 */
export function createRedisStreamsTransport(
  options: RedisStreamsTransportOptions,
): RedisStreamsTransport {
  const {
    redis,
    keyBase,
    maxLen,
    group,
    logger,
    ackPollMs = 20,
    ackWaitMs = 3000,
    timeoutMs = 10_000,
  } = options;
  if (!(Number.isInteger(maxLen) && maxLen >= 1)) {
    throw new RangeError(`maxLen must be a whole number >= 1, got ${maxLen}`);
  }
  if (group === "") throw new TypeError("group must not be empty");
  for (const [name, v] of Object.entries({ ackPollMs, ackWaitMs, timeoutMs })) {
    if (!(v > 0)) throw new RangeError(`${name} must be > 0, got ${v}`);
  }
  const log = logger.with({ component: "redis-streams" });
  const registry = registryKey(keyBase);
  const closing = new AbortController();
  const stats: RedisStreamsStats = {
    appended: 0,
    trimmedUnacked: 0,
    trimmedUnread: 0,
    trimmedPending: 0,
    withdrawn: 0,
    failures: 0,
  };
  let failing = false;
  const run = scriptRunner(redis, timeoutMs);

  const fail = (error: string, timedOut = false): DeliveryResult => {
    stats.failures++;
    return { ok: false, verdict: "retry", timedOut, error };
  };

  /** Appends one shard's events in order; returns their entry ids. */
  async function append(shardId: number, events: readonly OutboundEvent[]): Promise<string[]> {
    const reply = await run<(number | string)[]>(APPEND_SCRIPT, [
      streamKey(keyBase, shardId),
      registry,
    ], [group, String(shardId), String(maxLen), ...events.map(encodeEvent)]);
    const [unread, pending] = reply as [number, number];
    stats.appended += events.length;
    if (unread + pending > 0) {
      stats.trimmedUnread += unread;
      stats.trimmedPending += pending;
      stats.trimmedUnacked += unread + pending;
      log.warn("stream trimming removed entries the consumer group had not acknowledged", {
        shardId,
        unread,
        pending,
        maxLen,
        trimmedUnackedTotal: stats.trimmedUnacked,
      });
    }
    return reply.slice(2) as string[];
  }

  /**
   * Waits until the group acknowledged every entry of `ids`: `acked`; or the signal aborts:
   * `aborted`; or `ackWaitMs` passes without either: `unbounded` (nobody cuts this attempt).
   */
  async function acks(
    key: string,
    ids: string[],
    signal: AbortSignal,
  ): Promise<"acked" | "aborted" | "unbounded"> {
    const deadline = Date.now() + ackWaitMs;
    let waiting = ids;
    for (;;) {
      if (signal.aborted) return "aborted";
      try {
        const states = await Promise.all(
          waiting.map((id) => run<number>(STATUS_SCRIPT, [key], [group, id])),
        );
        waiting = waiting.filter((_, i) => states[i] !== 2);
      } catch {
        // Redis hiccup: keep waiting; the signal or the bound ends the wait.
      }
      if (waiting.length === 0) return "acked";
      if (signal.aborted) return "aborted";
      if (Date.now() >= deadline) return "unbounded";
      await sleep(ackPollMs, signal);
    }
  }

  /**
   * Takes back what a cut attempt appended and no consumer has read, so that the retry (with
   * the interaction deferred) does not reach the bot beside an undeferred copy, and the events
   * before it are not appended twice. Says what stays: entries a consumer read, or all of them
   * when Redis could not be asked.
   */
  async function withdraw(shardId: number, ids: string[]): Promise<string | undefined> {
    try {
      const [removed, kept] = await run<[number, number]>(
        WITHDRAW_SCRIPT,
        [streamKey(keyBase, shardId), registry],
        [group, String(shardId), ...ids],
      );
      stats.withdrawn += removed;
      return kept > 0 ? `${kept} entries a consumer already read stay` : undefined;
    } catch (error) {
      log.warn("could not take back an unacknowledged batch; the bot may get its events twice", {
        shardId,
        entries: ids.length,
        error,
      });
      return `its ${ids.length} entries stay: ${errorText(error)}`;
    }
  }

  async function sendBatch(
    events: readonly OutboundEvent[],
    signal?: AbortSignal,
  ): Promise<DeliveryResult> {
    if (closing.signal.aborted) return fail("the Redis Streams transport is closed");
    if (signal?.aborted) return fail("the attempt was cut before it started");
    const real = events.filter((e) => dispatchName(e) !== SYNTHETIC_EVENTS.handlerCheck);
    if (real.length === 0) return await ping();
    // The queue sends one shard per batch; runs of one shard keep any other input in order.
    const runs: OutboundEvent[][] = [];
    for (const e of real) {
      const last = runs[runs.length - 1];
      if (last && last[0].shardId === e.shardId) last.push(e);
      else runs.push([e]);
    }
    let ids: string[][];
    try {
      ids = [];
      // (Several shards in one call, which the queue never makes: a failure after the first
      // shard's append retries all of them, and the first is appended twice.)
      // The caller's cut ends a wait on a stalled Redis too (an interaction's deferral deadline).
      for (const r of runs) ids.push(await untilCut(append(r[0].shardId, r), signal));
    } catch (error) {
      if (error instanceof CutError) {
        return fail("the attempt was cut while Redis did not answer the append", true);
      }
      if (!failing) log.warn("appending to Redis failed; the events stay queued", { error });
      failing = true;
      return fail(`Redis append failed: ${errorText(error)}`);
    }
    if (failing) log.info("appending to Redis works again");
    failing = false;
    const cut = signal ? AbortSignal.any([signal, closing.signal]) : closing.signal;
    for (let r = 0; r < runs.length; r++) {
      const waited = ids[r].filter((_, i) => awaitsAck(runs[r][i]));
      if (waited.length === 0) continue;
      const key = streamKey(keyBase, runs[r][0].shardId);
      const outcome = await acks(key, waited, cut);
      if (outcome === "aborted") {
        const stays: string[] = [];
        for (let w = runs.length - 1; w >= 0; w--) {
          const stay = await withdraw(runs[w][0].shardId, ids[w]);
          if (stay) stays.push(stay);
        }
        return fail(
          `no consumer of group "${group}" acknowledged the interaction in time; ` +
            (stays.length > 0 ? stays.join("; ") : "the attempt's entries were removed unread"),
          true,
        );
      }
      if (outcome === "unbounded") {
        log.debug("no ack for an interaction; nothing can defer it any more, it stays", { key });
      }
    }
    return { ok: true, status: 200 };
  }

  /** The queue's HANDLER_CHECK_DD asks whether the transport works: a round trip answers. */
  async function ping(): Promise<DeliveryResult> {
    try {
      await withTimeout(redis.client.sendCommand(["PING"]), timeoutMs, REDIS_SILENT);
      return { ok: true, status: 200 };
    } catch (error) {
      return fail(`Redis PING failed: ${errorText(error)}`);
    }
  }

  return {
    send: (event, signal) => sendBatch([event], signal),
    sendBatch,
    close: () => closing.abort(),
    stats: () => ({ ...stats }),
  };
}

/** An interaction whose ack decides whether the gateway defers it. */
function awaitsAck(event: OutboundEvent): boolean {
  return !event.deferred && !event.expired && dispatchName(event) === INTERACTION;
}

/** The dispatch name: the queue's events carry `t`; otherwise it is read from `raw`. */
function dispatchName(event: OutboundEvent): string | undefined {
  const t = (event as { t?: unknown }).t;
  if (typeof t === "string") return t;
  try {
    return (JSON.parse(event.raw) as { t?: string }).t;
  } catch {
    return undefined;
  }
}

/**
 * Runs a Lua script by its SHA1 (`EVALSHA`), sending its text once the server says it does not
 * have it (`NOSCRIPT`: a restarted or flushed Redis), within `timeoutMs`.
 */
function scriptRunner(redis: { readonly client: RedisClient }, timeoutMs: number) {
  const shas = new Map<string, Promise<string>>();
  return async <T>(script: string, keys: string[], args: string[]): Promise<T> => {
    let sha = shas.get(script);
    if (!sha) shas.set(script, sha = sha1(script));
    const tail = [String(keys.length), ...keys, ...args];
    try {
      return await withTimeout(
        redis.client.sendCommand<T>(["EVALSHA", await sha, ...tail]),
        timeoutMs,
        REDIS_SILENT,
      );
    } catch (error) {
      if (!errorText(error).startsWith("NOSCRIPT")) throw error;
      return await withTimeout(
        redis.client.sendCommand<T>(["EVAL", script, ...tail]),
        timeoutMs,
        REDIS_SILENT,
      );
    }
  };
}

async function sha1(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-1", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** How a Redis call that outlasted `timeoutMs` fails. */
const REDIS_SILENT = "no answer from Redis";

/** The caller aborted while a Redis call was pending. */
class CutError extends Error {}

/** `p`, or a {@linkcode CutError} as soon as `signal` aborts (`p` goes on unobserved). */
function untilCut<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p;
  let onAbort: (() => void) | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      onAbort = () => reject(new CutError("cut"));
      if (signal.aborted) onAbort();
      else signal.addEventListener("abort", onAbort, { once: true });
    }),
  ]).finally(() => signal.removeEventListener("abort", onAbort!));
}

/** Resolves after `ms`, or at once when the signal aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

function errorText(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).slice(0, 300);
}
