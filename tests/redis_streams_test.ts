/**
 * `TRANSPORT=redis-streams` against a real `redis-server` (7.0): the transport's appends, order,
 * trimming and its counter, interactions and their acks, Redis outages; the consumer helper's
 * reads, acks, discovery and reclaim; and the whole path through the delivery queue.
 * @module
 */
import { assert, assertEquals, assertStringIncludes } from "./helpers/assert.ts";
import { startRedis, type TestRedis } from "./helpers/redis.ts";
import { until } from "./helpers/wait.ts";
import { interaction, makeEvent, range } from "./helpers/queue_rig.ts";
import { connectRedis, type RedisClient, type RedisConnection } from "../src/cluster/redis.ts";
import { createLogger } from "../src/log.ts";
import {
  createRedisStreamsTransport,
  type RedisStreamsTransportOptions,
} from "../src/transport/redis_streams.ts";
import { encodeEvent, type OutboundEvent } from "../src/transport/http.ts";
import { consume, registryKey, type StreamEvent, streamKey } from "../src/consumer.ts";
import { createDeliveryQueue, type InteractionInfo } from "../src/delivery/mod.ts";

const KEY_BASE = "test:42:";
const GROUP = "bot";

interface Setup {
  redis: TestRedis;
  conn: RedisConnection;
  client: RedisClient;
  logs: string[];
  transport: ReturnType<typeof createRedisStreamsTransport>;
  close(): Promise<void>;
}

async function setup(options: Partial<RedisStreamsTransportOptions> = {}): Promise<Setup> {
  const redis = await startRedis();
  const logs: string[] = [];
  const logger = createLogger({ level: "debug", write: (_l, line) => logs.push(line) });
  const conn = await connectRedis({
    url: redis.url,
    logger,
    reconnect: { baseMs: 20, maxMs: 100 },
  });
  const transport = createRedisStreamsTransport({
    redis: conn,
    keyBase: KEY_BASE,
    maxLen: 1000,
    group: GROUP,
    logger,
    ...options,
  });
  return {
    redis,
    conn,
    client: conn.client,
    logs,
    transport,
    async close() {
      transport.close();
      await conn.close();
      await redis.stop();
    },
  };
}

const event = (shardId: number, s: number, t = "MESSAGE_CREATE"): OutboundEvent & { t: string } =>
  makeEvent(shardId, s, t);

type Entry = [string, string[]];

async function entries(client: RedisClient, shardId: number): Promise<Entry[]> {
  return await client.sendCommand<Entry[]>(["XRANGE", streamKey(KEY_BASE, shardId), "-", "+"]);
}

const field = (fields: string[], name: string) => fields[fields.indexOf(name) + 1];
const seqOf = (fields: string[]) =>
  (JSON.parse(field(fields, "e")) as { data: { s: number } }).data.s;

/** A consumer loop over `consume()`, recording what it got, acking when `ack` says so. */
function startConsumer(
  url: string,
  options: {
    name?: string;
    shards?: number[];
    ack?: (e: StreamEvent) => boolean;
    claimIdleMs?: number;
  } = {},
) {
  const stop = new AbortController();
  const got: StreamEvent[] = [];
  const errors: string[] = [];
  const done = (async () => {
    for await (
      const e of consume({
        redisUrl: url,
        keyBase: KEY_BASE,
        group: GROUP,
        consumer: options.name ?? "c1",
        shards: options.shards,
        blockMs: 100,
        discoverIntervalMs: 50,
        claimIdleMs: options.claimIdleMs ?? 60_000,
        claimIntervalMs: 50,
        signal: stop.signal,
        onError: (error) => errors.push(error.message),
      })
    ) {
      got.push(e);
      if (options.ack?.(e) ?? true) await e.ack();
    }
  })();
  return {
    got,
    errors,
    seqs: (shardId: number) => got.filter((e) => e.shardId === shardId).map((e) => e.data.s),
    async stop() {
      stop.abort();
      await done;
    },
  };
}

Deno.test("createRedisStreamsTransport() appends each shard's batches in order, one entry per event", async () => {
  const t = await setup();
  for (let s = 1; s <= 40; s += 10) {
    for (const shard of [0, 1, 2]) {
      const result = await t.transport.sendBatch(range(s, s + 9).map((x) => event(shard, x)));
      assertEquals(result.ok, true);
    }
  }
  for (const shard of [0, 1, 2]) {
    const list = await entries(t.client, shard);
    assertEquals(list.map(([, f]) => seqOf(f)), range(1, 40));
    // `e` is the HTTP body of the event, byte for byte; `n` numbers the entries.
    assertEquals(field(list[0][1], "e"), encodeEvent(event(shard, 1)));
    assertEquals(list.map(([, f]) => Number(field(f, "n"))), range(1, 40));
  }
  const registry = await t.client.sendCommand<string[]>(["HGETALL", registryKey(KEY_BASE)]);
  assertEquals(registry, ["0", "40", "1", "40", "2", "40"]);
  assertEquals(t.transport.stats().appended, 120);
  // The group exists from the first append, reading from the start.
  const groups = await t.client.sendCommand<string[][]>([
    "XINFO",
    "GROUPS",
    streamKey(KEY_BASE, 0),
  ]);
  assertEquals(field(groups[0], "name"), GROUP);
  await t.close();
});

