import { assert, assertEquals, assertStringIncludes } from "./helpers/assert.ts";
import { type E2E, startE2E } from "./helpers/rig.ts";
import { until } from "./helpers/wait.ts";
import { createControlHandler } from "../src/control/server.ts";
import { type ControlSource, createControlSource } from "../src/control/source.ts";
import { createCounters } from "../src/counters.ts";
import type { RedeliverResult } from "../src/delivery/redeliver.ts";
import type { Service } from "../src/service.ts";
import { createGatewayClient, GatewayApiError } from "../src/client.ts";

const sanitizers = { sanitizeOps: false, sanitizeResources: false };
const SECRET = "gateway-secret";

/** The real service against the simulator, with its control API on a real socket. */
async function withApi(
  fn: (
    ctx: E2E & { url: string; call: (path: string, init?: RequestInit) => Promise<Response> },
  ) => Promise<void>,
  sim = { shards: 2, maxConcurrency: 2, guilds: 4 },
) {
  const e2e = await startE2E({ sim });
  const source = createControlSource(e2e.service, { alive: () => true });
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    createControlHandler(source, { authorization: SECRET }),
  );
  const url = `http://127.0.0.1:${(server.addr as Deno.NetAddr).port}`;
  const call = (path: string, init: RequestInit = {}) =>
    fetch(url + path, {
      ...init,
      headers: { authorization: SECRET, "content-type": "application/json", ...init.headers },
    });
  try {
    await e2e.service.allReady;
    await fn({ ...e2e, url, call });
  } finally {
    source.close();
    await server.shutdown();
    await e2e.close();
  }
}

Deno.test({
  name: "control API: commands reach the right shard as op 3, 4 and 8",
  ...sanitizers,
  async fn() {
    await withApi(async ({ sim, call, url, handler }) => {
      const client = createGatewayClient({ url, authorization: SECRET });
      const presence = await client.setPresence({
        status: "dnd",
        activities: [{ name: "tests", type: 0 }],
      });
      assertEquals(presence, { updated: 2, failed: [] });
      await until(() => sim.received.filter((r) => r.op === 3).length === 2, "op 3 on both shards");
      assertEquals(
        sim.received.filter((r) => r.op === 3).map((r) => r.shardId).sort(),
        [0, 1],
      );
      assertEquals((sim.received.find((r) => r.op === 3)!.d as { status: string }).status, "dnd");

      const guildId = sim.guildIds(1, 2)[0];
      const members = await client.requestMembers(guildId, { query: "a", limit: 5 });
      assertEquals(members.shardId, 1);
      await until(() => sim.received.some((r) => r.op === 8), "op 8");
      const op8 = sim.received.find((r) => r.op === 8)!;
      assertEquals([op8.shardId, (op8.d as { nonce: string }).nonce], [1, members.nonce]);
      await until(
        () =>
          handler.events.some((e) =>
            e.data.t === "GUILD_MEMBERS_CHUNK" && e.data.d.nonce === members.nonce
          ),
        "the chunk at the handler",
      );

      const channel = "123456789012345678";
      assertEquals(await client.updateVoiceState(guildId, { channelId: channel, selfDeaf: true }), {
        shardId: 1,
      });
      await until(() => sim.received.some((r) => r.op === 4), "op 4");
      assertEquals(sim.received.find((r) => r.op === 4)!.d, {
        guild_id: guildId,
        channel_id: channel,
        self_mute: false,
        self_deaf: true,
      });

      const where = await client.guildShard(guildId);
      assertEquals([where.shardId, where.inThisProcess], [1, true]);

      const { shards } = await client.shards();
      assertEquals(shards.map((s) => s.id), [0, 1]);
      for (const s of shards) {
        assertEquals(s.state, "connected");
        assert(typeof s.sessionId === "string");
        assertEquals(s.guilds, sim.guildIds(s.id, 2).length);
      }
      const body = JSON.stringify(await (await call("/shards")).json());
      assert(!body.includes("sim.token"), "the token never appears");

      const before = sim.resumes.length;
      await client.restartShard(0);
      await until(() => sim.resumes.length > before && sim.resumes.at(-1)!.accepted, "a resume");
    });
  },
});

