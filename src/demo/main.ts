/**
 * `deno task demo`: the Discord simulator, the gateway proxy and an example
 * event handler in one process, with traffic, so a newcomer sees events flow,
 * queue while the handler is down, and drain when it returns.
 *
 * Flags: `--seconds N` stops after N seconds (default: until Ctrl+C);
 * `--shards N` (default 4); `--rate N` events per second (default 4);
 * `--reshard`: instead of the handler outage, the bot joins servers until its shards
 * are full, and the proxy reshards live while events keep flowing;
 * `--redis-streams`: `TRANSPORT=redis-streams` on a local `redis-server` it starts: the bot
 * reads the shards' streams with `consume()` (src/consumer.ts) instead of taking HTTP requests,
 * and its outage is a stopped consumer.
 * @module
 */
import { parseArgs } from "node:util";
import { loadConfig } from "../../configs.ts";
import { createLogger } from "../log.ts";
import { createControlHandler } from "../control/server.ts";
import { createControlSource } from "../control/source.ts";
import { createService } from "../service.ts";
import { createSimulator } from "../simulator/mod.ts";
import { createEventHandler, type ForwardedEvent } from "./handler.ts";
import { connectRedis, keyBase } from "../cluster/redis.ts";
import { createRedisStreamsTransport } from "../transport/redis_streams.ts";
import { type LocalRedis, startLocalRedis, startStreamsBot } from "./redis_streams.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    seconds: { type: "string" },
    shards: { type: "string", default: "4" },
    rate: { type: "string", default: "4" },
    reshard: { type: "boolean", default: false },
    "redis-streams": { type: "boolean", default: false },
  },
});
const reshard = values.reshard;
const streams = values["redis-streams"];
const seconds = values.seconds ? Number(values.seconds) : Infinity;
const shards = Number(values.shards);
const rate = Number(values.rate);
for (const [name, v] of [["--shards", shards], ["--rate", rate], ["--seconds", seconds]] as const) {
  if (!(v > 0)) {
    console.error(`${name} must be a positive number (example: ${name} 4)`);
    Deno.exit(2);
  }
}

const TOKEN = `${btoa("123456789012345678")}.demo.token`;
const c = {
  dim: "\x1b[2m",
  bold: "\x1b[1m",
  cyan: "\x1b[36m",
  yellow: "\x1b[33m",
  reset: "\x1b[0m",
};
const say = (text: string) => console.log(`${c.yellow}── ${text}${c.reset}`);

const sim = await createSimulator({
  token: TOKEN,
  restAuthorization: "demo-rest-secret",
  // With --reshard the recommendation follows the guild count (one shard per 20 guilds here).
  shards: reshard ? "auto" : shards,
  recommendGuildsPerShard: 20,
  maxConcurrency: 2,
  guilds: shards * 3,
});

const perShard = new Map<number, number>();
/** Prints one event the bot received (`via`: `handler` or `stream`). */
const show = (event: ForwardedEvent, via = "handler") => {
  perShard.set(event.shardId, (perShard.get(event.shardId) ?? 0) + 1);
  const counts = [...perShard.entries()].sort(([a], [b]) => a - b).map(([s, n]) => `${s}:${n}`);
  const flags = `${event.deferred ? " deferred" : ""}${event.expired ? " expired" : ""}`;
  console.log(
    `${c.cyan}${via} ←${c.reset} shard ${event.shardId}  ${event.data.t.padEnd(20)} s=${
      String(event.data.s).padEnd(4)
    }${c.bold}${flags.padEnd(10)}${c.reset}${c.dim}per shard ${counts.join(" ")}${c.reset}`,
  );
};
let handlerUp = !streams;
const handler = createEventHandler({ authorization: "demo-handler-secret", onEvent: show });
// --redis-streams: the bot reads streams; no HTTP handler.
let handlerServer = streams
  ? undefined
  : Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
