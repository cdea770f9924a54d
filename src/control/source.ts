/**
 * What the control API may see and do, as one narrow interface
 * ({@linkcode ControlSource}), built from the stages' narrow inputs
 * ({@linkcode createControlSourceFrom}) or from a running service in this
 * process ({@linkcode createControlSource}). A multi-process setup can
 * implement the same interface over Redis or HTTP; tests hand the HTTP handler
 * a fake one.
 * @module
 */
import type { DeliveryCounters } from "../counters.ts";
import type { RedeliverResult } from "../delivery/redeliver.ts";
import type { ReshardAnswer, ReshardStatus } from "../reshard/resharder.ts";
import type { WorkerInfo } from "../workers/worker_set.ts";
import type { RedisStreamsStats } from "../transport/redis_streams.ts";
import type { GatewayStats, Service } from "../service.ts";
import { createEventRates } from "./event_rates.ts";
import { type ControlInputs, controlInputsOf } from "./inputs.ts";
import { readinessOf } from "./readiness.ts";
import { createShardCommands } from "./shard_commands.ts";
import { listShards } from "./shard_list.ts";
import type {
  GatewayPayload,
  HandlerStatus,
  HistoryPoint,
  ReadinessAnswer,
  ShardRange,
  ShardStatus,
} from "./wire.ts";

/** The control API's view of the service. */
export interface ControlSource {
  alive(): boolean;
  /** Ready when every owned shard is live, or down for less than the grace period. */
  readiness(): ReadinessAnswer;
  range(): ShardRange | undefined;
  shards(): ShardStatus[];
  /** The shard a guild's events and commands belong to, or undefined before start. */
  shardForGuild(guildId: string): number | undefined;
  /** Sends a gateway command within the shard's budget; throws `HttpError`. */
  send(shardId: number, payload: GatewayPayload): Promise<void>;
  /** Reconnects a shard (resuming its session). */
  restart(shardId: number): Promise<void>;
  counters(): DeliveryCounters;
  stats(): GatewayStats;
  backlogAgeMs(): number;
  /** Why the event handler is not taking events, while it is not. */
  handlerProblem?(): HandlerStatus | undefined;
  cacheSizes(): { guilds: number; editedMessages: number };
  history(): HistoryPoint[];
  /**
   * Sends the dead letters again and keeps those still failing (`POST /dead-letters/redeliver`);
   * absent where the service cannot (the route then answers 501).
   */
  redeliverDeadLetters?(): Promise<RedeliverResult>;
  /** Starts a reshard (`POST /reshard`); absent where the service cannot (the route answers 501). */
  reshard?(request: { totalShards?: number }): Promise<ReshardAnswer>;
  /** Where resharding stands (`GET /reshard`, `/status`, `/metrics`). */
  reshardStatus?(): ReshardStatus;
  /** The worker threads holding the shards (empty when they run in the main thread). */
  workers?(): WorkerInfo[];
  /** With `TRANSPORT=redis-streams`: the transport's counters. */
  streams?(): RedisStreamsStats | undefined;
  close(): void;
}

/** Options of {@linkcode createControlSourceFrom} and {@linkcode createControlSource}. */
export interface ControlSourceOptions {
  alive(): boolean;
  /** A shard down for less than this still counts as ready (a resume in progress), ms. @default 30000 */
  readyGraceMs?: number;
  /** @default Date.now */
  now?: () => number;
}

/**
 * The {@linkcode ControlSource} over the stages' inputs. It samples event rates every
 * second until `close()`, and in a cluster takes the commands other processes pass on.
 */
export function createControlSourceFrom(
  inputs: ControlInputs,
  options: ControlSourceOptions,
): ControlSource {
  const { alive, readyGraceMs = 30_000, now = Date.now } = options;
  const queued = () => {
    const depth = inputs.queueDepth();
    return depth.memory + depth.disk;
  };
  const rates = createEventRates({ counters: () => inputs.counters(), queueDepth: queued, now });
  const commands = createShardCommands(inputs, { now });
  return {
    alive,
    readiness: () => readinessOf(inputs, { alive, readyGraceMs, now }),
    range: () => inputs.stats().range,
    shards: () => listShards(inputs, rates.rate, now),
    shardForGuild(guildId) {
      const range = inputs.stats().range;
      if (!range) return undefined;
      return Number((BigInt(guildId) >> 22n) % BigInt(range.total));
    },
    send: commands.send,
    restart: commands.restart,
    counters: () => inputs.counters(),
    stats: () => inputs.stats(),
    backlogAgeMs: () => inputs.backlogAgeMs(),
    handlerProblem: () => inputs.handlerProblem(),
    cacheSizes: () => inputs.cacheSizes(),
    history: rates.history,
    workers: () => inputs.workers(),
    // Optional inputs stay absent, so their routes answer 501.
    redeliverDeadLetters: inputs.redeliverDeadLetters && (() => inputs.redeliverDeadLetters!()),
    reshard: inputs.reshard && ((request) => inputs.reshard!(request)),
    reshardStatus: inputs.reshardStatus && (() => inputs.reshardStatus!()),
    streams: inputs.streams && (() => inputs.streams!()),
    close: rates.close,
  };
}

/** The {@linkcode ControlSource} of a service in this process. */
export function createControlSource(
  service: Service,
  options: ControlSourceOptions,
): ControlSource {
  return createControlSourceFrom(controlInputsOf(service), options);
}
