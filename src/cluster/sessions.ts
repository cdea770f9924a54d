/**
 * Sessions in Redis, one hash field per shard, so any process can resume a shard another one
 * opened. A write is fenced by the shard's lease: only the process holding it may store the
 * shard's session, so one that lost a lease (paused, partitioned) cannot overwrite the new
 * owner's sequence with its older one.
 * @module
 */
import { isSessionRecord, type SessionRecord, type SessionStore } from "../gateway/sessions.ts";
import type { Logger } from "../log.ts";
import type { RedisClient } from "./redis.ts";

/** Sets hash KEYS[2] field ARGV[2] to ARGV[3] if lease KEYS[1] is held by ARGV[1]. */
const FENCED_HSET = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
  return 1
end
return 0`;

/** The session store a cluster shares. */
export interface RedisSessionStore extends SessionStore {
  /** One shard's stored session (read afresh when a process takes the shard over). */
  get(shardId: number, totalShards: number): Promise<SessionRecord | undefined>;
  /** Removes every session of a shard count no longer run (after a reshard). */
  forget(totalShards: number): Promise<void>;
}

/** Options of {@linkcode createRedisSessionStore}. */
export interface RedisSessionStoreOptions {
  client: RedisClient;
  /** The bot's key prefix (`keyBase`). */
  base: string;
  /** This process's member id (the lease holder's value). */
  owner: string;
  /** Key of the lease on shard `shardId` of a set of `totalShards`. */
  leaseKey(shardId: number, totalShards: number): string;
  logger: Logger;
}

/** A session's field: the shard count and the id (two sets run side by side during a reshard). */
const field = (shardId: number, totalShards: number) => `${totalShards}:${shardId}`;

/** Creates the {@linkcode RedisSessionStore}. */
export function createRedisSessionStore(options: RedisSessionStoreOptions): RedisSessionStore {
  const { client, base, owner, leaseKey } = options;
  const key = `${base}sessions`;
  const log = options.logger.with({ component: "sessions" });
  const parse = (shardId: string, text: string): SessionRecord | undefined => {
    try {
      const r = JSON.parse(text);
      if (isSessionRecord(r)) return r;
    } catch { /* reported below */ }
    log.warn("ignoring a malformed session in Redis", { shard: shardId });
    return undefined;
  };
  return {
    async load() {
      try {
        const all = await client.hGetAll(key);
        return Object.entries(all).map(([id, text]) => parse(id, text)).filter((r) =>
          r !== undefined
        );
      } catch (error) {
        log.warn("cannot read sessions from Redis; shards will identify", {
          error: (error as Error).message,
        });
        return [];
      }
    },
    async get(shardId, totalShards) {
      const text = await client.hGet(key, field(shardId, totalShards));
      return text == null ? undefined : parse(String(shardId), text);
    },
    async forget(totalShards) {
      const fields = Object.keys(await client.hGetAll(key)).filter((f) =>
        f.startsWith(`${totalShards}:`)
      );
      if (fields.length > 0) await client.hDel(key, fields);
    },
    async save(records) {
      if (records.length === 0) return;
      const multi = client.multi();
      for (const r of records) {
        multi.eval(FENCED_HSET, {
          keys: [leaseKey(r.shardId, r.totalShards), key],
          arguments: [owner, field(r.shardId, r.totalShards), JSON.stringify(r)],
        });
      }
      const replies = await multi.exec() as unknown[];
      const refused = records.filter((_, i) => Number(replies[i]) !== 1).map((r) => r.shardId);
      if (refused.length > 0) {
        log.debug("not storing sessions of shards whose lease is not ours", {
          shards: refused.join(","),
        });
      }
    },
  };
}
