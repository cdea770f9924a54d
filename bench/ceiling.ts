/**
 * Ceiling contender of `bench/compare.ts`: Discordeno 21's gateway manager with
 * its defaults, shards connected and every payload parsed (Discordeno's own
 * `JSON.parse` and packet handling), dispatches counted, nothing forwarded.
 * What no forwarder on this stack can beat on this machine.
 *
 * A small HTTP API on `127.0.0.1:$COUNT_PORT` stands in for the sink:
 * `GET /stats` (`{count}`: dispatches parsed), `GET /clock`,
 * `POST /latency/start` and `GET /latency` (time from the harness's send to
 * the parsed payload, for MESSAGE_CREATEs carrying the send time in
 * `d.nonce`). Reads DISCORD_TOKEN, REST_URL, REST_AUTHORIZATION,
 * GATEWAY_INTENTS (a number) and COUNT_PORT.
 *
 * Usage: deno run --allow-net --allow-env bench/ceiling.ts
 * @module
 */
import { createGatewayManager } from "@discordeno/gateway";
import { createRestManager } from "@discordeno/rest";
import { clockNow, createLatencyRecorder } from "./latency_recorder.ts";

const env = Deno.env.toObject();
let count = 0;
const latency = createLatencyRecorder();

Deno.serve(
  { hostname: "127.0.0.1", port: Number(env.COUNT_PORT ?? 0), onListen: () => {} },
  async (req) => {
    await req.body?.cancel();
    const path = new URL(req.url).pathname;
    if (path === "/clock") return new Response(String(clockNow()));
    if (path === "/latency/start") {
      latency.start();
      return new Response(null, { status: 204 });
    }
    if (path === "/latency") return Response.json(latency.summary());
    return Response.json({ count });
  },
);

const rest = createRestManager({
  token: env.DISCORD_TOKEN,
  proxy: { baseUrl: env.REST_URL, authorization: env.REST_AUTHORIZATION },
});
const result = await rest.getGatewayBot();

const gateway = createGatewayManager({
  token: env.DISCORD_TOKEN,
  intents: Number(env.GATEWAY_INTENTS),
  connection: {
    url: result.url,
    shards: result.shards,
    sessionStartLimit: result.sessionStartLimit,
  },
  totalShards: result.shards,
  lastShardId: result.shards - 1,
  preferSnakeCase: true,
  events: {
    message(_shard, payload) {
      if (payload.op !== 0) return;
      count++;
      if (latency.recording && payload.t === "MESSAGE_CREATE") {
        latency.add((payload.d as { nonce?: string }).nonce ?? "", clockNow());
      }
    },
  },
});

gateway.spawnShards();

Deno.addSignalListener("SIGTERM", () => {
  gateway.shutdown(1000, "bench over").finally(() => Deno.exit(0));
  setTimeout(() => Deno.exit(0), 2000);
});
