/**
 * The control API's handler without a socket or a gateway, in Hono's style:
 * `handler(new Request(...))` against a fake {@linkcode ControlSource} that
 * records what reaches it. The end-to-end tests are in control_test.ts.
 */
import { assert, assertEquals, assertStringIncludes } from "./helpers/assert.ts";
import { createControlHandler } from "../src/control/server.ts";
import { HttpError } from "../src/control/http.ts";
import type { ControlSource } from "../src/control/source.ts";
import type {
  GatewayPayload,
  ShardRange,
  ShardStatus,
  StatusSnapshot,
} from "../src/control/wire.ts";
import { createCounters } from "../src/counters.ts";
import type { GatewayStats } from "../src/service.ts";

const SECRET = "gateway-secret";
/** A guild of shard 1 of 4: (id >> 22) % 4 === 1. */
const GUILD = String(((1n << 40n) + 1n) << 22n);

function shard(id: number, state: ShardStatus["state"] = "connected"): ShardStatus {
  return {
    id,
    totalShards: 4,
    state,
    latencyMs: 42,
    guilds: 10,
    unavailable: 0,
    loading: 0,
    sessionId: `s${id}`,
    lastEventAt: 1000,
    eventsPerSecond: 1.5,
    queue: { memory: 2, disk: 0 },
  };
}

/** A fake source: shards 0-3 of 4 (or none before start), recording commands and restarts. */
function fakeSource(options: {
  started?: boolean;
  alive?: boolean;
  fail?: (shardId: number, payload: GatewayPayload) => Error | undefined;
  extra?: Partial<ControlSource>;
} = {}) {
  const { started = true, alive = true } = options;
  const sent: { shardId: number; payload: GatewayPayload }[] = [];
  const restarted: number[] = [];
  const range: ShardRange | undefined = started ? { first: 0, last: 3, total: 4 } : undefined;
  const stats: GatewayStats = {
    range,
    identifies: 4,
    resumes: 0,
    closesByCode: new Map(),
    downSince: new Map(),
  };
  const source: ControlSource = {
    alive: () => alive,
    readiness: () =>
      started ? { ready: true, reasons: [] } : { ready: false, reasons: ["not started"] },
    range: () => range,
    shards: () => started ? [0, 1, 2, 3].map((id) => shard(id)) : [],
    shardForGuild: (guildId) =>
      range ? Number((BigInt(guildId) >> 22n) % BigInt(range.total)) : undefined,
    send(shardId, payload) {
      const error = options.fail?.(shardId, payload);
      if (error) return Promise.reject(error);
      sent.push({ shardId, payload });
      return Promise.resolve();
    },
    restart(shardId) {
      restarted.push(shardId);
      return Promise.resolve();
    },
    counters: createCounters,
    stats: () => stats,
    backlogAgeMs: () => 1234,
    cacheSizes: () => ({ guilds: 40, editedMessages: 0 }),
    history: () => [{ at: 5000, eventsPerSecond: 6, queueDepth: 8 }],
    close() {},
    ...options.extra,
  };
  return { source, sent, restarted };
}

/** The handler over `source`, and a request helper that adds the secret unless told not to. */
function api(source: ControlSource, statusPage?: boolean) {
  const handle = createControlHandler(source, { authorization: SECRET, statusPage });
  return (path: string, init: RequestInit & { secret?: string | null; json?: unknown } = {}) => {
    const { secret = SECRET, json, ...rest } = init;
    const headers = new Headers(rest.headers);
    if (secret !== null) headers.set("authorization", secret);
    return handle(
      new Request(`http://gateway${path}`, {
        ...rest,
        headers,
        body: json === undefined ? rest.body : JSON.stringify(json),
      }),
    );
  };
}

/** Status and the `error` reason of an answer. */
async function refusal(res: Response): Promise<[number, string]> {
  return [res.status, (await res.json()).error];
}

Deno.test("createControlHandler() answers /healthz and /readyz without the secret", async () => {
  const call = api(fakeSource().source);
  const health = await call("/healthz", { secret: null });
  assertEquals([health.status, await health.json()], [200, { status: "ok" }]);
  const ready = await call("/readyz", { secret: null });
  assertEquals([ready.status, await ready.json()], [200, { ready: true, reasons: [] }]);

  const stopping = api(fakeSource({ started: false, alive: false }).source);
  const down = await stopping("/healthz", { secret: null });
  assertEquals([down.status, await down.json()], [503, { status: "stopping" }]);
  const notReady = await stopping("/readyz", { secret: null });
  assertEquals([notReady.status, await notReady.json()], [503, {
    ready: false,
    reasons: ["not started"],
  }]);
  const metrics = await call("/metrics", { secret: null });
  assertEquals(metrics.status, 200);
  assertStringIncludes(metrics.headers.get("content-type")!, "text/plain");
  await metrics.body?.cancel();
});

