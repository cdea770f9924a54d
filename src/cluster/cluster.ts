/**
 * One process's part in a cluster on Redis: its connection, the shared identify limiter, the
 * session store, its shard leases, commands for shards held elsewhere, and the cluster-wide
 * view of every shard for `/shards`. The service uses it only through this interface.
 * @module
 */
import type { Config } from "../../configs.ts";
import { withTimeout } from "../backoff.ts";
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
  /** Guilds announced in READY whose GUILD_CREATE has not arrived yet. */
  loading: number;
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

/** A reshard the cluster agreed on, as stored in Redis (`reshard` key). */
export interface ClusterReshard {
  /** Unique per reshard. */
  id: string;
  from: number;
  to: number;
  /** prepare: every process starts its share of the new set; overlap: both deliver through the
   * dedupe; switch: the new set is live, the old one closes; done; abandoned. */
  phase: "prepare" | "overlap" | "switch" | "done" | "abandoned";
  /** The process that planned it. */
  leader: string;
  /** Why it was abandoned. */
  error?: string;
  at: number;
}

/** A lease run for one shard set. */
export interface LeaseHandle {
  readonly leases: ShardLeases;
  /** Stops the rounds; `release`: frees every lease at once (the set closed), else hands over. */
  stop(how: "release" | "hand-over"): Promise<void>;
}

/** This process's part in the cluster. */
export interface Cluster {
  readonly memberId: string;
  /** The Redis connection (the Redis Streams transport appends through it). */
  readonly redis: RedisConnection;
  /** Where the bot's keys live: `REDIS_KEY_PREFIX:<bot id>:`. */
  readonly base: string;
  readonly assignment: "range" | "auto";
  readonly sessionStore: RedisSessionStore;
  /** The identify limiter every process shares. */
  identifyQueue(info: GatewayBotInfo, intervalMs: number): IdentifyQueue;
  /** Starts the lease rounds for a shard set of `totalShards` (`ids`: a fixed list). */
  runLeases(totalShards: number, ids: readonly number[] | "auto", run: LeaseRun): LeaseHandle;
  /** The lease keeper of the set of `totalShards`, while it runs. */
  leasesFor(totalShards: number): ShardLeases | undefined;
  /**
   * The shard count every process runs: the one stored in Redis, or (first process of the
   * cluster) `proposed`, which is stored.
   */
  agreeTotal(proposed: number): Promise<number>;
  /** The reshard in progress or last finished, if any. */
  reshardState(): Promise<ClusterReshard | undefined>;
  /** Writes the reshard state (the leader only); `done` also stores the new total. */
  setReshardState(state: ClusterReshard): Promise<void>;
  /** Becomes the one process planning a reshard, for `ms` (renew by calling again); false if another is. */
  lead(ms: number): Promise<{ ok: true } | { ok: false; holder: string }>;
  /** Stops leading. */
  unlead(): Promise<void>;
  /** Which process leads a reshard now (null: none). */
  leader(): Promise<string | null>;
  /** Removes the stored sessions of a shard count no longer run. */
  forgetSessions(totalShards: number): Promise<void>;
  /** Which process holds shard `shardId` of `totalShards` now (null: none). */
  holderOf(shardId: number, totalShards: number): Promise<string | null>;
  /** Runs a command on the process holding the shard; throws `RemoteCommandError`. */
  forward(shardId: number, totalShards: number, command: ShardCommand): Promise<void>;
  /** Where commands from other processes go. */
  handleCommands(handler: LocalCommandHandler): void;
  /** Every shard of `totalShards` the other processes reported in their last round. */
  view(totalShards: number): Map<number, ClusterShard>;
  /** What is wrong with Redis or the leases, for `/readyz`. */
  problem(): string | undefined;
  /** Hands every shard over (graceful) and leaves the cluster; the connection stays open. */
  leave(): Promise<void>;
  /** Leaves (if not done yet) and closes the connections. */
  close(): Promise<void>;
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
  const runs = new Map<number, { keeper: ShardLeases; run: LeaseRun }>();
  let timer: ReturnType<typeof setInterval> | undefined;
  let views = new Map<number, Map<number, ClusterShard>>();
  let running: Promise<void> | undefined;
  const roundMs = Math.max(100, Math.floor(c.leaseMs / 3));
  const reshardKey = `${base}reshard`;
  const leaderKey = `${base}reshard-leader`;
  const totalKey = `${base}total`;

