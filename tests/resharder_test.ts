/**
 * Tests of the reshard state machine (src/reshard/resharder.ts) against a fake
 * {@linkcode ReshardHost}: no sockets, an injected clock, small poll and overlap times,
 * and every wait bounded by `until`. The fake shard set's progress and failure are set
 * by hand, and it records the calls the resharder makes, in order.
 * @module
 */
import { createLogger, type Logger, silentLogger } from "../src/log.ts";
import type { GatewayBotInfo } from "../src/rest/gateway_bot.ts";
import type { ReshardPolicy } from "../src/reshard/plan.ts";
import {
  createResharder,
  type PreparedSet,
  type Resharder,
  type ResharderOptions,
  type ReshardHost,
} from "../src/reshard/resharder.ts";
import { assert, assertEquals, assertStringIncludes } from "./helpers/assert.ts";
import { until } from "./helpers/wait.ts";

/** Bounded waits: a resharder step takes a few ms here. */
const WAIT_MS = 5000;

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
}

function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A clock the test moves by hand. */
function clock(start = 1_000_000) {
  let t = start;
  return {
    now: () => t,
    advance: (ms: number) => {
      t += ms;
    },
  };
}

/** A new shard set whose readiness and failure the test controls. */
interface FakeSet {
  total: number;
  ready: number;
  failure?: string;
  /** What settle() reports. */
  deduped: number;
  progressCalls: number;
  /** Ready count when overlap() was called. */
  readyAtOverlap?: number;
  set: PreparedSet;
}

interface FakeHostInit {
  totalShards?: number;
  guilds?: number;
  shards?: number;
  remaining?: number;
  maxConcurrency?: number;
  /** Every new set is READY at once. */
  autoReady?: boolean;
}

/** A fake service: the live set's numbers, `GET /gateway/bot`, and new sets. */
function fakeHost(init: FakeHostInit = {}) {
  const calls: string[] = [];
  const state = {
    totalShards: init.totalShards ?? 1,
    guilds: init.guilds ?? 100,
    info: {
      url: "wss://gateway.discord.gg",
      shards: init.shards ?? 8,
      sessionStartLimit: {
        total: 1000,
        remaining: init.remaining ?? 1000,
        resetAfter: 3_600_000,
        maxConcurrency: init.maxConcurrency ?? 1,
      },
    } as GatewayBotInfo,
    infoError: undefined as unknown,
    /** While set, fetchInfo() waits for it. */
    infoGate: undefined as Promise<void> | undefined,
    prepareError: undefined as Error | undefined,
    /** While set, promote() waits for it. */
    promoteGate: undefined as Promise<void> | undefined,
    promoteError: undefined as Error | undefined,
    abandonError: undefined as Error | undefined,
    autoReady: init.autoReady ?? false,
    currentCalls: 0,
    fetchInfoCalls: 0,
    sets: [] as FakeSet[],
    calls,
  };
  const host: ReshardHost = {
    current() {
      state.currentCalls++;
      return { totalShards: state.totalShards, guilds: state.guilds };
    },
    async fetchInfo() {
      state.fetchInfoCalls++;
      if (state.infoGate) await state.infoGate;
      if (state.infoError !== undefined) throw state.infoError;
      return structuredClone(state.info);
    },
    prepare(totalShards) {
      calls.push(`prepare ${totalShards}`);
      if (state.prepareError) throw state.prepareError;
      const fake: FakeSet = {
        total: totalShards,
        ready: state.autoReady ? totalShards : 0,
        deduped: 0,
        progressCalls: 0,
        set: {
          progress() {
            fake.progressCalls++;
            return { ready: fake.ready, total: fake.total };
          },
          failure: () => fake.failure,
          overlap() {
            calls.push("overlap");
            fake.readyAtOverlap = fake.ready;
          },
          async promote() {
            calls.push("promote");
            if (state.promoteGate) await state.promoteGate;
            if (state.promoteError) throw state.promoteError;
            // As the service does: the new set is the live one now.
            state.totalShards = fake.total;
          },
          settle() {
            calls.push("settle");
            return fake.deduped;
          },
          async abandon() {
            calls.push("abandon");
            await Promise.resolve();
            if (state.abandonError) throw state.abandonError;
          },
        },
      };
      state.sets.push(fake);
      return fake.set;
    },
  };
  return { host, state };
}

const POLICY: ReshardPolicy = { percentage: 80, largeBotSharding: "auto" };

