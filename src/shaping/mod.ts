/**
 * The shaping stage between the shards and the delivery queue: keeps the small
 * gateway-side cache (guild ids, loading guilds, edited messages), renames
 * GUILD_CREATEs that are not joins, drops MESSAGE_UPDATEs that change nothing,
 * applies the event filters, and turns a dispatch into the plain event the queue
 * carries.
 * @module
 */
import { bump, type DeliveryCounters } from "../counters.ts";
import type { QueuedEvent } from "../delivery/types.ts";
import type { DispatchPayload, GatewayDispatch } from "../gateway/shards.ts";
import { createEditedMessages, type MessageUpdateRule } from "./edited_messages.ts";
import { KNOWN_EVENTS, SYNTHETIC_EVENTS } from "./event_names.ts";
import { createGuildTracker, type ShardGuildFacts } from "./guilds.ts";

export * from "./edited_messages.ts";
export * from "./event_names.ts";
export * from "./guilds.ts";

/** The shaping stage. Replaceable as a whole by a controller, or tuned through its options. */
export interface Shaper {
  /** Zero, one or more events for the queue, in order. */
  shape(dispatch: GatewayDispatch, payload: DispatchPayload): QueuedEvent[];
  /** Per-shard guild counts and last event time. */
  health(): Map<number, ShardGuildFacts>;
  /** Cache sizes. */
  stats(): { guilds: number; editedMessages: number };
  /** Stops timers. */
  close(): void;
}

/** Options of {@linkcode createShaper}. */
export interface ShaperOptions {
  /** Where drops by rule are counted. */
  counters?: DeliveryCounters;
  /** Receives events created later (a guild load that timed out). */
  emit(event: QueuedEvent): void;
  /** Only these dispatches (READY, RESUMED and SHARD_GUILDS_LOADED_DD are kept unless denied; GUILD_CREATE admits its renamed forms). */
  allow?: readonly string[];
  /** Never these dispatches. */
  deny?: readonly string[];
  /** Drop MESSAGE_UPDATEs that change nothing. @default true */
  dedupeMessageUpdates?: boolean;
  /** Replaces the MESSAGE_UPDATE decision. */
  messageUpdateRule?: MessageUpdateRule;
  /** @default 250000 */
  editedMessagesMax?: number;
  /** @default 3600000 */
  editedMessagesTtlMs?: number;
  /** @default 60000 */
  guildLoadTimeoutMs?: number;
  /** @default true */
  forwardGuildOutages?: boolean;
  /** @default Date.now */
  now?: () => number;
}

/** Kept by an allowlist that does not name them (a denylist still can). */
const ALWAYS_KEPT = new Set<string>(["READY", "RESUMED", SYNTHETIC_EVENTS.shardGuildsLoaded]);

/** Creates the default {@linkcode Shaper}. */
export function createShaper(options: ShaperOptions): Shaper {
  const { counters, emit, dedupeMessageUpdates = true, now = Date.now } = options;
  for (const name of [...options.allow ?? [], ...options.deny ?? []]) {
    if (!KNOWN_EVENTS.has(name)) throw new TypeError(`unknown event name "${name}"`);
  }
  const allow = options.allow?.length ? new Set(options.allow) : undefined;
  const deny = new Set(options.deny ?? []);
  const dropped = (rule: string) => counters && bump(counters.droppedByRule, rule);
  const synthetic = (
    shardId: number,
    t: string,
    d: unknown,
    after: { s: number; receivedAt: number },
  ): QueuedEvent => ({
    shardId,
    t,
    s: after.s,
    receivedAt: after.receivedAt,
    raw: JSON.stringify({ op: 0, t, s: null, d }),
  });
  const guilds = createGuildTracker({
    loadTimeoutMs: options.guildLoadTimeoutMs,
    forwardOutages: options.forwardGuildOutages,
    now,
    onLoadTimeout(shardId, payload) {
      if (deny.has(SYNTHETIC_EVENTS.shardGuildsLoaded)) return;
      emit(
        synthetic(shardId, SYNTHETIC_EVENTS.shardGuildsLoaded, payload, {
          s: 0,
          receivedAt: now(),
        }),
      );
    },
  });
  const edited = createEditedMessages({
    maxSize: options.editedMessagesMax,
    ttlMs: options.editedMessagesTtlMs,
    rule: options.messageUpdateRule,
    now,
  });
  // A renamed GUILD_CREATE passes an allowlist naming either name.
  const passes = (t: string, original: string) => {
    if (deny.has(t)) return "filter-deny";
    if (allow && !allow.has(t) && !allow.has(original) && !ALWAYS_KEPT.has(t)) {
      return "filter-allow";
    }
    return undefined;
  };

  return {
    shape(dispatch, payload) {
      const d = (payload.d ?? {}) as Record<string, unknown>;
      let t = dispatch.t;
      let raw = dispatch.raw;
      const verdict = guilds.observe(dispatch.shardId, t, d);
      edited.observe(t, d);
      const out: QueuedEvent[] = [];
      let drop: string | undefined = verdict.drop;
      if (!drop && t === "MESSAGE_UPDATE" && dedupeMessageUpdates) {
        const v = edited.judge(d);
        if (v) drop = `message-update-${v}`;
      }
      if (verdict.rename) {
        raw = renameDispatch(raw, t, verdict.rename, payload);
        t = verdict.rename;
      }
      drop ??= passes(t, dispatch.t);
      if (drop) {
        dropped(drop);
      } else {
        const event: QueuedEvent = {
          shardId: dispatch.shardId,
          raw,
          t,
          s: dispatch.s,
          totalShards: dispatch.totalShards,
          session: dispatch.sessionId,
          receivedAt: dispatch.receivedAt,
        };
        if (t === "INTERACTION_CREATE") {
          const { id, token, type, message } = d as {
            id?: unknown;
            token?: unknown;
            type?: unknown;
            message?: unknown;
          };
          if (typeof id === "string" && typeof token === "string" && typeof type === "number") {
            event.interaction = { id, token, type, hasMessage: message != null };
          }
        }
        out.push(event);
      }
      if (verdict.loaded) {
        if (deny.has(SYNTHETIC_EVENTS.shardGuildsLoaded)) dropped("filter-deny");
        else {
          out.push(
            synthetic(
              dispatch.shardId,
              SYNTHETIC_EVENTS.shardGuildsLoaded,
              verdict.loaded,
              dispatch,
            ),
          );
        }
      }
      return out;
    },
    health: () => guilds.all(),
    stats: () => ({ guilds: guilds.size, editedMessages: edited.size }),
    close: () => guilds.close(),
  };
}

/**
 * Renames a dispatch without re-serializing a large payload (GUILD_CREATE can be
 * megabytes) when `"t":"NAME"` occurs exactly once in Discord's compact JSON; no
 * Discord object inside `d` has a `t` key, and any doubt falls back to re-serializing.
 */
function renameDispatch(raw: string, from: string, to: string, payload: DispatchPayload): string {
  const needle = `"t":"${from}"`;
  const at = raw.indexOf(needle);
  if (at !== -1 && raw.indexOf(needle, at + 1) === -1) {
    return raw.slice(0, at) + `"t":"${to}"` + raw.slice(at + needle.length);
  }
  return JSON.stringify({ ...payload, t: to });
}
