/**
 * Which stream layout `TRANSPORT=redis-streams` uses: one stream per shard, or one stream per
 * group of shards (16 by default). Against a local `redis-server`, with ~1 KB events shaped like
 * MESSAGE_CREATE, it measures for both layouts:
 *
 * - **append**: every shard's lane appends batches of 256 of its events as one MULTI of
 *   `XADD key MAXLEN ~ n * e <event>`, the lanes concurrently on one connection (as the delivery
 *   queue drives the transport); events/s and Redis CPU per event;
 * - **read**: 1 and 2 consumers of one group read everything back (`XREADGROUP` over every
 *   stream, at most 1024 entries per read in both layouts, then one `XACK` per stream and reply);
 *   events/s and Redis CPU per event;
 * - **sparse read**: one read naming every stream while only 8 entries are new (64 and 1024
 *   shards): Redis CPU and latency per read;
 * - **light traffic**: a blocking read loop while 200 events/s arrive spread over 64 and 1024
 *   shards, and 8 consumers each reading an eighth of 1024 shards: Redis CPU as a share of a core.
 *
 * For the chosen layout it also measures the transport's append (`createRedisStreamsTransport`:
 * a Lua script that also numbers entries and counts what trimming removes unacknowledged) against
 * the plain MULTI, and `consume()` under the light traffic over 1024 shards, with and without
 * its `readPauseMs`.
 *
 * ```sh
 * deno run -A bench/streams_bench.ts [--shards=64] [--group=16] [--events=131072] [--rounds=3]
 * ```
 *
 * Rounds alternate the layouts so that a noisy neighbour hurts both alike; the best round is
 * reported. The numbers and the choice they support (one stream per shard) are in
 * docs/redis-streams.md.
 * @module
 */
import { parseArgs } from "node:util";
import { createClient } from "@redis/client";
import { startRedis } from "../tests/helpers/redis.ts";
import { eventRaw } from "./journal_sync_bench.ts";
import { createRedisStreamsTransport } from "../src/transport/redis_streams.ts";
import { encodeEvent, type OutboundEvent } from "../src/transport/http.ts";
import { createLogger } from "../src/log.ts";
import { connectRedis, type RedisClient } from "../src/cluster/redis.ts";
import { consume } from "../src/consumer.ts";

type Client = RedisClient;

/** A stream layout: which key a shard's events go to. */
export interface Layout {
  name: string;
  key(shardId: number): string;
}

/** One measured case. */
export interface StreamsBenchRow {
  layout: string;
  phase: string;
  events: number;
  eventsPerSecond: number;
  /** Redis CPU (user + system) per event, µs. */
  redisUsPerEvent: number;
  /** What else the case measured, for the report. */
  note?: string;
  /** The case is judged by Redis CPU (fixed traffic), not by events/s. */
  byCpu?: boolean;
}

const BATCH = 256;
/** Entries one read returns at most, over all the streams it names. */
const PER_READ = 1024;
const MAXLEN = 1_000_000;
const GROUP = "bot";

/** Per shard: `bench:stream:<shard>`; grouped: `bench:stream:g<shard / size>`. */
export function layouts(groupSize: number): Layout[] {
  return [
    { name: "per shard", key: (s) => `bench:stream:${s}` },
    {
      name: `per ${groupSize} shards`,
      key: (s) => `bench:stream:g${Math.floor(s / groupSize)}`,
    },
  ];
}

async function redisCpuUs(client: Client): Promise<number> {
  const info = await client.sendCommand<string>(["INFO", "CPU"]);
  const field = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? 0);
  return (field("used_cpu_user") + field("used_cpu_sys")) * 1e6;
}

async function fresh(client: Client, keys: string[]) {
  await client.sendCommand(["FLUSHALL"]);
  for (const key of keys) {
    await client.sendCommand(["XGROUP", "CREATE", key, GROUP, "0", "MKSTREAM"]);
  }
}

function keysOf(layout: Layout, shards: number): string[] {
  return [...new Set(Array.from({ length: shards }, (_, s) => layout.key(s)))];
}

/** Every shard appends `perShard` events in MULTI batches of 256, the shards concurrently. */
async function append(
  client: Client,
  layout: Layout,
  shards: number,
  perShard: number,
  raw: string,
): Promise<StreamsBenchRow> {
  const cpu0 = await redisCpuUs(client);
  const t0 = performance.now();
  await Promise.all(Array.from({ length: shards }, async (_, shardId) => {
    const key = layout.key(shardId);
    const e = encodeEvent({ shardId, raw });
    for (let sent = 0; sent < perShard; sent += BATCH) {
      const multi = client.multi();
      for (let i = sent; i < Math.min(perShard, sent + BATCH); i++) {
        multi.addCommand(["XADD", key, "MAXLEN", "~", String(MAXLEN), "*", "e", e]);
      }
      await multi.exec();
    }
  }));
  const seconds = (performance.now() - t0) / 1000;
  const events = shards * perShard;
  return row(layout.name, "append (MULTI)", events, seconds, await redisCpuUs(client) - cpu0);
}