function resharder(
  host: ReshardHost,
  over: Partial<ResharderOptions> = {},
): Resharder {
  return createResharder({
    host,
    logger: silentLogger,
    policy: POLICY,
    enabled: true,
    checkIntervalMs: 0,
    overlapMs: 1,
    pollMs: 1,
    readyTimeoutMs: () => 60_000,
    ...over,
  });
}

/** A logger that keeps its lines. */
function capturingLogger(): { logger: Logger; lines: { level: string; line: string }[] } {
  const lines: { level: string; line: string }[] = [];
  return {
    logger: createLogger({ level: "debug", write: (level, line) => lines.push({ level, line }) }),
    lines,
  };
}

Deno.test("createResharder() answers 409 and runs no check when resharding is off", async () => {
  const off = fakeHost({ guilds: 1_000_000 });
  const r = resharder(off.host, { enabled: false, checkIntervalMs: 1 });
  const answer = await r.request({ reason: "manual", totalShards: 8 });
  assertEquals(answer, { status: 409, reason: "resharding is off (RESHARDING=false)" });
  assertEquals(r.status(), { state: "idle", deduped: 0, completed: 0 });
  // A resharder that is on, with the same interval, checks several times meanwhile.
  const on = fakeHost({ guilds: 0 });
  const control = resharder(on.host, { checkIntervalMs: 1 });
  await until(() => on.state.currentCalls >= 5, "the control's checks", WAIT_MS);
  await control.close();
  assertEquals(off.state.currentCalls, 0, "no check ran");
  assertEquals(off.state.fetchInfoCalls, 0);
  assertEquals(off.state.calls, []);
  // Not closed on purpose: Deno's op sanitizer fails this test if an interval was left running.
});

Deno.test("createResharder() answers 409 naming the range when this process runs part of the shards", async () => {
  const { host, state } = fakeHost({ guilds: 1_000_000 });
  const r = resharder(host, { partialRange: "0-3 of 8", checkIntervalMs: 1 });
  const answer = await r.request({ reason: "manual", totalShards: 16 });
  assertEquals(answer.status, 409);
  assert(answer.status === 409);
  assertStringIncludes(answer.reason, "this process runs shards 0-3 of 8");
  assertStringIncludes(answer.reason, "coordinator");
  assertEquals((await r.request({ reason: "4011" })).status, 409);
  const on = fakeHost({ guilds: 0 });
  const control = resharder(on.host, { checkIntervalMs: 1 });
  await until(() => on.state.currentCalls >= 5, "the control's checks", WAIT_MS);
  await control.close();
  assertEquals(state.currentCalls, 0, "no automatic check with a partial range");
  assertEquals(state.fetchInfoCalls, 0);
  assertEquals(r.status().state, "idle");
  // Not closed on purpose: Deno's op sanitizer fails this test if an interval was left running.
});

Deno.test("createResharder() answers 202 with the plan, then prepares, switches and is done", async () => {
  const c = clock();
  const { host, state } = fakeHost({ totalShards: 2, guilds: 3000, shards: 4, remaining: 100 });
  const timeouts: number[] = [];
  const r = resharder(host, {
    now: c.now,
    readyTimeoutMs: (to) => {
      timeouts.push(to);
      return 60_000;
    },
  });
  const gate = deferred();
  state.promoteGate = gate.promise;

  const answer = await r.request({ reason: "manual" });
  assertEquals(answer, {
    status: 202,
    plan: {
      from: 2,
      to: 4,
      reason: "manual",
      guilds: 3000,
      sessionStarts: { needed: 4, reserve: 2, remaining: 100 },
    },
  });
  assertEquals(r.status(), {
    state: "preparing",
    from: 2,
    to: 4,
    reason: "manual",
    ready: 0,
    startedAt: 1_000_000,
    deduped: 0,
    completed: 0,
  });
  await until(() => state.sets.length === 1, "prepare()", WAIT_MS);
  assertEquals(timeouts, [4], "the ready timeout is asked for the new set's size");
  const set = state.sets[0];
  assertEquals(set.total, 4);

  for (const ready of [1, 2, 3]) {
    set.ready = ready;
    await until(() => r.status().ready === ready, `ready ${ready}`, WAIT_MS);
    assertEquals(r.status().state, "preparing");
  }
  assertEquals(state.calls, ["prepare 4"], "nothing switches before every shard is ready");

  c.advance(250);
  set.ready = 4;
  set.deduped = 17;
  await until(() => r.status().state === "switching", "switching", WAIT_MS);
  await until(() => state.calls.includes("promote"), "promote()", WAIT_MS);
  assertEquals(r.status().state, "switching", "still switching while promote() runs");
  assertEquals(r.status().ready, 4);
  assertEquals(set.readyAtOverlap, 4);

  c.advance(50);
  gate.resolve();
  await r.settled();
  assertEquals(state.calls, ["prepare 4", "overlap", "promote", "settle"]);
  assertEquals(r.status(), {
    state: "done",
    from: 2,
    to: 4,
    reason: "manual",
    ready: 4,
    startedAt: 1_000_000,
    finishedAt: 1_000_300,
    deduped: 17,
    completed: 1,
    error: undefined,
  });
});

