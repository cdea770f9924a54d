import { assert, assertEquals } from "./helpers/assert.ts";
import { startProxyProcess } from "./helpers/process.ts";
import { type E2E, TOKEN, withE2E } from "./helpers/rig.ts";
import { type Stage, stage } from "./helpers/stage.ts";
import type { TestHandler } from "./helpers/handler.ts";
import { until } from "./helpers/wait.ts";
import { createFileSessionStore } from "../src/gateway/sessions.ts";
import { silentLogger } from "../src/log.ts";
import type { Simulator } from "../src/simulator/types.ts";

const sanitizers = { sanitizeOps: false, sanitizeResources: false };

/** Emits MESSAGE_CREATEs round-robin over `shards` (connected or resumable) until stopped. */
function stream(sim: Simulator, shards: number) {
  const emitted = new Map<number, number[]>();
  let running = true;
  const done = (async () => {
    while (running) {
      for (let shard = 0; shard < shards; shard++) {
        try {
          const s = sim.emitMessageCreate(shard).s;
          if (s !== null) emitted.set(shard, [...(emitted.get(shard) ?? []), s]);
        } catch { /* no session at this instant */ }
      }
      await new Promise((r) => setTimeout(r, 15));
    }
  })();
  return {
    emitted,
    get count() {
      return [...emitted.values()].reduce((n, l) => n + l.length, 0);
    },
    async stop() {
      running = false;
      await done;
    },
  };
}

function delivered(handler: TestHandler, shard: number, since = 0): number[] {
  return handler.events.filter((e) => e.shardId === shard && e.at >= since && e.data.s !== null)
    .map((e) => e.data.s);
}

/** Stops the stream and waits until the last event of every shard reached the handler. */
async function drainStream(st: Stage, traffic: ReturnType<typeof stream>, timeoutMs = 20_000) {
  await traffic.stop();
  await until(
    () =>
      [...traffic.emitted].every(([shard, list]) =>
        delivered(st.handler, shard).includes(list.at(-1)!)
      ),
    "every emitted event delivered",
    timeoutMs,
  );
}

Deno.test({
  name: "SIGTERM mid-stream on 8 shards, restart: every shard resumes, every event arrives once",
  ...sanitizers,
  async fn() {
    const st = await stage({ shards: 8, maxConcurrency: 8, guilds: 16 });
    const traffic = stream(st.sim, 8);
    try {
      const first = startProxyProcess(st.env);
      await until(() => st.sim.connectedShards().length === 8, "8 shards connected", 60_000);
      await until(() => st.handler.events.length > 200, "traffic flowing");
      first.kill("SIGTERM");
      assertEquals(await first.exited, 0, first.output);
      const identifies = st.sim.identifies.length;
      const resumesBefore = st.sim.resumes.length;
      // Discord keeps buffering while no process runs.
      const whileDown = traffic.count;
      await until(() => traffic.count > whileDown + 40, "events while down");

      const second = startProxyProcess(st.env);
      await until(
        () => st.sim.resumes.slice(resumesBefore).filter((r) => r.accepted).length === 8,
        "8 resumes",
        30_000,
      );
      await until(() => traffic.count > whileDown + 120, "events after the restart");
      await drainStream(st, traffic);
      assertEquals(st.sim.identifies.length, identifies, "no shard identified on restart");
      for (let shard = 0; shard < 8; shard++) {
        const got = delivered(st.handler, shard);
        for (const s of traffic.emitted.get(shard) ?? []) assert(got.includes(s), `${shard}/${s}`);
        for (let i = 1; i < got.length; i++) {
          assert(
            got[i] > got[i - 1],
            `shard ${shard}: once and in order, got ${got[i - 1]} then ${got[i]}`,
          );
        }
      }
      second.kill("SIGTERM");
      assertEquals(await second.exited, 0, second.output);
    } finally {
      await traffic.stop();
      await st.close();
    }
  },
});

