/**
 * A Discord simulator: gateway WebSocket (v10, JSON, optional zlib-stream /
 * zstd-stream) and the REST endpoints a gateway proxy touches, served by one
 * HTTP server. Strict where Discord is strict, and stricter when in doubt.
 *
 * Resharding: sessions of different shard counts may run at once with the same
 * token. Every guild event goes to each live session whose
 * `(shard_id, num_shards)` covers the guild (DMs: shard 0 of each count), each
 * with its own `s`, the same `d` text, and a seeded skew between copies
 * (`fanOutSkewMs`). Identify buckets and `session_start_limit` are shared by
 * all shard counts. `addGuilds()` grows the bot at runtime, `shards: "auto"`
 * makes `/gateway/bot` follow, over-full shards get 4011, and `emitted` lists
 * each logical event once for exactly-once checks.
 *
 * @example
 * ```ts
 * const sim = await createSimulator({
 *   token: btoa("123456789012345678") + ".sim.token",
 *   restAuthorization: "secret",
 *   shards: 2,
 *   guilds: 10,
 * });
 * // ... connect to sim.gatewayUrl, call sim.restUrl + "/v10/gateway/bot"
 * await sim.shutdown();
 * ```
 * @module
 */
import { createEmitters, parseShardRef } from "./emitters.ts";
import { createFanOut, seededRandom } from "./fan_out.ts";
import { createGateway, type GatewayRecords } from "./gateway.ts";
import { createGuildRegistry, recommendShards } from "./guild_registry.ts";
import { createIdentifyLimiter } from "./identify_limiter.ts";
import { createInteractionRegistry } from "./interaction_registry.ts";
import { resolveOptions } from "./options.ts";
import { createRestHandler } from "./rest.ts";
import { createFaultQueue } from "./rest_faults.ts";
import { createSessionStore } from "./session_store.ts";
import { createIdGenerator } from "./snowflake.ts";
import type {
  CallbackRecord,
  EmittedEvent,
  ShardRef,
  Simulator,
  SimulatorOptions,
} from "./types.ts";

export type * from "./types.ts";
export { eventKey } from "./fan_out.ts";
export { recommendShards } from "./guild_registry.ts";
export { waitFor, type WaitForOptions } from "./wait.ts";
export { Intents } from "./intents.ts";
export { shardForGuild } from "./snowflake.ts";
export { type MessageStream, type MessageStreamOptions, startMessageStream } from "./stream.ts";

/** Host part of a URL for a listening address (wildcards become loopback). */
function urlHost(hostname: string, port: number): string {
  if (hostname === "0.0.0.0") return `127.0.0.1:${port}`;
  if (hostname === "::") return `[::1]:${port}`;
  return hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
}

/** Starts a simulator. Options are validated up front (TypeError / RangeError). */
export function createSimulator(options: SimulatorOptions): Promise<Simulator> {
  try {
    return Promise.resolve(start(options));
  } catch (err) {
    return Promise.reject(err);
  }
}

