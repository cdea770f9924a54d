/**
 * The bot's side of `TRANSPORT=redis-streams`: reads the events the gateway appends to one Redis
 * stream per shard, through a consumer group, with acks, and takes over what a consumer that
 * died left unacknowledged. Depends only on `@redis/client` and `handler_types.ts`, so a bot can
 * import it (or copy both files).
 *
 * ```ts
 * import { consume } from "./src/consumer.ts";
 * const stop = new AbortController();
 * for await (
 *   const event of consume({
 *     redisUrl: "redis://127.0.0.1:6379",
 *     botId: "123456789012345678",
 *     consumer: `bot-${Deno.hostname()}-${Deno.pid}`,
 *     signal: stop.signal,
 *   })
 * ) {
 *   await handle(event.shardId, event.data, event.deferred === true);
 *   await event.ack();
 * }
 * ```
 *
 * Ordering: entries come in stream order per shard to one consumer. With several consumers in
 * one group, consecutive entries of a shard may go to different consumers and be handled in
 * parallel; give each consumer its own `shards` for strict per-shard order. The whole contract is
 * in docs/redis-streams.md.
 * @module
 */
import { createClient } from "@redis/client";
import { type ForwardedEvent, parseForwarded } from "./handler_types.ts";

/** The stream of one shard: `<keyBase>stream:<shardId>` (`keyBase` is `prefix:botId:`). */
export function streamKey(keyBase: string, shardId: number): string {
  return `${keyBase}stream:${shardId}`;
}

/**
 * The hash of every shard's stream the gateway appended to: field = shard id, value = entries
 * appended (numbered consecutively; see docs/redis-streams.md). Consumers find the streams here.
 */
export function registryKey(keyBase: string): string {
  return `${keyBase}streams`;
}

/** One event read from a shard's stream. */
export interface StreamEvent<D = unknown> extends ForwardedEvent<D> {
  /** The stream entry id (`<ms>-<seq>`), in order within the shard's stream. */
  id: string;
  /**
   * Delivered before and not acknowledged: to this consumer before a restart, or to a consumer
   * that went quiet for `claimIdleMs` (reclaimed). It may have been handled partly.
   */
  redelivered: boolean;
  /**
   * Acknowledges the entry (`XACK`): the group will not deliver it again. Call it once the event
   * is handled (for an interaction: once it is answered). Rejects when Redis cannot be reached;
   * the entry then stays pending and is delivered again later.
   */
  ack(): Promise<void>;
}

/** Options of {@linkcode consume}. */
export interface ConsumeOptions {
  /** `redis://[user:password@]host:port[/db]` or `rediss://`. */
  redisUrl: string;
  /** The bot's id (the application id): keys are `<keyPrefix>:<botId>:...`. */
  botId?: string;
  /** The gateway's `REDIS_KEY_PREFIX`. @default {"discord-gateway"} */
  keyPrefix?: string;
  /** Instead of `keyPrefix` and `botId`: the whole `prefix:botId:` base. */
  keyBase?: string;
  /** The gateway's `REDIS_STREAM_GROUP`: only its acks stop the gateway deferring. @default {"bot"} */
  group?: string;
  /** This consumer's name, unique in the group and kept across restarts of the same process. */
  consumer: string;
  /**
   * Read only these shards' streams (the others are left to other consumers). Cheap: each shard
   * has its own stream, so a consumer names only its own. @default every shard
   */
  shards?: readonly number[] | ((shardId: number) => boolean);
  /** Entries read per stream and call. @default 64 */
  count?: number;
  /** How long one read waits for new entries, ms. @default 1000 */
  blockMs?: number;
  /**
   * After a read that filled no stream's `count`, wait this long before the next one, ms. A read
   * costs Redis about 0.4-0.7 µs per stream it names (docs/redis-streams.md): under light traffic
   * over many shards, reading back to back would spend that on a few entries each time.
   * 0 reads again at once. @default 10
   */
  readPauseMs?: number;
  /**
   * An entry a consumer read and has not acknowledged for this long is taken over
   * (`XAUTOCLAIM`) by whichever consumer looks next, this one included. @default 30000
   */
  claimIdleMs?: number;
  /** How often idle entries are looked for, ms. @default 5000 */
  claimIntervalMs?: number;
  /** How often the registry is read for new streams (a reshard adds shards), ms. @default 2000 */
  discoverIntervalMs?: number;
  /** Stops the iteration; entries read but not yet handed out stay pending for a later claim. */
  signal?: AbortSignal;
  /**
   * Told about problems the iteration survives: Redis errors (it retries with backoff), entries
   * it cannot parse (acknowledged and skipped), entries trimming removed before they were handled.
   * @default console.warn
   */
  onError?: (error: Error) => void;
}