Deno.test({
  name:
    "SIGKILL mid-stream with a slow handler, restart: every event at least once, duplicates only from the replay window",
  ...sanitizers,
  async fn() {
    const st = await stage({ shards: 4, maxConcurrency: 4, guilds: 8 });
    // Slower than the stream, so a backlog sits in memory when the process dies.
    st.handler.behave = () => ({ delayMs: 25 });
    const traffic = stream(st.sim, 4);
    try {
      const first = startProxyProcess(st.env);
      await until(() => st.sim.connectedShards().length === 4, "4 shards connected", 60_000);
      await until(() => st.handler.events.length > 150, "traffic flowing");
      first.kill("SIGKILL");
      await first.exited;
      const saved = JSON.parse(await Deno.readTextFile(`${st.dataDir}/sessions-0-last.json`));
      const savedSeq = new Map<number, number>(
        saved.sessions.map((r: { shardId: number; seq: number }) => [r.shardId, r.seq]),
      );
      assertEquals(savedSeq.size, 4);
      const identifies = st.sim.identifies.length;

      const second = startProxyProcess(st.env);
      const restartedAt = Date.now();
      await until(() => traffic.count > 600, "events after the restart", 30_000);
      await drainStream(st, traffic, 30_000);
      assertEquals(st.sim.identifies.length, identifies, "the restart resumed");
      for (let shard = 0; shard < 4; shard++) {
        const got = delivered(st.handler, shard);
        for (const s of traffic.emitted.get(shard) ?? []) {
          assert(got.includes(s), `${shard}/${s} lost`);
        }
        const seen = new Set<number>();
        for (const s of got) {
          if (seen.has(s)) {
            assert(
              s > savedSeq.get(shard)!,
              `shard ${shard}: s=${s} twice, but saved seq was ${savedSeq.get(shard)}`,
            );
          }
          seen.add(s);
        }
        // The restarted process delivers in order.
        const after = delivered(st.handler, shard, restartedAt);
        for (let i = 1; i < after.length; i++) {
          assert(after[i] > after[i - 1], `shard ${shard} order`);
        }
      }
      second.kill("SIGTERM");
      assertEquals(await second.exited, 0, second.output);
    } finally {
      await traffic.stop();
      await st.close();
    }
  },
});

Deno.test({
  name: "restart after Discord expired the sessions: shards identify through the limiter, no crash",
  ...sanitizers,
  async fn() {
    const st = await stage({ shards: 3, maxConcurrency: 1, guilds: 3, identifyIntervalMs: 600 });
    try {
      const first = startProxyProcess(st.env);
      await until(() => st.sim.connectedShards().length === 3, "3 shards connected", 60_000);
      first.kill("SIGTERM");
      assertEquals(await first.exited, 0, first.output);
      st.sim.expireSessions();
      const before = st.sim.identifies.length;
      const second = startProxyProcess(st.env);
      await until(() => st.sim.connectedShards().length === 3, "3 shards back", 60_000);
      await until(
        () => st.handler.events.filter((e) => e.data.t === "READY").length === 6,
        "new READYs",
      );
      const again = st.sim.identifies.slice(before);
      assertEquals(again.filter((i) => !i.accepted).length, 0, JSON.stringify(again));
      assertEquals(again.length, 3);
      for (let i = 1; i < again.length; i++) assert(again[i].at - again[i - 1].at >= 600);
      assert(st.sim.resumes.length >= 3, "it tried to resume first");
      second.kill("SIGTERM");
      assertEquals(await second.exited, 0, second.output);
      assert(!second.output.includes("Uncaught"), second.output);
    } finally {
      await st.close();
    }
  },
});

Deno.test({
  name: "a zombie connection (no heartbeat ACK) resumes and loses nothing",
  ...sanitizers,
  async fn() {
    await withE2E({
      sim: { shards: 1, guilds: 2, heartbeatIntervalMs: 2000, identifyIntervalMs: 500 },
    }, async (e2e) => {
      await e2e.service.allReady;
      const emitted: number[] = [];
      for (let i = 0; i < 5; i++) emitted.push(e2e.sim.emitMessageCreate(0).s!);
      e2e.sim.pauseHeartbeatAcks(0, true);
      await until(
        () => e2e.sim.closes.some((c) => c.by === "client" && c.code === 3010),
        "zombie close",
        15_000,
      );
      e2e.sim.pauseHeartbeatAcks(0, false);
      for (let i = 0; i < 5; i++) emitted.push(e2e.sim.emitMessageCreate(0).s!);
      await until(() => e2e.sim.resumes.some((r) => r.accepted), "resume", 15_000);
      for (let i = 0; i < 5; i++) emitted.push(e2e.sim.emitMessageCreate(0).s!);
      await until(() => delivered(e2e.handler, 0).includes(emitted.at(-1)!), "last event");
      const got = delivered(e2e.handler, 0);
      for (const s of emitted) assert(got.includes(s), `s=${s} delivered`);
      for (let i = 1; i < got.length; i++) assert(got[i] > got[i - 1], `once, in order: ${got}`);
      assertEquals(e2e.sim.identifies.length, 1);
    });
  },
});