/** Stream ids compare as (ms, seq). */
function cmpId(a: string, b: string): number {
  const [am, as] = a.split("-").map(BigInt);
  const [bm, bs] = b.split("-").map(BigInt);
  return am !== bm ? (am < bm ? -1 : 1) : as === bs ? 0 : as < bs ? -1 : 1;
}

Deno.test("createRedisStreamsTransport() bounds the stream and counts exactly what trimming removed unacknowledged", async () => {
  const maxLen = 50;
  const t = await setup({ maxLen, ackPollMs: 5 });
  const key = streamKey(KEY_BASE, 0);
  let seed = 7;
  const random = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
  let s = 1;
  assertEquals((await t.transport.send(event(0, 1))).ok, true);
  let unread = 0;
  let pending = 0;
  // The last rounds read nothing: the cursor falls behind the first entry.
  for (let round = 0; round < 70; round++) {
    // The consumer side moves: reads some entries, acknowledges some of what it holds.
    const read = round >= 60 || random(3) === 0 ? 0 : random(30);
    if (read > 0) {
      await t.client.sendCommand([
        "XREADGROUP",
        "GROUP",
        GROUP,
        "c",
        "COUNT",
        String(read),
        "STREAMS",
        key,
        ">",
      ]);
    }
    const pel = (await t.client.sendCommand<[string][]>(["XPENDING", key, GROUP, "-", "+", "1000"]))
      .map(([id]) => id);
    const acked = pel.filter(() => random(3) === 0);
    if (acked.length > 0) await t.client.sendCommand(["XACK", key, GROUP, ...acked]);
    const before = (await entries(t.client, 0)).map(([id]) => id);
    const groups = await t.client.sendCommand<string[][]>(["XINFO", "GROUPS", key]);
    const cursor = field(groups[0] ?? [], "last-delivered-id") ?? "0-0";
    const stillPending = new Set(pel.filter((id) => !acked.includes(id)));
    // Every fifth round ends with an interaction nobody acknowledges: taken back unread.
    const batch = range(s + 1, s + 1 + random(40)).map((x) => event(0, x));
    s += batch.length;
    const cut = round % 5 === 4;
    if (cut) batch.push(event(0, ++s, "INTERACTION_CREATE"));
    const result = await t.transport.sendBatch(batch, cut ? AbortSignal.timeout(30) : undefined);
    assertEquals(result.ok, !cut);
    const after = await entries(t.client, 0);
    const live = new Set(after.map(([id]) => id));
    for (const id of before) {
      if (live.has(id)) continue;
      if (cmpId(id, cursor) > 0) unread++;
      else if (stillPending.has(id)) pending++;
    }
    assertEquals(
      { unread: t.transport.stats().trimmedUnread, pending: t.transport.stats().trimmedPending },
      { unread, pending },
      `round ${round}`,
    );
    // Bounded: MAXLEN ~ trims whole nodes (100 entries), so up to one node above maxLen.
    assert(after.length <= maxLen + 100 + 40, `round ${round}: length ${after.length}`);
    // Entry numbers stay consecutive, withdrawals included.
    const numbers = after.map(([, f]) => Number(field(f, "n")));
    assertEquals(numbers, range(numbers[0], numbers[0] + numbers.length - 1), `round ${round}`);
  }
  const stats = t.transport.stats();
  assert(stats.trimmedUnread > 0 && stats.trimmedPending > 0, JSON.stringify(stats));
  assertEquals(stats.trimmedUnacked, stats.trimmedUnread + stats.trimmedPending);
  assertEquals(stats.withdrawn > 0, true);
  assert(t.logs.some((l) => l.includes("trimming removed entries")));
  await t.close();
});