/** `consumers` consumers read and ack everything back, each with its own connection. */
async function read(
  url: string,
  client: Client,
  layout: Layout,
  shards: number,
  total: number,
  consumers: number,
): Promise<StreamsBenchRow> {
  const keys = keysOf(layout, shards);
  // The same entries per call at most in both layouts (1024), so that only the layout differs.
  const count = Math.ceil(PER_READ / keys.length);
  const conns = await Promise.all(
    Array.from({ length: consumers }, () => createClient({ url }).connect()),
  ) as unknown as Client[];
  let read = 0;
  const cpu0 = await redisCpuUs(client);
  const t0 = performance.now();
  await Promise.all(conns.map(async (conn, c) => {
    while (read < total) {
      const reply = await conn.sendCommand<[string, [string, string[]][]][] | null>([
        "XREADGROUP",
        "GROUP",
        GROUP,
        `c${c}`,
        "COUNT",
        String(count),
        "BLOCK",
        "50",
        "STREAMS",
        ...keys,
        ...keys.map(() => ">"),
      ]);
      if (!reply) continue;
      const acks: Promise<unknown>[] = [];
      for (const [key, entries] of reply) {
        read += entries.length;
        acks.push(conn.sendCommand(["XACK", key, GROUP, ...entries.map(([id]) => id)]));
      }
      await Promise.all(acks);
    }
  }));
  const seconds = (performance.now() - t0) / 1000;
  const cpu = await redisCpuUs(client) - cpu0;
  await Promise.all(conns.map((c) => c.close()));
  return row(layout.name, `read+ack, ${consumers} consumer(s)`, read, seconds, cpu);
}

/** Light traffic over `shards` shards: 8 events, then one read naming every stream. */
async function sparseRead(
  client: Client,
  layout: Layout,
  shards: number,
  reads: number,
  raw: string,
): Promise<StreamsBenchRow> {
  const keys = keysOf(layout, shards);
  await fresh(client, keys);
  let events = 0;
  let cpu = 0;
  const times: number[] = [];
  for (let r = 0; r < reads; r++) {
    const multi = client.multi();
    for (let i = 0; i < 8; i++) {
      const shardId = (r * 131 + i * 37) % shards;
      multi.addCommand([
        "XADD",
        layout.key(shardId),
        "MAXLEN",
        "~",
        String(MAXLEN),
        "*",
        "e",
        encodeEvent({ shardId, raw }),
      ]);
    }
    await multi.exec();
    const cpu0 = await redisCpuUs(client);
    const t0 = performance.now();
    const reply = await client.sendCommand<[string, [string, string[]][]][] | null>([
      "XREADGROUP",
      "GROUP",
      GROUP,
      "c0",
      "COUNT",
      String(BATCH),
      "STREAMS",
      ...keys,
      ...keys.map(() => ">"),
    ]);
    times.push(performance.now() - t0);
    cpu += await redisCpuUs(client) - cpu0;
    for (const [key, entries] of reply ?? []) {
      events += entries.length;
      await client.sendCommand(["XACK", key, GROUP, ...entries.map(([id]) => id)]);
    }
  }
  times.sort((a, b) => a - b);
  return {
    ...row(layout.name, `sparse read (${shards} shards)`, events, 0, cpu),
    eventsPerSecond: Math.round(events / (times.reduce((a, b) => a + b, 0) / 1000)),
    note: `one read: p50 ${Math.round(times[times.length >> 1] * 1000) / 1000} ms, ${
      Math.round(cpu / reads)
    } µs of Redis CPU`,
    byCpu: true,
  };
}

/**
 * A blocking read loop (`XREADGROUP ... BLOCK`, then `XACK`) under light traffic spread over
 * `shards` shards (`rate` events/s, round robin) for `ms`: Redis CPU per event and as a share of
 * one core. Raw commands, so both layouts are read the same way.
 */
