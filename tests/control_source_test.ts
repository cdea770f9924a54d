/**
 * The control source over fake inputs ({@linkcode ControlInputs}), with no
 * service, gateway or socket: what it refuses before start, the checks before
 * a command reaches a shard, the command budget on an injected clock, commands
 * for a shard another process of a cluster holds, the shard list and readiness.
 */
import { assert, assertEquals, assertStringIncludes } from "./helpers/assert.ts";
import { createControlHandler } from "../src/control/server.ts";
import { HttpError } from "../src/control/http.ts";
import type { ClusterInputs, ControlInputs } from "../src/control/inputs.ts";
import { type ControlSource, createControlSourceFrom } from "../src/control/source.ts";
import type { GatewayPayload } from "../src/control/wire.ts";
import { createCounters } from "../src/counters.ts";
import { type ShardReport, ShardUnavailableError } from "../src/gateway/group.ts";
import type { ShardGuildFacts } from "../src/shaping/guilds.ts";
import type { WorkerInfo } from "../src/workers/worker_set.ts";
import type { ClusterShard } from "../src/cluster/cluster.ts";
import {
  type LocalCommandHandler,
  RemoteCommandError,
  type ShardCommand,
} from "../src/cluster/commands.ts";
import type { GatewayStats } from "../src/service.ts";

/** A clock the test moves. */
function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => t += ms };
}

function report(shardId: number, patch: Partial<ShardReport> = {}): ShardReport {
  return {
    shardId,
    totalShards: 4,
    state: "connected",
    latencyMs: 40,
    sessionId: `s${shardId}`,
    commandLimit: 94,
    ...patch,
  };
}

/** Inputs that answer what the test set, recording sends and restarts. */
function fakeInputs() {
  const stats: GatewayStats = {
    identifies: 0,
    resumes: 0,
    closesByCode: new Map(),
    downSince: new Map(),
  };
  const state = {
    stats,
    reports: [] as ShardReport[],
    facts: new Map<number, ShardGuildFacts>(),
    workers: [] as WorkerInfo[],
    handler: undefined as ReturnType<ControlInputs["handlerProblem"]>,
    sendError: undefined as Error | undefined,
    sent: [] as { shardId: number; payload: GatewayPayload }[],
    restarted: [] as number[],
  };
  const inputs: ControlInputs = {
    stats: () => state.stats,
    counters: createCounters,
    shardReports: () => state.reports,
    guildFacts: () => state.facts,
    cacheSizes: () => ({ guilds: 0, editedMessages: 0 }),
    queueDepth: (shardId) => shardId === 1 ? { memory: 5, disk: 2 } : { memory: 0, disk: 0 },
    backlogAgeMs: () => 0,
    handlerProblem: () => state.handler,
    workers: () => state.workers,
    send(shardId, payload) {
      if (state.sendError) return Promise.reject(state.sendError);
      state.sent.push({ shardId, payload });
      return Promise.resolve();
    },
    restart(shardId) {
      state.restarted.push(shardId);
      return Promise.resolve();
    },
  };
  return { inputs, state };
}

/** Starts the fake: shards `first..last` of `total`, all connected in this process. */
function start(state: ReturnType<typeof fakeInputs>["state"], first = 0, last = 3, total = 4) {
  state.stats.range = { first, last, total };
  state.reports = [];
  for (let id = first; id <= last; id++) state.reports.push(report(id, { totalShards: total }));
}

/** Runs `fn` with a source over `inputs`, closing it after. */
async function withSource(
  inputs: ControlInputs,
  fn: (source: ControlSource) => Promise<void> | void,
  options: { now?: () => number; readyGraceMs?: number } = {},
) {
  const source = createControlSourceFrom(inputs, { alive: () => true, ...options });
  try {
    await fn(source);
  } finally {
    source.close();
  }
}

/** What `promise` was refused with, as an HTTP answer. */
async function refusal(promise: Promise<unknown>): Promise<[number, string, string | undefined]> {
  try {
    await promise;
  } catch (error) {
    assert(error instanceof HttpError, `an HttpError, not ${error}`);
    return [error.status, error.message, error.headers["retry-after"]];
  }
  throw new Error("expected a refusal");
}

const op3: GatewayPayload = { op: 3, d: { status: "online" } };

Deno.test("createControlSourceFrom() before start: no shards, not ready, commands 503 with Retry-After", async () => {
  const { inputs, state } = fakeInputs();
  await withSource(inputs, async (source) => {
    assertEquals([source.range(), source.shards()], [undefined, []]);
    assertEquals(source.shardForGuild("81384788765712384"), undefined);
    const r = source.readiness();
    assertEquals(r.ready, false);
    assertStringIncludes(r.reasons.join(), "the gateway has not started yet");
    assertEquals(await refusal(source.send(0, op3)), [
      503,
      "the gateway has not started yet",
      "1",
    ]);
    assertEquals(await refusal(source.restart(0)), [503, "the gateway has not started yet", "1"]);
    // Through the handler: the same answer, no socket needed.
    const handle = createControlHandler(source, { authorization: "k" });
    const res = await handle(
      new Request("http://x/shards/0/restart", { method: "POST", headers: { authorization: "k" } }),
    );
    assertEquals([res.status, res.headers.get("retry-after")], [503, "1"]);
    assertEquals(await res.json(), { error: "the gateway has not started yet" });
    assertEquals([state.sent, state.restarted], [[], []]);
  });
});