Deno.test({
  name: "control API: auth, bad input and unknown routes get 4xx with a reason",
  ...sanitizers,
  async fn() {
    await withApi(async ({ call, url }) => {
      const statusOf = async (res: Response): Promise<[number, string]> => [
        res.status,
        (await res.json()).error as string,
      ];
      let [status, error] = await statusOf(await fetch(url + "/shards"));
      assertEquals(status, 401);
      assertStringIncludes(error, "GATEWAY_AUTHORIZATION");
      [status] = await statusOf(
        await fetch(url + "/shards", { headers: { authorization: "nope" } }),
      );
      assertEquals(status, 401);
      [status, error] = await statusOf(await call("/nothing"));
      assertEquals([status, error], [404, "no route for GET /nothing"]);
      [status, error] = await statusOf(await call("/shards/presence", { method: "GET" }));
      assertEquals([status, error], [405, "use POST for /shards/presence"]);
      [status, error] = await statusOf(
        await call("/shards/presence", { method: "POST", body: "{nope" }),
      );
      assertEquals(status, 400);
      assertStringIncludes(error, "not valid JSON");
      [status, error] = await statusOf(
        await call("/shards/presence", {
          method: "POST",
          body: JSON.stringify({ status: "sleepy" }),
        }),
      );
      assertEquals(status, 400);
      assertStringIncludes(error, '"status" must be one of');
      [status] = await statusOf(
        await call("/shards/presence", {
          method: "POST",
          body: JSON.stringify({ pad: "x".repeat(70_000) }),
        }),
      );
      assertEquals(status, 413);
      [status, error] = await statusOf(await call("/guilds/abc/shard"));
      assertEquals(status, 400);
      assertStringIncludes(error, "not a guild id");
      [status, error] = await statusOf(
        await call("/shards/9/payload", { method: "POST", body: JSON.stringify({ op: 3, d: {} }) }),
      );
      assertEquals(status, 404);
      assertStringIncludes(error, "not run by this process");
      [status, error] = await statusOf(
        await call("/shards/0/payload", { method: "POST", body: JSON.stringify({ op: 2, d: {} }) }),
      );
      assertEquals(status, 400);
      assertStringIncludes(error, "identify");
      [status, error] = await statusOf(
        await call("/shards/0/payload", {
          method: "POST",
          body: JSON.stringify({
            op: 3,
            d: { since: null, activities: [], status: "x".repeat(5000), afk: false },
          }),
        }),
      );
      assertEquals(status, 413);
      assertStringIncludes(error, "4096");
    });
  },
});

Deno.test({
  name: "control API: the command budget answers 429 before Discord would close with 4008",
  ...sanitizers,
  async fn() {
    await withApi(async ({ call, sim }) => {
      const presence = { since: null, activities: [], status: "online", afk: false };
      let accepted = 0;
      let limited: Response | undefined;
      for (let i = 0; i < 130 && !limited; i++) {
        const res = await call("/shards/0/payload", {
          method: "POST",
          body: JSON.stringify({ op: 3, d: presence }),
        });
        if (res.status === 202) accepted++;
        else if (res.status === 429) limited = res;
        await res.body?.cancel();
      }
      assert(limited, "a 429 came");
      assert(Number(limited.headers.get("retry-after")) > 0);
      assert(accepted > 50 && accepted < 120, `accepted ${accepted}`);
      await until(
        () => sim.received.filter((r) => r.op === 3 && r.shardId === 0).length === accepted,
        "all sent",
      );
      assertEquals(sim.closes.filter((c) => c.code === 4008).length, 0);
    }, { shards: 1, maxConcurrency: 1, guilds: 1 });
  },
});

