/**
 * Shards on worker threads (TOTAL_WORKERS): the real service against the simulator, with
 * the shards in two Deno workers and delivery in the main thread.
 */
import { assert, assertEquals } from "./helpers/assert.ts";
import { allDelivered, guildStream, markerCounts } from "./helpers/guild_stream.ts";
import { seqsByShard, withE2E } from "./helpers/rig.ts";
import { until } from "./helpers/wait.ts";
import { assignContiguous, createWorkerShardSet } from "../src/workers/worker_set.ts";
import { loadConfig } from "../configs.ts";
import { silentLogger } from "../src/log.ts";
import { createFileSessionStore } from "../src/gateway/sessions.ts";
import { TOKEN } from "./helpers/rig.ts";
import { createControlHandler } from "../src/control/server.ts";
import { createControlSource } from "../src/control/source.ts";

const sanitizers = { sanitizeOps: false, sanitizeResources: false };

Deno.test("assignContiguous() spreads shards evenly and contiguously (unlike Discordeno's calculateWorkerId)", () => {
  assertEquals(assignContiguous(0, 7, 2), [[0, 3], [4, 7]]);
  assertEquals(assignContiguous(0, 9, 4), [[0, 2], [3, 5], [6, 7], [8, 9]]);
  assertEquals(assignContiguous(16, 18, 8), [[16, 16], [17, 17], [18, 18]]);
});

Deno.test({
  name:
    "8 shards on 2 workers: every shard READY, no identify refused, per-shard order, commands reach the second worker",
  ...sanitizers,
  async fn() {
    await withE2E({
      sim: { shards: 8, maxConcurrency: 2, guilds: 16, identifyIntervalMs: 300 },
      env: { TOTAL_WORKERS: "2" },
    }, async (e2e) => {
      await e2e.service.allReady;
      const workers = e2e.service.workers();
      assertEquals(workers.map((w) => [w.firstShardId, w.lastShardId]), [[0, 3], [4, 7]]);
      assert(workers.every((w) => w.state === "running"));
      // The one identify limiter of the main thread spaced both workers' identifies.
      assertEquals(e2e.sim.identifies.filter((i) => !i.accepted).map((i) => i.reason), []);
      assertEquals(e2e.sim.identifies.filter((i) => i.accepted).length, 8);
      const stream = guildStream(e2e.sim, 5);
      await until(() => stream.markers.length > 100, "traffic");
      await stream.stop();
      await until(() => allDelivered(e2e.handler.events, stream.markers), "every message");
      for (const [shard, seqs] of seqsByShard(e2e.handler.events)) {
        assertEquals(seqs, [...seqs].sort((a, b) => a - b), `shard ${shard} in order`);
      }
      assertEquals(new Set(e2e.handler.events.map((e) => e.shardId)).size, 8);
      // A command for shard 6 goes to the second worker, and from there to Discord.
      await e2e.service.send(6, {
        op: 3,
        d: { since: null, activities: [], status: "idle", afk: false },
      });
      await until(() => e2e.sim.received.some((r) => r.op === 3 && r.shardId === 6), "op 3 on 6");
      const status = e2e.service.group!.status();
      assertEquals(status.length, 8);
      assert(status.every((s) => s.state === "connected"), JSON.stringify(status));
    });
  },
});

Deno.test({
  name:
    "a worker that crashes is restarted, its shards resume their sessions, nothing is lost, the other worker keeps running",
  ...sanitizers,
  async fn() {
    await withE2E({
      sim: { shards: 4, maxConcurrency: 2, guilds: 8, identifyIntervalMs: 300 },
      env: { TOTAL_WORKERS: "2", GATEWAY_CONTROLLER: "./tests/fixtures/crashing_controller.ts" },
    }, async (e2e) => {
      await e2e.service.allReady;
      const stream = guildStream(e2e.sim, 5);
      await until(() => stream.markers.length > 40, "traffic");
      const identifies = e2e.sim.identifies.filter((i) => i.accepted).length;
      const source = createControlSource(e2e.service, { alive: () => true });
      const api = createControlHandler(source, { authorization: "gateway-secret" });
      const get = (path: string) =>
        api(new Request(`http://x${path}`, { headers: { authorization: "gateway-secret" } }));
      e2e.sim.dispatch(3, "CRASH_WORKER_TEST", {});
      await until(() => e2e.service.workers()[1].restarts === 1, "the worker restarted");
      // While it restarts, /readyz says which worker and why.
      await until(async () => {
        const r = await (await get("/readyz")).json();
        return r.reasons.some((x: string) => x.startsWith("worker 1 (shards 2-3) is restarting"));
      }, "readyz names the worker");
      await until(() => e2e.service.workers()[1].state === "running", "running again", 20_000);
      await until(() => e2e.service.readyShards.size === 4, "every shard live again", 20_000);
      const after = stream.markers.length;
      await until(() => stream.markers.length > after + 40, "traffic after the restart");
      await stream.stop();
      await until(
        () => allDelivered(e2e.handler.events, stream.markers),
        "every message, including those sent while the worker was down",
        20_000,
      );
      // Resumed, not identified; the first worker never restarted.
      assertEquals(e2e.sim.identifies.filter((i) => i.accepted).length, identifies);
      assert(e2e.sim.resumes.filter((r) => r.accepted).length >= 2);
      assertEquals(e2e.service.workers()[0].restarts, 0);
      const metrics = await (await get("/metrics")).text();
      // Discord's replay can bring the crashing dispatch back once more: 1 or more restarts.
      assert(/gateway_worker_restarts_total\{worker="1",shards="2-3"\} [1-9]/.test(metrics));
      assert(metrics.includes('gateway_worker_up{worker="0",shards="0-1"} 1'));
      const snap = await (await get("/status")).json();
      assertEquals(snap.workers.length, 2);
      await until(async () => (await get("/readyz")).status === 200, "ready again");
      source.close();
    });
  },
});