Deno.test("createResharder() answers 409 to a second request while a reshard runs", async () => {
  const { host, state } = fakeHost({ totalShards: 1, shards: 8 });
  const r = resharder(host);
  assertEquals((await r.request({ reason: "manual" })).status, 202);
  const second = await r.request({ reason: "manual", totalShards: 16 });
  assertEquals(second, { status: 409, reason: "a reshard 1 -> 8 is running" });
  assertEquals((await r.request({ reason: "4011" })).status, 409);
  assertEquals(state.fetchInfoCalls, 1, "a refused request does not ask Discord");
  assertEquals(r.status().to, 8, "the running reshard is unchanged");
  await r.close();
});

Deno.test("createResharder() lets only one of two concurrent requests start a reshard", async () => {
  const { host, state } = fakeHost({ totalShards: 1, shards: 8 });
  const r = resharder(host);
  const gate = deferred();
  state.infoGate = gate.promise;
  const first = r.request({ reason: "manual" });
  const second = r.request({ reason: "manual", totalShards: 4 });
  await until(() => state.fetchInfoCalls === 2, "both asked Discord", WAIT_MS);
  gate.resolve();
  const answers = await Promise.all([first, second]);
  assertEquals(answers.map((a) => a.status), [202, 409]);
  assertEquals(state.calls.filter((c) => c.startsWith("prepare")), ["prepare 8"]);
  await r.close();
});

Deno.test("createResharder() passes the reason and a manual count on, and answers a bad count with 400", async () => {
  const { host, state } = fakeHost({ totalShards: 2, shards: 8, maxConcurrency: 2 });
  const r = resharder(host);
  const bad = await r.request({ reason: "manual", totalShards: 5 });
  assertEquals(bad.status, 400);
  assert(bad.status === 400);
  assertStringIncludes(bad.reason, "totalShards 5 is not a multiple of 2");
  assertEquals((await r.request({ reason: "manual", totalShards: 2 })).status, 400);
  assertEquals(r.status(), { state: "idle", deduped: 0, completed: 0 });
  assertEquals(state.calls, []);

  const ok = await r.request({ reason: "4011", totalShards: 6 });
  assert(ok.status === 202);
  assertEquals(ok.plan.to, 6);
  assertEquals(ok.plan.reason, "4011");
  assertEquals(r.status().reason, "4011");
  await r.close();
});

Deno.test("createResharder() answers 503 when GET /gateway/bot fails, and stays idle", async () => {
  const { host, state } = fakeHost();
  const r = resharder(host);
  state.infoError = new Error("connection refused");
  assertEquals(await r.request({ reason: "manual" }), {
    status: 503,
    reason: "GET /gateway/bot failed: connection refused",
  });
  state.infoError = "plain string";
  assertEquals(await r.request({ reason: "manual" }), {
    status: 503,
    reason: "GET /gateway/bot failed: plain string",
  });
  assertEquals(r.status(), { state: "idle", deduped: 0, completed: 0 });
  assertEquals(state.calls, []);
  // Discord answers again: the next request goes ahead.
  state.infoError = undefined;
  assertEquals((await r.request({ reason: "manual" })).status, 202);
  await r.close();
});

Deno.test("createResharder() answers 503 when session starts are short, and stays idle", async () => {
  const { host, state } = fakeHost({ totalShards: 4, shards: 8, remaining: 11 });
  const r = resharder(host);
  const answer = await r.request({ reason: "manual" });
  assertEquals(answer.status, 503);
  assert(answer.status === 503);
  assertStringIncludes(answer.reason, "session starts left (11) do not cover 8 new shards plus 4");
  assertEquals(r.status().state, "idle");
  assertEquals(state.calls, []);
});

