/**
 * Peer contender of `bench/compare.ts`: the same forwarding as the baseline
 * (one `fetch` per dispatch and the Discordeno guide's retry queue,
 * `bench/guide_forwarder.ts`) on discord.js's `@discordjs/ws` WebSocketManager
 * with its defaults (simple sharding strategy in the main thread, JSON, no
 * compression, its own identify throttler).
 *
 * `GET /gateway/bot` goes to the REST proxy like the other contenders (a
 * minimal stand-in for `@discordjs/rest`, which would send `Bot <token>` to
 * Discord instead of the proxy's secret). Reads the same variables as the
 * service: DISCORD_TOKEN, REST_URL, REST_AUTHORIZATION, EVENT_HANDLER_URL,
 * EVENT_HANDLER_AUTHORIZATION, GATEWAY_INTENTS (a number).
 *
 * Usage: deno run --allow-net --allow-env --allow-read bench/peer_djs.ts
 * @module
 */
// Pinned here rather than in deno.json so the benchmark's extra dependency stays in bench/.
// deno-lint-ignore no-import-prefix
import { WebSocketManager, WebSocketShardEvents } from "npm:@discordjs/ws@2.0.4";
import { createGuideForwarder, type GatewayPayload } from "./guide_forwarder.ts";

const env = Deno.env.toObject();
const REST_URL = env.REST_URL;
const REST_AUTHORIZATION = env.REST_AUTHORIZATION;

globalThis.addEventListener("unhandledrejection", (event) => {
  event.preventDefault();
  console.error("unhandled rejection", event.reason);
});

/** What `WebSocketManager` uses of `@discordjs/rest`: `get(Routes.gatewayBot())`. */
const rest = {
  async get(route: string) {
    const res = await fetch(`${REST_URL}/v10${route}`, {
      headers: { authorization: REST_AUTHORIZATION },
    });
    if (!res.ok) throw new Error(`GET ${route}: HTTP ${res.status} ${await res.text()}`);
    return await res.json();
  },
} as unknown as ConstructorParameters<typeof WebSocketManager>[0]["rest"];

const forwarder = createGuideForwarder({
  url: env.EVENT_HANDLER_URL,
  authorization: env.EVENT_HANDLER_AUTHORIZATION,
  async respond(id, token, body) {
    const res = await fetch(`${REST_URL}/v10/interactions/${id}/${token}/callback`, {
      method: "POST",
      headers: { authorization: REST_AUTHORIZATION, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    await res.body?.cancel();
  },
});

const manager = new WebSocketManager({
  token: env.DISCORD_TOKEN,
  intents: Number(env.GATEWAY_INTENTS),
  rest,
});

manager.on(WebSocketShardEvents.Dispatch, (payload, shardId) => {
  forwarder.handleDiscordPayload(payload as unknown as GatewayPayload, shardId);
});
manager.on(WebSocketShardEvents.Error, (error, shardId) => {
  console.error(`shard ${shardId} error`, error);
});

await manager.connect();

Deno.addSignalListener("SIGTERM", () => {
  Promise.resolve(manager.destroy({ code: 1000, reason: "bench over" })).finally(() =>
    Deno.exit(0)
  );
  setTimeout(() => Deno.exit(0), 2000);
});
