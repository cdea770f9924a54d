/**
 * One process's part in a cluster on Redis: its connection, the shared identify limiter, the
 * session store, its shard leases, commands for shards held elsewhere, and the cluster-wide
 * view of every shard for `/shards`. The service uses it only through this interface.
 * @module
 */
import type { Config } from "../../configs.ts";
import type { IdentifyQueue } from "../gateway/identify_queue.ts";
import type { Logger } from "../log.ts";
import type { GatewayBotInfo } from "../rest/gateway_bot.ts";
import {
  createCommandRouter,
  type LocalCommandHandler,
  RemoteCommandError,
  type ShardCommand,
} from "./commands.ts";
import { createRedisIdentifyQueue } from "./identify.ts";
import { connectRedis, keyBase, type RedisConnection } from "./redis.ts";
import { createRedisClusterStore } from "./redis_store.ts";
import { createRedisSessionStore, type RedisSessionStore } from "./sessions.ts";
import { createShardLeases, type ShardLeaseHooks, type ShardLeases } from "./shard_leases.ts";
import type { ClusterStore } from "./store.ts";

/** A shard as another process reports it (in `/shards`). */
export interface ClusterShard {
  id: number;
  totalShards: number;
  member: string;
  state: string;
  latencyMs: number | null;
  guilds: number;
  /** ms since the holder last confirmed its lease, when it reported. */
  leaseAgeMs: number;
  /** Epoch ms of the holder's report. */
  reportedAt: number;
}

/** What {@linkcode Cluster.runLeases} needs from the service each round. */
export interface LeaseRun extends ShardLeaseHooks {
  /** This process's shards now, for the others' `/shards`. */
  report(): Omit<ClusterShard, "member" | "reportedAt" | "leaseAgeMs">[];
}

/** This process's part in the cluster. */
export interface Cluster {
  readonly memberId: string;
  readonly assignment: "range" | "auto";
  readonly sessionStore: RedisSessionStore;
  /** The identify limiter every process shares. */
  identifyQueue(info: GatewayBotInfo, intervalMs: number): IdentifyQueue;
  /** Starts the lease rounds for a shard set of `totalShards` (`ids`: a fixed range). */
  runLeases(totalShards: number, ids: readonly number[] | "auto", run: LeaseRun): ShardLeases;
  /** The lease keeper, once running. */
  readonly leases: ShardLeases | undefined;
  /** Which process holds shard `shardId` of `totalShards` now (null: none). */
  holderOf(shardId: number, totalShards: number): Promise<string | null>;
  /** Runs a command on the process holding the shard; throws `RemoteCommandError`. */
  forward(shardId: number, totalShards: number, command: ShardCommand): Promise<void>;
  /** Where commands from other processes go. */
  handleCommands(handler: LocalCommandHandler): void;
  /** Every shard the other processes reported in their last round. */
  view(): Map<number, ClusterShard>;
  /** What is wrong with Redis or the leases, for `/readyz`. */
  problem(): string | undefined;
  /** Hands every shard over (graceful), leaves, and closes the connections. */
  close(): Promise<void>;
}

