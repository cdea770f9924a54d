import { makeSnowflake, shardForGuild, snowflakeTimestamp } from "./snowflake.ts";

/**
 * Timestamp part of the first fixture guild: 2020-01-01 in Discord-epoch ms.
 * Guild n gets `FIRST_GUILD_TS + n`, so `id >> 22` is a counter and guilds
 * spread evenly over any shard count.
 */
const FIRST_GUILD_TS = 157_766_400_000n;

/** A guild the bot is in. */
export interface GuildEntry {
  id: string;
  /** false during an outage (GUILD_DELETE unavailable:true) until GUILD_CREATE. */
  available: boolean;
  joinedAt: string;
  /** Set by a GUILD_UPDATE; the fixture name otherwise. */
  name?: string;
}

/** The bot's guild list, shared by every session. */
export interface GuildRegistry {
  has(id: string): boolean;
  /** Number of guilds (those in an outage included). */
  size(): number;
  get(id: string): GuildEntry | undefined;
  /** Guilds routing to `shardId` for `numShards`, in join order. */
  forShard(shardId: number, numShards: number): GuildEntry[];
  countForShard(shardId: number, numShards: number): number;
  /** Adds a guild (a join); a new id routing to the shard when none is given. */
  join(shardId: number, numShards: number, id?: string): GuildEntry;
  setAvailable(id: string, available: boolean): void;
  rename(id: string, name: string): void;
  remove(id: string): void;
  /** Next available guild of a shard, round-robin; undefined when it has none. */
  pick(shardId: number, numShards: number): GuildEntry | undefined;
}

/** Creates the registry with `count` initial guilds. */
export function createGuildRegistry(count: number): GuildRegistry {
  const guilds = new Map<string, GuildEntry>();
  // Initial guilds joined a year before "now"; joined_at is informative only.
  const initialJoin = new Date(Date.now() - 365 * 86_400_000).toISOString();
  for (let i = 0; i < count; i++) {
    const id = makeSnowflake(FIRST_GUILD_TS + BigInt(i));
    guilds.set(id, { id, available: true, joinedAt: initialJoin });
  }
  let nextTs = FIRST_GUILD_TS + BigInt(count);
  const cursors = new Map<string, number>();
  // Per-shard lists are cached until the guild list changes: emitting at a
  // high rate must not scan every guild per event.
  let version = 0;
  const cache = new Map<string, { version: number; list: GuildEntry[] }>();

  const forShard = (shardId: number, numShards: number) => {
    const key = `${shardId}/${numShards}`;
    const hit = cache.get(key);
    if (hit && hit.version === version) return hit.list;
    const list: GuildEntry[] = [];
    for (const guild of guilds.values()) {
      if (shardForGuild(guild.id, numShards) === shardId) list.push(guild);
    }
    cache.set(key, { version, list });
    return list;
  };

  return {
    has: (id) => guilds.has(id),
    size: () => guilds.size,
    get: (id) => guilds.get(id),
    forShard: (shardId, numShards) => [...forShard(shardId, numShards)],
    countForShard: (shardId, numShards) => forShard(shardId, numShards).length,
    join(shardId, numShards, id) {
      if (id === undefined) {
        const n = BigInt(numShards);
        // Smallest unused timestamp part that routes to the shard.
        const ts = nextTs + ((BigInt(shardId) - nextTs % n) % n + n) % n;
        nextTs = ts + 1n;
        id = makeSnowflake(ts);
      } else if (snowflakeTimestamp(id) >= nextTs) {
        nextTs = snowflakeTimestamp(id) + 1n;
      }
      const entry = { id, available: true, joinedAt: new Date().toISOString() };
      guilds.set(id, entry);
      version++;
      return entry;
    },
    setAvailable(id, available) {
      const guild = guilds.get(id);
      if (guild && guild.available !== available) {
        guild.available = available;
        version++;
      }
    },
    rename(id, name) {
      const guild = guilds.get(id);
      if (guild) guild.name = name;
    },
    remove(id) {
      if (guilds.delete(id)) version++;
    },
    pick(shardId, numShards) {
      const list = forShard(shardId, numShards);
      const key = `${shardId}/${numShards}`;
      const cursor = cursors.get(key) ?? 0;
      // Walk at most one lap to skip guilds in an outage.
      for (let i = 0; i < list.length; i++) {
        const guild = list[(cursor + i) % list.length];
        if (guild.available) {
          cursors.set(key, cursor + i + 1);
          return guild;
        }
      }
      return undefined;
    },
  };
}

/**
 * The shard count Discord recommends for `guildCount` guilds: one shard per
 * `perShard` guilds (Discord: 1000), at least one, and never so few that a
 * shard would hold more than `maxPerShard`; past 150,000 guilds a multiple
 * of 16 (the large-bot sharding rule).
 */
export function recommendShards(
  guildCount: number,
  perShard = 1000,
  maxPerShard = 2500,
): number {
  const shards = Math.max(1, Math.ceil(guildCount / perShard), Math.ceil(guildCount / maxPerShard));
  return guildCount > 150_000 ? Math.ceil(shards / 16) * 16 : shards;
}
