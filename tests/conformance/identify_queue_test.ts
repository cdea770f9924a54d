/** The identify queue suite against the embedded queue and the Redis one. */
import { createIdentifyQueue } from "../../src/gateway/mod.ts";
import { createRedisIdentifyQueue } from "../../src/cluster/mod.ts";
import { silentLogger } from "../../src/log.ts";
import { identifyQueueConformance } from "./identify_queue_suite.ts";
import { redisFixture } from "./redis_fixture.ts";

identifyQueueConformance(
  "createIdentifyQueue",
  (config) =>
    Promise.resolve({ queue: createIdentifyQueue(config), cleanup: () => Promise.resolve() }),
);

identifyQueueConformance("createRedisIdentifyQueue", async (config) => {
  const redis = await redisFixture();
  const queue = createRedisIdentifyQueue({
    ...config,
    client: redis.client,
    base: "conformance:",
    owner: "member-a",
    remaining: 1000,
    resetAfterMs: 60_000,
    logger: silentLogger,
    pollMs: 20,
  });
  return { queue, cleanup: redis.cleanup };
});
