/**
 * Resharding end to end against the simulator: two shard sets side by side, the switch,
 * and what the bot sees (every event once, no second wave of guilds, one RESHARDED_DD).
 */
import { assert, assertEquals, assertStringIncludes } from "./helpers/assert.ts";
import { allDelivered, guildStream, markerCounts } from "./helpers/guild_stream.ts";
import { type E2E, withE2E } from "./helpers/rig.ts";
import { until } from "./helpers/wait.ts";
import { createControlHandler } from "../src/control/server.ts";
import { createControlSource } from "../src/control/source.ts";

const sanitizers = { sanitizeOps: false, sanitizeResources: false };
const OVERLAP_MS = 2000;

/** Settings that make a reshard happen in seconds against the simulator. */
function reshardEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    RESHARD_CHECK_INTERVAL_MS: "300",
    // 1% of 2 x 2500: 50 guilds fill two shards.
    RESHARD_PERCENTAGE: "1",
    RESHARD_OVERLAP_MS: String(OVERLAP_MS),
    ...extra,
  };
}

function assertExactlyOnce(e2e: E2E, markers: string[]) {
  const counts = markerCounts(e2e.handler.events);
  const missing = markers.filter((m) => !counts.has(m));
  const doubled = markers.filter((m) => (counts.get(m) ?? 0) > 1);
  assertEquals({ missing, doubled }, { missing: [], doubled: [] });
}

async function sessionFile(e2e: E2E) {
  const text = await Deno.readTextFile(`${e2e.dataDir}/sessions-0-last.json`);
  return JSON.parse(text).sessions as { shardId: number; totalShards: number }[];
}

Deno.test({
  name:
    "automatic reshard 2 -> 4 under a steady stream: every event once, no gap, old sessions closed, new ones stored",
  ...sanitizers,
  async fn() {
    await withE2E({
      sim: {
        shards: "auto",
        recommendGuildsPerShard: 20,
        guilds: 40,
        maxConcurrency: 2,
        identifyIntervalMs: 300,
        seed: 7,
      },
      env: reshardEnv(),
    }, async (e2e) => {
      await e2e.service.allReady;
      assertEquals(e2e.service.stats.range?.total, 2);
      const loaded = () => e2e.handler.events.filter((e) => e.data.t === "GUILD_LOADED_DD").length;
      await until(() => loaded() === 40, "the initial guilds loaded");
      const loadedBefore = loaded();
      const stream = guildStream(e2e.sim);
      await until(() => stream.markers.length > 30, "stream flowing");
      // The bot joins servers until two shards are 1% full: the next check reshards.
      const joined = e2e.sim.addGuilds(20);
      await until(() => e2e.service.reshardStatus().state !== "idle", "a reshard starts", 10_000);
      const started = e2e.service.reshardStatus();
      assertEquals([started.from, started.to, started.reason], [2, 4, "capacity"]);
      await until(() => e2e.service.reshardStatus().state === "done", "reshard done", 60_000);
      await until(
        () => stream.markers.length > 0 && markerCounts(e2e.handler.events).size > 0,
        "flowing",
      );
      const after = stream.markers.length;
      await until(() => stream.markers.length > after + 30, "stream after the switch");
      await stream.stop();
      await until(
        () => allDelivered(e2e.handler.events, stream.markers),
        "every emitted message delivered",
      );
      assertExactlyOnce(e2e, stream.markers);

      const status = e2e.service.reshardStatus();
      assert(status.deduped > 0, `deduped ${status.deduped}: both sets carried events`);
      assertEquals(e2e.service.stats.range, { first: 0, last: 3, total: 4 });
      // No stretch without delivery longer than the overlap window.
      const times = e2e.handler.events.filter((e) => e.data.t === "MESSAGE_CREATE").map((e) =>
        e.at
      );
      let gap = 0;
      for (let i = 1; i < times.length; i++) gap = Math.max(gap, times[i] - times[i - 1]);
      assert(gap < OVERLAP_MS, `longest stretch without delivery: ${gap} ms`);
      // The bot saw each new guild join once, and no second wave of the old ones.
      const joins = e2e.handler.events.filter((e) => e.data.t === "GUILD_CREATE");
      assertEquals(joins.length, joined.guildIds.length);
      assertEquals(
        e2e.handler.events.filter((e) => e.data.t === "GUILD_LOADED_DD").length,
        loadedBefore,
      );
      const resharded = e2e.handler.events.filter((e) => e.data.t === "RESHARDED_DD");
      assertEquals(resharded.map((e) => e.data.d), [{ from: 2, to: 4 }]);
      // The old set's sessions ended; the new set's are the ones stored.
      const old = e2e.sim.sessions().filter((s) => s.numShards === 2);
      assert(old.every((s) => s.expired && !s.connected), JSON.stringify(old));
      await until(async () => (await sessionFile(e2e)).length === 4, "new sessions stored");
      assert((await sessionFile(e2e)).every((s) => s.totalShards === 4));
    });
  },
});

