/**
 * The {@linkcode ClusterStore} in Redis. A lease is a key holding its owner's id with an expiry
 * (`SET NX PX`); only its holder extends or deletes it (compare-and-set scripts), so a process
 * that lost a lease can never take it back by accident. Members are expiring keys plus a set
 * of their ids (no `SCAN` over the keyspace on every round).
 * @module
 */
import type { RedisClient } from "./redis.ts";
import type { ClusterStore, MemberInfo } from "./store.ts";

/** Extends each key held by ARGV[1] by ARGV[2] ms; 1 where held, 0 where not. */
const RENEW = `
local out = {}
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    redis.call('PEXPIRE', key, ARGV[2])
    out[i] = 1
  else
    out[i] = 0
  end
end
return out`;

/** Takes KEYS[1] for ARGV[1] if free, or extends it if ARGV[1] holds it; 1 when held after. */
const CLAIM = `
local cur = redis.call('GET', KEYS[1])
if cur == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0`;

/** Deletes KEYS[1] if ARGV[1] holds it. */
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`;

/** Creates the Redis {@linkcode ClusterStore}; `base` is the bot's key prefix (`keyBase`). */
export function createRedisClusterStore(client: RedisClient, base: string): ClusterStore {
  const membersKey = `${base}members`;
  const memberKey = (id: string) => `${base}member:${id}`;
  return {
    async claim(key, owner, ms) {
      const r = await client.eval(CLAIM, { keys: [key], arguments: [owner, String(ms)] });
      return Number(r) === 1;
    },
    async renew(keys, owner, ms) {
      if (keys.length === 0) return [];
      const r = await client.eval(RENEW, { keys: [...keys], arguments: [owner, String(ms)] });
      return (r as number[]).map((x) => Number(x) === 1);
    },
    async release(key, owner) {
      await client.eval(RELEASE, { keys: [key], arguments: [owner] });
    },
    async holders(keys) {
      if (keys.length === 0) return [];
      const multi = client.multi();
      for (const k of keys) {
        multi.get(k);
        multi.pTTL(k);
      }
      const replies = await multi.exec() as unknown[];
      return keys.map((_, i) => {
        const owner = replies[2 * i] as string | null;
        const ttl = Number(replies[2 * i + 1]);
        return owner === null ? null : { owner, ttlMs: ttl < 0 ? 0 : ttl };
      });
    },
    async announce(info, ms) {
      await client.multi()
        .set(memberKey(info.id), JSON.stringify(info), { PX: ms })
        .sAdd(membersKey, info.id)
        .exec();
    },
    async leave(id) {
      await client.multi().del(memberKey(id)).sRem(membersKey, id).exec();
    },
    async members() {
      const ids = await client.sMembers(membersKey);
      if (ids.length === 0) return [];
      const values = await client.mGet(ids.map(memberKey));
      const out: MemberInfo[] = [];
      const gone: string[] = [];
      ids.forEach((id, i) => {
        const v = values[i];
        if (v === null) return gone.push(id);
        try {
          out.push(JSON.parse(v) as MemberInfo);
        } catch {
          gone.push(id);
        }
      });
      // Expired announcements leave their id behind in the set: tidy it.
      if (gone.length > 0) await client.sRem(membersKey, gone).catch(() => {});
      return out.sort((a, b) => a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
    },
  };
}