Deno.test({
  name: "control API: /healthz, /readyz and /metrics count real traffic",
  ...sanitizers,
  async fn() {
    await withApi(async ({ call, sim, handler }) => {
      assertEquals((await (await call("/healthz")).json()).status, "ok");
      const ready = await call("/readyz");
      assertEquals([ready.status, (await ready.json()).ready], [200, true]);
      for (let i = 0; i < 7; i++) sim.emitMessageCreate(0);
      await until(
        () => handler.events.filter((e) => e.data.t === "MESSAGE_CREATE").length === 7,
        "7 messages",
      );
      const res = await call("/metrics");
      assertStringIncludes(res.headers.get("content-type")!, "text/plain; version=0.0.4");
      const text = await res.text();
      const samples = new Map<string, number>();
      for (const line of text.split("\n")) {
        if (line === "" || line.startsWith("#")) continue;
        const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (-?[0-9.e+-]+|NaN|\+Inf)$/.exec(line);
        assert(m, `not a Prometheus sample line: ${line}`);
        samples.set(m[1], Number(m[2]));
      }
      assertEquals(samples.get('gateway_events_received_total{type="MESSAGE_CREATE"}'), 7);
      assert(samples.get("gateway_delivery_latency_seconds_count")! >= 7);
      assertEquals(samples.get('gateway_shard_up{shard="0"}'), 1);
      assertEquals(samples.get("gateway_identifies_total"), 2);
      assertEquals(samples.get('gateway_queue_depth{where="memory"}'), 0);
    });
  },
});

Deno.test({
  name: "control API: /readyz is 503 with reasons while a shard is down",
  ...sanitizers,
  async fn() {
    const e2e = await startE2E({
      sim: { shards: 1, guilds: 1, identifyIntervalMs: 500 },
      noStart: true,
    });
    const source = createControlSource(e2e.service, { alive: () => true, readyGraceMs: 0 });
    const handle = createControlHandler(source, { authorization: SECRET });
    try {
      const before = await handle(new Request("http://x/readyz"));
      assertEquals(before.status, 503);
      assertStringIncludes((await before.json()).reasons.join(), "not started");
      await e2e.service.start();
      await e2e.service.allReady;
      assertEquals((await handle(new Request("http://x/readyz"))).status, 200);
      e2e.sim.expireSessions();
      e2e.sim.closeShard(0, 4009);
      await until(
        async () => (await handle(new Request("http://x/readyz"))).status === 503,
        "not ready",
      );
      await until(
        async () => (await handle(new Request("http://x/readyz"))).status === 200,
        "ready again",
      );
    } finally {
      source.close();
      await e2e.close();
    }
  },
});

Deno.test("createGatewayClient() surfaces the server's reason and Retry-After", async () => {
  const client = createGatewayClient({
    url: "http://x",
    authorization: "s",
    fetch: () =>
      Promise.resolve(
        new Response(JSON.stringify({ error: "shard 0 used its 94 commands" }), {
          status: 429,
          headers: { "retry-after": "7" },
        }),
      ),
  });
  try {
    await client.sendPayload(0, { op: 3, d: {} });
    throw new Error("expected an error");
  } catch (error) {
    assert(error instanceof GatewayApiError);
    assertEquals([error.status, error.message, error.retryAfterMs], [
      429,
      "shard 0 used its 94 commands",
      7000,
    ]);
  }
});

/** A control source that only re-delivers dead letters (the route reaches nothing else). */
function redeliverSource(redeliver?: () => Promise<RedeliverResult>): ControlSource {
  return { redeliverDeadLetters: redeliver } as unknown as ControlSource;
}

Deno.test("control API: POST /dead-letters/redeliver answers the counts behind GATEWAY_AUTHORIZATION, one run at a time", async () => {
  let calls = 0;
  const gate = Promise.withResolvers<void>();
  const handle = createControlHandler(
    redeliverSource(async () => {
      calls++;
      await gate.promise;
      return { delivered: 3, failed: 1, remaining: 1 };
    }),
    { authorization: SECRET },
  );
  const post = (authorization = SECRET) =>
    handle(
      new Request("http://x/dead-letters/redeliver", {
        method: "POST",
        headers: { authorization },
      }),
    );
  const denied = await post("nope");
  assertEquals(denied.status, 401);
  assertStringIncludes((await denied.json()).error, "GATEWAY_AUTHORIZATION");
  assertEquals(calls, 0);
  const wrongMethod = await handle(
    new Request("http://x/dead-letters/redeliver", { headers: { authorization: SECRET } }),
  );
  assertEquals(wrongMethod.status, 405);
  // Two requests while one run is going: one run, the same answer for both.
  const first = post();
  const second = post();
  gate.resolve();
  for (const res of await Promise.all([first, second])) {
    assertEquals(res.status, 200);
    assertEquals(await res.json(), { delivered: 3, failed: 1, remaining: 1 });
  }
  assertEquals(calls, 1);
  await (await post()).body?.cancel();
  assertEquals(calls, 2, "a later request starts a new run");
});

