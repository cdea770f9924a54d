/**
 * The messages between the main thread and a shard worker: plain data only, so the same
 * protocol could run over a socket between hosts.
 * @module
 */
import type { Config } from "../../configs.ts";
import type { QueuedEvent } from "../delivery/types.ts";
import type { SessionRecord, ShardEvent, ShardReport, ShardSession } from "../gateway/mod.ts";
import type { GatewayBotInfo } from "../rest/gateway_bot.ts";
import type { ShardGuildFacts } from "../shaping/guilds.ts";
import type { DispatchFacts, SetMode } from "../shard_set.ts";

/** What a worker needs to run its shards. */
export interface WorkerStart {
  type: "start";
  config: Config;
  info: GatewayBotInfo;
  totalShards: number;
  firstShardId: number;
  lastShardId: number;
  sessions: SessionRecord[];
  presence?: unknown;
  mode: SetMode;
  /** The shards to start (a cluster's leases); absent: the whole range. */
  shardIds?: number[];
  /** Whether shards need a lease deadline (`fence`) to connect (a cluster on Redis). */
  fenced?: boolean;
}

/** Main thread -> worker. */
export type ToWorker =
  | WorkerStart
  | { type: "spawn" }
  | { type: "granted"; id: number }
  | { type: "send"; id: number; shardId: number; payload: { op: number; d: unknown } }
  | { type: "restart"; id: number; shardId: number }
  | { type: "mode"; mode: SetMode }
  | { type: "stop"; id: number; code: number; reason: string }
  | { type: "add"; id: number; shardId: number; stored?: SessionRecord }
  | { type: "remove"; id: number; shardId: number; code: number; reason: string }
  /** Until when (epoch ms) each shard's lease is trusted; a shard past it does not connect. */
  | { type: "fence"; until: [number, number][] }
  | { type: "ping"; id: number };

/** An event shaped in the worker; `facts` when the main thread must decide (a reshard). */
export type WorkerEvent = QueuedEvent & { facts?: DispatchFacts };

/** What a worker reports about its shards (every 500 ms and on every shard event). */
export interface WorkerSnapshot {
  reports: ShardReport[];
  sessions: ShardSession[];
  health: [number, ShardGuildFacts][];
  cache: { guilds: number; editedMessages: number };
  heapUsed: number;
  /** The shaping stage's drops by rule since the worker started. */
  droppedByRule: [string, number][];
}

/** Worker -> main thread. */
export type FromWorker =
  | { type: "ready" }
  | { type: "events"; events: WorkerEvent[] }
  | { type: "shard-event"; shardId: number; event: ShardEvent; detail?: { code?: number } }
  | { type: "fatal"; shardId: number; code: number; message: string }
  | { type: "identify"; id: number; shardId: number }
  | { type: "identify-sent"; id: number }
  | { type: "snapshot"; snapshot: WorkerSnapshot }
  | {
    type: "reply";
    id: number;
    error?: { kind: "not-owned" | "not-connected" | "other"; message: string };
    /** A removed shard's session, for the next holder. */
    session?: ShardSession;
  }
  | { type: "pong"; id: number };