Deno.test({
  name: "a shard closed with 4011 starts a reshard instead of stopping the process",
  ...sanitizers,
  async fn() {
    await withE2E({
      sim: {
        shards: "auto",
        recommendGuildsPerShard: 20,
        guilds: 40,
        maxGuildsPerShard: 25,
        maxConcurrency: 2,
        identifyIntervalMs: 300,
      },
      env: reshardEnv({ RESHARD_CHECK_INTERVAL_MS: "0", RESHARD_PERCENTAGE: "80" }),
    }, async (e2e) => {
      await e2e.service.allReady;
      const result = e2e.sim.addGuilds(20);
      assert(result.closed.length > 0, "the simulator closed over-full shards with 4011");
      await until(() => e2e.service.reshardStatus().state === "done", "reshard done", 60_000);
      const status = e2e.service.reshardStatus();
      assertEquals([status.from, status.reason], [2, "4011"]);
      assert(status.to! >= 4 && status.to! % 2 === 0, `to ${status.to}`);
      let fatal = false;
      e2e.service.fatal.then(() => fatal = true);
      await Promise.resolve();
      assertEquals(fatal, false);
      // Events flow on the new set.
      const stream = guildStream(e2e.sim);
      await until(() => stream.markers.length > 20, "stream");
      await stream.stop();
      await until(
        () => allDelivered(e2e.handler.events, stream.markers),
        "delivered",
      );
      assertExactlyOnce(e2e, stream.markers);
    });
  },
});

/** The control API of a running e2e setup, called without a socket. */
function api(e2e: E2E) {
  const source = createControlSource(e2e.service, { alive: () => true });
  const handle = createControlHandler(source, { authorization: "gateway-secret" });
  const call = (method: string, path: string, body?: unknown) =>
    handle(
      new Request(`http://x${path}`, {
        method,
        headers: { authorization: "gateway-secret" },
        body: body === undefined ? undefined : JSON.stringify(body),
      }),
    );
  return { call, close: () => source.close() };
}

Deno.test({
  name:
    "POST /reshard: 202 with the plan for a manual count, 409 while running, 400 on bad counts, GET shows progress",
  ...sanitizers,
  async fn() {
    await withE2E({
      sim: { shards: 2, guilds: 8, maxConcurrency: 2, identifyIntervalMs: 300 },
      env: reshardEnv({ RESHARD_CHECK_INTERVAL_MS: "0" }),
    }, async (e2e) => {
      const { call, close } = api(e2e);
      try {
        await e2e.service.allReady;
        for (
          const [body, reason] of [
            [{ totalShards: 0 }, "positive integer"],
            [{ totalShards: 3 }, "not a multiple of 2"],
            [{ totalShards: "4" }, "positive integer"],
            [{ totalShards: 2 }, "already runs 2 shards"],
            [{ shards: 4 }, "unknown field"],
          ] as const
        ) {
          const res = await call("POST", "/reshard", body);
          assertEquals(res.status, 400, JSON.stringify(body));
          assertStringIncludes((await res.json()).error, reason);
        }
        // A presence set before the reshard is the one the new shards identify with.
        const before = await call("POST", "/shards/presence", { status: "dnd", activities: [] });
        assertEquals(before.status, 200);
        const res = await call("POST", "/reshard", { totalShards: 6 });
        assertEquals(res.status, 202);
        const plan = await res.json();
        assertEquals([plan.from, plan.to, plan.reason], [2, 6, "manual"]);
        const again = await call("POST", "/reshard", {});
        assertEquals(again.status, 409);
        assertStringIncludes((await again.json()).error, "2 -> 6 is running");
        const progress = await (await call("GET", "/reshard")).json();
        assert(["preparing", "switching"].includes(progress.state), progress.state);
        await until(() => e2e.service.reshardStatus().state === "done", "done", 60_000);
        const done = await (await call("GET", "/reshard")).json();
        assertEquals([done.state, done.from, done.to, done.completed], ["done", 2, 6, 1]);
        const newIdentifies = e2e.sim.received.filter((r) =>
          r.op === 2 && (r.d as { shard: number[] }).shard[1] === 6
        );
        assertEquals(newIdentifies.length, 6);
        for (const r of newIdentifies) {
          assertEquals((r.d as { presence?: { status: string } }).presence?.status, "dnd");
        }
        const snap = await (await call("GET", "/status")).json();
        assertEquals(snap.range.total, 6);
        assertEquals(snap.shards.length, 6);
        const metrics = await (await call("GET", "/metrics")).text();
        assertStringIncludes(metrics, 'gateway_reshard_state{state="done"} 1');
        assertStringIncludes(metrics, "gateway_shard_count 6");
        // Commands now reach the new set's shards.
        const presence = await call("POST", "/shards/presence", {
          status: "idle",
          activities: [],
        });
        assertEquals(presence.status, 200);
        await until(
          () => e2e.sim.received.filter((r) => r.op === 3).length >= 2 + 6,
          "presence on all 6 new shards",
        );
      } finally {
        close();
      }
    });
  },
});