Deno.test("createControlHandler() refuses every other route without the right secret", async () => {
  const { source, sent, restarted } = fakeSource();
  const call = api(source);
  const routes: [string, string][] = [
    ["GET", "/status"],
    ["GET", "/shards"],
    ["GET", `/guilds/${GUILD}/shard`],
    ["POST", "/shards/presence"],
    ["POST", `/guilds/${GUILD}/members`],
    ["POST", `/guilds/${GUILD}/voice`],
    ["POST", "/shards/1/payload"],
    ["POST", "/shards/1/restart"],
    ["GET", "/reshard"],
    ["POST", "/reshard"],
    ["POST", "/dead-letters/redeliver"],
  ];
  for (const [method, path] of routes) {
    for (const secret of [null, "wrong", SECRET.slice(0, -1), SECRET + "x"]) {
      const [status, error] = await refusal(
        await call(path, { method, secret, json: method === "POST" ? {} : undefined }),
      );
      assertEquals(status, 401, `${method} ${path} with ${secret}`);
      assertStringIncludes(error, "GATEWAY_AUTHORIZATION");
    }
  }
  assertEquals([sent, restarted], [[], []]);
});

Deno.test("createControlHandler() says why for unknown routes, wrong methods and bad bodies", async () => {
  const { source, sent } = fakeSource();
  const call = api(source);
  assertEquals(await refusal(await call("/nothing")), [404, "no route for GET /nothing"]);
  const wrong = await call("/shards/presence");
  assertEquals(wrong.headers.get("allow"), "POST");
  assertEquals(await refusal(wrong), [405, "use POST for /shards/presence"]);
  const head = await call("/shards", { method: "HEAD" });
  assertEquals(head.status, 200, "HEAD is answered by GET");
  await head.body?.cancel();

  const post = (path: string, body: string) => call(path, { method: "POST", body });
  let [status, error] = await refusal(await post("/shards/presence", "{nope"));
  assertEquals(status, 400);
  assertStringIncludes(error, "not valid JSON");
  assertEquals(await refusal(await post("/shards/presence", "[1]")), [
    400,
    "body must be a JSON object",
  ]);
  [status, error] = await refusal(
    await post("/shards/presence", JSON.stringify({ pad: "x".repeat(70_000) })),
  );
  assertEquals([status, error], [413, "body over 65536 bytes"]);
  [status, error] = await refusal(await call("/guilds/abc/shard"));
  assertEquals(status, 400);
  assertStringIncludes(error, "not a guild id");
  [status, error] = await refusal(await post("/shards/x/restart", ""));
  assertEquals([status, error], [400, `"x" is not a shard id`]);
  assertEquals(sent, []);
});

Deno.test("createControlHandler() serves the status page without data or secret, unless told not to", async () => {
  const page = await api(fakeSource().source)("/", { secret: null });
  assertEquals(page.status, 200);
  assertEquals(page.headers.get("content-type"), "text/html; charset=utf-8");
  assertStringIncludes(page.headers.get("content-security-policy")!, "default-src 'self'");
  assertEquals(page.headers.get("x-frame-options"), "DENY");
  const html = await page.text();
  assert(html.startsWith("<!doctype html>"));
  assert(!html.includes(SECRET) && !html.includes("s0"), "no secret and no data in the page");
  const off = await api(fakeSource().source, false)("/", { secret: null });
  assertEquals(off.status, 404);
  await off.body?.cancel();
});

Deno.test("createControlHandler() answers /status, /shards and a guild's shard from the source", async () => {
  const call = api(fakeSource().source);
  const snap = (await (await call("/status")).json()) as StatusSnapshot;
  assertEquals(snap.range, { first: 0, last: 3, total: 4 });
  assertEquals(snap.shards.map((s) => s.id), [0, 1, 2, 3]);
  assertEquals(snap.totals.backlogAgeMs, 1234);
  assertEquals(snap.history, [{ at: 5000, eventsPerSecond: 6, queueDepth: 8 }]);
  assert(typeof snap.generatedAt === "number");
  assertEquals((await (await call("/shards")).json()).shards[1], shard(1));
  assertEquals(await (await call(`/guilds/${GUILD}/shard`)).json(), {
    guildId: GUILD,
    shardId: 1,
    latencyMs: 42,
    inThisProcess: true,
  });

  const before = api(fakeSource({ started: false }).source);
  const early = (await (await before("/status")).json()) as StatusSnapshot;
  assertEquals([early.range, early.shards], [{ first: 0, last: -1, total: 0 }, []]);
  assertEquals(await (await before("/shards")).json(), { range: null, shards: [] });
  const guild = await before(`/guilds/${GUILD}/shard`);
  assertEquals(guild.headers.get("retry-after"), "1");
  assertEquals(await refusal(guild), [503, "the gateway has not started yet"]);
});