/** `p`, or a rejection after `ms` (`p` goes on unobserved). */
function bounded<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Connects to Redis and builds the cluster parts; throws with the URL (redacted) when unreachable. */
export async function connectCluster(config: Config, logger: Logger): Promise<Cluster> {
  const c = config.cluster;
  if (!c) throw new Error("connectCluster needs config.cluster (REDIS_URL)");
  const redis: RedisConnection = await connectRedis({
    url: c.redisUrl,
    logger,
    name: `gateway:${c.memberId}`,
  });
  const base = keyBase(c.keyPrefix, config.discordToken);
  const memberId = c.memberId;
  const client = redis.client;
  const store: ClusterStore = createRedisClusterStore(client, base);
  const leaseKey = (shardId: number, total: number) => `${base}lease:${total}:${shardId}`;
  const statusKey = (member: string) => `${base}status:${member}`;
  const sessionStore = createRedisSessionStore({
    client,
    base,
    owner: memberId,
    leaseKey,
    logger,
  });
  const router = await createCommandRouter({
    client,
    subscriber: await redis.subscriber(),
    base,
    memberId,
    logger,
  });
  let leases: ShardLeases | undefined;
  let timer: ReturnType<typeof setInterval> | undefined;
  let view = new Map<number, ClusterShard>();
  let running: Promise<void> | undefined;

  const refreshView = async (total: number) => {
    const members = await store.members();
    const others = members.filter((m) => m.id !== memberId);
    const next = new Map<number, ClusterShard>();
    if (others.length > 0) {
      const texts = await client.mGet(others.map((m) => statusKey(m.id)));
      for (const text of texts) {
        if (!text) continue;
        try {
          for (const s of JSON.parse(text) as ClusterShard[]) {
            if (s.totalShards === total) next.set(s.id, s);
          }
        } catch { /* a half-written report: next round */ }
      }
    }
    view = next;
  };

  return {
    memberId,
    assignment: c.assignment,
    sessionStore,
    get leases() {
      return leases;
    },
    identifyQueue(info, intervalMs) {
      return createRedisIdentifyQueue({
        client,
        base,
        owner: memberId,
        maxConcurrency: info.sessionStartLimit.maxConcurrency,
        intervalMs,
        remaining: info.sessionStartLimit.remaining,
        resetAfterMs: info.sessionStartLimit.resetAfter,
        logger,
      });
    },
    runLeases(totalShards, ids, run) {
      const keeper = leases = createShardLeases({
        store,
        memberId,
        totalShards,
        assignment: ids,
        leaseMs: c.leaseMs,
        leaseKey: (id) => leaseKey(id, totalShards),
        hooks: run,
        logger,
      });
      const round = async () => {
        await keeper.tick();
        const now = Date.now();
        const ages = keeper.confirmedAgo();
        const report: ClusterShard[] = run.report().map((s) => ({
          ...s,
          member: memberId,
          leaseAgeMs: ages.get(s.id) ?? 0,
          reportedAt: now,
        }));
        // Bounded like the lease round: a Redis that hangs must not stop the next rounds.
        await bounded(
          (async () => {
            await client.set(statusKey(memberId), JSON.stringify(report), { PX: c.leaseMs * 3 });
            await refreshView(totalShards);
          })(),
          Math.max(100, Math.floor(c.leaseMs / 3)),
        ).catch(() => {});
      };
      // Rounds never overlap: a slow Redis delays the next one instead of piling them up.
      const schedule = () => {
        if (!running) running = round().finally(() => running = undefined);
      };
      schedule();
      timer = setInterval(schedule, Math.max(100, Math.floor(c.leaseMs / 3)));
      return keeper;
    },
    async holderOf(shardId, totalShards) {
      return await client.get(leaseKey(shardId, totalShards));
    },
    async forward(shardId, totalShards, command) {
      let holder: string | null;
      try {
        holder = await client.get(leaseKey(shardId, totalShards));
      } catch (error) {
        throw new RemoteCommandError(503, `cannot reach Redis: ${(error as Error).message}`, "1");
      }
      if (holder === null) {
        throw new RemoteCommandError(
          503,
          `no process holds shard ${shardId} now (it is being taken over); try again shortly`,
          "1",
        );
      }
      await router.send(holder, shardId, command);
    },
    handleCommands: (handler) => router.handle(handler),
    view: () => view,
    problem() {
      if (!redis.healthy) return redis.problem ?? "Redis is not connected";
      return leases?.problem;
    },
    async close() {
      clearInterval(timer);
      await running;
      await leases?.leave().catch((error) =>
        logger.warn("leaving the cluster failed; leases expire on their own", { error })
      );
      await client.del(statusKey(memberId)).catch(() => {});
      await router.close();
      await redis.close();
    },
  };
}
