/**
 * The transport suite against the HTTP transport (both clients, a local `Deno.serve` handler as
 * the receiver) and the Redis Streams one (a real redis-server as the receiver).
 */
import {
  createHttpTransport,
  createRedisStreamsTransport,
  type Transport,
} from "../../src/transport/mod.ts";
import { streamKey } from "../../src/consumer.ts";
import { silentLogger } from "../../src/log.ts";
import { freePort } from "../helpers/redis.ts";
import { type Delivery, type Receiver, transportConformance } from "./transport_suite.ts";
import { redisFixture } from "./redis_fixture.ts";

/** A `Deno.serve` handler behaving as `receiver` says, recording each request. */
function httpReceiver(receiver: Receiver) {
  const deliveries: Delivery[] = [];
  const answers = receiver.kind === "answers" ? [...receiver.answers] : [];
  const release = Promise.withResolvers<void>();
  if (receiver.kind === "refuse") {
    return {
      url: `http://127.0.0.1:${freePort()}/events`,
      deliveries,
      close: () => Promise.resolve(),
    };
  }
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const body = JSON.parse(await req.text());
    const batch = req.headers.get("x-gateway-batch") === "1";
    deliveries.push({ batch, events: batch ? body : [body] });
    if (receiver.kind === "stall") await release.promise;
    const a = answers.shift();
    return a
      ? new Response(a.body ?? null, { status: a.status, headers: a.headers })
      : new Response(null, { status: 204 });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/events`,
    deliveries,
    async close() {
      release.resolve();
      await server.shutdown();
    },
  };
}

for (const client of ["http1", "fetch"] as const) {
  transportConformance(`createHttpTransport({client: "${client}"})`, (receiver, timeoutMs) => {
    const handler = httpReceiver(receiver);
    const transport: Transport = createHttpTransport({
      url: handler.url,
      authorization: "secret",
      client,
      timeoutMs,
    });
    return Promise.resolve({
      transport,
      received: () => Promise.resolve([...handler.deliveries]),
      async cleanup() {
        transport.close?.();
        await handler.close();
      },
    });
  }, {
    closes: client === "http1",
  });
}

const KEY_BASE = "conformance:1:";

transportConformance("createRedisStreamsTransport", async (receiver, timeoutMs) => {
  if (receiver.kind === "answers") throw new TypeError("Redis Streams has no statuses");
  const redis = await redisFixture();
  const transport = createRedisStreamsTransport({
    redis: redis.connection,
    keyBase: KEY_BASE,
    maxLen: 10_000,
    group: "bot",
    logger: silentLogger,
    timeoutMs,
  });
  if (receiver.kind === "refuse") await redis.server.stop();
  if (receiver.kind === "stall") redis.server.pause();
  return {
    transport,
    async received() {
      // Every entry is its own delivery; the order that counts is each stream's.
      const out: { id: string; delivery: Delivery }[] = [];
      for (const shard of [0, 1, 3, 5]) {
        const entries = await redis.client.sendCommand<[string, string[]][]>([
          "XRANGE",
          streamKey(KEY_BASE, shard),
          "-",
          "+",
        ]);
        for (const [id, fields] of entries) {
          const e = JSON.parse(fields[fields.indexOf("e") + 1]);
          out.push({ id, delivery: { batch: false, events: [e] } });
        }
      }
      return out.sort((a, b) => compareIds(a.id, b.id)).map((x) => x.delivery);
    },
    async cleanup() {
      transport.close();
      await redis.cleanup();
    },
  };
}, {
  statuses: false,
  batches: "per-event",
  // A stalled Redis says nothing about the event: the queue must not suspect it.
  stallIsTimeout: false,
});

/** Orders stream ids `ms-seq` numerically. */
function compareIds(a: string, b: string): number {
  const [am, as] = a.split("-").map(BigInt);
  const [bm, bs] = b.split("-").map(BigInt);
  return am !== bm ? (am < bm ? -1 : 1) : as === bs ? 0 : as < bs ? -1 : 1;
}