Deno.test("createControlHandler() forwards presence to every shard, or one, and reports failures", async () => {
  const { source, sent } = fakeSource({
    fail: (id) =>
      id === 2 ? new HttpError(503, "shard 2 is resuming; try again shortly") : undefined,
  });
  const call = api(source);
  const all = await call("/shards/presence", {
    method: "POST",
    json: { status: "dnd", activities: [{ name: "tests", type: 0 }], since: 7 },
  });
  assertEquals(all.status, 207);
  assertEquals(await all.json(), {
    updated: 3,
    failed: [{ shardId: 2, error: "shard 2 is resuming; try again shortly" }],
  });
  assertEquals(sent.map((s) => s.shardId), [0, 1, 3]);
  assertEquals(sent[0].payload, {
    op: 3,
    d: { since: 7, activities: [{ name: "tests", type: 0 }], status: "dnd", afk: false },
  });

  const one = await call("/shards/presence", {
    method: "POST",
    json: { status: "idle", shardId: 3 },
  });
  assertEquals([one.status, await one.json()], [200, { updated: 1, failed: [] }]);
  assertEquals(sent.at(-1), {
    shardId: 3,
    payload: { op: 3, d: { since: null, activities: [], status: "idle", afk: false } },
  });
  // One shard asked for and refused: that shard's answer, Retry-After included.
  const refused = await call("/shards/presence", {
    method: "POST",
    json: { status: "idle", shardId: 2 },
  });
  assertEquals(refused.headers.get("retry-after"), null, "the fake's error had no header");
  assertEquals(await refusal(refused), [503, "shard 2 is resuming; try again shortly"]);

  const bad = (json: unknown) => call("/shards/presence", { method: "POST", json });
  assertStringIncludes((await refusal(await bad({ status: "sleepy" })))[1], '"status" must be');
  assertStringIncludes(
    (await refusal(await bad({ status: "online", activities: {} })))[1],
    '"activities" must be an array',
  );
  assertStringIncludes(
    (await refusal(await bad({ status: "online", activities: [{ name: 1 }] })))[1],
    'each activity needs a string "name"',
  );
  assertEquals(await refusal(await bad({ status: "online", shardId: 1.5 })), [
    400,
    `"shardId" must be an integer`,
  ]);
  assertEquals(sent.length, 4);
});

Deno.test("createControlHandler() sends member requests (op 8) and voice states (op 4) to the guild's shard", async () => {
  const { source, sent } = fakeSource();
  const call = api(source);
  const post = (path: string, json: unknown) => call(path, { method: "POST", json });
  const members = await post(`/guilds/${GUILD}/members`, { query: "a", limit: 5, nonce: "n1" });
  assertEquals([members.status, await members.json()], [202, { shardId: 1, nonce: "n1" }]);
  assertEquals(sent.at(-1), {
    shardId: 1,
    payload: { op: 8, d: { guild_id: GUILD, limit: 5, nonce: "n1", presences: false, query: "a" } },
  });
  const byId = await post(`/guilds/${GUILD}/members`, { user_ids: [GUILD], presences: true });
  const { nonce } = await byId.json();
  assert(typeof nonce === "string" && nonce.length === 32, "a nonce is made up");
  assertEquals((sent.at(-1)!.payload.d as { user_ids: string[] }).user_ids, [GUILD]);
  for (
    const [body, reason] of [
      [{}, `give "query"`],
      [{ userIds: ["1"] }, `"userIds" must be up to 100 snowflakes`],
      [{ query: 1 }, `"query" must be a string`],
      [{ query: "", limit: 101 }, `"limit" must be an integer from 0 to 100`],
      [{ query: "", nonce: "x".repeat(33) }, `"nonce" must be a string of at most 32`],
    ] as const
  ) {
    const [status, error] = await refusal(await post(`/guilds/${GUILD}/members`, body));
    assertEquals(status, 400);
    assertStringIncludes(error, reason);
  }

  const voice = await post(`/guilds/${GUILD}/voice`, { channelId: GUILD, selfDeaf: true });
  assertEquals([voice.status, await voice.json()], [202, { shardId: 1 }]);
  assertEquals(sent.at(-1)!.payload, {
    op: 4,
    d: { guild_id: GUILD, channel_id: GUILD, self_mute: false, self_deaf: true },
  });
  await (await post(`/guilds/${GUILD}/voice`, { channel_id: null })).body?.cancel();
  assertEquals((sent.at(-1)!.payload.d as { channel_id: null }).channel_id, null, "leave");
  const [status, error] = await refusal(await post(`/guilds/${GUILD}/voice`, { channelId: "x" }));
  assertEquals(status, 400);
  assertStringIncludes(error, `"channelId" must be a channel snowflake`);
  assertEquals(sent.length, 4);
});

