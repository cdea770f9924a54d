/**
 * The HTTP API's wire types: the JSON bodies the control API answers and takes.
 * One name per concept, shared by the server (`server.ts`), its data source
 * (`source.ts`), the status page and the bot's client (`src/client.ts`).
 * Types only: importing this module runs no code.
 * @module
 */
import type { ShardStateName } from "../gateway/group.ts";
import type { RedeliverResult } from "../delivery/redeliver.ts";
import type { ReshardPlan } from "../reshard/plan.ts";
import type { ReshardStatus } from "../reshard/resharder.ts";
import type { WorkerInfo } from "../workers/worker_set.ts";

export type { RedeliverResult, ReshardPlan, ReshardStatus, WorkerInfo };

/** Connection state of one shard (the shard group's names). */
export type ShardState = ShardStateName;

/** The shard ids a process runs (`first..last`) out of the bot's `total`. */
export interface ShardRange {
  first: number;
  last: number;
  total: number;
}

/** One shard as `GET /shards` and `GET /status` show it. */
export interface ShardStatus {
  id: number;
  /** Shard count of the set this shard belongs to (it changes with a reshard). */
  totalShards: number;
  state: ShardState;
  /** Last heartbeat round trip; `null` before the first ACK. */
  latencyMs: number | null;
  guilds: number;
  /** Guilds Discord reports as unavailable (outage). */
  unavailable: number;
  /** Guilds announced in READY whose GUILD_CREATE has not arrived yet. */
  loading: number;
  sessionId: string | null;
  /** Epoch ms of the last dispatch received; `null` if none yet. */
  lastEventAt: number | null;
  eventsPerSecond: number;
  /** Events waiting for delivery, held in memory and spilled to disk. */
  queue: { memory: number; disk: number };
  /** In a cluster on Redis: the process holding the shard (absent: none holds it now). */
  member?: string;
  /** In a cluster: ms since the holder last confirmed the shard's lease. */
  leaseAgeMs?: number;
}

/** One point of the status history (one every 5 s, last 10 minutes). */
export interface HistoryPoint {
  /** Epoch ms. */
  at: number;
  eventsPerSecond: number;
  queueDepth: number;
}

/** The event handler's trouble, as `GET /status` reports it. */
export interface HandlerStatus {
  /** `unavailable`: a setting is wrong (3xx, 401, 403, 404, 405); `failing`: errors, 5xx, down. */
  kind: "unavailable" | "failing";
  status?: number;
  /** What to check. */
  hint: string;
  /** Epoch ms of the first failure in this stretch. */
  since: number;
}

/** The delivery totals of a {@linkcode StatusSnapshot}. */
export interface StatusTotals {
  received: number;
  delivered: number;
  dropped: number;
  deferred: number;
  deadLettered: number;
  queuedMemory: number;
  queuedDisk: number;
  /** Age of the oldest undelivered event; 0 when nothing is queued. */
  backlogAgeMs: number;
}

/** The JSON body of `GET /status`. */
export interface StatusSnapshot {
  /** Epoch ms when the snapshot was taken. */
  generatedAt: number;
  /** The shard ids this process runs; `{first: 0, last: -1, total: 0}` before start. */
  range: ShardRange;
  shards: ShardStatus[];
  totals: StatusTotals;
  /** Oldest first. */
  history: HistoryPoint[];
  /** Why the event handler is not taking events, while it is not. */
  handler?: HandlerStatus;
  /** Where resharding stands (see `GET /reshard`). */
  reshard?: ReshardStatus;
  /** The worker threads holding the shards (`TOTAL_WORKERS`); absent or empty without them. */
  workers?: WorkerInfo[];
}

/** `GET /shards`. */
export interface ShardsAnswer {
  /** `null` before start. */
  range: ShardRange | null;
  shards: ShardStatus[];
}

/** `GET /guilds/:guildId/shard`. */
export interface GuildShardAnswer {
  guildId: string;
  shardId: number;
  latencyMs: number | null;
  /** Whether the shard runs in the process that answered. */
  inThisProcess: boolean;
}

/** `GET /healthz`: 200 `ok`, 503 `stopping`. */
export interface HealthAnswer {
  status: "ok" | "stopping";
}

/** `GET /readyz`: 200 when ready, else 503 with the reasons. */
export interface ReadinessAnswer {
  ready: boolean;
  reasons: string[];
}

/** Every 4xx and 5xx answer. */
export interface ErrorAnswer {
  error: string;
}

/** A gateway activity (`type` 0 playing, 1 streaming, 2 listening, 3 watching, 4 custom, 5 competing). */
export interface Activity {
  name: string;
  type: number;
  url?: string;
  state?: string;
}

/** The body of `POST /shards/presence`. */
export interface PresenceRequest {
  status: "online" | "idle" | "dnd" | "invisible";
  activities?: Activity[];
  afk?: boolean;
  since?: number | null;
  /** One shard; absent: every shard of that process. */
  shardId?: number;
}

/** `POST /shards/presence`: 200, or 207 when some shards failed. */
export interface PresenceAnswer {
  updated: number;
  failed: { shardId: number; error: string }[];
}

/** The body of `POST /guilds/:guildId/members` (op 8); give `query` or `userIds`. */
export interface MembersRequest {
  /** `""` for all members. */
  query?: string;
  /** 0 to 100. */
  limit?: number;
  /** Up to 100 snowflakes. */
  userIds?: string[];
  presences?: boolean;
  /** Up to 32 characters; generated when absent. */
  nonce?: string;
}

/** `POST /guilds/:guildId/members`: 202; the chunks reach the event handler with this nonce. */
export interface MembersAnswer {
  shardId: number;
  nonce: string;
}

/** The body of `POST /guilds/:guildId/voice` (op 4). */
export interface VoiceStateRequest {
  /** `null` leaves. */
  channelId: string | null;
  selfMute?: boolean;
  selfDeaf?: boolean;
}

/** A gateway command (`POST /shards/:shardId/payload`; not heartbeat, identify or resume). */
export interface GatewayPayload {
  op: number;
  d: unknown;
}

/** `POST /guilds/:guildId/voice` and `POST /shards/:shardId/payload`: 202. */
export interface CommandAnswer {
  shardId: number;
}

/** `POST /shards/:shardId/restart`: 202. */
export interface RestartAnswer {
  shardId: number;
  restarting: true;
}