async function lightTraffic(
  url: string,
  client: Client,
  layout: Layout,
  shards: number,
  raw: string,
  consumers = 1,
  rate = 200,
  ms = 3000,
): Promise<StreamsBenchRow> {
  const keys = keysOf(layout, shards);
  await fresh(client, keys);
  // Each consumer reads its own contiguous part of the streams (`consume()`'s `shards`).
  const parts = Array.from(
    { length: consumers },
    (_, c) =>
      keys.slice(
        Math.floor(c * keys.length / consumers),
        Math.floor((c + 1) * keys.length / consumers),
      ),
  );
  const readers = await Promise.all(
    parts.map(() => createClient({ url }).connect()),
  ) as unknown as Client[];
  let running = true;
  let got = 0;
  const loops = readers.map(async (reader, c) => {
    const mine = parts[c];
    while (running) {
      const reply = await reader.sendCommand<[string, [string, string[]][]][] | null>([
        "XREADGROUP",
        "GROUP",
        GROUP,
        `c${c}`,
        "COUNT",
        "64",
        "BLOCK",
        "100",
        "STREAMS",
        ...mine,
        ...mine.map(() => ">"),
      ]);
      for (const [key, entries] of reply ?? []) {
        got += entries.length;
        await reader.sendCommand(["XACK", key, GROUP, ...entries.map(([id]) => id)]);
      }
    }
  });
  const cpu0 = await redisCpuUs(client);
  const t0 = performance.now();
  let sent = 0;
  while (performance.now() - t0 < ms) {
    const due = Math.floor((performance.now() - t0) / 1000 * rate);
    for (; sent < due; sent++) {
      const shardId = (sent * 37) % shards;
      client.sendCommand(["XADD", layout.key(shardId), "*", "e", encodeEvent({ shardId, raw })]);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  const wallUs = (performance.now() - t0) * 1000;
  const cpu = await redisCpuUs(client) - cpu0;
  running = false;
  await Promise.all(loops);
  await Promise.all(readers.map((r) => r.close()));
  const who = consumers === 1 ? "" : `, ${consumers} consumers`;
  return {
    ...row(
      layout.name,
      `blocking reads, ${rate}/s over ${shards} shards${who}`,
      got,
      ms / 1000,
      cpu,
    ),
    note: `Redis ${Math.round(cpu / wallUs * 1000) / 10}% of a core`,
    byCpu: true,
  };
}

/**
 * The consumer helper under light traffic spread over `shards` streams (`rate` events/s, round
 * robin) for `ms`: Redis CPU as a share of one core, and the median time from append to the loop.
 */
async function consumerLight(
  url: string,
  client: Client,
  shards: number,
  readPauseMs: number,
  raw: string,
  rate = 200,
  ms = 3000,
): Promise<StreamsBenchRow> {
  await client.sendCommand(["FLUSHALL"]);
  const transport = createRedisStreamsTransport({
    redis: { client },
    keyBase: "bench:",
    maxLen: MAXLEN,
    group: GROUP,
    logger: createLogger({ level: "error" }),
  });
  for (let s = 0; s < shards; s++) await transport.send(queued(s, raw));
  const stop = new AbortController();
  const latencies: number[] = [];
  let skip = shards;
  const loop = (async () => {
    for await (
      const e of consume({
        redisUrl: url,
        keyBase: "bench:",
        group: GROUP,
        consumer: "bench",
        readPauseMs,
        signal: stop.signal,
      })
    ) {
      if (skip-- <= 0) latencies.push(Date.now() - Number(e.id.split("-")[0]));
      await e.ack();
    }
  })();
  while (skip > 0) await new Promise((r) => setTimeout(r, 20));
  const cpu0 = await redisCpuUs(client);
  const t0 = performance.now();
  let sent = 0;
  while (performance.now() - t0 < ms) {
    const due = Math.floor((performance.now() - t0) / 1000 * rate);
    for (; sent < due; sent++) transport.send(queued((sent * 37) % shards, raw));
    await new Promise((r) => setTimeout(r, 5));
  }
  const wallUs = (performance.now() - t0) * 1000;
  const cpu = await redisCpuUs(client) - cpu0;
  stop.abort();
  await loop;
  transport.close();
  latencies.sort((a, b) => a - b);
  return {
    ...row(
      "per shard",
      `consume(), ${rate}/s over ${shards} shards, pause ${readPauseMs} ms`,
      sent,
      ms / 1000,
      cpu,
    ),
    note: `Redis ${Math.round(cpu / wallUs * 1000) / 10}% of a core, append to loop p50 ${
      latencies[latencies.length >> 1]
    } ms`,
    byCpu: true,
  };
}

/** The transport's own append (its Lua script), per shard, lanes concurrent. */
async function transportAppend(
  client: Client,
  shards: number,
  perShard: number,
  raw: string,
): Promise<StreamsBenchRow> {
  await client.sendCommand(["FLUSHALL"]);
  const transport = createRedisStreamsTransport({
    redis: { client },
    keyBase: "bench:",
    maxLen: MAXLEN,
    group: GROUP,
    logger: createLogger({ level: "error" }),
  });
  const cpu0 = await redisCpuUs(client);
  const t0 = performance.now();
  await Promise.all(Array.from({ length: shards }, async (_, shardId) => {
    for (let sent = 0; sent < perShard; sent += BATCH) {
      const batch: OutboundEvent[] = [];
      for (let i = sent; i < Math.min(perShard, sent + BATCH); i++) {
        batch.push(queued(shardId, raw));
      }
      const result = await transport.sendBatch(batch);
      if (!result.ok) throw new Error(`append failed: ${result.error}`);
    }
  }));
  const seconds = (performance.now() - t0) / 1000;
  transport.close();
  return row(
    "per shard",
    "append (transport script)",
    shards * perShard,
    seconds,
    await redisCpuUs(client) - cpu0,
  );
}

/** An event as the queue hands it over: with its dispatch name (`t`), which the transport reads. */
function queued(shardId: number, raw: string): OutboundEvent {
  return { shardId, raw, t: "MESSAGE_CREATE" } as OutboundEvent;
}

function row(
  layout: string,
  phase: string,
  events: number,
  seconds: number,
  cpuUs: number,
): StreamsBenchRow {
  return {
    layout,
    phase,
    events,
    eventsPerSecond: seconds > 0 ? Math.round(events / seconds) : 0,
    redisUsPerEvent: Math.round(cpuUs / Math.max(1, events) * 100) / 100,
  };
}

/** Runs every case `rounds` times, alternating layouts, and keeps each case's best round. */
export async function benchStreams(options: {
  shards: number;
  groupSize: number;
  events: number;
  rounds: number;
  eventBytes?: number;
}): Promise<StreamsBenchRow[]> {
  const { shards, groupSize, events, rounds, eventBytes = 1024 } = options;
  const redis = await startRedis();
  const connection = await connectRedis({
    url: redis.url,
    logger: createLogger({ level: "error" }),
  });
  const client = connection.client;
  const raw = eventRaw(1, eventBytes);
  const perShard = Math.ceil(events / shards);
  const best = new Map<string, StreamsBenchRow>();
  const keep = (r: StreamsBenchRow) => {
    const id = `${r.layout}|${r.phase}`;
    const prev = best.get(id);
    const better = r.byCpu
      ? r.redisUsPerEvent < (prev?.redisUsPerEvent ?? Infinity)
      : r.eventsPerSecond > (prev?.eventsPerSecond ?? -1);
    if (better) best.set(id, r);
  };
  try {
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? layouts(groupSize) : layouts(groupSize).reverse();
      for (const layout of order) {
        for (const consumers of [1, 2]) {
          await fresh(client, keysOf(layout, shards));
          keep(await append(client, layout, shards, perShard, raw));
          keep(await read(redis.url, client, layout, shards, shards * perShard, consumers));
        }
        for (const many of [shards, 1024]) {
          keep(await sparseRead(client, layout, many, 200, raw));
          keep(await lightTraffic(redis.url, client, layout, many, raw));
        }
        keep(await lightTraffic(redis.url, client, layout, 1024, raw, 8));
      }
      keep(await transportAppend(client, shards, perShard, raw));
      for (const pause of [0, 10]) keep(await consumerLight(redis.url, client, 1024, pause, raw));
    }
  } finally {
    await connection.close();
    await redis.stop();
  }
  return [...best.values()];
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      shards: { type: "string", default: "64" },
      group: { type: "string", default: "16" },
      events: { type: "string", default: "131072" },
      rounds: { type: "string", default: "3" },
    },
  });
  const [shards, groupSize, events, rounds] = [
    values.shards,
    values.group,
    values.events,
    values.rounds,
  ].map(Number);
  for (const [name, v] of Object.entries({ shards, groupSize, events, rounds })) {
    if (!(Number.isInteger(v) && v > 0)) throw new RangeError(`${name} must be > 0, got ${v}`);
  }
  console.log(
    `${shards} shards, ${events} events of ~1 KB, batches of ${BATCH}, ${rounds} rounds (best kept)`,
  );
  const rows = await benchStreams({ shards, groupSize, events, rounds });
  console.log(
    `${"layout".padEnd(14)} ${"case".padEnd(48)} ${"events/s".padStart(8)}  Redis µs/event`,
  );
  for (const r of rows) {
    console.log(
      `${r.layout.padEnd(14)} ${r.phase.padEnd(48)} ${String(r.eventsPerSecond).padStart(8)}  ${
        String(r.redisUsPerEvent).padStart(14)
      }${r.note ? `  ${r.note}` : ""}`,
    );
  }
}