Deno.test({
  name: "a corrupt session file is ignored with a warning and the shard identifies",
  ...sanitizers,
  async fn() {
    await withE2E({ sim: { shards: 1, identifyIntervalMs: 500 }, noStart: true }, async (e2e) => {
      await Deno.writeTextFile(`${e2e.dataDir}/sessions-0-last.json`, '{"version":1,"sess');
      await e2e.service.start();
      await e2e.service.allReady;
      assert(e2e.logs.some((l) => l.includes("session file is corrupt")));
      assertEquals(e2e.sim.identifies.filter((i) => i.accepted).length, 1);
    });
  },
});

/** Stores one session for shard 0 in the service's sessions file, then starts the service. */
async function startWithStoredSession(
  e2e: E2E,
  record: { sessionId: string; resumeGatewayUrl: string; totalShards: number },
) {
  await createFileSessionStore({
    path: `${e2e.dataDir}/sessions-0-last.json`,
    token: TOKEN,
    logger: silentLogger,
  }).save([{ shardId: 0, seq: 10, savedAt: Date.now(), ...record }]);
  await e2e.service.start();
  await e2e.service.allReady;
}

Deno.test({
  name: "a stored session made for another shard count than TOTAL_SHARDS is ignored with a warning",
  ...sanitizers,
  async fn() {
    await withE2E({
      sim: { shards: 1, identifyIntervalMs: 500 },
      env: { TOTAL_SHARDS: "1" },
      noStart: true,
    }, async (e2e) => {
      await startWithStoredSession(e2e, {
        sessionId: "old",
        resumeGatewayUrl: e2e.sim.gatewayUrl,
        totalShards: 2,
      });
      assert(e2e.logs.some((l) => l.includes("another shard count")));
      assertEquals(e2e.sim.resumes.length, 0);
      assertEquals(e2e.sim.identifies.filter((i) => i.accepted).length, 1);
    });
  },
});

Deno.test({
  name:
    "a stored session whose resume URL is off the gateway's host is not resumed: the token stays home",
  ...sanitizers,
  async fn() {
    await withE2E({ sim: { shards: 1, identifyIntervalMs: 500 }, noStart: true }, async (e2e) => {
      await startWithStoredSession(e2e, {
        sessionId: "planted",
        resumeGatewayUrl: "wss://attacker.example/",
        totalShards: 1,
      });
      assert(e2e.logs.some((l) => l.includes("untrusted resume URL")));
      assertEquals(e2e.sim.resumes.length, 0);
      assertEquals(e2e.sim.identifies.filter((i) => i.accepted).length, 1);
    });
  },
});

Deno.test({
  name:
    "a second SIGTERM while the drain waits on a dead handler exits at once; the restart resumes and loses nothing",
  ...sanitizers,
  async fn() {
    // The first signal alone would wait this long for the handler.
    const st = await stage({ shards: 2, maxConcurrency: 2, guilds: 4 }, {
      SHUTDOWN_DRAIN_MS: "600000",
    });
    const traffic = stream(st.sim, 2);
    try {
      const first = startProxyProcess(st.env);
      await until(() => st.sim.connectedShards().length === 2, "2 shards connected", 60_000);
      await until(() => st.handler.events.length > 40, "traffic flowing");
      await st.handler.down();
      const queuedFrom = traffic.count;
      await until(() => traffic.count > queuedFrom + 40, "events queued for the dead handler");
      first.kill("SIGTERM");
      await until(() => st.sim.connectedShards().length === 0, "shards closed by the first signal");
      first.kill("SIGTERM");
      assertEquals(await first.exited, 0, first.output);
      assert(first.output.includes("second signal"), first.output);
      const identifies = st.sim.identifies.length;

      st.handler.up();
      const second = startProxyProcess(st.env);
      await until(
        () => st.sim.resumes.filter((r) => r.accepted).length === 2,
        "2 resumes",
        30_000,
      );
      await drainStream(st, traffic);
      assertEquals(st.sim.identifies.length, identifies, "the restart resumed");
      for (let shard = 0; shard < 2; shard++) {
        const got = delivered(st.handler, shard);
        for (const s of traffic.emitted.get(shard) ?? []) {
          assert(got.includes(s), `${shard}/${s} lost`);
        }
      }
      second.kill("SIGTERM");
      assertEquals(await second.exited, 0, second.output);
    } finally {
      await traffic.stop();
      await st.close();
    }
  },
});