Deno.test("createResharder() abandons the new set and fails with its reason when failure() is set while preparing", async () => {
  const c = clock();
  const { host, state } = fakeHost({ totalShards: 1, shards: 4 });
  const r = resharder(host, { now: c.now });
  assertEquals((await r.request({ reason: "capacity" })).status, 202);
  await until(() => state.sets.length === 1, "prepare()", WAIT_MS);
  const set = state.sets[0];
  set.ready = 2;
  await until(() => r.status().ready === 2, "ready 2", WAIT_MS);
  c.advance(1234);
  set.failure = "shard 3 closed with 4011 (sharding required)";
  await r.settled();
  assertEquals(state.calls, ["prepare 4", "abandon"]);
  assertEquals(r.status(), {
    state: "failed",
    from: 1,
    to: 4,
    reason: "capacity",
    ready: 2,
    startedAt: 1_000_000,
    finishedAt: 1_001_234,
    error: "shard 3 closed with 4011 (sharding required)",
    deduped: 0,
    completed: 0,
  });
  // The old set stays, and another reshard may start.
  assertEquals(state.totalShards, 1);
  assertEquals((await r.request({ reason: "manual" })).status, 202);
  await r.close();
});

Deno.test("createResharder() fails with the reason even when abandon() rejects", async () => {
  const { host, state } = fakeHost({ totalShards: 1, shards: 4 });
  state.abandonError = new Error("stop failed");
  const r = resharder(host);
  assertEquals((await r.request({ reason: "manual" })).status, 202);
  await until(() => state.sets.length === 1, "prepare()", WAIT_MS);
  state.sets[0].failure = "spawning the new shards failed: boom";
  await r.settled();
  assertEquals(state.calls, ["prepare 4", "abandon"]);
  assertEquals(r.status().state, "failed");
  assertEquals(r.status().error, "spawning the new shards failed: boom");
});

Deno.test("createResharder() fails without abandoning when prepare() throws", async () => {
  const { host, state } = fakeHost({ totalShards: 1, shards: 4 });
  state.prepareError = new Error("no sockets left");
  const r = resharder(host);
  assertEquals((await r.request({ reason: "manual" })).status, 202);
  await r.settled();
  assertEquals(state.calls, ["prepare 4"]);
  assertEquals(r.status().state, "failed");
  assertEquals(r.status().error, "could not start the new shard set: no sockets left");
});

Deno.test("createResharder() abandons the new set when it is not ready within readyTimeoutMs", async () => {
  const c = clock();
  const { host, state } = fakeHost({ totalShards: 2, shards: 8, guilds: 100 });
  const r = resharder(host, { now: c.now, readyTimeoutMs: (to) => to * 100 });
  assertEquals((await r.request({ reason: "manual" })).status, 202);
  await until(() => state.sets.length === 1, "prepare()", WAIT_MS);
  const set = state.sets[0];
  set.ready = 3;
  await until(() => set.progressCalls >= 5, "a few polls", WAIT_MS);
  c.advance(800); // exactly the deadline: not over it yet
  const polls = set.progressCalls;
  await until(() => set.progressCalls >= polls + 5, "more polls", WAIT_MS);
  assertEquals(r.status().state, "preparing");
  assertEquals(state.calls, ["prepare 8"]);
  c.advance(1);
  await r.settled();
  assertEquals(state.calls, ["prepare 8", "abandon"]);
  assertEquals(r.status().state, "failed");
  assertEquals(r.status().error, "the new shards were not ready in time (3/8)");
  assertEquals(r.status().finishedAt, 1_000_801);
  assertEquals(state.totalShards, 2, "the old set stays live");
});

Deno.test("createResharder() abandons a preparation when closed, and refuses requests afterwards", async () => {
  const c = clock();
  const { host, state } = fakeHost({ totalShards: 1, shards: 4 });
  const r = resharder(host, { now: c.now, pollMs: 60_000 });
  assertEquals((await r.request({ reason: "manual" })).status, 202);
  await until(() => state.sets.length === 1, "prepare()", WAIT_MS);
  await until(() => state.sets[0].progressCalls >= 1, "the first poll", WAIT_MS);
  c.advance(10);
  await r.close(); // the long poll sleep is cut short: close() does not wait 60 s
  assertEquals(state.calls, ["prepare 4", "abandon"], "abandoned once");
  const status = r.status();
  assertEquals(status.state, "failed");
  assertStringIncludes(status.error ?? "", "stopped during preparation");
  assertEquals(status.finishedAt, 1_000_010);
  await r.settled();
  assertEquals(
    await r.request({ reason: "manual" }),
    { status: 409, reason: "the service is stopping" },
  );
  await r.close(); // twice is fine
  assertEquals(state.calls, ["prepare 4", "abandon"]);
});