Deno.test({
  name:
    "POST /reshard answers 503 when session starts do not cover the new shards plus the reserve",
  ...sanitizers,
  async fn() {
    await withE2E({
      sim: {
        shards: 2,
        guilds: 8,
        maxConcurrency: 2,
        identifyIntervalMs: 300,
        sessionStartRemaining: 6,
      },
      env: reshardEnv({ RESHARD_CHECK_INTERVAL_MS: "0" }),
    }, async (e2e) => {
      const { call, close } = api(e2e);
      try {
        await e2e.service.allReady;
        // 4 left after the 2 identifies: 4 new shards + 2 in reserve do not fit.
        const res = await call("POST", "/reshard", { totalShards: 4 });
        assertEquals(res.status, 503);
        assertStringIncludes((await res.json()).error, "session starts left (4)");
        assertEquals(e2e.service.reshardStatus().state, "idle");
      } finally {
        close();
      }
    });
  },
});

Deno.test({
  name:
    "a process with part of the shards keeps resharding off and POST /reshard answers 409 with why",
  ...sanitizers,
  async fn() {
    await withE2E({
      sim: { shards: 4, guilds: 8, maxConcurrency: 2, identifyIntervalMs: 300 },
      env: reshardEnv({ TOTAL_SHARDS: "4", FIRST_SHARD_ID: "0", LAST_SHARD_ID: "1" }),
    }, async (e2e) => {
      const { call, close } = api(e2e);
      try {
        await e2e.service.allReady;
        assert(e2e.logs.some((l) => l.includes("automatic resharding is off")));
        const res = await call("POST", "/reshard", { totalShards: 8 });
        assertEquals(res.status, 409);
        assertStringIncludes((await res.json()).error, "needs a coordinator");
      } finally {
        close();
      }
    });
  },
});

Deno.test({
  name:
    "a large bot (max_concurrency 16) reshards 16 -> 32 in multiples of 16, identifying 16 at a time",
  ...sanitizers,
  async fn() {
    await withE2E({
      sim: { shards: 16, guilds: 64, maxConcurrency: 16, identifyIntervalMs: 300 },
      env: reshardEnv({ RESHARD_CHECK_INTERVAL_MS: "0" }),
    }, async (e2e) => {
      await e2e.service.allReady;
      const answer = await e2e.service.reshard({});
      assert(answer.status === 202, JSON.stringify(answer));
      assertEquals([answer.plan.from, answer.plan.to], [16, 32]);
      await until(() => e2e.service.reshardStatus().state === "done", "done", 60_000);
      assertEquals(e2e.service.stats.range?.total, 32);
      // The old and new sets shared the identify limiter: Discord refused no identify.
      const refused = e2e.sim.identifies.filter((i) => !i.accepted);
      assertEquals(refused.map((i) => i.reason), []);
      assertEquals(e2e.sim.identifies.filter((i) => i.numShards === 32).length, 32);
      const s = e2e.sim.sessions().filter((x) => x.numShards === 32 && x.connected);
      assertEquals(s.length, 32);
    });
  },
});
