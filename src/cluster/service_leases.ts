/**
 * The service's side of the shard leases: what starting, losing and handing over a shard means
 * for a shard set and the delivery queue.
 * @module
 */
import type { Config } from "../../configs.ts";
import type { DeliveryQueue } from "../delivery/mod.ts";
import type { Logger } from "../log.ts";
import type { GatewayBotInfo } from "../rest/gateway_bot.ts";
import { addShard, removeShard, type ShardSet } from "../shard_set.ts";
import { usableSessions } from "../stored_sessions.ts";
import type { Cluster, LeaseHandle } from "./cluster.ts";

/** Inputs of {@linkcode runClusterLeases}. */
export interface ClusterLeasesInput {
  cluster: Cluster;
  set: ShardSet;
  queue: DeliveryQueue;
  info: GatewayBotInfo;
  total: number;
  first: number;
  last: number;
  /** `auto`, or the fixed shard ids to hold. */
  ids: readonly number[] | "auto";
  config: Config;
  logger: Logger;
}

/** Waits until shard `shardId`'s lane holds nothing, or `ms` passed. */
async function laneDrained(q: DeliveryQueue, shardId: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const d = q.depth(shardId);
    if (d.memory + d.disk === 0) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

/**
 * Starts the lease rounds of a shard set: a shard whose lease is won starts (resuming the
 * session stored in Redis), one lost stops at once, one handed over stops resumably, delivers
 * what it queued (up to SHUTDOWN_DRAIN_MS) and stores its session for the next holder.
 * Operations on one shard run one after the other.
 */
export function runClusterLeases(input: ClusterLeasesInput): LeaseHandle {
  const { cluster: c, set, queue: q, info, total, first, last, ids, config, logger } = input;
  const ops = new Map<number, Promise<void>>();
  const serial = (id: number, what: string, f: () => Promise<void>) => {
    const p = (ops.get(id) ?? Promise.resolve()).then(f);
    ops.set(id, p.catch(() => {}));
    return p.catch((error) => {
      logger.error(`${what} failed`, { shard: id, error });
      throw error;
    });
  };
  return c.runLeases(total, ids, {
    acquired: (id) =>
      serial(id, "starting a leased shard", async () => {
        // Unreadable (Redis hiccup): fail, so the lease is released and claimed again later,
        // rather than identify and give up the session Discord would replay from.
        const stored = await c.sessionStore.get(id, total);
        const usable = stored
          ? usableSessions(logger, [stored], total, first, last, info.url).get(id)
          : undefined;
        logger.info(
          usable ? "resuming a leased shard's stored session" : "identifying a leased shard",
          { shard: id, seq: usable?.seq },
        );
        await addShard(set, id, usable);
      }),
    lost: (id, why) =>
      void serial(id, "stopping a shard", async () => {
        await removeShard(set, id, 3000, `lease lost: ${why}`.slice(0, 120));
      }).catch(() => {}),
    handOver: (id) =>
      serial(id, "handing a shard over", async () => {
        const session = await removeShard(set, id, 3000, "handed over to another process");
        const drained = await laneDrained(q, id, config.shutdownDrainMs);
        if (!session) return;
        await c.sessionStore.save([{
          shardId: id,
          sessionId: session.sessionId,
          resumeGatewayUrl: session.resumeGatewayUrl,
          totalShards: session.totalShards,
          seq: q.deliveredSeq(id, session.sessionId, session.lastSeq),
          savedAt: Date.now(),
        }]);
        logger.info("shard handed over", { shard: id, drained });
      }),
    report: () => {
      const health = set.shaper.health();
      return set.group.status().map((r) => ({
        id: r.shardId,
        totalShards: total,
        state: r.state,
        latencyMs: r.latencyMs,
        guilds: health.get(r.shardId)?.guilds ?? 0,
        loading: health.get(r.shardId)?.loading ?? 0,
      }));
    },
  });
}
