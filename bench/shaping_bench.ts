/**
 * Shaping-stage benchmarks: memory of the gateway-side cache for 1M guilds and
 * 1M tracked messages, and the stage's cost per event.
 * Run alone for clean memory figures: `deno run -A --v8-flags=--expose-gc bench/shaping_bench.ts`.
 * @module
 */
import type { DispatchPayload, GatewayDispatch } from "../src/gateway/shards.ts";
import { createEditedMessages, createGuildTracker, createShaper } from "../src/shaping/mod.ts";
import { messagePayload } from "./queue_bench.ts";

const gc = () => (globalThis as { gc?: () => void }).gc?.();
const heap = () => {
  gc();
  return Deno.memoryUsage().heapUsed;
};
const snowflake = (i: number) => String(1_100_000_000_000_000_000n + BigInt(i) * 4_194_304n);

/** Result of {@linkcode benchShaping}. */
export interface ShapingResult {
  guilds: number;
  guildCacheMiB: number;
  messages: number;
  messageCacheMiB: number;
  nsPerEvent: Record<string, number>;
}

/** Measures cache memory and per-event cost. */
export function benchShaping(guilds = 1_000_000, messages = 1_000_000): ShapingResult {
  // 1M guilds over 400 shards of 2500, fully loaded.
  let before = heap();
  const tracker = createGuildTracker({ onLoadTimeout: () => {}, loadTimeoutMs: 3_600_000 });
  const perShard = 2500;
  for (let shard = 0; shard * perShard < guilds; shard++) {
    const ids = Array.from(
      { length: Math.min(perShard, guilds - shard * perShard) },
      (_, i) => snowflake(shard * perShard + i),
    );
    tracker.observe(shard, "READY", { guilds: ids.map((id) => ({ id, unavailable: true })) });
    for (const id of ids) tracker.observe(shard, "GUILD_CREATE", { id });
  }
  const guildCacheMiB = (heap() - before) / 2 ** 20;

  before = heap();
  const cache = createEditedMessages({ maxSize: messages * 2 });
  for (let i = 0; i < messages; i++) {
    cache.observe("MESSAGE_CREATE", { id: snowflake(50_000_000 + i), edited_timestamp: null });
  }
  const messageCacheMiB = (heap() - before) / 2 ** 20;
  // Both caches must still be alive when measured (V8 would collect them otherwise).
  if (cache.size !== messages || tracker.size !== guilds) {
    throw new Error(`caches hold ${cache.size} messages, ${tracker.size} guilds`);
  }
  tracker.close();

  // Per-event cost of the whole stage on realistic payloads (parsing is the shard's, not timed).
  const shaper = createShaper({ emit: () => {} });
  const make = (t: string, d: unknown, s: number): [GatewayDispatch, DispatchPayload] => {
    const payload = { op: 0 as const, t, s, d };
    return [
      { shardId: 0, totalShards: 1, t, s, raw: JSON.stringify(payload), receivedAt: 0 },
      payload,
    ];
  };
  shaper.shape(...make("READY", { guilds: [] }, 1));
  const create = JSON.parse(messagePayload(0, 1)).d;
  const cases: Record<string, (i: number) => [GatewayDispatch, DispatchPayload]> = {
    MESSAGE_CREATE: (i) => make("MESSAGE_CREATE", { ...create, id: snowflake(i) }, i),
    "MESSAGE_UPDATE (unfurl, dropped)": (i) =>
      make("MESSAGE_UPDATE", { ...create, id: snowflake(i % 1000), embeds: [{}] }, i),
    "GUILD_CREATE (join)": (i) => make("GUILD_CREATE", { id: snowflake(10_000_000 + i) }, i),
  };
  const nsPerEvent: Record<string, number> = {};
  for (const [name, build] of Object.entries(cases)) {
    const inputs = Array.from({ length: 100_000 }, (_, i) => build(i));
    for (const input of inputs.slice(0, 10_000)) shaper.shape(...input); // warm-up
    const t0 = performance.now();
    for (const input of inputs) shaper.shape(...input);
    nsPerEvent[name] = Math.round((performance.now() - t0) * 1e6 / inputs.length);
  }
  shaper.close();
  return {
    guilds,
    guildCacheMiB: Math.round(guildCacheMiB),
    messages,
    messageCacheMiB: Math.round(messageCacheMiB),
    nsPerEvent,
  };
}

if (import.meta.main) {
  const [g, m] = Deno.args.map(Number);
  console.log(JSON.stringify(benchShaping(g || undefined, m || undefined)));
}