Deno.test("createResharder() adds up completed reshards and their deduped copies", async () => {
  const { host, state } = fakeHost({ totalShards: 1, shards: 2, autoReady: true });
  const r = resharder(host);
  const first = await r.request({ reason: "manual" });
  assert(first.status === 202);
  assertEquals([first.plan.from, first.plan.to], [1, 2]);
  await until(() => state.sets.length === 1, "prepare()", WAIT_MS);
  state.sets[0].deduped = 3;
  await r.settled();
  assertEquals(r.status().state, "done");
  assertEquals(state.totalShards, 2);

  // A failed one in between leaves the counts alone.
  state.infoError = new Error("down");
  assertEquals((await r.request({ reason: "manual" })).status, 503);
  state.infoError = undefined;

  const second = await r.request({ reason: "manual", totalShards: 5 });
  assert(second.status === 202);
  assertEquals([second.plan.from, second.plan.to], [2, 5]);
  assertEquals(r.status().completed, 1, "carried into the new run");
  assertEquals(r.status().deduped, 3, "carried into the new run");
  await until(() => state.sets.length === 2, "prepare()", WAIT_MS);
  state.sets[1].deduped = 4;
  await r.settled();
  const status = r.status();
  assertEquals(status.state, "done");
  assertEquals(status.completed, 2);
  assertEquals(status.deduped, 7);
  assertEquals([status.from, status.to], [2, 5]);
  assertEquals(state.calls, [
    "prepare 2",
    "overlap",
    "promote",
    "settle",
    "prepare 5",
    "overlap",
    "promote",
    "settle",
  ]);
});

Deno.test("createResharder() status() returns a copy", async () => {
  const { host } = fakeHost();
  const r = resharder(host);
  const s = r.status();
  s.state = "done";
  s.completed = 99;
  assertEquals(r.status(), { state: "idle", deduped: 0, completed: 0 });
  await r.settled(); // nothing running: resolves at once
});

Deno.test("createResharder() checks periodically and reshards only once guilds reach the percentage", async () => {
  // 2 shards at 80%: 4000 guilds reach it.
  const { host, state } = fakeHost({ totalShards: 2, guilds: 3999, shards: 1, autoReady: true });
  const r = resharder(host, { checkIntervalMs: 2 });
  try {
    await until(() => state.currentCalls >= 5, "a few checks", WAIT_MS);
    assertEquals(state.fetchInfoCalls, 0, "no reshard below the percentage");
    assertEquals(r.status().state, "idle");
    assertEquals(state.calls, []);

    state.guilds = 4000;
    await until(() => r.status().state === "done", "the automatic reshard", WAIT_MS);
    const status = r.status();
    assertEquals(status.reason, "capacity");
    assertEquals(status.from, 2);
    assertEquals(status.to, 3, "the recommendation (1) is not above 2 shards: the next count up");
    assertEquals(status.completed, 1);
    assertEquals(state.totalShards, 3);

    // 4000 guilds on 3 shards are below 80% (6000): no further reshard.
    const checks = state.currentCalls;
    await until(() => state.currentCalls >= checks + 5, "more checks", WAIT_MS);
    assertEquals(state.fetchInfoCalls, 1);
    assertEquals(state.calls, ["prepare 3", "overlap", "promote", "settle"]);
    assertEquals(r.status().completed, 1);
  } finally {
    await r.close();
  }
});

Deno.test("createResharder() does not start a second reshard from a check while one prepares", async () => {
  const { host, state } = fakeHost({ totalShards: 1, guilds: 5000, shards: 4 });
  const r = resharder(host, { checkIntervalMs: 2 });
  try {
    await until(() => state.sets.length === 1, "the automatic reshard", WAIT_MS);
    assertEquals(r.status().state, "preparing");
    const calls = state.fetchInfoCalls;
    // A check that finds a reshard running returns before asking anything, so time is the
    // only witness: 20 polls of >= 1 ms each span about ten 2 ms check intervals.
    await until(() => state.sets[0].progressCalls >= 20, "a while of preparing", WAIT_MS);
    assertEquals(state.fetchInfoCalls, calls, "no check asked Discord meanwhile");
    assertEquals(state.sets.length, 1);
    assertEquals(r.status().error, undefined);
  } finally {
    await r.close();
  }
});

