/**
 * A reshard of a cluster: one process leads (through Redis), both run their share of the new
 * set beside the old one, and they switch together. With the new count a multiple of the old,
 * each guild's old and new shard sit on the same process, so the overlap's dedupe keeps every
 * dispatch to once.
 * @module
 */
import { assert, assertEquals } from "./helpers/assert.ts";
import { shareOf, startClusterRig } from "./helpers/cluster_rig.ts";
import { allDelivered, guildStream, markerCounts } from "./helpers/guild_stream.ts";
import { until } from "./helpers/wait.ts";

Deno.test({
  name:
    "cluster reshard 2 -> 4 over two processes: led by one, switched together, every event once",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const rig = await startClusterRig({
      sim: { shards: "auto", recommendGuildsPerShard: 20, guilds: 40, maxConcurrency: 2, seed: 3 },
      env: { RESHARD_OVERLAP_MS: "1500", RESHARD_CHECK_INTERVAL_MS: "0" },
    });
    try {
      const m0 = await rig.startMember("m0");
      const m1 = await rig.startMember("m1");
      await until(
        () => shareOf([m0, m1], 2).join() === "1,1" && rig.sim.connectedShards().length === 2,
        "one shard each",
        30_000,
      );
      const stream = guildStream(rig.sim);
      await until(() => stream.markers.length > 30, "stream flowing");

      // Any member may be asked; the other one gets 409 while the first leads.
      const answer = await m1.service.reshard({ totalShards: 4 });
      assertEquals(answer.status, 202, JSON.stringify(answer));
      const second = await m0.service.reshard({ totalShards: 4 });
      assertEquals(second.status, 409);

      await until(
        () => m0.service.stats.range?.total === 4 && m1.service.stats.range?.total === 4,
        "both switched to 4 shards",
        60_000,
      );
      await until(
        () => m1.service.reshardStatus().state === "done",
        "the leader finished",
        30_000,
      );
      // Each runs the new shards aligned with its old one: 2 and 2.
      assertEquals(shareOf([m0, m1], 4).join(), "2,2");
      await until(() => rig.sim.connectedShards().length === 4, "only the new set connected");

      const after = stream.markers.length;
      await until(() => stream.markers.length > after + 30, "stream after the switch");
      await stream.stop();
      await until(
        () => allDelivered(rig.handler.events, stream.markers),
        "every emitted message delivered",
      );
      const counts = markerCounts(rig.handler.events);
      const doubled = stream.markers.filter((m) => (counts.get(m) ?? 0) > 1);
      assertEquals(doubled, []);
      const resharded = rig.handler.events.filter((e) => e.data.t === "RESHARDED_DD");
      assertEquals(resharded.length, 1, "one RESHARDED_DD, from the leader");
      // The old count's sessions are gone from Redis; the new ones are stored.
      await until(async () => {
        const stored = await m0.service.cluster!.sessionStore.load();
        return stored.length === 4 && stored.every((r) => r.totalShards === 4);
      }, "only the new sessions stored");
      assert(m0.logs.some((l) => l.includes("following a reshard of the cluster")));
    } finally {
      await rig.close();
    }
  },
});