const handlerPort = handlerServer ? (handlerServer.addr as Deno.NetAddr).port : 0;
let redis: LocalRedis | undefined;
try {
  redis = streams ? await startLocalRedis() : undefined;
} catch (error) {
  console.error((error as Error).message);
  await sim.shutdown();
  Deno.exit(1);
}

const dataDir = await Deno.makeTempDir({ prefix: "gateway-demo-" });
const config = loadConfig({
  DISCORD_TOKEN: TOKEN,
  REST_URL: sim.restUrl,
  REST_AUTHORIZATION: "demo-rest-secret",
  ...(streams ? {} : {
    EVENT_HANDLER_URL: `http://127.0.0.1:${handlerPort}/events`,
    EVENT_HANDLER_AUTHORIZATION: "demo-handler-secret",
  }),
  GATEWAY_INTENTS: "Guilds,GuildMessages",
  GATEWAY_AUTHORIZATION: "demo-gateway-secret",
  DATA_DIR: dataDir,
  TOTAL_SHARDS: String(shards),
  ...(redis ? { TRANSPORT: "redis-streams", REDIS_URL: redis.url } : {}),
  // --reshard: shards count as full at 1% of 2,500 guilds (25), checked every 2 s.
  ...(reshard ? { RESHARD_PERCENTAGE: "1", RESHARD_CHECK_INTERVAL_MS: "2000" } : {}),
});
const logger = createLogger({
  level: "info",
  write: (_level, line) => console.log(`${c.dim}proxy   │ ${line.slice(25)}${c.reset}`),
});
// --redis-streams: the transport appends to the shards' streams; the bot consumes them.
const redisConn = redis ? await connectRedis({ url: redis.url, logger }) : undefined;
const streamsTransport = redisConn
  ? createRedisStreamsTransport({
    redis: redisConn,
    keyBase: keyBase(config.cluster!.keyPrefix, TOKEN),
    maxLen: config.transport.streamMaxLen,
    group: config.transport.streamGroup,
    logger,
  })
  : undefined;
const service = await createService({
  config,
  logger,
  controller: streamsTransport ? { transport: () => streamsTransport } : undefined,
  deliveryRetry: { baseMs: 500, maxMs: 2000 },
});
const streamsBot = redis
  ? startStreamsBot({
    redisUrl: redis.url,
    keyBase: keyBase(config.cluster!.keyPrefix, TOKEN),
    group: config.transport.streamGroup,
    onEvent: (event) => show(event, "stream "),
  })
  : undefined;

const control = createControlSource(service, { alive: () => true });
const api = Deno.serve(
  { hostname: "127.0.0.1", port: 0, onListen() {} },
  createControlHandler(control, { authorization: "demo-gateway-secret" }),
);
const apiUrl = `http://127.0.0.1:${(api.addr as Deno.NetAddr).port}`;

say(`Discord simulator on ${sim.restUrl} (${shards} shards, max_concurrency 2)`);
say(
  `status page: ${apiUrl}/#key=demo-gateway-secret   (API: curl -H 'Authorization: demo-gateway-secret' ${apiUrl}/shards)`,
);
say(
  redis
    ? `Redis on ${redis.url}: events go to one stream per shard, the bot reads them with consume()`
    : `event handler on http://127.0.0.1:${handlerPort}/events`,
);
say("gateway proxy starting: shards identify per bucket, one per 5 s");
await service.start();

// Traffic: messages, edits, joins and interactions on connected shards.
let tick = 0;
const traffic = setInterval(() => {
  const live = sim.connectedShards();
  if (live.length === 0) return;
  const shard = live[tick % live.length];
  tick++;
  try {
    if (tick % 11 === 0) sim.emitInteraction(shard, { type: 2 });
    else if (tick % 13 === 0) sim.emitInteraction(shard, { type: 3, withMessage: true });
    else if (tick % 17 === 0) sim.emitGuildCreate(shard);
    else sim.emitMessageCreate(shard);
  } catch { /* the shard is between sessions */ }
}, 1000 / rate);

