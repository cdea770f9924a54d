import { assert } from "./helpers/assert.ts";
import { startRawGateway } from "./helpers/raw_gateway.ts";
import { until } from "./helpers/wait.ts";
import { TOKEN } from "./helpers/rig.ts";
import { createIdentifyQueue, createShardGateway } from "../src/gateway/mod.ts";
import { createLogger } from "../src/log.ts";

const sanitizers = { sanitizeOps: false, sanitizeResources: false };

function gatewayFor(url: string, logs: string[]) {
  const abort = new AbortController();
  const gateway = createShardGateway({
    token: TOKEN,
    intents: 1,
    totalShards: 1,
    info: {
      url,
      shards: 1,
      sessionStartLimit: { total: 1000, remaining: 1000, resetAfter: 1, maxConcurrency: 1 },
    },
    identifyQueue: createIdentifyQueue({ maxConcurrency: 1, intervalMs: 100 }),
    onDispatch() {},
    onFatal() {},
    logger: createLogger({ level: "debug", write: (_l, line) => logs.push(line) }),
    reconnect: { baseMs: 100, maxMs: 200 },
    timeouts: { connectMs: 500, closeMs: 500 },
    signal: abort.signal,
  });
  return { gateway, abort };
}

Deno.test({
  name: "a gateway that goes silent (no ACK, no close reply) is dropped and reconnected",
  ...sanitizers,
  async fn() {
    const raw = startRawGateway("silent", 2000);
    const logs: string[] = [];
    const { gateway, abort } = gatewayFor(raw.url, logs);
    try {
      gateway.spawnShards().catch(() => {});
      await until(() => raw.connections >= 2, "a second connection", 20_000);
      assert(logs.some((l) => l.includes("did not answer our close frame")), logs.join("\n"));
    } finally {
      abort.abort();
      await gateway.shutdown(3000, "test over");
      raw.close();
    }
  },
});

Deno.test({
  name: "a handshake that never completes times out and is retried",
  ...sanitizers,
  async fn() {
    const raw = startRawGateway("no-handshake");
    const logs: string[] = [];
    const { gateway, abort } = gatewayFor(raw.url, logs);
    try {
      gateway.spawnShards().catch(() => {});
      await until(() => raw.connections >= 3, "repeated connection attempts", 20_000);
      assert(logs.some((l) => l.includes("gateway connection timed out")));
    } finally {
      abort.abort();
      await gateway.shutdown(3000, "test over");
      raw.close();
    }
  },
});