Deno.test("createControlHandler() passes a payload on, except what the proxy manages or Discord would refuse", async () => {
  const { source, sent, restarted } = fakeSource({
    fail: (id) => id === 9 ? new HttpError(404, "shard 9 is not run by this process") : undefined,
  });
  const call = api(source);
  const payload = (id: number | string, json: unknown) =>
    call(`/shards/${id}/payload`, { method: "POST", json });
  const ok = await payload(2, { op: 14, d: { guild_id: GUILD } });
  assertEquals([ok.status, await ok.json()], [202, { shardId: 2 }]);
  assertEquals(sent, [{ shardId: 2, payload: { op: 14, d: { guild_id: GUILD } } }]);
  for (const [op, name] of [[1, "heartbeat"], [2, "identify"], [6, "resume"]] as const) {
    assertEquals(await refusal(await payload(2, { op, d: null })), [
      400,
      `op ${op} (${name}) is managed by the proxy and cannot be sent`,
    ]);
  }
  assertEquals(await refusal(await payload(2, { op: "3", d: null })), [
    400,
    `"op" must be an integer gateway opcode`,
  ]);
  assertEquals(await refusal(await payload(2, { op: 3 })), [
    400,
    `"d" is required (use null for none)`,
  ]);
  const [status, error] = await refusal(await payload(2, { op: 3, d: "x".repeat(5000) }));
  assertEquals(status, 413);
  assertStringIncludes(error, "Discord closes the connection above 4096");
  assertEquals(await refusal(await payload(9, { op: 3, d: null })), [
    404,
    "shard 9 is not run by this process",
  ]);
  assertEquals(await refusal(await payload(-1, { op: 3, d: null })), [
    400,
    `"-1" is not a shard id`,
  ]);
  assertEquals(sent.length, 1);

  const restart = await call("/shards/3/restart", { method: "POST" });
  assertEquals([restart.status, await restart.json()], [202, { shardId: 3, restarting: true }]);
  assertEquals(restarted, [3]);
});

Deno.test("createControlHandler() answers 500 with the reason when the source fails unexpectedly", async () => {
  const call = api(fakeSource({ fail: () => new Error("socket gone") }).source);
  const res = await call("/shards/1/payload", { method: "POST", json: { op: 3, d: null } });
  assertEquals(await refusal(res), [500, "internal error: socket gone"]);
});

Deno.test("createControlHandler() checks a reshard request and passes on the plan or the refusal", async () => {
  const asked: { totalShards?: number }[] = [];
  const call = api(
    fakeSource({
      extra: {
        reshardStatus: () => ({ state: "idle", deduped: 0, completed: 0 }),
        reshard(request) {
          asked.push(request);
          return Promise.resolve(
            request.totalShards === 3 ? { status: 409 as const, reason: "a reshard is running" } : {
              status: 202 as const,
              plan: { from: 4, to: request.totalShards ?? 8 } as never,
            },
          );
        },
      },
    }).source,
  );
  assertEquals(await (await call("/reshard")).json(), { state: "idle", deduped: 0, completed: 0 });
  const planned = await call("/reshard", { method: "POST", json: { totalShards: 16 } });
  assertEquals([planned.status, await planned.json()], [202, { from: 4, to: 16 }]);
  const auto = await call("/reshard", { method: "POST" });
  assertEquals([auto.status, await auto.json()], [202, { from: 4, to: 8 }]);
  assertEquals(
    await refusal(await call("/reshard", { method: "POST", json: { totalShards: 3 } })),
    [409, "a reshard is running"],
  );
  const [status, error] = await refusal(
    await call("/reshard", { method: "POST", json: { shards: 3 } }),
  );
  assertEquals(status, 400);
  assertStringIncludes(error, "unknown field(s) shards");
  assertEquals(
    await refusal(await call("/reshard", { method: "POST", json: { totalShards: 0 } })),
    [400, "totalShards must be a positive integer, got 0"],
  );
  assertEquals(asked, [{ totalShards: 16 }, { totalShards: undefined }, { totalShards: 3 }]);

  const none = api(fakeSource().source);
  assertEquals(await refusal(await none("/reshard")), [
    501,
    "resharding is not available in this process",
  ]);
  assertEquals(await refusal(await none("/reshard", { method: "POST" })), [
    501,
    "resharding is not available in this process",
  ]);
});
