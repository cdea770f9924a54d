/**
 * Delivery-queue benchmarks: how fast a backlog drains once the handler
 * returns, and resident memory while a million events wait.
 * @module
 */
import { createDeliveryQueue, createSqliteJournal } from "../src/delivery/mod.ts";
import { silentLogger } from "../src/log.ts";
import { makeSnowflake } from "../src/simulator/snowflake.ts";
import { messageObject } from "../src/simulator/message_fixture.ts";
import { createHttpTransport } from "../src/transport/mod.ts";
import { spawnListening } from "./spawn.ts";

/** A realistic MESSAGE_CREATE (~1.5 KB) as the shard would hand it on. */
export function messagePayload(shardId: number, s: number): string {
  const guildId = makeSnowflake(BigInt(1_600_000_000_000 + shardId), BigInt(shardId));
  const d = messageObject({
    id: makeSnowflake(BigInt(Date.now()), BigInt(s % 4096)),
    botId: "123456789012345678",
    guildId,
    authorIndex: s,
  });
  return JSON.stringify({ op: 0, t: "MESSAGE_CREATE", s, d });
}

/** Starts the sink process on a free port. */
export async function startSink(
  port = 0,
): Promise<{ port: number; url: string; stop(): Promise<void> }> {
  const { child, port: actual } = await spawnListening(
    new URL("./sink.ts", import.meta.url).pathname,
    [String(port)],
  );
  return {
    port: actual,
    url: `http://127.0.0.1:${actual}/events`,
    async stop() {
      child.kill("SIGTERM");
      await child.status;
      await child.stdout.cancel().catch(() => {});
    },
  };
}

/** A free loopback port (listen on 0, read it, close). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Result of {@linkcode benchDrain}. */
export interface DrainResult {
  events: number;
  shards: number;
  seconds: number;
  eventsPerSecond: number;
}

/** Queues `events` with the handler down, starts it, times the drain. */
export async function benchDrain(events: number, shards: number): Promise<DrainResult> {
  const port = freePort();
  const dir = await Deno.makeTempDir({ prefix: "bench-drain-" });
  const journal = createSqliteJournal({ path: `${dir}/journal.sqlite` });
  const queue = createDeliveryQueue({
    transport: createHttpTransport({ url: `http://127.0.0.1:${port}/events`, authorization: "x" }),
    logger: silentLogger,
    journal,
    retry: { baseMs: 50, maxMs: 50 },
  });
  const template = Array.from({ length: shards }, (_, i) => messagePayload(i, 1));
  for (let s = 1; s <= events / shards; s++) {
    for (let shardId = 0; shardId < shards; shardId++) {
      queue.push({
        shardId,
        s,
        t: "MESSAGE_CREATE",
        receivedAt: Date.now(),
        raw: template[shardId],
      });
    }
  }
  const sink = await startSink(port);
  const started = performance.now();
  await queue.idle();
  const seconds = (performance.now() - started) / 1000;
  await queue.close();
  journal.close();
  await sink.stop();
  await Deno.remove(dir, { recursive: true });
  return { events, shards, seconds, eventsPerSecond: Math.round(events / seconds) };
}

/** Result of {@linkcode benchQueuedMemory}. */
export interface MemoryResult {
  events: number;
  payloadBytes: number;
  inMemory: number;
  onDisk: number;
  rssBeforeMiB: number;
  rssMiB: number;
  /** V8 heap in use after a full GC. */
  heapUsedMiB: number;
  diskMiB: number;
  pushSeconds: number;
}

/** Queues `events` with no handler, default bounds, and reads resident memory. */
export async function benchQueuedMemory(events: number, shards = 16): Promise<MemoryResult> {
  const dir = await Deno.makeTempDir({ prefix: "bench-mem-" });
  const journal = createSqliteJournal({ path: `${dir}/journal.sqlite` });
  const rssBefore = Deno.memoryUsage().rss;
  const queue = createDeliveryQueue({
    transport: createHttpTransport({ url: "http://127.0.0.1:9/events", authorization: "x" }),
    logger: silentLogger,
    journal,
    retry: { baseMs: 60_000, maxMs: 60_000 },
  });
  const templates = Array.from({ length: shards }, (_, i) => messagePayload(i, 1));
  const bytes = templates.map((t) => new TextEncoder().encode(t));
  const decoder = new TextDecoder();
  const started = performance.now();
  for (let s = 1; s <= events / shards; s++) {
    for (let shardId = 0; shardId < shards; shardId++) {
      // A fresh flat string per event, as each arrives from the socket (a `replace`
      // would share the template's memory and flatter the figure).
      const raw = decoder.decode(bytes[shardId]);
      queue.push({ shardId, s, t: "MESSAGE_CREATE", receivedAt: Date.now(), raw });
    }
    if (s % 2000 === 0) await new Promise((r) => setTimeout(r, 0));
  }
  await new Promise((r) => setTimeout(r, 10));
  const pushSeconds = (performance.now() - started) / 1000;
  (globalThis as { gc?: () => void }).gc?.();
  const { rss, heapUsed } = Deno.memoryUsage();
  const depth = queue.depth();
  let diskBytes = 0;
  for await (const f of Deno.readDir(dir)) diskBytes += (await Deno.stat(`${dir}/${f.name}`)).size;
  await queue.close();
  journal.close();
  await Deno.remove(dir, { recursive: true });
  return {
    events,
    payloadBytes: templates[0].length,
    inMemory: depth.memory,
    onDisk: depth.disk,
    rssBeforeMiB: Math.round(rssBefore / 2 ** 20),
    rssMiB: Math.round(rss / 2 ** 20),
    heapUsedMiB: Math.round(heapUsed / 2 ** 20),
    diskMiB: Math.round(diskBytes / 2 ** 20),
    pushSeconds: Math.round(pushSeconds * 10) / 10,
  };
}

// `deno run bench/queue_bench.ts memory N`: one scenario in a fresh process, so
// resident memory is not inflated by whatever ran before; prints JSON.
if (import.meta.main) {
  const [scenario, n] = Deno.args;
  if (scenario !== "memory") throw new TypeError(`unknown scenario "${scenario}"; use: memory N`);
  console.log(JSON.stringify(await benchQueuedMemory(Number(n))));
}

/** Runs {@linkcode benchQueuedMemory} in a child process. */
export async function benchQueuedMemoryIsolated(events: number): Promise<MemoryResult> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      "--v8-flags=--expose-gc",
      new URL(import.meta.url).pathname,
      "memory",
      String(events),
    ],
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`memory benchmark exited ${out.code}`);
  const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
  return JSON.parse(lines[lines.length - 1]);
}