// The story: after the shards are up, the bot "restarts" for a few seconds.
const outage = async () => {
  await new Promise((r) => setTimeout(r, 6000));
  if (streamsBot) {
    say(
      "stopping the bot's consumer for 6 s, as a deploy would: events wait in the streams, interactions nobody acks get deferred",
    );
    await streamsBot.down();
    await new Promise((r) => setTimeout(r, 6000));
    say("consumer back: it reads the backlog of every shard in order, then live traffic");
    streamsBot.up();
    return;
  }
  say(
    "stopping the event handler for 6 s, as a bot deploy would: events queue, interactions get deferred",
  );
  handlerUp = false;
  await handlerServer?.shutdown();
  await new Promise((r) => setTimeout(r, 6000));
  say("event handler back: the backlog drains in order, then live traffic resumes");
  handlerServer = Deno.serve({ hostname: "127.0.0.1", port: handlerPort, onListen() {} }, handler);
  handlerUp = true;
};

// --reshard: the bot grows past its shards' capacity and the proxy reshards without downtime.
const growth = async () => {
  await new Promise((r) => setTimeout(r, 4000));
  const add = shards * 25 + 10 - sim.guildCount();
  say(
    `the bot joins ${add} servers: ${
      sim.guildCount() + add
    } guilds on ${shards} shards is over RESHARD_PERCENTAGE`,
  );
  sim.addGuilds(add);
  let last = "";
  const startedAt = Date.now();
  for (;;) {
    const r = service.reshardStatus();
    const line = r.state === "preparing"
      ? `reshard ${r.from} -> ${r.to}: preparing, ${r.ready}/${r.to} new shards ready (events still flow through the old set)`
      : r.state === "switching"
      ? `reshard ${r.from} -> ${r.to}: switching, both sets deliver, each event once`
      : r.state === "done"
      ? `reshard ${r.from} -> ${r.to} done in ${
        ((Date.now() - startedAt) / 1000).toFixed(1)
      } s; ${r.deduped} copies held back by the overlap; the bot got RESHARDED_DD`
      : r.state === "failed"
      ? `reshard failed: ${r.error}`
      : "";
    if (line && line !== last) say(line);
    last = line;
    if (r.state === "done" || r.state === "failed") return;
    await new Promise((r) => setTimeout(r, 500));
  }
};

const story = (async () => {
  await service.allReady;
  say("all shards ready; events flow straight through");
  await (reshard ? growth() : outage());
})();

const stop = Promise.withResolvers<void>();
Deno.addSignalListener("SIGINT", () => stop.resolve());
if (Number.isFinite(seconds)) {
  setTimeout(() => stop.resolve(), seconds * 1000);
  // A bounded --reshard run ends soon after the reshard, not at the bound.
  if (reshard) story.then(() => setTimeout(() => stop.resolve(), 3000));
}
await stop.promise;

clearInterval(traffic);
say("stopping");
await Promise.race([story, new Promise((r) => setTimeout(r, 0))]);
await service.stop(3000);
await streamsBot?.down();
const streamStats = streamsTransport?.stats();
streamsTransport?.close();
await redisConn?.close();
await redis?.stop();
control.close();
await api.shutdown();
if (handlerUp) await handlerServer?.shutdown();
await sim.shutdown();
await Deno.remove(dataDir, { recursive: true }).catch(() => {});
const c2 = service.queue.counters;
say(
  `received ${c2.received}, delivered ${c2.delivered}, deferred ${c2.deferred}, dropped ${c2.dropped}`,
);
if (streamStats) {
  say(
    `streams: appended ${streamStats.appended}, taken back unread ${streamStats.withdrawn}, trimmed before acked ${streamStats.trimmedUnacked}`,
  );
}
Deno.exit(0);
