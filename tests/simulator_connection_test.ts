/**
 * Tests of the Discord simulator's options, its REST side (`/gateway/bot`,
 * `failRest()`), the gateway connection (Hello, heartbeats, close codes),
 * transport compression and shutdown; raw WebSocket clients and fetch (no
 * Discordeno). Every wait polls a condition with a deadline; every socket and
 * server is closed for the leak sanitizers.
 */
import assert from "node:assert/strict";
import { createSimulator, startMessageStream, waitFor } from "../src/simulator/mod.ts";
import { closeCodeFor, GUILDS, identify, SECRET, TOKEN, withSim } from "./helpers/sim_harness.ts";
import { Client } from "./helpers/ws_client.ts";

// ---------------------------------------------------------------- options

Deno.test("createSimulator() rejects bad options with TypeError/RangeError naming them", async () => {
  const base = { token: TOKEN, restAuthorization: SECRET };
  await assert.rejects(
    createSimulator({ ...base, token: "test-token" }),
    (e: Error) => e instanceof TypeError && e.message.includes('"token"'),
  );
  await assert.rejects(
    createSimulator({ ...base, restAuthorization: "" }),
    (e: Error) => e instanceof TypeError && e.message.includes('"restAuthorization"'),
  );
  await assert.rejects(
    createSimulator({ ...base, heartbeatIntervalMs: 1000 }),
    (e: Error) =>
      e instanceof RangeError && e.message.includes('"heartbeatIntervalMs"') &&
      e.message.includes("1000"),
  );
  await assert.rejects(
    createSimulator({ ...base, allowedPrivilegedIntents: 1 << 9 }),
    (e: Error) => e instanceof RangeError && e.message.includes('"allowedPrivilegedIntents"'),
  );
  await assert.rejects(
    createSimulator({ ...base, sessionStartTotal: 5, sessionStartRemaining: 6 }),
    (e: Error) => e instanceof RangeError && e.message.includes('"sessionStartRemaining"'),
  );
  await assert.rejects(
    createSimulator({ ...base, shards: 1.5 }),
    (e: Error) => e instanceof TypeError && e.message.includes('"shards"'),
  );
  await assert.rejects(
    createSimulator({ ...base, heartbeatIntervalMs: 3000, heartbeatTimeoutMs: 2000 }),
    (e: Error) => e instanceof RangeError && e.message.includes('"heartbeatTimeoutMs"'),
  );
});

// ---------------------------------------------------------------- REST

Deno.test("createSimulator() serves /v10/gateway/bot behind the REST proxy secret", async () => {
  await withSim(
    { shards: 4, maxConcurrency: 2, sessionStartTotal: 50, sessionStartRemaining: 40 },
    async (h) => {
      const res = await h.rest("/v10/gateway/bot");
      assert.equal(res.status, 200);
      const body = await res.json();
      assert.equal(body.url, h.sim.gatewayUrl);
      assert.equal(body.shards, 4);
      assert.equal(body.session_start_limit.total, 50);
      assert.equal(body.session_start_limit.remaining, 40);
      assert.equal(body.session_start_limit.max_concurrency, 2);
      assert.ok(body.session_start_limit.reset_after > 0);

      for (const auth of [null, "wrong", `Bot ${TOKEN}`]) {
        const denied = await h.rest("/v10/gateway/bot", { auth });
        assert.equal(denied.status, 401);
        assert.deepEqual(await denied.json(), { message: "401: Unauthorized", code: 0 });
      }
      const missing = await h.rest("/v10/channels/1/messages");
      assert.equal(missing.status, 404);
      assert.equal((await missing.json()).code, 0);
      const wrongMethod = await h.rest("/v10/gateway/bot", { method: "POST", body: "{}" });
      assert.equal(wrongMethod.status, 405);
      await wrongMethod.body?.cancel();

      // An accepted identify consumes one session start.
      const { client } = await h.ready([0, 4]);
      const after = await (await h.rest("/v10/gateway/bot")).json();
      assert.equal(after.session_start_limit.remaining, 39);
      await client.close();
    },
  );
});