Deno.test({
  name: "createWorkerShardSet() restarts a worker that stops answering between threads",
  ...sanitizers,
  async fn() {
    const config = loadConfig({
      DISCORD_TOKEN: TOKEN,
      REST_URL: "http://127.0.0.1:1",
      REST_AUTHORIZATION: "rest-secret-0123456789",
      EVENT_HANDLER_URL: "http://127.0.0.1:1/events",
      EVENT_HANDLER_AUTHORIZATION: "handler-secret-0123456789",
      GATEWAY_INTENTS: "Guilds",
      GATEWAY_AUTHORIZATION: "gateway-secret-0123456789",
    });
    const set = createWorkerShardSet({
      config,
      logger: silentLogger,
      info: {
        url: "ws://127.0.0.1:1",
        shards: 2,
        sessionStartLimit: { total: 1000, remaining: 1000, resetAfter: 0, maxConcurrency: 1 },
      },
      totalShards: 2,
      firstShardId: 0,
      lastShardId: 1,
      workers: 2,
      identifyQueue: { wait: () => Promise.resolve({ sent() {} }) },
      mode: "deliver",
      push() {},
      admit: () => true,
      onFatal() {},
      resumeSeq: (_id, _s, last) => last,
      heartbeatMs: 50,
      heartbeatTimeoutMs: 400,
      workerUrl: new URL("./fixtures/hanging_worker.ts", import.meta.url),
    });
    await set.group.spawn();
    await until(() => set.workers().every((w) => w.restarts >= 1), "both hung workers restarted");
    assert(set.workers().every((w) => w.lastCrash?.includes("no answer between threads")));
    await set.group.stop(1000, "test over");
  },
});

Deno.test({
  name: "with workers, a stop saves every shard's resumable session",
  ...sanitizers,
  async fn() {
    await withE2E({
      sim: { shards: 4, maxConcurrency: 2, guilds: 8, identifyIntervalMs: 300 },
      env: { TOTAL_WORKERS: "2" },
    }, async (e2e) => {
      await e2e.service.allReady;
      await e2e.service.stop(1000);
      const stored = await createFileSessionStore({
        path: `${e2e.dataDir}/sessions-0-last.json`,
        token: TOKEN,
        logger: silentLogger,
      }).load();
      assertEquals(stored.map((r) => r.shardId).sort(), [0, 1, 2, 3]);
      assert(stored.every((r) => r.totalShards === 4 && r.seq > 0));
    });
  },
});

Deno.test({
  name:
    "with workers, a reshard 2 -> 4 runs the new set on workers too and delivers every event once",
  ...sanitizers,
  async fn() {
    await withE2E({
      sim: { shards: 2, maxConcurrency: 2, guilds: 8, identifyIntervalMs: 300, seed: 3 },
      env: { TOTAL_WORKERS: "2", RESHARD_CHECK_INTERVAL_MS: "0", RESHARD_OVERLAP_MS: "1000" },
    }, async (e2e) => {
      await e2e.service.allReady;
      const stream = guildStream(e2e.sim, 5);
      await until(() => stream.markers.length > 30, "traffic");
      const answer = await e2e.service.reshard({ totalShards: 4 });
      assertEquals(answer.status, 202);
      await until(() => e2e.service.reshardStatus().state === "done", "done", 60_000);
      assertEquals(e2e.service.workers().map((w) => [w.firstShardId, w.lastShardId]), [[0, 1], [
        2,
        3,
      ]]);
      const after = stream.markers.length;
      await until(() => stream.markers.length > after + 30, "traffic after");
      await stream.stop();
      await until(() => allDelivered(e2e.handler.events, stream.markers), "every message");
      const counts = markerCounts(e2e.handler.events);
      assertEquals(stream.markers.filter((m) => (counts.get(m) ?? 0) > 1), []);
      assert(e2e.service.reshardStatus().deduped > 0);
    });
  },
});