Deno.test("control API: POST /dead-letters/redeliver answers 501 with a reason when the source cannot, 500 when it fails", async () => {
  const none = createControlHandler(redeliverSource(), { authorization: SECRET });
  const req = () =>
    new Request("http://x/dead-letters/redeliver", {
      method: "POST",
      headers: { authorization: SECRET },
    });
  const res = await none(req());
  assertEquals(res.status, 501);
  assertStringIncludes((await res.json()).error, "not available in this process");
  const failing = createControlHandler(
    redeliverSource(() => Promise.reject(new Error("disk gone"))),
    { authorization: SECRET },
  );
  const broken = await failing(req());
  assertEquals(broken.status, 500);
  assertStringIncludes((await broken.json()).error, "disk gone");
});

Deno.test("createControlSource() forwards redeliverDeadLetters() to the service", async () => {
  const base = { counters: createCounters(), stats: { downSince: new Map() } };
  const service = {
    ...base,
    redeliverDeadLetters(this: { answer: RedeliverResult }) {
      return Promise.resolve(this.answer);
    },
    answer: { delivered: 1, failed: 0, remaining: 0 },
  };
  const source = createControlSource(service as unknown as Service, { alive: () => true });
  try {
    assertEquals(await source.redeliverDeadLetters?.(), { delivered: 1, failed: 0, remaining: 0 });
  } finally {
    source.close();
  }
});

Deno.test({
  name:
    "control API: a handler answering 401 makes /readyz 503 and /status say what to check; nothing is dead-lettered",
  ...sanitizers,
  async fn() {
    await withApi(async ({ call, handler, service }) => {
      let status = 401;
      handler.behave = () => status === 200 ? undefined : { status };
      const before = handler.events.length;
      service.queue.push({
        shardId: 0,
        totalShards: 2,
        s: 1_000_000,
        t: "MESSAGE_CREATE",
        receivedAt: Date.now(),
        raw: JSON.stringify({ op: 0, t: "MESSAGE_CREATE", s: 1_000_000, d: { probe: true } }),
      });
      await until(async () => (await call("/readyz")).status === 503, "not ready");
      const ready = await (await call("/readyz")).json();
      assertStringIncludes(ready.reasons.join(" "), "the event handler is unavailable (HTTP 401)");
      assertStringIncludes(ready.reasons.join(" "), "EVENT_HANDLER_AUTHORIZATION");
      const snap = await (await call("/status")).json();
      assertEquals([snap.handler.kind, snap.handler.status], ["unavailable", 401]);
      assertEquals(service.counters.deadLettered, 0);
      status = 200;
      await until(() => handler.events.some((e) => e.data.d?.probe), "held event delivered");
      assert(handler.events.length > before);
      await until(async () => (await call("/readyz")).status === 200, "ready again");
      assertEquals((await (await call("/status")).json()).handler, undefined);
    });
  },
});

Deno.test({
  name:
    "control API: POST /dead-letters/redeliver sends a rejected event again once the handler takes it",
  ...sanitizers,
  async fn() {
    await withApi(async ({ call, handler, service }) => {
      handler.behave = (e) => e.data.d?.bad ? { status: 422 } : undefined;
      service.queue.push({
        shardId: 1,
        totalShards: 2,
        s: 1_000_000,
        t: "MESSAGE_CREATE",
        receivedAt: Date.now(),
        raw: JSON.stringify({ op: 0, t: "MESSAGE_CREATE", s: 1_000_000, d: { bad: true } }),
      });
      await until(() => service.counters.deadLettered === 1, "dead-lettered");
      handler.behave = () => undefined;
      const res = await call("/dead-letters/redeliver", { method: "POST" });
      assertEquals(res.status, 200);
      assertEquals((await res.json()).delivered, 1);
      assert(handler.events.some((e) => e.shardId === 1 && e.data.d?.bad));
    });
  },
});