Deno.test("createControlSourceFrom() sends only to a connected shard of its range", async () => {
  const { inputs, state } = fakeInputs();
  start(state, 4, 7, 8);
  state.reports[1] = report(5, { state: "identifying", sessionId: null });
  state.reports[2] = report(6, { state: "resuming" });
  await withSource(inputs, async (source) => {
    assertEquals(source.shardForGuild(String(3n << 22n)), 3);
    const [status, error] = await refusal(source.send(2, op3));
    assertEquals(status, 404);
    assertEquals(error, "shard 2 is not run by this process (it runs 4-7 of 8)");
    assertEquals(await refusal(source.send(5, op3)), [503, "shard 5 has not connected yet", "1"]);
    assertEquals(await refusal(source.send(6, op3)), [
      503,
      "shard 6 is resuming; try again shortly",
      "1",
    ]);
    await source.send(4, op3);
    await source.restart(6);
    assertEquals(state.sent, [{ shardId: 4, payload: op3 }]);
    assertEquals(state.restarted, [6]);
    assertEquals(await refusal(source.restart(5)), [503, "shard 5 has not connected yet", "1"]);

    // The shard group's refusals, as the answers they mean.
    state.sendError = new ShardUnavailableError(4, "not-owned", "shard 4 moved");
    assertEquals(await refusal(source.send(4, op3)), [404, "shard 4 moved", undefined]);
    state.sendError = new ShardUnavailableError(4, "not-connected", "shard 4 reconnects");
    assertEquals(await refusal(source.send(4, op3)), [503, "shard 4 reconnects", "1"]);
  });
});

Deno.test("createControlSourceFrom() answers 429 once a shard's command budget is spent, until the window moves", async () => {
  const { inputs, state } = fakeInputs();
  start(state);
  state.reports[0] = report(0, { commandLimit: 3 });
  const time = clock();
  await withSource(inputs, async (source) => {
    for (let i = 0; i < 3; i++) {
      await source.send(0, op3);
      time.advance(10_000);
    }
    const [status, error, retryAfter] = await refusal(source.send(0, op3));
    assertEquals(status, 429);
    assertStringIncludes(error, "shard 0 used its 3 commands for this minute");
    assertEquals(retryAfter, "30", "the first command leaves the window in 30 s");
    await source.send(1, op3); // another shard has its own budget
    time.advance(30_000);
    await source.send(0, op3);
    assertEquals(state.sent.length, 5);
  }, { now: time.now });
});

/** A fake cluster: shards 0-1 here, 2-3 on "host-b", forwarding recorded or refused. */
function fakeCluster(now: () => number) {
  const forwarded: { shardId: number; total: number; command: ShardCommand }[] = [];
  let handler: LocalCommandHandler | undefined;
  let refuse: RemoteCommandError | undefined;
  let problem: string | undefined;
  const view = new Map<number, ClusterShard>([
    [2, {
      id: 2,
      totalShards: 4,
      member: "host-b",
      state: "connected",
      latencyMs: 50,
      guilds: 12,
      loading: 0,
      leaseAgeMs: 1000,
      reportedAt: now() - 500,
    }],
  ]);
  const cluster: ClusterInputs = {
    memberId: "host-a",
    runsHere: (id) => id <= 1,
    view: () => view,
    leaseAges: () => new Map([[0, 700], [1, 800]]),
    problem: () => problem,
    forward(shardId, total, command) {
      if (refuse) return Promise.reject(refuse);
      forwarded.push({ shardId, total, command });
      return Promise.resolve();
    },
    handleCommands: (h) => handler = h,
  };
  return {
    cluster,
    forwarded,
    fromOthers: (shardId: number, command: ShardCommand) => handler!(shardId, command),
    refuseWith: (error: RemoteCommandError) => refuse = error,
    failRedis: (text: string) => problem = text,
  };
}

Deno.test("createControlSourceFrom() in a cluster: commands for another process's shard go there, refusals come back", async () => {
  const { inputs, state } = fakeInputs();
  start(state, 0, 3, 4);
  state.reports = [report(0), report(1)];
  const time = clock();
  const c = fakeCluster(time.now);
  inputs.cluster = c.cluster;
  await withSource(inputs, async (source) => {
    await source.send(2, op3);
    await source.restart(3);
    await source.send(0, op3);
    assertEquals(c.forwarded, [
      { shardId: 2, total: 4, command: { kind: "send", payload: op3 } },
      { shardId: 3, total: 4, command: { kind: "restart" } },
    ]);
    assertEquals(state.sent, [{ shardId: 0, payload: op3 }]);
    c.refuseWith(new RemoteCommandError(429, "shard 2 used its 94 commands", "12"));
    assertEquals(await refusal(source.send(2, op3)), [429, "shard 2 used its 94 commands", "12"]);

    // Another process passes a command on for shard 1: the same checks run here.
    await c.fromOthers(1, { kind: "send", payload: op3 });
    assertEquals(state.sent.at(-1), { shardId: 1, payload: op3 });
    state.reports[1] = report(1, { state: "disconnected" });
    assertEquals(await refusal(c.fromOthers(1, { kind: "send", payload: op3 })), [
      503,
      "shard 1 is disconnected; try again shortly",
      "1",
    ]);
  }, { now: time.now });
});

