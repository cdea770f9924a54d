/**
 * A shard group: a set of shards of one shard count behind a small interface of plain
 * data in and plain data out. The rest of the service never touches a Discordeno shard
 * or manager; the group keeps them inside. A reshard runs two groups side by side; a
 * worker thread or another host can implement the same interface over messages.
 * @module
 */
import { type DiscordenoShard, type GatewayManager, ShardState } from "../../deps.ts";
import type { Logger } from "../log.ts";
import type { GatewayBotInfo } from "../rest/gateway_bot.ts";
import type { FatalGatewayError } from "./close_codes.ts";
import type { IdentifyQueue } from "./identify_queue.ts";
import type { SessionRecord } from "./sessions.ts";
import {
  createShardGateway,
  type DispatchPayload,
  type GatewayDispatch,
  type ShardEvent,
} from "./shards.ts";

/** A shard's connection state, by name. */
export type ShardStateName =
  | "connected"
  | "connecting"
  | "identifying"
  | "resuming"
  | "disconnected"
  | "offline"
  | "unidentified";

const STATE_NAMES: Record<number, ShardStateName> = {
  [ShardState.Connected]: "connected",
  [ShardState.Connecting]: "connecting",
  [ShardState.Disconnected]: "disconnected",
  [ShardState.Unidentified]: "unidentified",
  [ShardState.Identifying]: "identifying",
  [ShardState.Resuming]: "resuming",
  [ShardState.Offline]: "offline",
};

/** One shard of a group, as plain data. */
export interface ShardReport {
  shardId: number;
  /** The group's shard count: it tells two groups' shard `n` apart. */
  totalShards: number;
  /** `"identifying"` until the shard is built. */
  state: ShardStateName;
  /** Last heartbeat round trip; `null` before the first ACK. */
  latencyMs: number | null;
  sessionId: string | null;
  /** Commands this shard may send per minute besides its heartbeats. */
  commandLimit: number;
}

/** A resumable session of one shard (the group's part of a {@linkcode SessionRecord}). */
export interface ShardSession {
  shardId: number;
  totalShards: number;
  sessionId: string;
  resumeGatewayUrl: string;
  /** The last sequence number received. */
  lastSeq: number;
}

/** A gateway command (op 3 presence, 4 voice, 8 member request, ...). */
export interface GatewayCommand {
  op: number;
  d: unknown;
}

/** Why {@linkcode ShardGroup.send} or `restart` could not act; plain data for a caller to map. */
export class ShardUnavailableError extends Error {
  constructor(
    readonly shardId: number,
    /** `not-owned`: not in this group; `not-connected`: try again shortly. */
    readonly kind: "not-owned" | "not-connected",
    message: string,
  ) {
    super(message);
    this.name = "ShardUnavailableError";
  }
}

/** Options of {@linkcode createShardGroup}. */
export interface ShardGroupOptions {
  token: string;
  intents: number;
  /** What `GET /gateway/bot` returned. */
  info: GatewayBotInfo;
  totalShards: number;
  firstShardId: number;
  /** Inclusive. */
  lastShardId: number;
  /** Every identify waits here; a reshard's two groups share one. */
  identifyQueue: IdentifyQueue;
  /** Stored sessions to resume instead of identifying. */
  sessions?: ReadonlyMap<number, SessionRecord>;
  /** The shards `spawn` starts; others join with `add`. @default every shard of the range */
  shardIds?: readonly number[];
  /** Asked before a shard connects or reconnects (a cluster lease); `false` takes it offline. */
  mayConnect?(shardId: number): boolean;
  /** The presence (op 3 `d`) to identify with, e.g. the one set before a reshard. */
  presence?: () => unknown;
  /** Receives every dispatch (carrying `totalShards`); must not throw. */
  onDispatch(dispatch: GatewayDispatch, payload: DispatchPayload): void;
  /** A close code the group cannot recover from (4004, 4010-4014). */
  onFatal(error: FatalGatewayError): void;
  onShardEvent?(shardId: number, event: ShardEvent, detail?: { code?: number }): void;
  /**
   * Override points in Discordeno's style, run in the thread that holds the shards:
   * the manager before shards spawn, and every shard when built (see `controller.ts`).
   */
  customize?: {
    manager?(manager: GatewayManager): void;
    shard?(shard: DiscordenoShard): void;
  };
  logger: Logger;
  reconnect?: { baseMs?: number; maxMs?: number };
  timeouts?: { connectMs?: number; closeMs?: number };
}

/** A set of shards of one shard count. Every method takes and returns plain data. */
export interface ShardGroup {
  readonly totalShards: number;
  readonly firstShardId: number;
  readonly lastShardId: number;
  /** Resumes stored sessions and identifies the rest; resolves once spawning began. */
  spawn(): Promise<void>;
  /** Closes every shard: 3000 keeps sessions resumable, 1000 ends them. Pending identifies stop. */
  stop(code: number, reason: string): Promise<void>;
  status(): ShardReport[];
  /** Sends a command on a connected shard; throws {@linkcode ShardUnavailableError}. */
  send(shardId: number, payload: GatewayCommand): Promise<void>;
  /** Reconnects a shard, resuming its session. */
  restart(shardId: number): Promise<void>;
  /** The resumable sessions now (shards that are offline or never identified are left out). */
  sessions(): ShardSession[];
  /** The shards the group runs now (the range, or what `add` and `remove` left). */
  shardIds(): number[];
  /** Starts one more shard of the range: resumes `stored` if given, else identifies. */
  add(shardId: number, stored?: SessionRecord): Promise<void>;
  /**
   * Closes one shard (3000 keeps its session resumable elsewhere) and returns its session as
   * it was at the close, so whoever takes the shard over can resume it.
   */
  remove(shardId: number, code: number, reason: string): Promise<ShardSession | undefined>;
}

