import { assert, assertEquals, assertStringIncludes, assertThrows } from "./helpers/assert.ts";
import { startE2E } from "./helpers/rig.ts";
import { until } from "./helpers/wait.ts";
import { ConfigError, loadConfig } from "../configs.ts";
import { createCounters, type QueuedEvent } from "../src/delivery/mod.ts";
import type { DispatchPayload } from "../src/gateway/shards.ts";
import { createEditedMessages, createGuildTracker, createShaper } from "../src/shaping/mod.ts";

const sanitizers = { sanitizeOps: false, sanitizeResources: false };

function dispatch(shardId: number, t: string, d: unknown, s = 1) {
  const payload: DispatchPayload = { op: 0, t, s, d };
  return [
    {
      shardId,
      totalShards: 4,
      t,
      s,
      raw: JSON.stringify(payload),
      receivedAt: Date.now(),
      sessionId: "S",
    },
    payload,
  ] as const;
}

Deno.test("createEditedMessages() drops unfurls and partial updates, forwards real edits once", () => {
  const cache = createEditedMessages();
  cache.observe("MESSAGE_CREATE", { id: "1", content: "see https://x", edited_timestamp: null });
  const unfurl = { id: "1", content: "see https://x", edited_timestamp: null, embeds: [{}] };
  for (let i = 0; i < 5; i++) assertEquals(cache.judge(unfurl), "unchanged");
  assertEquals(cache.judge({ id: "1", embeds: [{}] }), "partial");
  const edit = { id: "1", content: "see https://y", edited_timestamp: "2026-01-01T00:00:00Z" };
  assertEquals(cache.judge(edit), undefined);
  assertEquals(cache.judge({ ...edit, embeds: [{}] }), "unchanged", "unfurl after the edit");
  assertEquals(cache.judge({ ...edit, edited_timestamp: "2026-01-01T00:00:09Z" }), undefined);
  // A message the cache never saw: an edit has a timestamp, an unfurl has none.
  assertEquals(cache.judge({ id: "9", content: "x", edited_timestamp: null }), "unchanged");
  assertEquals(
    cache.judge({ id: "9", content: "x", edited_timestamp: "2026-01-01T00:00:00Z" }),
    undefined,
  );
});

Deno.test("createEditedMessages() stays within its bound under 1M distinct messages", () => {
  const cache = createEditedMessages({ maxSize: 100_000 });
  let peak = 0;
  for (let i = 0; i < 1_000_000; i++) {
    cache.observe("MESSAGE_CREATE", { id: String(1e17 + i), edited_timestamp: null });
    if (i % 1000 === 0) peak = Math.max(peak, cache.size);
  }
  peak = Math.max(peak, cache.size);
  assert(peak <= 100_000, `peak ${peak}`);
  // Recent messages are still known.
  assertEquals(
    cache.judge({ id: String(1e17 + 999_999), content: "x", edited_timestamp: null }),
    "unchanged",
  );
});

Deno.test("createEditedMessages() forgets messages after the TTL", () => {
  let now = 0;
  const cache = createEditedMessages({ ttlMs: 1000, now: () => now });
  cache.observe("MESSAGE_CREATE", { id: "1", edited_timestamp: null });
  now = 600;
  cache.observe("MESSAGE_CREATE", { id: "2", edited_timestamp: null });
  now = 1200;
  cache.observe("MESSAGE_CREATE", { id: "3", edited_timestamp: null });
  assertEquals(cache.size, 2, "message 1 is older than the TTL");
});

Deno.test("createEditedMessages() lets a user rule decide", () => {
  const cache = createEditedMessages({ rule: (d) => (d.pinned === true ? true : undefined) });
  assertEquals(cache.judge({ id: "1", pinned: true }), undefined);
  assertEquals(cache.judge({ id: "1", embeds: [] }), "partial");
});

Deno.test("createGuildTracker() tells loads, joins, outages and returns apart", () => {
  const timeouts: Record<string, unknown>[] = [];
  const g = createGuildTracker({ onLoadTimeout: (_s, p) => timeouts.push(p) });
  assertEquals(g.observe(0, "READY", { guilds: [{ id: "a" }, { id: "b" }] }), {
    loaded: undefined,
  });
  assertEquals(g.observe(0, "GUILD_CREATE", { id: "a" }).rename, "GUILD_LOADED_DD");
  const last = g.observe(0, "GUILD_CREATE", { id: "b" });
  assertEquals(last.rename, "GUILD_LOADED_DD");
  assertEquals(last.loaded, {
    shard_id: 0,
    guilds: 2,
    unavailable: 0,
    listed: 2,
    timed_out: false,
    missing: [],
  });
  assertEquals(g.observe(0, "GUILD_CREATE", { id: "c" }), {}, "a join stays GUILD_CREATE");
  assertEquals(g.observe(0, "GUILD_DELETE", { id: "a", unavailable: true }), { loaded: undefined });
  assertEquals(g.observe(0, "GUILD_CREATE", { id: "a" }).rename, "GUILD_AVAILABLE_DD");
  g.observe(0, "GUILD_DELETE", { id: "c" });
  assertEquals(g.facts(0)?.guilds, 2);
  g.close();
});