Deno.test("failRest() answers the next requests with the given statuses, then recovers", async () => {
  await withSim({}, async (h) => {
    h.sim.failRest("gateway/bot", [503, 429], { retryAfterSeconds: 0.25 });
    const first = await h.rest("/v10/gateway/bot");
    assert.equal(first.status, 503);
    assert.equal(typeof (await first.json()).message, "string");
    const second = await h.rest("/v10/gateway/bot");
    assert.equal(second.status, 429);
    assert.equal(second.headers.get("retry-after"), "1");
    const body = await second.json();
    assert.equal(body.retry_after, 0.25);
    assert.equal(body.global, false);
    const third = await h.rest("/v10/gateway/bot");
    assert.equal(third.status, 200);
    await third.body?.cancel();
    assert.throws(() => h.sim.failRest("gateway/bot", [200]), RangeError);
    assert.throws(() => h.sim.failRest("channels" as "interactions", [500]), TypeError);
  });
});

// ---------------------------------------------------------------- connection

Deno.test("gateway sends Hello, ACKs heartbeats, and honours pauseHeartbeatAcks/requestHeartbeat", async () => {
  await withSim({ heartbeatIntervalMs: 2000 }, async (h) => {
    const client = await h.connect();
    const hello = await client.next((p) => p.op === 10);
    assert.deepEqual((hello.d as { heartbeat_interval: number }).heartbeat_interval, 2000);
    assert.equal(hello.s, null);
    assert.equal(hello.t, null);

    // Heartbeat before identify is allowed and acknowledged.
    client.send({ op: 1, d: null });
    await client.next((p) => p.op === 11);
    client.send(identify([0, 1]));
    await client.next((p) => p.t === "READY");

    h.sim.requestHeartbeat(0);
    const request = await client.next((p) => p.op === 1);
    assert.deepEqual([request.s, request.t], [null, null]);

    h.sim.pauseHeartbeatAcks(0, true);
    const before = client.messages.length;
    client.send({ op: 1, d: 1 });
    await waitFor(() => h.sim.received.filter((r) => r.op === 1).length === 2);
    // Anything sent before this marker has arrived once the marker has.
    const marker = h.sim.dispatch(0, "TYPING_START", {});
    await client.next((p) => p.s === marker);
    assert.equal(client.messages.slice(before).filter((p) => p.op === 11).length, 0);

    h.sim.pauseHeartbeatAcks(0, false);
    client.send({ op: 1, d: 1 });
    await client.next((p) => p.op === 11, before);
    await client.close();
  });
});

Deno.test("gateway closes 4012 for a bad version and 4002 for a bad encoding or compress", async () => {
  await withSim({}, async (h) => {
    for (
      const [query, code] of [
        ["?v=9&encoding=json", 4012],
        ["?encoding=json", 4012],
        ["?v=10&encoding=etf", 4002],
        ["?v=10", 4002],
        ["?v=10&encoding=json&compress=gzip", 4002],
      ] as const
    ) {
      const client = await h.connect({ query });
      const close = await client.waitClose();
      assert.equal(close.code, code, query);
    }
    assert.equal(h.sim.closes.length, 5);
    assert.ok(h.sim.closes.every((c) => c.by === "server" && c.shardId === null));
  });
});

Deno.test("gateway closes 4002 for oversized or invalid payloads, 4001 for unknown ops, 4003 before identify", async () => {
  await withSim({}, async (h) => {
    const big = JSON.stringify({ op: 1, d: null, pad: "x".repeat(4096) });
    assert.equal((await closeCodeFor(h, [big])).code, 4002);
    assert.equal((await closeCodeFor(h, ["{not json"])).code, 4002);
    assert.equal((await closeCodeFor(h, [{ op: 99, d: null }])).code, 4001);
    assert.equal((await closeCodeFor(h, [{ op: 7, d: null }])).code, 4001);
    assert.equal(
      (await closeCodeFor(h, [{
        op: 3,
        d: { since: null, activities: [], status: "online", afk: false },
      }])).code,
      4003,
    );
    assert.equal(
      (await closeCodeFor(h, [{ op: 8, d: { guild_id: "1", query: "", limit: 0 } }])).code,
      4003,
    );
    // Every payload is recorded, even the ones that were refused.
    assert.ok(h.sim.received.some((r) => r.op === null));
    assert.ok(h.sim.received.some((r) => r.op === 99));
  });
});

