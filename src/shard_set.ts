/**
 * One shard set at run time: its shard group, its own shaping stage (guild facts are per
 * set: the same guild sits on shard 1 of 2 and shard 3 of 4), which shards are down, and
 * whether its events are delivered. Normally there is one set; a reshard runs two.
 * @module
 */
import type { Config } from "../configs.ts";
import type { Controller, ControllerContext } from "./controller.ts";
import type { DeliveryCounters, QueuedEvent } from "./delivery/mod.ts";
import {
  createShardGroup,
  type DispatchPayload,
  type GatewayDispatch,
  type SessionRecord,
  type ShardGroup,
  type ShardGroupOptions,
  type ShardSession,
} from "./gateway/mod.ts";
import type { Logger } from "./log.ts";
import { createShaper, type Shaper } from "./shaping/mod.ts";

/**
 * What happens to a set's events: `deliver` (the live set), `observe` (a new set being
 * prepared: shaped, so its guild facts are right, delivered only where the live set cannot),
 * `overlap` (both sets deliver, each dispatch once), `closed`.
 */
export type SetMode = "deliver" | "observe" | "overlap" | "closed";

/** What every shard set takes, wherever its shards run (this thread, or workers). */
export interface ShardSetBaseOptions extends
  Pick<
    ShardGroupOptions,
    | "info"
    | "totalShards"
    | "firstShardId"
    | "lastShardId"
    | "identifyQueue"
    | "sessions"
    | "shardIds"
    | "mayConnect"
    | "presence"
    | "onFatal"
    | "onShardEvent"
  > {
  config: Config;
  logger: Logger;
  /**
   * Until when (epoch ms) a shard's lease is trusted: shards on worker threads cannot ask
   * `mayConnect` across threads, so their workers are told this instead.
   */
  leaseUntil?(shardId: number): number;
  mode: SetMode;
  /** Into the delivery queue. */
  push(event: QueuedEvent): void;
  /** In `observe` and `overlap` mode: whether this event, shaped from that dispatch, is delivered. */
  admit(set: ShardSet, facts: DispatchFacts, event: QueuedEvent): boolean;
}

/** Options of {@linkcode createShardSet}. */
export interface ShardSetOptions extends ShardSetBaseOptions {
  controller: Controller;
  counters: DeliveryCounters;
}

/** What the switch of a reshard needs to know of a dispatch: plain data, so a worker can send it. */
export interface DispatchFacts {
  t: string;
  /** Discord's `d` as JSON text (the same in every set that receives the dispatch). */
  d: string;
  /** The guild the dispatch is about, if any. */
  guildId?: string;
}

/** The {@linkcode DispatchFacts} of a dispatch. */
export function dispatchFacts(payload: DispatchPayload): DispatchFacts {
  const d = payload.d as { guild_id?: unknown; id?: unknown } | null;
  const guildId = typeof d?.guild_id === "string"
    ? d.guild_id
    : payload.t.startsWith("GUILD_") && typeof d?.id === "string"
    ? d.id
    : undefined;
  return { t: payload.t, d: JSON.stringify(payload.d) ?? "", guildId };
}

/** A running shard set. */
export interface ShardSet {
  readonly totalShards: number;
  readonly firstShardId: number;
  readonly lastShardId: number;
  readonly group: ShardGroup;
  readonly shaper: Shaper;
  mode: SetMode;
  /** Since when a shard is not READY/RESUMED (absent = live). */
  readonly downSince: Map<number, number>;
}

/** Shards of the set that are READY and whose guilds have all arrived. */
export function loadedShards(set: ShardSet): number {
  const health = set.shaper.health();
  let n = 0;
  for (const id of set.group.shardIds()) {
    if (!set.downSince.has(id) && (health.get(id)?.loading ?? 0) === 0) n++;
  }
  return n;
}

/** Guilds the set's shards hold. */
export function guildCount(set: ShardSet): number {
  let n = 0;
  for (const facts of set.shaper.health().values()) n += facts.guilds;
  return n;
}

/** Starts one more shard of the set's range (a cluster lease won): resumes `stored` if given. */
export function addShard(set: ShardSet, shardId: number, stored?: SessionRecord): Promise<void> {
  if (!set.group.shardIds().includes(shardId)) set.downSince.set(shardId, Date.now());
  return set.group.add(shardId, stored);
}

/** Stops one shard of the set (a lease lost or handed over) and returns its session. */
export async function removeShard(
  set: ShardSet,
  shardId: number,
  code: number,
  reason: string,
): Promise<ShardSession | undefined> {
  const session = await set.group.remove(shardId, code, reason);
  set.downSince.delete(shardId);
  return session;
}

/** Creates a {@linkcode ShardSet}; its shards connect on `group.spawn()`. */
export function createShardSet(options: ShardSetOptions): ShardSet {
  const { config, logger, controller, totalShards, firstShardId, lastShardId } = options;
  const ctx: ControllerContext = { config, logger };
  const downSince = new Map<number, number>();
  if (options.shardIds) {
    for (const id of options.shardIds) downSince.set(id, Date.now());
  } else {
    for (let id = firstShardId; id <= lastShardId; id++) downSince.set(id, Date.now());
  }
  const delivering = () => set.mode === "deliver" || set.mode === "overlap";
  const emit = (event: QueuedEvent) => {
    if (delivering()) options.push(event);
  };
  const defaultShaper = createShaper({
    counters: options.counters,
    emit,
    allow: config.shaping.allow,
    deny: config.shaping.deny,
    dedupeMessageUpdates: config.shaping.dedupeMessageUpdates,
    editedMessagesMax: config.shaping.editedMessagesMax,
    editedMessagesTtlMs: config.shaping.editedMessagesTtlMs,
    guildLoadTimeoutMs: config.shaping.guildLoadTimeoutMs,
    forwardGuildOutages: config.shaping.forwardGuildOutages,
  });
  const shaper = controller.shaper?.(ctx, defaultShaper, emit) ?? defaultShaper;
  const next = (dispatch: GatewayDispatch, payload: DispatchPayload) => {
    // Shaped whatever the mode: the set's guild facts must be right when it goes live.
    const events = shaper.shape(dispatch, payload);
    if (set.mode === "deliver") {
      for (const event of events) options.push(event);
    } else if (set.mode !== "closed" && events.length > 0) {
      const facts = dispatchFacts(payload);
      for (const event of events) if (options.admit(set, facts, event)) options.push(event);
    }
  };
  const group = createShardGroup({
    token: config.discordToken,
    intents: config.intents,
    info: options.info,
    totalShards,
    firstShardId,
    lastShardId,
    identifyQueue: options.identifyQueue,
    sessions: options.sessions,
    shardIds: options.shardIds,
    mayConnect: options.mayConnect,
    presence: options.presence,
    logger,
    onDispatch(dispatch, payload) {
      if (controller.onDispatch) controller.onDispatch(dispatch, payload, next);
      else next(dispatch, payload);
    },
    onFatal: options.onFatal,
    onShardEvent(shardId, event, detail) {
      if (event === "disconnected" && !downSince.has(shardId)) downSince.set(shardId, Date.now());
      if (event === "ready" || event === "resumed") downSince.delete(shardId);
      options.onShardEvent?.(shardId, event, detail);
    },
    customize: {
      manager(manager) {
        controller.gateway?.(manager, ctx);
      },
      shard: controller.shard && ((shard) => controller.shard!(shard, ctx)),
    },
  });
  const set: ShardSet = {
    totalShards,
    firstShardId,
    lastShardId,
    group,
    shaper,
    mode: options.mode,
    downSince,
  };
  return set;
}