function sessionOf(shardId: number, s: DiscordenoShard): ShardSession {
  return {
    shardId,
    totalShards: s.connection.totalShards,
    sessionId: s.sessionId!,
    resumeGatewayUrl: s.resumeGatewayUrl,
    lastSeq: s.previousSequenceNumber ?? 0,
  };
}

/** Creates a {@linkcode ShardGroup} whose shards live in this thread (Discordeno's manager inside). */
export function createShardGroup(options: ShardGroupOptions): ShardGroup {
  const { totalShards, firstShardId, lastShardId } = options;
  const abort = new AbortController();
  const owned = new Set<number>();
  if (options.shardIds) {
    for (const id of options.shardIds) owned.add(id);
  } else {
    for (let id = firstShardId; id <= lastShardId; id++) owned.add(id);
  }
  const gateway = createShardGateway({
    token: options.token,
    intents: options.intents,
    info: options.info,
    totalShards,
    firstShardId,
    lastShardId,
    identifyQueue: options.identifyQueue,
    sessions: options.sessions,
    shardIds: [...owned],
    // A removed shard's pending reconnect must not bring it back.
    mayConnect: (id) => owned.has(id) && (options.mayConnect?.(id) ?? true),
    logger: options.logger.with({ totalShards }),
    signal: abort.signal,
    reconnect: options.reconnect,
    timeouts: options.timeouts,
    onDispatch: options.onDispatch,
    onFatal: options.onFatal,
    onShardEvent: options.onShardEvent,
    onShardCreated: options.customize?.shard,
  });
  if (options.presence) {
    const presence = options.presence;
    gateway.makePresence = () => Promise.resolve(presence() as never);
  }
  options.customize?.manager?.(gateway);

  const shard = (shardId: number): DiscordenoShard => {
    if (!owned.has(shardId)) {
      throw new ShardUnavailableError(
        shardId,
        "not-owned",
        `shard ${shardId} is not run by this group (${firstShardId}-${lastShardId} of ${totalShards})`,
      );
    }
    const s = gateway.shards.get(shardId);
    if (!s) {
      throw new ShardUnavailableError(
        shardId,
        "not-connected",
        `shard ${shardId} has not connected yet`,
      );
    }
    return s;
  };

  return {
    totalShards,
    firstShardId,
    lastShardId,
    spawn: () => gateway.spawnShards(),
    async stop(code, reason) {
      abort.abort(new Error("shard group stopping"));
      await gateway.shutdown(code, reason);
    },
    status() {
      const out: ShardReport[] = [];
      for (const id of [...owned].sort((a, b) => a - b)) {
        const s = gateway.shards.get(id);
        out.push({
          shardId: id,
          totalShards,
          state: s ? STATE_NAMES[s.state] ?? "offline" : "identifying",
          latencyMs: s?.heart.rtt ?? null,
          sessionId: s?.sessionId ?? null,
          commandLimit: s ? Math.max(1, s.calculateSafeRequests() - 2) : 0,
        });
      }
      return out;
    },
    async send(shardId, payload) {
      const s = shard(shardId);
      if (s.state !== ShardState.Connected) {
        throw new ShardUnavailableError(
          shardId,
          "not-connected",
          `shard ${shardId} is ${STATE_NAMES[s.state]}; try again shortly`,
        );
      }
      await s.send(payload as Parameters<typeof s.send>[0]);
    },
    async restart(shardId) {
      const s = shard(shardId);
      // Resuming keeps the session: Discord replays what arrives meanwhile.
      s.resume().catch(() => {});
      await Promise.resolve();
    },
    sessions() {
      const out: ShardSession[] = [];
      for (const [id, s] of gateway.shards) {
        if (!owned.has(id) || !s.sessionId || s.state === ShardState.Offline) continue;
        out.push(sessionOf(id, s));
      }
      return out;
    },
    shardIds: () => [...owned].sort((a, b) => a - b),
    async add(shardId, stored) {
      if (shardId < firstShardId || shardId > lastShardId) {
        throw new RangeError(`shard ${shardId} is outside ${firstShardId}-${lastShardId}`);
      }
      if (owned.has(shardId)) return;
      owned.add(shardId);
      // A shard removed earlier is built afresh (its old object may still be closing).
      gateway.shards.delete(shardId);
      await gateway.spawnShard(shardId, stored);
    },
    async remove(shardId, code, reason) {
      if (!owned.delete(shardId)) return undefined;
      const s = gateway.shards.get(shardId);
      if (!s) return undefined;
      const session = s.sessionId ? sessionOf(shardId, s) : undefined;
      gateway.shards.delete(shardId);
      s.stopHeartbeating();
      await s.close(code, reason).catch(() => {});
      s.state = ShardState.Offline;
      return session;
    },
  };
}