type Entry = [id: string, fields: string[] | null];
type ReadReply = [key: string, entries: Entry[]][] | null;

/**
 * Reads every shard's stream through the consumer group, as an async iterable of
 * {@linkcode StreamEvent}s. The group must exist (the gateway creates it with the stream). On
 * start a consumer first gets back what it had read and not acknowledged before a restart (same
 * `consumer` name), then new entries; every `claimIntervalMs` it takes over entries other
 * consumers left idle for `claimIdleMs`. Ends when `signal` aborts or the loop breaks.
 *
 * @throws {RangeError|TypeError} on bad options, before any connection.
 */
export async function* consume<D = unknown>(
  options: ConsumeOptions,
): AsyncGenerator<StreamEvent<D>, void, undefined> {
  const {
    redisUrl,
    keyPrefix = "discord-gateway",
    group = "bot",
    consumer,
    count = 64,
    blockMs = 1000,
    readPauseMs = 10,
    claimIdleMs = 30_000,
    claimIntervalMs = 5000,
    discoverIntervalMs = 2000,
    signal,
    onError = (error: Error) => console.warn(`consume(): ${error.message}`),
  } = options;
  const keyBase = options.keyBase ?? (options.botId ? `${keyPrefix}:${options.botId}:` : undefined);
  if (keyBase === undefined) throw new TypeError("consume() needs botId (or keyBase)");
  if (!consumer) throw new TypeError("consume() needs a consumer name");
  for (
    const [name, v] of Object.entries({
      count,
      blockMs,
      claimIdleMs,
      claimIntervalMs,
      discoverIntervalMs,
    })
  ) {
    if (!(Number.isInteger(v) && v > 0)) {
      throw new RangeError(`${name} must be a whole number > 0, got ${v}`);
    }
  }
  if (!(readPauseMs >= 0)) throw new RangeError(`readPauseMs must be >= 0, got ${readPauseMs}`);
  const wanted = shardFilter(options.shards);
  // Without an offline queue, commands fail fast during an outage: the loop backs off and still
  // sees `signal`, and an `ack()` rejects (the entry stays pending) instead of hanging.
  const reader = createClient({ url: redisUrl, disableOfflineQueue: true });
  const commands = createClient({ url: redisUrl, disableOfflineQueue: true });
  let down = false;
  for (const client of [reader, commands]) {
    client.on("error", (error: Error) => {
      if (signal?.aborted || down) return;
      down = true;
      onError(new Error(`Redis connection failed; reconnecting: ${error.message}`));
    });
    client.on("ready", () => down = false);
  }
  // A blocked read is cut at once on abort; what it had read stays pending.
  const cut = () => destroy(reader);
  signal?.addEventListener("abort", cut, { once: true });
  try {
    if (signal?.aborted) return;
    await Promise.all([reader.connect(), commands.connect()]);
    const streams = new Set<string>();
    /** Streams whose own pending entries (from before a restart) are read back first, from this id. */
    const history = new Map<string, string>();
    let discoveredAt = -Infinity;
    let claimedAt = -Infinity;
    let failures = 0;

    /** Finds streams the gateway registered since the last look. */
    const discover = async () => {
      const fields = await commands.sendCommand<string[]>(["HKEYS", registryKey(keyBase)]);
      for (const field of fields) {
        const shardId = Number(field);
        if (!Number.isInteger(shardId) || !wanted(shardId)) continue;
        const key = streamKey(keyBase, shardId);
        if (streams.has(key)) continue;
        streams.add(key);
        history.set(key, "0");
      }
    };

    const toEvent = (key: string, [id, fields]: Entry, redelivered: boolean) => {
      const ack = async () => {
        await commands.sendCommand(["XACK", key, group, id]);
      };
      if (fields === null) {
        // A pending entry whose data is gone: trimming removed it before it was handled.
        onError(new Error(`entry ${id} of ${key} was trimmed before it was handled; acknowledged`));
        ack().catch(() => {});
        return [];
      }
      try {
        const [event] = parseForwarded(fieldOf(fields, "e"));
        return [{ ...(event as ForwardedEvent<D>), id, redelivered, ack }];
      } catch (error) {
        onError(new Error(`entry ${id} of ${key} is not an event (${(error as Error).message})`));
        ack().catch(() => {});
        return [];
      }
    };

    /** One page of entries idle for `claimIdleMs` in `key`, now this consumer's; the next cursor. */
    const claim = async (key: string, cursor: string) => {
      const [next, entries, deleted] = await commands.sendCommand<[string, Entry[], string[]]>([
        "XAUTOCLAIM",
        key,
        group,
        consumer,
        String(claimIdleMs),
        cursor,
        "COUNT",
        String(count),
      ]);
      if (deleted?.length) {
        onError(
          new Error(`${deleted.length} pending entries of ${key} were trimmed before handled`),
        );
      }
      return { next, events: entries.flatMap((entry) => toEvent(key, entry, true)) };
    };

    /** The next entries of every stream: own pending ones first, then new ones (blocking). */
    const read = async () => {
      const keys = [...streams];
      const reply = await reader.sendCommand<ReadReply>([
        "XREADGROUP",
        "GROUP",
        group,
        consumer,
        "COUNT",
        String(count),
        // Reading back own pending entries answers at once; only new entries are waited for.
        ...(history.size === 0 ? ["BLOCK", String(blockMs)] : []),
        "STREAMS",
        ...keys,
        ...keys.map((k) => history.get(k) ?? ">"),
      ]);
      const events: StreamEvent<D>[] = [];
      const replied = new Set<string>();
      let full = false;
      for (const [key, entries] of reply ?? []) {
        replied.add(key);
        full ||= entries.length === count;
        const back = history.has(key);
        if (back && entries.length === 0) history.delete(key);
        else if (back) history.set(key, entries[entries.length - 1][0]);
        for (const entry of entries) events.push(...toEvent(key, entry, back));
      }
      // A stream with nothing pending may be left out of a history read's reply.
      for (const key of history.keys()) if (!replied.has(key)) history.delete(key);
      return { events, full };
    };

    while (!signal?.aborted) {
      try {
        const now = Date.now();
        if (now - discoveredAt >= discoverIntervalMs) {
          discoveredAt = now;
          await discover();
        }
        if (streams.size === 0) {
          await sleep(discoverIntervalMs, signal);
          continue;
        }
        // Not while own pending entries are read back: a claim would hand them out twice.
        if (history.size === 0 && now - claimedAt >= claimIntervalMs) {
          claimedAt = now;
          for (const key of streams) {
            for (let cursor = "0-0"; !signal?.aborted;) {
              const page = await claim(key, cursor);
              yield* page.events;
              if (page.next === "0-0") break;
              cursor = page.next;
            }
          }
        }
        const { events, full } = await read();
        failures = 0;
        yield* events;
        if (!full && readPauseMs > 0 && history.size === 0) await sleep(readPauseMs, signal);
      } catch (error) {
        if (signal?.aborted) break;
        onError(error instanceof Error ? error : new Error(String(error)));
        // A deleted group or stream, an outage: retry with backoff rather than end the loop.
        await sleep(Math.min(5000, 100 * 2 ** Math.min(failures++, 6)), signal);
      }
    }
  } finally {
    signal?.removeEventListener("abort", cut);
    destroy(reader);
    if (commands.isOpen) await commands.close().catch(() => destroy(commands));
  }
}

function shardFilter(
  shards: ConsumeOptions["shards"],
): (shardId: number) => boolean {
  if (shards === undefined) return () => true;
  if (typeof shards === "function") return shards;
  const set = new Set(shards);
  return (shardId) => set.has(shardId);
}

function destroy(client: { destroy(): void }) {
  try {
    client.destroy();
  } catch { /* not open */ }
}

function fieldOf(fields: string[], name: string): string {
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return "";
}

/** Resolves after `ms`, or at once when the signal aborts. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