Deno.test("createControlSourceFrom() lists this process's shards with their facts, and the cluster's as last reported", async () => {
  const { inputs, state } = fakeInputs();
  start(state, 0, 3, 4);
  state.reports = [report(0), report(1, { latencyMs: null, state: "resuming" })];
  state.facts.set(1, { guilds: 30, unavailable: 2, loading: 3, loaded: false, lastEventAt: 77 });
  const time = clock();
  inputs.cluster = fakeCluster(time.now).cluster;
  await withSource(inputs, (source) => {
    const shards = source.shards();
    assertEquals(shards.map((s) => [s.id, s.state, s.member]), [
      [0, "connected", "host-a"],
      [1, "resuming", "host-a"],
      [2, "connected", "host-b"],
      [3, "offline", undefined],
    ]);
    assertEquals(shards[1], {
      id: 1,
      totalShards: 4,
      state: "resuming",
      latencyMs: null,
      guilds: 30,
      unavailable: 2,
      loading: 3,
      sessionId: "s1",
      lastEventAt: 77,
      eventsPerSecond: 0,
      queue: { memory: 5, disk: 2 },
      member: "host-a",
      leaseAgeMs: 800,
    });
    // Another process's shard: its report, aged by the time since it reported.
    assertEquals([shards[2].guilds, shards[2].latencyMs, shards[2].leaseAgeMs], [12, 50, 1500]);
    assertEquals([shards[3].leaseAgeMs, shards[3].sessionId], [undefined, null]);
  }, { now: time.now });
});

Deno.test("createControlSourceFrom() is ready only without down shards past the grace period, restarting workers, Redis trouble or an unavailable handler", async () => {
  const { inputs, state } = fakeInputs();
  start(state);
  const time = clock();
  const c = fakeCluster(time.now);
  inputs.cluster = c.cluster;
  state.reports = [report(0), report(1), report(2), report(3)];
  await withSource(inputs, (source) => {
    assertEquals(source.readiness(), { ready: true, reasons: [] });
    state.reports[2] = report(2, { state: "resuming" });
    state.stats.downSince.set(2, time.now());
    time.advance(5_000);
    assertEquals(source.readiness().ready, true, "a resume within the grace period");
    time.advance(10_000);
    assertEquals(source.readiness().reasons, ["shard 2 is resuming for 15 s"]);
    state.stats.downSince.delete(2);
    state.reports[3] = report(3, { state: "offline" });
    state.stats.downSince.set(3, time.now());
    assertEquals(source.readiness().reasons, ["shard 3 is offline for 0 s"], "offline at once");
    state.stats.downSince.delete(3);

    state.workers = [{
      index: 1,
      firstShardId: 2,
      lastShardId: 3,
      state: "restarting",
      restarts: 2,
      lastCrashAt: time.now(),
      lastCrash: "out of memory",
      events: 0,
      heapUsed: 0,
    }];
    c.failRedis("Redis does not answer");
    state.handler = {
      kind: "unavailable",
      status: 401,
      hint: "check the secret",
      since: time.now(),
    };
    time.advance(3_000);
    assertEquals(source.readiness(), {
      ready: false,
      reasons: [
        "worker 1 (shards 2-3) is restarting after 2 crash(es): out of memory",
        "Redis does not answer: running shards keep running and queue locally, but no shard starts or is taken over until Redis answers",
        "the event handler is unavailable (HTTP 401) for 3 s: check the secret; events are held",
      ],
    });
    state.handler = { kind: "failing", status: 500, hint: "look at its logs", since: time.now() };
    assertEquals(source.readiness().reasons.length, 2, "a failing handler is not a reason");
  }, { now: time.now, readyGraceMs: 10_000 });
});

Deno.test("createControlSourceFrom() leaves out what its inputs cannot do, so those routes answer 501", async () => {
  const { inputs } = fakeInputs();
  await withSource(inputs, async (source) => {
    assertEquals(
      [source.redeliverDeadLetters, source.reshard, source.reshardStatus, source.streams],
      [undefined, undefined, undefined, undefined],
    );
    const handle = createControlHandler(source, { authorization: "k" });
    const res = await handle(new Request("http://x/reshard", { headers: { authorization: "k" } }));
    assertEquals(res.status, 501);
    await res.body?.cancel();
  });
  inputs.redeliverDeadLetters = () => Promise.resolve({ delivered: 2, failed: 0, remaining: 0 });
  await withSource(inputs, async (source) => {
    assertEquals(await source.redeliverDeadLetters?.(), { delivered: 2, failed: 0, remaining: 0 });
  });
});
