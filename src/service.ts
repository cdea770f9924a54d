/**
 * Wires the stages together, in the order data flows:
 * Discord -> shards -> shaping -> delivery queue -> transport -> handler.
 * The entry point, the demo and the tests all start the service through here.
 * @module
 */
import type { Config } from "../configs.ts";
import type { GatewayManager } from "../deps.ts";
import {
  createDeliveryQueue,
  createFileDeadLetters,
  createRestDeferrer,
  createSqliteJournal,
  type DeliveryQueue,
  type Journal,
} from "./delivery/mod.ts";
import {
  createIdentifyQueue,
  createShardGateway,
  type FatalGatewayError,
  type IdentifyQueue,
} from "./gateway/mod.ts";
import type { Logger } from "./log.ts";
import { createRestClient, fetchGatewayBot, type GatewayBotInfo } from "./rest/mod.ts";
import { createShaper, type Shaper } from "./shaping/mod.ts";
import { createHttpTransport, type Transport } from "./transport/mod.ts";

/** Replaceable parts; every default is built from the config. */
export interface ServiceOverrides {
  transport?: Transport;
  shaper?: Shaper;
  identifyQueue?: (info: GatewayBotInfo) => IdentifyQueue;
  /** Called with the gateway manager before shards spawn: replace any of its methods here. */
  gateway?: (gateway: GatewayManager) => void;
}

/** Options of {@linkcode createService}. */
export interface ServiceOptions {
  config: Config;
  logger: Logger;
  overrides?: ServiceOverrides;
  /** Backoff of the start-up `GET /gateway/bot` retries. */
  restRetry?: { baseDelayMs?: number; maxDelayMs?: number };
  /** Delivery retry backoff (defaults: 1 s base, `RETRY_MAX_DELAY_MS` cap). */
  deliveryRetry?: { baseMs?: number; maxMs?: number };
}

/** A running gateway proxy. */
export interface Service {
  readonly config: Config;
  readonly queue: DeliveryQueue;
  /** Set once `start` fetched `/gateway/bot`. */
  gateway?: GatewayManager;
  /** Shards of this process that are READY or RESUMED. */
  readonly readyShards: ReadonlySet<number>;
  /** Fetches `/gateway/bot` and spawns this process's shards. Resolves once spawning began. */
  start(): Promise<void>;
  /** Resolves when every owned shard has been READY once. */
  readonly allReady: Promise<void>;
  /** Resolves with the first fatal gateway error (bad token, disallowed intents, ...). */
  readonly fatal: Promise<FatalGatewayError>;
  /** Closes shards (resumable close code), flushes for up to `drainMs`, persists the queue. */
  stop(drainMs?: number): Promise<void>;
}

/** Creates the service; nothing connects until `start()`. */
export async function createService(options: ServiceOptions): Promise<Service> {
  const { config, logger, overrides = {} } = options;
  const abort = new AbortController();
  const range = `${config.firstShardId}-${config.lastShardId ?? "last"}`;
  await Deno.mkdir(config.dataDir, { recursive: true });
  const journal: Journal = createSqliteJournal({
    path: `${config.dataDir}/journal-${range}.sqlite`,
  });
  const rest = createRestClient({
    token: config.discordToken,
    url: config.rest.url,
    authorization: config.rest.authorization,
  });
  const transport = overrides.transport ?? createHttpTransport({
    url: config.eventHandler.url,
    authorization: config.eventHandler.authorization,
    timeoutMs: config.eventHandler.timeoutMs,
  });
  const queue = createDeliveryQueue({
    transport,
    logger,
    journal,
    deadLetters: createFileDeadLetters(`${config.dataDir}/dead-letters.jsonl`),
    deferrer: createRestDeferrer({ rest, ephemeral: config.deferEphemeral }),
    maxEvents: config.queue.maxEvents,
    maxBytes: config.queue.maxBytes,
    maxDiskBytes: config.queue.maxDiskBytes,
    retry: {
      baseMs: options.deliveryRetry?.baseMs ?? 1000,
      maxMs: options.deliveryRetry?.maxMs ?? config.retryMaxDelayMs,
    },
  });
  const shaper = overrides.shaper ?? createShaper();
  const readyShards = new Set<number>();
  let resolveFatal!: (e: FatalGatewayError) => void;
  const fatal = new Promise<FatalGatewayError>((r) => (resolveFatal = r));
  let resolveAllReady!: () => void;
  const allReady = new Promise<void>((r) => (resolveAllReady = r));
  let stopped = false;

  const service: Service = {
    config,
    queue,
    readyShards,
    allReady,
    fatal,
    async start() {
      const info = await fetchGatewayBot(rest, {
        logger,
        signal: abort.signal,
        ...options.restRetry,
      });
      const totalShards = config.totalShards ?? info.shards;
      const lastShardId = config.lastShardId ?? totalShards - 1;
      const owned = lastShardId - config.firstShardId + 1;
      logger.info("gateway info from the REST proxy", {
        recommendedShards: info.shards,
        totalShards,
        shards: `${config.firstShardId}-${lastShardId}`,
        maxConcurrency: info.sessionStartLimit.maxConcurrency,
        sessionStartsRemaining: info.sessionStartLimit.remaining,
      });
      const identifyQueue = overrides.identifyQueue?.(info) ?? createIdentifyQueue({
        maxConcurrency: info.sessionStartLimit.maxConcurrency,
        intervalMs: config.spawnShardDelayMs,
        remaining: info.sessionStartLimit.remaining,
        resetAfterMs: info.sessionStartLimit.resetAfter,
        total: info.sessionStartLimit.total,
        logger,
      });
      const startedAt = Date.now();
      const gateway = createShardGateway({
        token: config.discordToken,
        intents: config.intents,
        info,
        totalShards,
        firstShardId: config.firstShardId,
        lastShardId,
        identifyQueue,
        logger,
        signal: abort.signal,
        onDispatch(dispatch, payload) {
          const event = shaper(dispatch, payload);
          if (event) queue.push(event);
        },
        onFatal(error) {
          logger.error("fatal gateway close", { shard: error.shardId, code: error.code });
          resolveFatal(error);
        },
        onShardEvent(shardId, event) {
          if (event === "ready" || event === "resumed") {
            const first = !readyShards.has(shardId);
            readyShards.add(shardId);
            if (first) {
              logger.info("shard ready", {
                shard: shardId,
                ready: `${readyShards.size}/${owned}`,
                elapsedMs: Date.now() - startedAt,
              });
            }
            if (readyShards.size === owned) resolveAllReady();
          } else if (event === "disconnected") {
            readyShards.delete(shardId);
          }
        },
      });
      overrides.gateway?.(gateway);
      service.gateway = gateway;
      gateway.spawnShards().catch((error) => {
        if (!abort.signal.aborted) logger.error("spawning shards failed", { error });
      });
    },
    async stop(drainMs = 5000) {
      if (stopped) return;
      stopped = true;
      abort.abort(new Error("service stopping"));
      // 3000 keeps the Discord session resumable (1000/1001 would end it).
      await service.gateway?.shutdown(3000, "gateway proxy stopping").catch((error) =>
        logger.warn("closing shards failed", { error })
      );
      const drained = await queue.idle(drainMs);
      if (!drained) {
        logger.warn("stopping with undelivered events; they stay in the journal", {
          memory: queue.depth().memory,
          disk: queue.depth().disk,
        });
      }
      await queue.close();
      journal.close();
    },
  };
  return service;
}
