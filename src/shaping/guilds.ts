/**
 * `guildIds` / `loadingGuildIds`: which GUILD_CREATE is an initial load, a
 * join, or the end of an outage — facts only the gateway process can know
 * cheaply (Discord's payload does not say).
 * @module
 */
import { SYNTHETIC_EVENTS } from "./event_names.ts";

/** Per-shard facts for health checks. */
export interface ShardGuildFacts {
  /** Guilds available on the shard. */
  guilds: number;
  /** Guilds in an outage. */
  unavailable: number;
  /** Guilds READY listed that have not arrived yet. */
  loading: number;
  /** Whether SHARD_GUILDS_LOADED_DD went out for the current session. */
  loaded: boolean;
  /** Epoch ms of the shard's last dispatch. */
  lastEventAt: number;
}

/** What the tracker decided about one dispatch. */
export interface GuildVerdict {
  /** New dispatch name, when the event is renamed. */
  rename?: string;
  /** Drop it (an outage when outages are not forwarded). */
  drop?: "guild-outage";
  /** SHARD_GUILDS_LOADED_DD payload to send right after this event. */
  loaded?: Record<string, unknown>;
}

/** Options of {@linkcode createGuildTracker}. */
export interface GuildTrackerOptions {
  /** After READY, how long to wait for every listed guild before giving up, ms. @default 60000 */
  loadTimeoutMs?: number;
  /** Forward GUILD_DELETE with `unavailable: true`. @default true */
  forwardOutages?: boolean;
  /** Called when the load of a shard times out, with the SHARD_GUILDS_LOADED_DD payload. */
  onLoadTimeout(shardId: number, payload: Record<string, unknown>): void;
  /** @default Date.now */
  now?: () => number;
}

/** The guild tracker. */
export interface GuildTracker {
  /** Sees every dispatch of a shard (before any filter) and decides. */
  observe(shardId: number, t: string, d: Record<string, unknown>): GuildVerdict;
  facts(shardId: number): ShardGuildFacts | undefined;
  /** Every shard's facts. */
  all(): Map<number, ShardGuildFacts>;
  /** Guild ids known across shards. */
  readonly size: number;
  /** Clears pending load timers. */
  close(): void;
}

interface ShardState {
  guilds: Set<string>;
  loading: Set<string>;
  unavailable: Set<string>;
  listed: number;
  loaded: boolean;
  lastEventAt: number;
  timer?: ReturnType<typeof setTimeout>;
}

/** Creates a {@linkcode GuildTracker}. */
export function createGuildTracker(options: GuildTrackerOptions): GuildTracker {
  const { loadTimeoutMs = 60_000, forwardOutages = true, onLoadTimeout, now = Date.now } = options;
  const shards = new Map<number, ShardState>();
  const state = (id: number): ShardState => {
    let s = shards.get(id);
    if (!s) {
      s = {
        guilds: new Set(),
        loading: new Set(),
        unavailable: new Set(),
        listed: 0,
        loaded: true,
        lastEventAt: 0,
      };
      shards.set(id, s);
    }
    return s;
  };
  const loadedPayload = (shardId: number, s: ShardState, timedOut: boolean) => ({
    shard_id: shardId,
    guilds: s.guilds.size,
    unavailable: s.unavailable.size,
    listed: s.listed,
    timed_out: timedOut,
    missing: [...s.loading],
  });
  const checkLoaded = (shardId: number, s: ShardState): Record<string, unknown> | undefined => {
    if (s.loaded || s.loading.size > 0) return undefined;
    s.loaded = true;
    clearTimeout(s.timer);
    return loadedPayload(shardId, s, false);
  };

  return {
    get size() {
      let n = 0;
      for (const s of shards.values()) n += s.guilds.size + s.unavailable.size + s.loading.size;
      return n;
    },
    observe(shardId, t, d) {
      const s = state(shardId);
      s.lastEventAt = now();
      switch (t) {
        case "READY": {
          clearTimeout(s.timer);
          const listed = Array.isArray(d.guilds) ? d.guilds as { id: string }[] : [];
          s.loading = new Set(listed.map((g) => String(g.id)));
          s.guilds = new Set();
          s.unavailable = new Set();
          s.listed = s.loading.size;
          s.loaded = false;
          if (s.loading.size > 0) {
            s.timer = setTimeout(() => {
              if (s.loaded) return;
              s.loaded = true;
              onLoadTimeout(shardId, loadedPayload(shardId, s, true));
            }, loadTimeoutMs);
          }
          return { loaded: checkLoaded(shardId, s) };
        }
        case "GUILD_CREATE": {
          const id = String(d.id);
          if (d.unavailable === true) {
            s.loading.delete(id);
            s.unavailable.add(id);
            return { loaded: checkLoaded(shardId, s) };
          }
          if (s.loading.delete(id)) {
            s.guilds.add(id);
            s.unavailable.delete(id);
            return { rename: SYNTHETIC_EVENTS.guildLoaded, loaded: checkLoaded(shardId, s) };
          }
          if (s.unavailable.delete(id)) {
            s.guilds.add(id);
            return { rename: SYNTHETIC_EVENTS.guildAvailable };
          }
          s.guilds.add(id);
          return {};
        }
        case "GUILD_DELETE": {
          const id = String(d.id);
          if (d.unavailable === true) {
            const wasLoading = s.loading.delete(id);
            s.guilds.delete(id);
            s.unavailable.add(id);
            const loaded = wasLoading ? checkLoaded(shardId, s) : undefined;
            return forwardOutages ? { loaded } : { drop: "guild-outage", loaded };
          }
          s.guilds.delete(id);
          s.unavailable.delete(id);
          s.loading.delete(id);
          return { loaded: checkLoaded(shardId, s) };
        }
        default:
          return {};
      }
    },
    facts(shardId) {
      const s = shards.get(shardId);
      return s && {
        guilds: s.guilds.size,
        unavailable: s.unavailable.size,
        loading: s.loading.size,
        loaded: s.loaded,
        lastEventAt: s.lastEventAt,
      };
    },
    all() {
      const out = new Map<number, ShardGuildFacts>();
      for (const id of shards.keys()) out.set(id, this.facts(id)!);
      return out;
    },
    close() {
      for (const s of shards.values()) clearTimeout(s.timer);
    },
  };
}
