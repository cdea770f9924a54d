import { assert, assertEquals, assertStringIncludes } from "./helpers/assert.ts";
import { HANDLER_SECRET, seqsByShard, startE2E, TOKEN } from "./helpers/rig.ts";
import { until } from "./helpers/wait.ts";
import { createSimulator } from "../src/simulator/mod.ts";
import { startTestHandler } from "./helpers/handler.ts";
import { runProxyProcess } from "./helpers/process.ts";

Deno.test({
  name: "the proxy runs 4 shards with max_concurrency 2 and forwards every dispatch once, in order",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const e2e = await startE2E({ sim: { shards: 4, maxConcurrency: 2, guilds: 12 } });
    try {
      await until(() => e2e.service.readyShards.size === 4, "4 shards READY", 60_000);
      await e2e.service.allReady;

      // Identify spacing: one identify per bucket per 5 s, buckets in parallel.
      const accepted = e2e.sim.identifies.filter((i) => i.accepted);
      assertEquals(accepted.length, 4);
      assertEquals(e2e.sim.identifies.filter((i) => !i.accepted).length, 0);
      assertEquals(accepted.map((i) => i.numShards), [4, 4, 4, 4]);
      for (const bucket of [0, 1]) {
        const times = accepted.filter((i) => i.shardId! % 2 === bucket).map((i) => i.at);
        assertEquals(times.length, 2);
        assert(times[1] - times[0] >= 5000, `bucket ${bucket} spacing ${times[1] - times[0]} ms`);
      }
      const firstOfBuckets = accepted.filter((i) => i.shardId! < 2).map((i) => i.at);
      assert(Math.abs(firstOfBuckets[0] - firstOfBuckets[1]) < 5000, "buckets run in parallel");

      // Mixed traffic on every shard.
      const expected = new Map<number, number>();
      for (let round = 0; round < 20; round++) {
        for (const shard of [0, 1, 2, 3]) {
          const s = round % 5 === 4
            ? e2e.sim.emitGuildCreate(shard).s
            : e2e.sim.emitMessageCreate(shard).s;
          expected.set(shard, s!);
        }
      }
      await until(
        () =>
          [0, 1, 2, 3].every((shard) =>
            seqsByShard(e2e.handler.events).get(shard)?.at(-1) === expected.get(shard)
          ),
        "every emitted dispatch at the handler",
      );
      const got = seqsByShard(e2e.handler.events);
      for (const shard of [0, 1, 2, 3]) {
        // READY is s=1; everything after it arrives exactly once, in order.
        const list = got.get(shard)!;
        assertEquals(list, Array.from({ length: expected.get(shard)! }, (_, i) => i + 1));
      }
      const ready = e2e.handler.events.filter((e) => e.data.t === "READY");
      assertEquals(ready.map((e) => e.shardId).sort(), [0, 1, 2, 3]);
      for (const e of e2e.handler.events) {
        assertEquals(e.authorization, HANDLER_SECRET);
        assertEquals(e.data.op, 0);
        // The payload is Discord's raw snake_case.
        if (e.data.t === "MESSAGE_CREATE") assert("channel_id" in e.data.d);
      }
      // Guild events reached the shard the guild routes to.
      const guildEvents = ["GUILD_CREATE", "GUILD_LOADED_DD"];
      for (const e of e2e.handler.events.filter((e) => guildEvents.includes(e.data.t))) {
        const id = BigInt(e.data.d.id as string);
        assertEquals(Number((id >> 22n) % 4n), e.shardId);
      }
    } finally {
      await e2e.close();
    }
  },
});

Deno.test({
  name: "a disallowed intent (4014) surfaces as one fatal error, not an unhandled rejection",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const e2e = await startE2E({
      sim: { shards: 1, identifyIntervalMs: 500 },
      env: { GATEWAY_INTENTS: "Guilds,GuildMembers" },
    });
    try {
      const fatal = await e2e.service.fatal;
      assertEquals(fatal.code, 4014);
      assertStringIncludes(fatal.message, "privileged intent");
    } finally {
      await e2e.close();
    }
  },
});

Deno.test({
  name: "GET /gateway/bot is retried while the REST proxy answers 5xx",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const e2e = await startE2E({ sim: { shards: 1, identifyIntervalMs: 500 }, noStart: true });
    try {
      e2e.sim.failRest("gateway/bot", [503, 502, 500]);
      await e2e.service.start();
      await until(() => e2e.service.readyShards.size === 1, "shard READY after retries");
      assertEquals(
        e2e.logs.filter((l) => l.includes("GET /gateway/bot through the REST proxy failed")).length,
        3,
      );
    } finally {
      await e2e.close();
    }
  },
});

Deno.test("the process exits 1 with a clear message when Discord rejects the token (4004)", async () => {
  const sim = await createSimulator({
    token: `${btoa("99999999")}.other.token`,
    restAuthorization: "rest-secret",
    heartbeatIntervalMs: 5000,
  });
  const handler = await startTestHandler();
  const dataDir = await Deno.makeTempDir();
  try {
    const { code, text } = await runProxyProcess({
      DISCORD_TOKEN: TOKEN,
      REST_URL: sim.restUrl,
      REST_AUTHORIZATION: "rest-secret",
      EVENT_HANDLER_URL: handler.url,
      EVENT_HANDLER_AUTHORIZATION: HANDLER_SECRET,
      GATEWAY_INTENTS: "Guilds",
      GATEWAY_AUTHORIZATION: "gw",
      GATEWAY_PORT: "0",
      DATA_DIR: dataDir,
    });
    assertEquals(code, 1, text);
    assertStringIncludes(text, "4004");
    assertStringIncludes(text, "DISCORD_TOKEN is invalid");
    assert(!text.includes("Uncaught"), text);
    assert(!text.includes(TOKEN), "the token never appears in logs");
  } finally {
    await handler.close();
    await sim.shutdown();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("the process exits 3 when the REST proxy refuses REST_AUTHORIZATION", async () => {
  const sim = await createSimulator({ token: TOKEN, restAuthorization: "right-secret" });
  const dataDir = await Deno.makeTempDir();
  try {
    const { code, text } = await runProxyProcess({
      DISCORD_TOKEN: TOKEN,
      REST_URL: sim.restUrl,
      REST_AUTHORIZATION: "wrong-secret",
      EVENT_HANDLER_URL: "http://127.0.0.1:9/events",
      EVENT_HANDLER_AUTHORIZATION: HANDLER_SECRET,
      GATEWAY_INTENTS: "Guilds",
      GATEWAY_AUTHORIZATION: "gw",
      GATEWAY_PORT: "0",
      DATA_DIR: dataDir,
    });
    assertEquals(code, 3, text);
    assertStringIncludes(text, "check REST_AUTHORIZATION");
    assert(!text.includes("wrong-secret"), "secrets never appear in logs");
  } finally {
    await sim.shutdown();
    await Deno.remove(dataDir, { recursive: true });
  }
});