Deno.test("createGuildTracker() reports the missing guilds when a load times out", async () => {
  const timeouts: Record<string, unknown>[] = [];
  const g = createGuildTracker({ loadTimeoutMs: 30, onLoadTimeout: (_s, p) => timeouts.push(p) });
  g.observe(3, "READY", { guilds: [{ id: "a" }, { id: "b" }] });
  g.observe(3, "GUILD_CREATE", { id: "a" });
  await until(() => timeouts.length === 1, "timeout");
  assertEquals(timeouts[0].timed_out, true);
  assertEquals(timeouts[0].missing, ["b"]);
  // The late guild is still an initial load, and no second summary follows.
  const late = g.observe(3, "GUILD_CREATE", { id: "b" });
  assertEquals([late.rename, late.loaded], ["GUILD_LOADED_DD", undefined]);
  g.close();
});

Deno.test("createShaper() applies allow and deny lists but keeps READY and the load summary", () => {
  const counters = createCounters();
  const emitted: QueuedEvent[] = [];
  const shaper = createShaper({
    counters,
    emit: (e) => emitted.push(e),
    allow: ["MESSAGE_CREATE"],
    deny: ["GUILD_AVAILABLE_DD"],
  });
  const names = (t: string, d: unknown) => shaper.shape(...dispatch(0, t, d)).map((e) => e.t);
  assertEquals(names("READY", { guilds: [{ id: "1" }] }), ["READY"]);
  assertEquals(names("GUILD_CREATE", { id: "1" }), ["SHARD_GUILDS_LOADED_DD"]);
  assertEquals(names("MESSAGE_CREATE", { id: "5" }), ["MESSAGE_CREATE"]);
  assertEquals(names("TYPING_START", {}), []);
  assertEquals(counters.droppedByRule.get("filter-allow"), 2);
  shaper.close();

  // An allowlist naming GUILD_CREATE admits its renamed forms, unless they are denied.
  const other = createShaper({
    counters,
    emit: () => {},
    allow: ["GUILD_CREATE"],
    deny: ["GUILD_AVAILABLE_DD"],
  });
  const names2 = (t: string, d: unknown) => other.shape(...dispatch(0, t, d)).map((e) => e.t);
  names2("READY", { guilds: [{ id: "1" }] });
  assertEquals(names2("GUILD_CREATE", { id: "1" }), ["GUILD_LOADED_DD", "SHARD_GUILDS_LOADED_DD"]);
  names2("GUILD_DELETE", { id: "1", unavailable: true });
  assertEquals(names2("GUILD_CREATE", { id: "1" }), []);
  assertEquals(counters.droppedByRule.get("filter-deny"), 1);
  other.close();
});

Deno.test("createShaper() renames without re-serializing and keeps the payload intact", () => {
  const shaper = createShaper({ emit: () => {} });
  shaper.shape(...dispatch(0, "READY", { guilds: [{ id: "7" }] }));
  const [loaded] = shaper.shape(...dispatch(0, "GUILD_CREATE", { id: "7", name: "x" }, 2));
  assertEquals(JSON.parse(loaded.raw), {
    op: 0,
    t: "GUILD_LOADED_DD",
    s: 2,
    d: { id: "7", name: "x" },
  });
  shaper.close();
});

Deno.test("event filters are validated at start-up, with a suggestion", () => {
  const env = {
    DISCORD_TOKEN: `${btoa("1")}.a.b`,
    REST_URL: "http://x",
    REST_AUTHORIZATION: "r",
    EVENT_HANDLER_URL: "http://y",
    EVENT_HANDLER_AUTHORIZATION: "h",
    GATEWAY_INTENTS: "Guilds",
    GATEWAY_AUTHORIZATION: "g",
  };
  const e = assertThrows(() => loadConfig({ ...env, EVENT_DENYLIST: "TYPING_STRAT" }), ConfigError);
  assertEquals(e.problems[0].variable, "EVENT_DENYLIST");
  assertStringIncludes(e.problems[0].problem, "did you mean TYPING_START?");
  assertEquals(
    loadConfig({ ...env, EVENT_ALLOWLIST: "message_create, GUILD_LOADED_DD" }).shaping.allow,
    [
      "MESSAGE_CREATE",
      "GUILD_LOADED_DD",
    ],
  );
});

