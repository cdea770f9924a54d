/** The cluster store suite against the Redis store and the in-memory one the lease model uses. */
import { createRedisClusterStore } from "../../src/cluster/mod.ts";
import { createMemoryClusterStore } from "../helpers/memory_cluster_store.ts";
import { clusterStoreConformance } from "./cluster_store_suite.ts";
import { redisFixture } from "./redis_fixture.ts";

clusterStoreConformance("createMemoryClusterStore", () => {
  const clock = { now: 1_000_000 };
  return Promise.resolve({
    store: createMemoryClusterStore(() => clock.now),
    elapse(ms: number) {
      clock.now += ms;
      return Promise.resolve();
    },
    cleanup: () => Promise.resolve(),
  });
});

clusterStoreConformance("createRedisClusterStore", async () => {
  const redis = await redisFixture();
  return {
    store: createRedisClusterStore(redis.client, "conformance:"),
    elapse: (ms: number) => new Promise<void>((r) => setTimeout(r, ms)),
    cleanup: redis.cleanup,
  };
});
