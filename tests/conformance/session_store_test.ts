/** The session store suite against the file store and the Redis one. */
import { createFileSessionStore, type SessionRecord } from "../../src/gateway/mod.ts";
import { createRedisSessionStore } from "../../src/cluster/mod.ts";
import { silentLogger } from "../../src/log.ts";
import {
  sessionRecord,
  sessionStoreConformance,
  SHARDS,
  TOTAL_SHARDS,
} from "./session_store_suite.ts";
import { redisFixture } from "./redis_fixture.ts";

const TOKEN = "conformance.bot.token";

/** What the file store's `damage()` does, by name. */
const fileDamages: Record<string, (path: string) => Promise<void>> = {
  "the file is not JSON": (path) => Deno.writeTextFile(path, '{"version":1,"sess'),
  "the file has an unknown format version": async (path) => {
    const data = JSON.parse(await Deno.readTextFile(path));
    await Deno.writeTextFile(path, JSON.stringify({ ...data, version: 2 }));
  },
  "the file belongs to another bot token": (path) =>
    createFileSessionStore({ path, token: "another.bot.token", logger: silentLogger })
      .save([sessionRecord(1, 1)]),
  "the file cannot be read (a folder stands in its place)": async (path) => {
    await Deno.remove(path);
    await Deno.mkdir(path);
  },
};

sessionStoreConformance("createFileSessionStore", async () => {
  const dir = await Deno.makeTempDir({ prefix: "conformance-sessions-" });
  const path = `${dir}/sessions.json`;
  const store = createFileSessionStore({ path, token: TOKEN, logger: silentLogger });
  return {
    store,
    async plantMalformed(valid: SessionRecord[]) {
      // The store writes what it is given; load() is where records are checked.
      await store.save([...valid, { ...valid[0], shardId: -1 }]);
    },
    damage: (kind: string) => fileDamages[kind](path),
    cleanup: () => Deno.remove(dir, { recursive: true }),
  };
}, { damages: Object.keys(fileDamages) });

const BASE = "conformance:";
const OWNER = "member-a";
const leaseKey = (shardId: number, totalShards: number) => `${BASE}lease:${totalShards}:${shardId}`;

sessionStoreConformance("createRedisSessionStore", async () => {
  const redis = await redisFixture();
  const { client } = redis;
  for (const shard of SHARDS) await client.set(leaseKey(shard, TOTAL_SHARDS), OWNER);
  return {
    store: createRedisSessionStore({
      client,
      base: BASE,
      owner: OWNER,
      leaseKey,
      logger: silentLogger,
    }),
    async plantMalformed(valid: SessionRecord[]) {
      for (const r of valid) {
        await client.hSet(`${BASE}sessions`, `${r.totalShards}:${r.shardId}`, JSON.stringify(r));
      }
      await client.hSet(`${BASE}sessions`, `${TOTAL_SHARDS}:9`, "{not json");
      await client.hSet(`${BASE}sessions`, `${TOTAL_SHARDS}:8`, '{"shardId":8}');
    },
    async damage(kind: string) {
      if (kind === "Redis is down") await redis.server.stop();
      else await client.set(`${BASE}sessions`, "not a hash");
    },
    async revoke(shardId: number, totalShards: number) {
      await client.set(leaseKey(shardId, totalShards), "member-b");
    },
    cleanup: redis.cleanup,
  };
}, {
  // Several processes share the store, each saving the shards it holds.
  save: "merge",
  fenced: true,
  damages: ["the sessions key holds another type", "Redis is down"],
});
