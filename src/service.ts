/**
 * Wires the stages together, in the order data flows:
 * Discord -> shards -> shaping -> delivery queue -> transport -> handler.
 * The entry point, the demo and the tests all start the service through here.
 * @module
 */
import type { Config } from "../configs.ts";
import { type GatewayManager, ShardState } from "../deps.ts";
import {
  createCounters,
  createDeliveryQueue,
  createFileDeadLetters,
  createRestDeferrer,
  createSqliteJournal,
  type DeliveryCounters,
  type DeliveryQueue,
  type Journal,
  type QueuedEvent,
} from "./delivery/mod.ts";
import {
  createFileSessionStore,
  createIdentifyQueue,
  createShardGateway,
  type FatalGatewayError,
  type IdentifyQueue,
  type SessionRecord,
  type SessionStore,
} from "./gateway/mod.ts";
import type { Logger } from "./log.ts";
import { createRestClient, fetchGatewayBot, type GatewayBotInfo } from "./rest/mod.ts";
import { createShaper, type Shaper } from "./shaping/mod.ts";
import { createHttpTransport, type Transport } from "./transport/mod.ts";

/** Replaceable parts; every default is built from the config. */
export interface ServiceOverrides {
  transport?: Transport;
  /** Replaces the shaping stage; `emit` queues events it creates later. */
  shaper?: (emit: (event: QueuedEvent) => void) => Shaper;
  identifyQueue?: (info: GatewayBotInfo) => IdentifyQueue;
  sessionStore?: SessionStore;
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
  /** Every stage's counters (the same object before and after `start`). */
  readonly counters: DeliveryCounters;
  /** The delivery queue; throws before `start()`. */
  readonly queue: DeliveryQueue;
  /** Set once `start` fetched `/gateway/bot`. */
  gateway?: GatewayManager;
  /** Shards of this process that are READY or RESUMED. */
  readonly readyShards: ReadonlySet<number>;
  /** The shaping stage (set once started): guild facts per shard, cache sizes. */
  shaper?: Shaper;
  /** Fetches `/gateway/bot`, resumes stored sessions, identifies the rest. Resolves once spawning began. */
  start(): Promise<void>;
  /** Resolves when every owned shard has been READY or RESUMED once. */
  readonly allReady: Promise<void>;
  /** Resolves with the first fatal gateway error (bad token, disallowed intents, ...). */
  readonly fatal: Promise<FatalGatewayError>;
  /** Writes the shards' resumable sessions now (also done every `SESSION_SAVE_INTERVAL_MS`). */
  saveSessions(): Promise<void>;
  /**
   * Closes shards with a resumable code, delivers for up to `drainMs`, journals the
   * rest, persists sessions. @default drainMs config.shutdownDrainMs
   */
  stop(drainMs?: number): Promise<void>;
}