Deno.test("consume() reads every shard in order, acks, picks up new streams and reads only its shards", async () => {
  const t = await setup();
  for (const shard of [0, 1]) {
    await t.transport.sendBatch(range(1, 30).map((x) => event(shard, x)));
  }
  const all = startConsumer(t.redis.url);
  const some = startConsumer(t.redis.url, { name: "only-2", shards: [2] });
  await until(() => all.got.length === 60, "60 events");
  // Stopped first: in the same group it would take its share of shard 2's entries.
  await all.stop();
  // A stream that appears later (a reshard adds shards) is found through the registry.
  await t.transport.sendBatch(range(1, 20).map((x) => event(2, x)));
  await until(() => some.got.length === 20, "shard 2 events for the shard-2 consumer");
  await some.stop();
  assertEquals(all.seqs(0), range(1, 30));
  assertEquals(all.seqs(1), range(1, 30));
  assertEquals(some.seqs(2), range(1, 20));
  assertEquals(some.got.every((e) => e.shardId === 2 && !e.redelivered), true);
  const first = all.got[0];
  assertEquals(first.data, JSON.parse(event(first.shardId, 1).raw));
  assert(/^\d+-\d+$/.test(first.id));
  // Acknowledged: nothing pending in any stream.
  for (const shard of [0, 1, 2]) {
    const [count] = await t.client.sendCommand<[number]>([
      "XPENDING",
      streamKey(KEY_BASE, shard),
      GROUP,
    ]);
    assertEquals(count, 0, `shard ${shard}`);
  }
  assertEquals(all.errors, []);
  await t.close();
});

Deno.test("consume() takes over what a dead consumer left unacknowledged (XAUTOCLAIM)", async () => {
  const t = await setup();
  await t.transport.sendBatch(range(1, 10).map((x) => event(0, x)));
  // A consumer reads 6 entries and dies without acknowledging them.
  await t.client.sendCommand([
    "XREADGROUP",
    "GROUP",
    GROUP,
    "dead",
    "COUNT",
    "6",
    "STREAMS",
    streamKey(KEY_BASE, 0),
    ">",
  ]);
  const live = startConsumer(t.redis.url, { name: "alive", claimIdleMs: 150 });
  await until(() => live.got.length === 10, "all 10 events");
  await live.stop();
  // The 4 unread come at once; the dead one's 6 once they idled 150 ms, marked redelivered.
  assertEquals(live.got.filter((e) => !e.redelivered).map((e) => e.data.s), range(7, 10));
  assertEquals(live.got.filter((e) => e.redelivered).map((e) => e.data.s), range(1, 6));
  const [count] = await t.client.sendCommand<[number]>([
    "XPENDING",
    streamKey(KEY_BASE, 0),
    GROUP,
  ]);
  assertEquals(count, 0);
  await t.close();
});

Deno.test("consume() gives a restarted consumer what it read and did not acknowledge first", async () => {
  const t = await setup();
  await t.transport.sendBatch(range(1, 8).map((x) => event(0, x)));
  // Consumer c1 reads 3 entries and its process restarts before acknowledging them.
  await t.client.sendCommand([
    "XREADGROUP",
    "GROUP",
    GROUP,
    "c1",
    "COUNT",
    "3",
    "STREAMS",
    streamKey(KEY_BASE, 0),
    ">",
  ]);
  const again = startConsumer(t.redis.url, { name: "c1" });
  await until(() => again.got.length === 8, "all 8 events");
  await again.stop();
  assertEquals(again.got.map((e) => [e.data.s, e.redelivered]), [
    ...range(1, 3).map((s) => [s, true]),
    ...range(4, 8).map((s) => [s, false]),
  ]);
  await t.close();
});

Deno.test("createRedisStreamsTransport() fails an interaction nobody acknowledges when the signal cuts it, and takes its entries back", async () => {
  const t = await setup({ ackPollMs: 5 });
  await t.transport.sendBatch([event(0, 1)]);
  const batch = [event(0, 2), event(0, 3), event(0, 4, "INTERACTION_CREATE")];
  const result = await t.transport.sendBatch(batch, AbortSignal.timeout(100));
  assertEquals(result.ok, false);
  if (result.ok) return;
  assertEquals({ verdict: result.verdict, timedOut: result.timedOut }, {
    verdict: "retry",
    timedOut: true,
  });
  assertStringIncludes(result.error, "removed unread");
  // The batch is gone, so that the retry (deferred) is the only copy; the number is given back.
  assertEquals((await entries(t.client, 0)).map(([, f]) => seqOf(f)), [1]);
  assertEquals(await t.client.sendCommand<string>(["HGET", registryKey(KEY_BASE), "0"]), "1");
  assertEquals(t.transport.stats().withdrawn, 3);

  // Read by a consumer that does not acknowledge in time: it has it, so the entry stays.
  const slow = startConsumer(t.redis.url, { ack: (e) => e.data.t !== "INTERACTION_CREATE" });
  const cut = new AbortController();
  const pending = t.transport.sendBatch([event(0, 5, "INTERACTION_CREATE")], cut.signal);
  await until(() => slow.got.some((e) => e.data.s === 5), "the consumer read the interaction");
  cut.abort();
  const kept = await pending;
  assertEquals(kept.ok, false);
  if (!kept.ok) assertStringIncludes(kept.error, "1 entries a consumer already read stay");
  await slow.stop();
  assertEquals((await entries(t.client, 0)).map(([, f]) => seqOf(f)), [1, 5]);

  // A deferred interaction (the retry) is delivered once appended: nothing waits on the bot.
  const deferred = await t.transport.send(
    { ...event(0, 4, "INTERACTION_CREATE"), deferred: true },
    AbortSignal.timeout(100),
  );
  assertEquals(deferred.ok, true);
  await t.close();
});