function start(options: SimulatorOptions): Simulator {
  const opts = resolveOptions(options);
  const log = opts.logger;
  const records: GatewayRecords & { callbacks: CallbackRecord[] } = {
    identifies: [],
    resumes: [],
    received: [],
    closes: [],
    callbacks: [],
  };
  const emitted: EmittedEvent[] = [];
  const nextId = createIdGenerator();
  const sessions = createSessionStore({
    ttlMs: opts.sessionTtlMs,
    bufferSize: opts.replayBufferSize,
    log,
  });
  const guilds = createGuildRegistry(opts.guilds);
  const limiter = createIdentifyLimiter({
    maxConcurrency: opts.maxConcurrency,
    intervalMs: opts.identifyIntervalMs,
    total: opts.sessionStartTotal,
    remaining: opts.sessionStartRemaining,
    resetAfterMs: opts.resetAfterMs,
    now: Date.now(),
  });
  const recommended = () =>
    opts.shards === "auto"
      ? recommendShards(guilds.size(), opts.recommendGuildsPerShard, opts.maxGuildsPerShard)
      : opts.shards;
  const interactions = createInteractionRegistry();
  const faults = createFaultQueue();
  // Set once the server listens; the handlers only run after that.
  let host = "";

  const gateway = createGateway({
    options: opts,
    records,
    sessions,
    guilds,
    limiter,
    resumeUrl: () => opts.resumeGatewayUrl ?? `ws://${host}/resume`,
  });
  const rest = createRestHandler({
    restAuthorization: opts.restAuthorization,
    gatewayUrl: () => `ws://${host}`,
    shards: () => recommended(),
    limiter,
    interactions,
    interactionDeadlineMs: opts.interactionDeadlineMs,
    callbacks: records.callbacks,
    faults,
    botId: opts.botId,
    nextId,
    log,
  });
  const emitters = createEmitters({
    sessions,
    guilds,
    interactions,
    botId: opts.botId,
    nextId,
    fanOut: createFanOut({
      sessions,
      skewMs: opts.fanOutSkewMs,
      random: seededRandom(opts.seed),
      log: emitted,
      logLimit: opts.emittedLogLimit,
    }),
    enforceShardLimit: () => gateway.enforceShardLimit(),
  });

  const server = Deno.serve({
    hostname: opts.hostname,
    port: opts.port,
    onListen: () => {},
  }, async (req) => {
    try {
      const url = new URL(req.url);
      if (req.headers.get("upgrade")?.toLowerCase() === "websocket") {
        if (["/", "/resume", "/resume/"].includes(url.pathname)) {
          return gateway.upgrade(req, url);
        }
        return Response.json({ message: "404: Not Found", code: 0 }, { status: 404 });
      }
      return await rest(req);
    } catch (err) {
      log(`request failed: ${err instanceof Error ? err.stack : String(err)}`);
      return Response.json({ message: "500: Internal Server Error", code: 0 }, { status: 500 });
    }
  });
  const port = server.addr.port;
  host = urlHost(opts.hostname, port);
  log(`simulator listening on ${host} (seed ${opts.seed})`);

  let stopping: Promise<void> | undefined;
  const shardCheck = (shardId: number) => parseShardRef(shardId)[0];
  const target = (ref: ShardRef) => gateway.target(...parseShardRef(ref));

  return {
    gatewayUrl: `ws://${host}`,
    restUrl: `http://${host}`,
    port,
    botId: opts.botId,
    get identifies() {
      return records.identifies;
    },
    get resumes() {
      return records.resumes;
    },
    get received() {
      return records.received;
    },
    get callbacks() {
      return records.callbacks;
    },
    get closes() {
      return records.closes;
    },
    get emitted() {
      return emitted;
    },
    seed: opts.seed,
    sessions: () =>
      sessions.all().map((s) => ({
        sessionId: s.id,
        shardId: s.shardId,
        numShards: s.numShards,
        seq: s.seq,
        connected: s.connection !== null,
        expired: s.expired,
      })),
    connectedShards: () =>
      [...new Set(gateway.openConnections().filter((c) => c.session).map((c) => c.shardId!))]
        .sort((a, b) => a - b),
    guildIds: (shardId, numShards) => guilds.forShard(shardId, numShards).map((g) => g.id),
    guildCount: () => guilds.size(),
    recommendedShards: () => recommended(),
    ...emitters,
    dropConnection(shard) {
      gateway.close(target(shard), 4000, "Connection dropped (simulated).");
    },
    sendReconnect(shard) {
      gateway.send(target(shard), 7, null);
    },
    sendInvalidSession(shard, resumable) {
      const conn = target(shard);
      gateway.send(conn, 9, resumable);
      gateway.invalidate(conn, resumable);
    },
    closeShard(shard, code, reason) {
      const valid = Number.isInteger(code) &&
        (code === 1000 || code === 1001 || (code >= 3000 && code <= 4999));
      if (!valid) {
        throw new RangeError(`closeShard code must be 1000, 1001 or 3000-4999, got ${code}`);
      }
      gateway.close(target(shard), code, reason);
    },
    requestHeartbeat(shard) {
      gateway.send(target(shard), 1, null);
    },
    pauseHeartbeatAcks(shardId, paused) {
      gateway.pauseAcks(shardId === "all" ? "all" : shardCheck(shardId), paused);
    },
    expireSessions(shardId) {
      for (const session of sessions.all()) {
        if (session.expired || (shardId !== undefined && session.shardId !== shardId)) continue;
        if (session.connection === null) sessions.expire(session, "expireSessions()");
        else session.expireOnDetach = true;
      }
    },
    failRest(route, statuses, failOptions) {
      faults.add(route, statuses, failOptions?.retryAfterSeconds ?? 1);
    },
    shutdown() {
      stopping ??= (async () => {
        await gateway.shutdown();
        sessions.close();
        await server.shutdown();
        log("simulator stopped");
      })();
      return stopping;
    },
  };
}
