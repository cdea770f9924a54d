/**
 * Redis unavailable (the server paused: it accepts nothing and closes nothing, like a
 * partition). With `SHARD_ASSIGNMENT=range` nobody else may take the shards: they keep running
 * and delivering, `/readyz` says what is wrong, and a shard Discord makes identify again waits
 * for the bucket lease (fail closed). With `auto` the others could take the shards over, so the
 * shards stop when their leases can no longer be confirmed and come back by resume when Redis
 * does; Discord's replay fills the gap.
 * @module
 */
import { createControlSource } from "../src/control/source.ts";
import { assert, assertEquals } from "./helpers/assert.ts";
import { shareOf, startClusterRig } from "./helpers/cluster_rig.ts";
import { until } from "./helpers/wait.ts";

const SHARDS = 2;

Deno.test("cluster outage, fixed range: shards keep running and delivering, /readyz names Redis, identifies wait for it", async () => {
  const rig = await startClusterRig({
    sim: { shards: SHARDS, maxConcurrency: 1, guilds: 8 },
    env: { SHARD_ASSIGNMENT: "range" },
  });
  try {
    const m = await rig.startMember("r0");
    await until(() => rig.sim.connectedShards().length === SHARDS, "both shards up");
    const source = createControlSource(m.service, { alive: () => true });
    try {
      rig.redis.pause();
      await until(
        () => source.readiness().reasons.some((r) => r.includes("cluster store unreachable")),
        "/readyz names the unreachable Redis",
        10_000,
      );
      // Well past the lease: still running, still delivering.
      const s = rig.sim.emitMessageCreate(1).s;
      await until(
        () => rig.handler.events.some((e) => e.shardId === 1 && e.data.s === s),
        "a message delivered while Redis is down",
      );
      await new Promise((r) => setTimeout(r, 2000));
      assertEquals(shareOf([m], SHARDS), [SHARDS]);
      assertEquals(rig.sim.connectedShards().length, SHARDS);
      // Discord ends shard 0's session: it must identify, and waits for the bucket lease.
      const identifies = rig.sim.identifies.length;
      rig.sim.sendInvalidSession(0, false);
      await new Promise((r) => setTimeout(r, 1500));
      assertEquals(rig.sim.identifies.length, identifies, "no identify without Redis");
      rig.redis.resume();
      await until(
        () => rig.sim.identifies.filter((i) => i.accepted).length > identifies,
        "the identify goes through once Redis answers",
        15_000,
      );
      await until(() => source.readiness().ready, "ready again", 15_000).catch((e) => {
        throw new Error(`${e.message}: ${source.readiness().reasons}`);
      });
    } finally {
      source.close();
    }
  } finally {
    rig.redis.resume();
    await rig.close();
  }
});

Deno.test("cluster outage, auto: shards stop once their leases cannot be confirmed and resume when Redis is back, losing nothing", async () => {
  const rig = await startClusterRig({ sim: { shards: SHARDS, maxConcurrency: 1, guilds: 8 } });
  try {
    const m = await rig.startMember("a0");
    await until(() => rig.sim.connectedShards().length === SHARDS, "both shards up");
    const identifies = rig.sim.identifies.length;
    // Both sessions stored (every SESSION_SAVE_INTERVAL_MS) before Redis goes away.
    await until(
      async () => (await m.service.cluster!.sessionStore.load()).length === SHARDS,
      "both sessions in Redis",
    );
    rig.redis.pause();
    await until(() => shareOf([m], SHARDS)[0] === 0, "shards stopped after the lease", 10_000);
    await until(() => rig.sim.connectedShards().length === 0, "no connection left");
    const sent = [0, 1].map((shard) => `${shard}:${rig.sim.emitMessageCreate(shard).s}`);
    rig.redis.resume();
    await until(
      () => shareOf([m], SHARDS)[0] === SHARDS && rig.sim.connectedShards().length === SHARDS,
      "shards back once Redis answers",
      20_000,
    );
    assertEquals(rig.sim.identifies.length, identifies, "back by resume");
    await until(
      () => sent.every((k) => rig.handler.events.some((e) => `${e.shardId}:${e.data.s}` === k)),
      "messages sent while the shards were stopped are replayed and delivered",
    );
    assert(m.logs.some((l) => l.includes("shard lease lost")));
  } finally {
    rig.redis.resume();
    await rig.close();
  }
});