Deno.test("createResharder() logs and records why a check cannot reshard, and retries at the next check", async () => {
  const { logger, lines } = capturingLogger();
  // 1 shard full at 80%, Discord recommends 4; 4 new + 1 reserve > 3 session starts left.
  const { host, state } = fakeHost({ totalShards: 1, guilds: 2000, shards: 4, remaining: 3 });
  const r = resharder(host, { checkIntervalMs: 2, logger });
  try {
    await until(() => state.fetchInfoCalls >= 3, "several checks ask Discord", WAIT_MS);
    const status = r.status();
    assertEquals(status.state, "idle");
    assertStringIncludes(
      status.error ?? "",
      "session starts left (3) do not cover 4 new shards plus 1 in reserve",
    );
    assertEquals(state.calls, []);
    const warned = lines.filter((l) => l.level === "warn" && l.line.includes("cannot reshard now"));
    assert(warned.length >= 1, "a warning says why");
    assertStringIncludes(warned[0].line, "session starts left (3)");
    assertStringIncludes(warned[0].line, "component=reshard");

    // Discord resets the session starts: the next check goes ahead.
    state.info.sessionStartLimit.remaining = 1000;
    await until(() => state.sets.length === 1, "the retried reshard", WAIT_MS);
    const started = r.status();
    assertEquals(started.state, "preparing");
    assertEquals(started.reason, "capacity");
    assertEquals(started.to, 4);
    assertEquals(started.error, undefined, "the old reason is cleared");
  } finally {
    await r.close();
  }
});

Deno.test("createResharder() records a failed GET /gateway/bot at a check and retries", async () => {
  const { host, state } = fakeHost({ totalShards: 1, guilds: 2500, shards: 2 });
  state.infoError = new Error("REST proxy unreachable");
  const r = resharder(host, { checkIntervalMs: 2, policy: { ...POLICY, sessionReserve: 0 } });
  try {
    await until(() => state.fetchInfoCalls >= 3, "several checks", WAIT_MS);
    assertEquals(r.status().error, "GET /gateway/bot failed: REST proxy unreachable");
    assertEquals(r.status().state, "idle");
    state.infoError = undefined;
    await until(() => state.sets.length === 1, "the retried reshard", WAIT_MS);
    assertEquals(r.status().to, 2);
  } finally {
    await r.close();
  }
});

Deno.test("createResharder() stops checking once closed", async () => {
  const { host, state } = fakeHost({ totalShards: 1, guilds: 0 });
  const r = resharder(host, { checkIntervalMs: 1 });
  await until(() => state.currentCalls >= 2, "a check", WAIT_MS);
  await r.close();
  // The op sanitizer fails this test if close() left the interval running.
  assertEquals(r.status().state, "idle");
});

// --- Failures in the switch itself.

Deno.test({
  // An unguarded promote() would leave a rejection nobody handles (fatal in Deno).
  name: "createResharder() fails the reshard when promote() rejects",
  async fn() {
    const { host, state } = fakeHost({ totalShards: 1, shards: 2, autoReady: true });
    state.promoteError = new Error("closing the old set failed");
    const r = resharder(host);
    assertEquals((await r.request({ reason: "manual" })).status, 202);
    await until(() => r.status().state !== "switching", "the end of the reshard", WAIT_MS);
    await r.settled(); // resolves: the failure is in the status, not thrown
    assertEquals(r.status().state, "failed");
    assertStringIncludes(r.status().error ?? "", "closing the old set failed");
  },
});

Deno.test({
  name: "createResharder() ends in a final state when closed during the overlap",
  async fn() {
    const { host, state } = fakeHost({ totalShards: 1, shards: 2, autoReady: true });
    const r = resharder(host, { overlapMs: 60_000 });
    assertEquals((await r.request({ reason: "manual" })).status, 202);
    await until(() => state.calls.includes("overlap"), "the overlap", WAIT_MS);
    await r.close();
    assert(r.status().state !== "switching", `state after close(): ${r.status().state}`);
    assert(
      state.calls.includes("abandon") || state.calls.includes("promote"),
      `calls: ${state.calls.join(", ")}`,
    );
  },
});