  const refreshView = async () => {
    const members = await store.members();
    const others = members.filter((m) => m.id !== memberId);
    const next = new Map<number, Map<number, ClusterShard>>();
    if (others.length > 0) {
      const texts = await client.mGet(others.map((m) => statusKey(m.id)));
      for (const text of texts) {
        if (!text) continue;
        try {
          for (const s of JSON.parse(text) as ClusterShard[]) {
            if (!next.has(s.totalShards)) next.set(s.totalShards, new Map());
            next.get(s.totalShards)!.set(s.id, s);
          }
        } catch { /* a half-written report: next round */ }
      }
    }
    views = next;
  };

  /** One round for every running set, then this process's report and the others'. */
  const round = async () => {
    await Promise.all([...runs.values()].map((r) => r.keeper.tick()));
    const now = Date.now();
    const report: ClusterShard[] = [];
    for (const { keeper, run } of runs.values()) {
      const ages = keeper.confirmedAgo();
      for (const s of run.report()) {
        report.push({ ...s, member: memberId, leaseAgeMs: ages.get(s.id) ?? 0, reportedAt: now });
      }
    }
    // Bounded like the lease rounds: a Redis that hangs must not stop the next rounds.
    await withTimeout(
      (async () => {
        await client.set(statusKey(memberId), JSON.stringify(report), { PX: c.leaseMs * 3 });
        await refreshView();
      })(),
      roundMs,
      "no answer",
    ).catch(() => {});
  };
  // Rounds never overlap: a slow Redis delays the next one instead of piling them up.
  const schedule = () => {
    if (!running) running = round().finally(() => running = undefined);
  };

  const leave = async () => {
    clearInterval(timer);
    await withTimeout(running ?? Promise.resolve(), roundMs, "no answer").catch(() => {});
    const keepers = [...runs.values()].map((r) => r.keeper);
    runs.clear();
    await Promise.all(
      keepers.map((k) =>
        k.leave().catch((error) =>
          logger.warn("leaving the cluster failed; leases expire on their own", { error })
        )
      ),
    );
    await client.del(statusKey(memberId)).catch(() => {});
  };

  return {
    memberId,
    redis,
    base,
    assignment: c.assignment,
    sessionStore,
    leasesFor: (total) => runs.get(total)?.keeper,
    async agreeTotal(proposed) {
      await client.set(totalKey, String(proposed), { NX: true });
      const agreed = Number(await client.get(totalKey));
      return Number.isInteger(agreed) && agreed > 0 ? agreed : proposed;
    },
    async reshardState() {
      const text = await client.get(reshardKey);
      if (!text) return undefined;
      try {
        return JSON.parse(text) as ClusterReshard;
      } catch {
        return undefined;
      }
    },
    async setReshardState(state) {
      const multi = client.multi().set(reshardKey, JSON.stringify(state));
      if (state.phase === "done") multi.set(totalKey, String(state.to));
      await multi.exec();
    },
    async lead(ms) {
      const ok = await store.claim(leaderKey, memberId, ms);
      if (ok) return { ok: true };
      return { ok: false, holder: (await client.get(leaderKey)) ?? "another process" };
    },
    leader: () => client.get(leaderKey),
    async unlead() {
      await store.release(leaderKey, memberId).catch(() => {});
    },
    async forgetSessions(total) {
      await sessionStore.forget(total);
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
      const keeper = createShardLeases({
        store,
        memberId,
        totalShards,
        assignment: ids,
        leaseMs: c.leaseMs,
        leaseKey: (id) => leaseKey(id, totalShards),
        hooks: run,
        logger,
      });
      runs.set(totalShards, { keeper, run });
      timer ??= setInterval(schedule, roundMs);
      schedule();
      return {
        leases: keeper,
        async stop(how) {
          if (runs.get(totalShards)?.keeper !== keeper) return;
          runs.delete(totalShards);
          if (how === "hand-over") return await keeper.leave();
          await keeper.releaseAll();
        },
      };
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
    view: (total) => views.get(total) ?? new Map(),
    problem() {
      if (!redis.healthy) return redis.problem ?? "Redis is not connected";
      for (const { keeper } of runs.values()) if (keeper.problem) return keeper.problem;
      return undefined;
    },
    leave,
    async close() {
      await leave();
      await router.close();
      await redis.close();
    },
  };
}
