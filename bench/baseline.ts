/**
 * Baseline contender of `bench/compare.ts`: a standalone gateway process the
 * way the Discordeno guide describes it (/work/shared/docs/seed-gateway-guide.txt),
 * on Discordeno 21: a REST manager on the REST proxy for `GET /gateway/bot`, a
 * gateway manager with Discordeno's defaults, and `events.message` forwarding
 * every dispatch with one `fetch` plus the guide's retry queue
 * (`bench/guide_forwarder.ts`, which lists what had to change and which bugs
 * are kept).
 *
 * Reads the same variables as the service: DISCORD_TOKEN, REST_URL,
 * REST_AUTHORIZATION, EVENT_HANDLER_URL, EVENT_HANDLER_AUTHORIZATION,
 * GATEWAY_INTENTS (a number).
 *
 * Usage: deno run --allow-net --allow-env bench/baseline.ts
 * @module
 */
import { createGatewayManager } from "@discordeno/gateway";
import { createRestManager } from "@discordeno/rest";
import { createGuideForwarder, type GatewayPayload } from "./guide_forwarder.ts";

const env = Deno.env.toObject();
const DISCORD_TOKEN = env.DISCORD_TOKEN;
const REST_URL = env.REST_URL;
const REST_AUTHORIZATION = env.REST_AUTHORIZATION;

// Deno exits on an unhandled rejection (the guide's code has several unawaited
// promises); log and keep running, as the service does.
globalThis.addEventListener("unhandledrejection", (event) => {
  event.preventDefault();
  console.error("unhandled rejection", event.reason);
});

const rest = createRestManager({
  token: DISCORD_TOKEN,
  proxy: { baseUrl: REST_URL, authorization: REST_AUTHORIZATION },
});

// CALL THE REST PROCESS TO GET GATEWAY DATA
const result = await rest.getGatewayBot();

const forwarder = createGuideForwarder({
  url: env.EVENT_HANDLER_URL,
  authorization: env.EVENT_HANDLER_AUTHORIZATION,
  respond: (id, token, body) =>
    rest.sendInteractionResponse(id, token, body as unknown as { type: number }),
});

const gateway = createGatewayManager({
  token: DISCORD_TOKEN,
  intents: Number(env.GATEWAY_INTENTS),
  connection: {
    url: result.url,
    shards: result.shards,
    sessionStartLimit: result.sessionStartLimit,
  },
  totalShards: result.shards,
  // The guide's `lastShardId: result.shards` throws in Discordeno 21 (it is inclusive).
  lastShardId: result.shards - 1,
  // Discord's snake_case payloads, what a Discordeno event handler expects.
  preferSnakeCase: true,
  events: {
    // The guide's `handleDiscordPayload`: Discordeno 21 calls `events.message` for
    // every packet, so only dispatches (op 0) are forwarded.
    message(shard, payload) {
      const data = payload as unknown as GatewayPayload;
      if (data.op !== 0) return;
      forwarder.handleDiscordPayload(data, shard.id);
    },
  },
});

gateway.spawnShards();

Deno.addSignalListener("SIGTERM", () => {
  gateway.shutdown(1000, "bench over").finally(() => Deno.exit(0));
  setTimeout(() => Deno.exit(0), 2000);
});