Deno.test("createRedisStreamsTransport() answers ok for an interaction once the consumer group acknowledged it", async () => {
  const t = await setup({ ackPollMs: 5 });
  const bot = startConsumer(t.redis.url);
  const result = await t.transport.send(
    event(3, 1, "INTERACTION_CREATE"),
    AbortSignal.timeout(10_000),
  );
  assertEquals(result.ok, true);
  assertEquals(bot.got.map((e) => [e.shardId, e.data.t]), [[3, "INTERACTION_CREATE"]]);
  await bot.stop();
  await t.close();
});

Deno.test("createRedisStreamsTransport() answers retry, never throws, while Redis is stopped or stalls", async () => {
  const t = await setup({ timeoutMs: 300 });
  assertEquals((await t.transport.send(event(0, 1))).ok, true);
  t.redis.pause();
  const stalled = await t.transport.send(event(0, 2));
  assertEquals(stalled.ok ? "ok" : stalled.verdict, "retry");
  t.redis.resume();
  await until(async () => (await t.transport.send(event(0, 3))).ok, "appends again");
  await t.redis.stop();
  const down = await t.transport.sendBatch([event(0, 4), event(0, 5, "INTERACTION_CREATE")]);
  assertEquals(down.ok ? "ok" : down.verdict, "retry");
  if (!down.ok) assertStringIncludes(down.error, "Redis");
  assert(t.transport.stats().failures >= 2);
  assert(t.logs.some((l) => l.includes("appending to Redis failed")));
  await t.close();
});

/** A deferrer that records the interactions it deferred. */
function recordingDeferrer() {
  const calls: InteractionInfo[] = [];
  return {
    calls,
    defer(info: InteractionInfo) {
      calls.push(info);
      return Promise.resolve({ kind: "deferred" as const, callbackType: 5 });
    },
  };
}

Deno.test("the delivery queue over Redis Streams: per-shard order, acked interactions undeferred, unacked ones deferred and appended once", async () => {
  const t = await setup({ ackPollMs: 5 });
  const deferrer = recordingDeferrer();
  const queue = createDeliveryQueue({
    transport: t.transport,
    logger: createLogger({ level: "error" }),
    deferrer,
    // Long enough for a running bot to ack under load; short enough to keep the test quick.
    deferAfterMs: 1500,
    retry: { baseMs: 20, maxMs: 100 },
    batch: { maxEvents: 256 },
  });
  // The bot runs: events of 3 shards and an interaction it acknowledges in time.
  let bot = startConsumer(t.redis.url);
  for (let s = 1; s <= 40; s++) {
    for (const shard of [0, 1, 2]) {
      queue.push(s === 20 && shard === 1 ? interaction(1, 20, 2) : makeEvent(shard, s));
    }
  }
  await until(() => bot.got.length === 120, "120 events");
  assert(await queue.idle(5000));
  await bot.stop();
  assertEquals(deferrer.calls, []);
  // The bot is down: an interaction waits for an ack that does not come and is deferred.
  for (let s = 41; s <= 60; s++) {
    for (const shard of [0, 1, 2]) {
      queue.push(s === 50 && shard === 1 ? interaction(1, 50, 2) : makeEvent(shard, s));
    }
  }
  await until(() => deferrer.calls.length === 1, "the deferral");
  assert(await queue.idle(5000));
  const before = bot.got;
  bot = startConsumer(t.redis.url);
  await until(() => bot.got.length === 60, "the 60 events queued while the bot was down");
  await bot.stop();
  const got = [...before, ...bot.got];
  for (const shard of [0, 1, 2]) {
    assertEquals(got.filter((e) => e.shardId === shard).map((e) => e.data.s), range(1, 60));
  }
  const interactions = got.filter((e) => e.data.t === "INTERACTION_CREATE");
  assertEquals(interactions.map((e) => [e.data.s, e.deferred === true]), [[20, false], [
    50,
    true,
  ]]);
  assertEquals(deferrer.calls.map((i) => i.id), ["i50"]);
  assertEquals(queue.counters.deferred, 1);
  await queue.close();
  await t.close();
});