Deno.test({
  name: "against the simulator: backfill, join, outage and return arrive under their right names",
  ...sanitizers,
  async fn() {
    const e2e = await startE2E({ sim: { shards: 2, maxConcurrency: 2, guilds: 6 } });
    try {
      await e2e.service.allReady;
      await until(
        () => e2e.handler.events.filter((e) => e.data.t === "SHARD_GUILDS_LOADED_DD").length === 2,
        "a load summary per shard",
      );
      for (const shard of [0, 1]) {
        const names = e2e.handler.events.filter((e) => e.shardId === shard).map((e) => e.data.t);
        const listed = e2e.sim.guildIds(shard, 2).length;
        assertEquals(names, [
          "READY",
          ...Array(listed).fill("GUILD_LOADED_DD"),
          "SHARD_GUILDS_LOADED_DD",
        ]);
        const summary = e2e.handler.events.find((e) =>
          e.shardId === shard && e.data.t === "SHARD_GUILDS_LOADED_DD"
        )!;
        assertEquals(summary.data.d.guilds, listed);
        assertEquals(summary.data.s, null);
      }
      const joined = e2e.sim.emitGuildCreate(0).d.id as string;
      const lost = e2e.sim.guildIds(1, 2)[0];
      e2e.sim.emitGuildDelete(1, lost, true);
      e2e.sim.emitGuildCreate(1, lost);
      await until(
        () => e2e.handler.events.some((e) => e.data.t === "GUILD_AVAILABLE_DD"),
        "return",
      );
      assert(e2e.handler.events.some((e) => e.data.t === "GUILD_CREATE" && e.data.d.id === joined));
      const tail = e2e.handler.events.filter((e) => e.shardId === 1).slice(-2).map((e) => e.data.t);
      assertEquals(tail, ["GUILD_DELETE", "GUILD_AVAILABLE_DD"]);
    } finally {
      await e2e.close();
    }
  },
});

Deno.test({
  name:
    "against the simulator: a message with 5 links gives 1 MESSAGE_CREATE and no unfurl update; a real edit arrives once",
  ...sanitizers,
  async fn() {
    const e2e = await startE2E({
      sim: { shards: 1, guilds: 2, identifyIntervalMs: 500, allowedPrivilegedIntents: 1 << 15 },
      env: { GATEWAY_INTENTS: "Guilds,GuildMessages,MessageContent" },
    });
    try {
      await e2e.service.allReady;
      const links = Array.from({ length: 5 }, (_, i) => `https://example.com/${i}`).join(" ");
      const message = e2e.sim.emitMessageCreate(0, { content: links, embeds: [] }).d;
      const base = {
        id: message.id as string,
        channel_id: message.channel_id as string,
        guild_id: message.guild_id as string,
        content: links,
        edited_timestamp: null,
      };
      for (let i = 1; i <= 5; i++) {
        e2e.sim.emitMessageUpdate(0, { ...base, embeds: Array(i).fill({ type: "article" }) });
      }
      e2e.sim.emitMessageUpdate(0, {
        id: base.id,
        channel_id: base.channel_id,
        guild_id: base.guild_id,
        partial: true,
        embeds: [{ type: "article" }],
      });
      const edited = new Date().toISOString();
      e2e.sim.emitMessageUpdate(0, { ...base, content: "fixed", edited_timestamp: edited });
      e2e.sim.emitMessageUpdate(0, {
        ...base,
        content: "fixed",
        edited_timestamp: edited,
        embeds: [{}],
      });
      const marker = e2e.sim.emitMessageCreate(0).s!;
      await until(() => e2e.handler.events.some((e) => e.data.s === marker), "marker");
      const forMessage = e2e.handler.events.filter((e) => e.data.d.id === message.id);
      assertEquals(forMessage.map((e) => e.data.t), ["MESSAGE_CREATE", "MESSAGE_UPDATE"]);
      assertEquals(forMessage[1].data.d.content, "fixed");
      assertEquals(e2e.service.counters.droppedByRule.get("message-update-unchanged"), 6);
      assertEquals(e2e.service.counters.droppedByRule.get("message-update-partial"), 1);
    } finally {
      await e2e.close();
    }
  },
});

Deno.test({
  name: "against the simulator: EVENT_ALLOWLIST forwards only what the bot asked for",
  ...sanitizers,
  async fn() {
    const e2e = await startE2E({
      sim: { shards: 1, guilds: 2, identifyIntervalMs: 500 },
      env: { EVENT_ALLOWLIST: "INTERACTION_CREATE" },
    });
    try {
      await e2e.service.allReady;
      e2e.sim.emitMessageCreate(0);
      const id = e2e.sim.emitInteraction(0, { type: 2 }).d.id;
      await until(() => e2e.handler.events.some((e) => e.data.d.id === id), "interaction");
      assertEquals(e2e.handler.events.map((e) => e.data.t), [
        "READY",
        "SHARD_GUILDS_LOADED_DD",
        "INTERACTION_CREATE",
      ]);
    } finally {
      await e2e.close();
    }
  },
});