/** Creates the service; nothing connects until `start()`. */
export async function createService(options: ServiceOptions): Promise<Service> {
  const { config, logger, overrides = {} } = options;
  const abort = new AbortController();
  const range = `${config.firstShardId}-${config.lastShardId ?? "last"}`;
  await Deno.mkdir(config.dataDir, { recursive: true });
  const rest = createRestClient({
    token: config.discordToken,
    url: config.rest.url,
    authorization: config.rest.authorization,
  });
  const sessionStore = overrides.sessionStore ?? createFileSessionStore({
    path: `${config.dataDir}/sessions-${range}.json`,
    token: config.discordToken,
    logger,
  });
  const counters = createCounters();
  const readyShards = new Set<number>();
  const fatal = Promise.withResolvers<FatalGatewayError>();
  const allReady = Promise.withResolvers<void>();
  let journal: Journal | undefined;
  let queue: DeliveryQueue | undefined;
  let totalShards = 0;
  let saveTimer: ReturnType<typeof setInterval> | undefined;
  let stopped = false;

  /** Resumable sessions as of now; `final` once everything undelivered is journaled. */
  const currentSessions = (): SessionRecord[] => {
    const out: SessionRecord[] = [];
    for (const [id, shard] of service.gateway?.shards ?? []) {
      if (!shard.sessionId || shard.state === ShardState.Offline) continue;
      const last = shard.previousSequenceNumber ?? 0;
      out.push({
        shardId: id,
        sessionId: shard.sessionId,
        resumeGatewayUrl: shard.resumeGatewayUrl,
        totalShards,
        seq: queue ? queue.resumeSeq(id, shard.sessionId, last) : last,
        savedAt: Date.now(),
      });
    }
    return out;
  };

  /** Stored sessions this process can resume; the rest are reported and dropped. */
  const usableSessions = async (first: number, last: number) => {
    const usable = new Map<number, SessionRecord>();
    for (const r of await sessionStore.load()) {
      if (r.shardId < first || r.shardId > last) continue;
      if (r.totalShards !== totalShards) {
        logger.warn("stored session was made for another shard count; identifying instead", {
          shard: r.shardId,
          stored: r.totalShards,
          now: totalShards,
        });
        continue;
      }
      usable.set(r.shardId, r);
    }
    return usable;
  };

  const service: Service = {
    config,
    counters,
    readyShards,
    allReady: allReady.promise,
    fatal: fatal.promise,
    get queue(): DeliveryQueue {
      if (!queue) throw new Error("the service has not started");
      return queue;
    },
    async start() {
      const info = await fetchGatewayBot(rest, {
        logger,
        signal: abort.signal,
        ...options.restRetry,
      });
      totalShards = config.totalShards ?? info.shards;
      const lastShardId = config.lastShardId ?? totalShards - 1;
      const owned = lastShardId - config.firstShardId + 1;
      logger.info("gateway info from the REST proxy", {
        recommendedShards: info.shards,
        totalShards,
        shards: `${config.firstShardId}-${lastShardId}`,
        maxConcurrency: info.sessionStartLimit.maxConcurrency,
        sessionStartsRemaining: info.sessionStartLimit.remaining,
      });
      const sessions = await usableSessions(config.firstShardId, lastShardId);
      if (sessions.size > 0) {
        logger.info("resuming stored sessions instead of identifying", {
          resuming: sessions.size,
          identifying: owned - sessions.size,
        });
      }

      journal = createSqliteJournal({ path: `${config.dataDir}/journal-${range}.sqlite` });
      const transport = overrides.transport ?? createHttpTransport({
        url: config.eventHandler.url,
        authorization: config.eventHandler.authorization,
        timeoutMs: config.eventHandler.timeoutMs,
      });
      const q = queue = createDeliveryQueue({
        transport,
        logger,
        counters,
        journal,
        deadLetters: createFileDeadLetters(`${config.dataDir}/dead-letters.jsonl`),
        deferrer: createRestDeferrer({
          url: config.rest.url,
          authorization: config.rest.authorization,
          ephemeral: config.deferEphemeral,
        }),
        maxEvents: config.queue.maxEvents,
        maxBytes: config.queue.maxBytes,
        maxDiskBytes: config.queue.maxDiskBytes,
        retry: {
          baseMs: options.deliveryRetry?.baseMs ?? 1000,
          maxMs: options.deliveryRetry?.maxMs ?? config.retryMaxDelayMs,
        },
        resuming: new Map([...sessions].map(([id, r]) => [id, r.sessionId])),
      });
      const emit = (event: QueuedEvent) => q.push(event);
      const shaper = service.shaper = overrides.shaper?.(emit) ?? createShaper({
        counters,
        emit,
        allow: config.shaping.allow,
        deny: config.shaping.deny,
        dedupeMessageUpdates: config.shaping.dedupeMessageUpdates,
        editedMessagesMax: config.shaping.editedMessagesMax,
        editedMessagesTtlMs: config.shaping.editedMessagesTtlMs,
        guildLoadTimeoutMs: config.shaping.guildLoadTimeoutMs,
        forwardGuildOutages: config.shaping.forwardGuildOutages,
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
        sessions,
        logger,
        signal: abort.signal,
        onDispatch(dispatch, payload) {
          for (const event of shaper.shape(dispatch, payload)) q.push(event);
        },
        onFatal(error) {
          logger.error("fatal gateway close", { shard: error.shardId, code: error.code });
          fatal.resolve(error);
        },
        onShardEvent(shardId, event) {
          if (event === "ready" || event === "resumed") {
            const first = !readyShards.has(shardId);
            readyShards.add(shardId);
            if (first) {
              logger.info(event === "ready" ? "shard ready" : "shard resumed", {
                shard: shardId,
                ready: `${readyShards.size}/${owned}`,
                elapsedMs: Date.now() - startedAt,
              });
            }
            if (readyShards.size === owned) allReady.resolve();
          } else if (event === "disconnected") {
            readyShards.delete(shardId);
          }
        },
      });
      overrides.gateway?.(gateway);
      service.gateway = gateway;
      saveTimer = setInterval(() => {
        service.saveSessions().catch((error) => logger.warn("saving sessions failed", { error }));
      }, config.sessionSaveIntervalMs);
      gateway.spawnShards().catch((error) => {
        if (!abort.signal.aborted) logger.error("spawning shards failed", { error });
      });
    },
    async saveSessions() {
      if (!service.gateway) return;
      await sessionStore.save(currentSessions());
    },
    async stop(drainMs = config.shutdownDrainMs) {
      if (stopped) return;
      stopped = true;
      clearInterval(saveTimer);
      abort.abort(new Error("service stopping"));
      // 3000 keeps the Discord session resumable (1000/1001 would end it).
      await service.gateway?.shutdown(3000, "gateway proxy stopping").catch((error) =>
        logger.warn("closing shards failed", { error })
      );
      if (queue) {
        const drained = await queue.idle(drainMs);
        if (!drained) {
          logger.warn("stopping with undelivered events; they stay in the journal", {
            memory: queue.depth().memory,
            disk: queue.depth().disk,
          });
        }
        await queue.close();
      }
      // Everything undelivered is journaled now, so sessions resume after the last event received.
      if (service.gateway) {
        await service.saveSessions().catch((error) =>
          logger.error("saving sessions at shutdown failed; shards will identify next time", {
            error,
          })
        );
      }
      service.shaper?.close();
      journal?.close();
    },
  };
  return service;
}