Deno.test("gateway closes 4005 on a second identify and 4008 above the command limit", async () => {
  await withSim({ commandLimit: 5 }, async (h) => {
    const { client } = await h.ready([0, 1]);
    client.send(identify([0, 1]));
    assert.equal((await client.waitClose()).code, 4005);
    assert.equal(h.sim.identifies.at(-1)?.accepted, false);
    // 4005 is resumable: the session survives.
    assert.equal(h.sim.sessions()[0].expired, false);

    const second = await h.connect();
    await second.next((p) => p.op === 10);
    for (let i = 0; i < 6; i++) second.send({ op: 1, d: null });
    assert.equal((await second.waitClose()).code, 4008);
    assert.equal(second.messages.filter((p) => p.op === 11).length, 5);
  });
});

Deno.test("gateway closes with 4009 when heartbeats stop, ending the session", async () => {
  await withSim({ heartbeatIntervalMs: 2000, heartbeatTimeoutMs: 2000 }, async (h) => {
    const { client } = await h.ready([0, 1]);
    const close = await client.waitClose(10_000);
    assert.equal(close.code, 4009);
    assert.equal(h.sim.sessions()[0].expired, true);
  });
});

// ---------------------------------------------------------------- compression

for (const compression of ["zlib-stream", "zstd-stream"] as const) {
  Deno.test(`gateway speaks ${compression} with one context per connection`, async () => {
    await withSim({ guilds: 3 }, async (h) => {
      const client = await h.connect({ compression });
      await client.next((p) => p.op === 10);
      client.send(identify([0, 1]));
      await client.next((p) => p.t === "READY");
      await waitFor(() => client.dispatches("GUILD_CREATE").length === 3);
      // A burst: frames arrive back to back and must decode in order.
      for (let i = 0; i < 100; i++) h.sim.emitMessageCreate(0);
      await waitFor(() => client.dispatches("MESSAGE_CREATE").length === 100);
      assert.deepEqual(
        client.dispatches().map((p) => p.s),
        Array.from({ length: 104 }, (_, i) => i + 1),
      );
      await client.close();
    });
  });
}

Deno.test("identify compress:true sends dispatches as zlib payloads", async () => {
  await withSim({ guilds: 1 }, async (h) => {
    const client = await h.connect();
    await client.next((p) => p.op === 10);
    client.send(identify([0, 1], GUILDS, { compress: true }));
    await waitFor(() => client.dispatches("GUILD_CREATE").length === 1);
    assert.equal(client.binary.length, 2);
  });
});

// ---------------------------------------------------------------- lifecycle

Deno.test("startMessageStream() emits MESSAGE_CREATE over connected shards until stopped", async () => {
  await withSim({ guilds: 2, shards: 2, maxConcurrency: 2 }, async (h) => {
    const a = await h.ready([0, 2]);
    const b = await h.ready([1, 2]);
    const stream = startMessageStream(h.sim, { ratePerSecond: 200 });
    try {
      await waitFor(() =>
        a.client.dispatches("MESSAGE_CREATE").length >= 3 &&
        b.client.dispatches("MESSAGE_CREATE").length >= 3
      );
    } finally {
      stream.stop();
    }
    assert.equal(stream.failed, 0);
    assert.ok(stream.emitted >= 6);
    assert.throws(() => startMessageStream(h.sim, { ratePerSecond: 0 }), RangeError);
  });
});

Deno.test("shutdown() closes clients with 1001 and is idempotent", async () => {
  const sim = await createSimulator({
    token: TOKEN,
    restAuthorization: SECRET,
    heartbeatIntervalMs: 5000,
  });
  const client = new Client(`${sim.gatewayUrl}/?v=10&encoding=json`);
  await client.next((p) => p.op === 10);
  await Promise.all([sim.shutdown(), sim.shutdown()]);
  assert.equal((await client.waitClose()).code, 1001);
  await client.close();
});
