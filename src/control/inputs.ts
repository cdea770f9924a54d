/**
 * What the control API reads from the other stages and asks of them, as narrow
 * inputs ({@linkcode ControlInputs}), and the adapter that takes them from a
 * running {@linkcode Service} ({@linkcode controlInputsOf}). Tests and other
 * setups hand `createControlSourceFrom()` their own inputs instead.
 * @module
 */
import type { DeliveryCounters } from "../counters.ts";
import type { RedeliverResult } from "../delivery/redeliver.ts";
import type { GatewayCommand, ShardReport } from "../gateway/group.ts";
import type { ShardGuildFacts } from "../shaping/guilds.ts";
import type { ReshardAnswer, ReshardStatus } from "../reshard/resharder.ts";
import type { WorkerInfo } from "../workers/worker_set.ts";
import type { RedisStreamsStats } from "../transport/redis_streams.ts";
import type { ClusterShard } from "../cluster/cluster.ts";
import type { LocalCommandHandler, ShardCommand } from "../cluster/commands.ts";
import type { GatewayStats, Service } from "../service.ts";
import type { HandlerStatus } from "./wire.ts";

/** This process's part in a cluster on Redis, as the control API needs it. */
export interface ClusterInputs {
  /** This process's name in the cluster. */
  readonly memberId: string;
  /** Whether shard `shardId` of the live set runs in this process now. */
  runsHere(shardId: number): boolean;
  /** Every shard of `totalShards` the other processes reported in their last round. */
  view(totalShards: number): ReadonlyMap<number, ClusterShard>;
  /** ms since this process last confirmed each lease it holds (undefined: no leases run). */
  leaseAges(totalShards: number): ReadonlyMap<number, number> | undefined;
  /** What is wrong with Redis or the leases. */
  problem(): string | undefined;
  /** Runs a command on the process holding the shard; throws `RemoteCommandError`. */
  forward(shardId: number, totalShards: number, command: ShardCommand): Promise<void>;
  /** Runs the commands other processes pass on for the shards this one holds. */
  handleCommands(handler: LocalCommandHandler): void;
}

/**
 * The facts and actions the control API works from. Every getter answers
 * before start too (empty, zero or undefined), so the API can say "not started".
 */
export interface ControlInputs {
  /** Identifies, resumes, closes, down shards, and the live range (unset before start). */
  stats(): GatewayStats;
  /** Every stage's counters. */
  counters(): DeliveryCounters;
  /** The shard group's report of each shard this process runs (empty before start). */
  shardReports(): ShardReport[];
  /** Guild counts and last event per shard, from the shaping stage (empty before start). */
  guildFacts(): ReadonlyMap<number, ShardGuildFacts>;
  /** The shaping stage's cache sizes. */
  cacheSizes(): { guilds: number; editedMessages: number };
  /** Events waiting for delivery, of one shard or of all (zero before start). */
  queueDepth(shardId?: number): { memory: number; disk: number };
  /** Age of the oldest waiting event, ms (0 when none or before start). */
  backlogAgeMs(): number;
  /** Why the event handler is not taking events, while it is not. */
  handlerProblem(): HandlerStatus | undefined;
  /** The worker threads holding the shards (empty when they run in the main thread). */
  workers(): WorkerInfo[];
  /** Sends a gateway command on a shard this process runs; throws `ShardUnavailableError`. */
  send(shardId: number, payload: GatewayCommand): Promise<void>;
  /** Reconnects a shard this process runs; throws `ShardUnavailableError`. */
  restart(shardId: number): Promise<void>;
  /** Present in a cluster on Redis. */
  cluster?: ClusterInputs;
  /** Sends the dead letters again; absent where the service cannot. */
  redeliverDeadLetters?(): Promise<RedeliverResult>;
  /** Starts a reshard; absent where the service cannot. */
  reshard?(request: { totalShards?: number }): Promise<ReshardAnswer>;
  /** Where resharding stands. */
  reshardStatus?(): ReshardStatus;
  /** With `TRANSPORT=redis-streams`: the transport's counters. */
  streams?(): RedisStreamsStats | undefined;
}

/** The queue throws before `start()`; the API shows that as "nothing queued". */
function beforeStart<T>(read: () => T, fallback: T): T {
  try {
    return read();
  } catch {
    return fallback;
  }
}

/** The {@linkcode ControlInputs} of a service in this process. */
export function controlInputsOf(service: Service): ControlInputs {
  const cluster = service.cluster;
  return {
    stats: () => service.stats,
    counters: () => service.counters,
    shardReports: () => service.group?.status() ?? [],
    guildFacts: () => service.shaper?.health() ?? new Map(),
    cacheSizes: () => service.shaper?.stats() ?? { guilds: 0, editedMessages: 0 },
    queueDepth: (shardId) =>
      beforeStart(() => service.queue.depth(shardId), { memory: 0, disk: 0 }),
    backlogAgeMs: () => beforeStart(() => service.queue.backlogAgeMs(), 0),
    handlerProblem: () =>
      beforeStart(() => {
        const p = service.queue.handlerProblem();
        return p && { kind: p.kind, status: p.status, hint: p.hint, since: p.since };
      }, undefined),
    workers: () => service.workers(),
    send: (shardId, payload) => service.send(shardId, payload),
    restart: async (shardId) => {
      await service.group?.restart(shardId);
    },
    cluster: cluster && {
      memberId: cluster.memberId,
      runsHere: (shardId) => service.runsShard(shardId),
      view: (total) => cluster.view(total),
      leaseAges: (total) => cluster.leasesFor(total)?.confirmedAgo(),
      problem: () => cluster.problem(),
      forward: (shardId, total, command) => cluster.forward(shardId, total, command),
      handleCommands: (handler) => cluster.handleCommands(handler),
    },
    redeliverDeadLetters: () => service.redeliverDeadLetters(),
    reshard: (request) => service.reshard(request),
    reshardStatus: () => service.reshardStatus(),
    streams: () => service.streamStats(),
  };
}
