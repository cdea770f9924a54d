/**
 * Wires the stages together, in the order data flows:
 * Discord -> shards -> shaping -> delivery queue -> transport -> handler.
 * The entry point, the demo and the tests all start the service through here.
 * @module
 */
import type { Config } from "../configs.ts";
import { type GatewayManager, ShardState } from "../deps.ts";
import {
  adoptJournal,
  type CloseReport,
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
import type { DispatchPayload, GatewayDispatch } from "./gateway/shards.ts";
import { checkResumeGatewayUrl } from "./gateway/resume_url.ts";
import {
  type FileDeadLetters,
  redeliverDeadLetters,
  type RedeliverResult,
} from "./delivery/mod.ts";
import { type DataDir, ensurePrivateFile, openDataDir } from "./data_dir.ts";
import type { Controller } from "./controller.ts";
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
  /** A user's controller (`GATEWAY_CONTROLLER`); applied on top of the defaults. */
  controller?: Controller;
  /** Backoff of the start-up `GET /gateway/bot` retries. */
  restRetry?: { baseDelayMs?: number; maxDelayMs?: number };
  /** Delivery retry backoff (defaults: 1 s base, `RETRY_MAX_DELAY_MS` cap). */
  deliveryRetry?: { baseMs?: number; maxMs?: number };
}

/** Gateway lifecycle facts for health and metrics. */
export interface GatewayStats {
  /** This process's shards and the bot's total (set once started). */
  range?: { first: number; last: number; total: number };
  /** `GET /gateway/bot` at start. */
  info?: GatewayBotInfo;
  identifies: number;
  resumes: number;
  /** Disconnects by close code. */
  closesByCode: Map<number, number>;
  /** Since when a shard is not READY/RESUMED (absent = live). */
  downSince: Map<number, number>;
  startedAt?: number;
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
  /** Shards of this process that are READY or RESUMED (the range minus `stats.downSince`). */
  readonly readyShards: ReadonlySet<number>;
  /** The shaping stage (set once started): guild facts per shard, cache sizes. */
  shaper?: Shaper;
  /** Identifies, resumes, disconnects. */
  readonly stats: GatewayStats;
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
   * rest, persists sessions, releases `DATA_DIR`. Never throws; the report says whether
   * undelivered events could not be journaled. @default drainMs config.shutdownDrainMs
   */
  stop(drainMs?: number): Promise<CloseReport>;
  /** Sends the dead letters again and keeps those still failing (`POST /dead-letters/redeliver`). */
  redeliverDeadLetters(): Promise<RedeliverResult>;
}

/** How often start-up progress is logged while shards come up. */
const PROGRESS_INTERVAL_MS = 5000;

function formatDuration(ms: number): string {
  const s = Math.ceil(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s` : `${s}s`;
}

/**
 * Creates the service and takes `DATA_DIR` for this process; nothing connects until `start()`.
 * @throws {DataDirLockedError} when another process uses `DATA_DIR`.
 */
export async function createService(options: ServiceOptions): Promise<Service> {
  const { config, logger, overrides = {}, controller = {} } = options;
  const ctx = { config, logger };
  const abort = new AbortController();
  const range = `${config.firstShardId}-${config.lastShardId ?? "last"}`;
  const dataDir: DataDir = await openDataDir(config.dataDir);
  const rest = createRestClient({
    token: config.discordToken,
    url: config.rest.url,
    authorization: config.rest.authorization,
  });
  const sessionsFile = `sessions-${range}.json`;
  const sessionStore = overrides.sessionStore ?? createFileSessionStore({
    path: `${config.dataDir}/${sessionsFile}`,
    token: config.discordToken,
    logger,
  });
  const counters = createCounters();
  const stats: GatewayStats = {
    identifies: 0,
    resumes: 0,
    closesByCode: new Map(),
    downSince: new Map(),
  };
  const fatal = Promise.withResolvers<FatalGatewayError>();
  const allReady = Promise.withResolvers<void>();
  let journal: Journal | undefined;
  let ownTransport: Transport | undefined;
  let deliveryTransport: Transport | undefined;
  let deadLetterSink: FileDeadLetters | undefined;
  let queue: DeliveryQueue | undefined;
  let totalShards = 0;
  let saveTimer: ReturnType<typeof setInterval> | undefined;
  let progressTimer: ReturnType<typeof setInterval> | undefined;
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
  const usableSessions = async (first: number, last: number, gatewayUrl: string) => {
    const usable = new Map<number, SessionRecord>();
    for (const r of await sessionStore.load()) {
      if (r.shardId < first || r.shardId > last) continue;
      // Anyone who can write the file could otherwise collect the token from the resume.
      const url = checkResumeGatewayUrl(r.resumeGatewayUrl, { gatewayUrl });
      if (!url.ok) {
        logger.warn("stored session has an untrusted resume URL; identifying instead", {
          shard: r.shardId,
          reason: url.reason,
        });
        continue;
      }
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

  /**
   * Journals and session files left in `DATA_DIR` by another shard range (the range was
   * changed) are taken over, not abandoned: their events are delivered from this journal,
   * their sessions for shards of this range are resumed.
   */
  const adoptOtherRanges = async (into: Journal, ownJournal: string, last: number) => {
    for (const name of await dataDir.list("journal-")) {
      if (name === ownJournal || !name.endsWith(".sqlite")) continue;
      const path = `${config.dataDir}/${name}`;
      const other = createSqliteJournal({ path });
      const moved = adoptJournal(other, into);
      other.close();
      for (const suffix of ["", "-wal", "-shm"]) await Deno.remove(path + suffix).catch(() => {});
      logger.warn("took over the journal of another shard range; its events are delivered", {
        file: name,
        events: moved,
      });
    }
    if (overrides.sessionStore) return;
    const own = await sessionStore.load();
    const have = new Set(own.map((r) => r.shardId));
    const adopted: SessionRecord[] = [];
    const others = (await dataDir.list("sessions-")).filter((n) =>
      n !== sessionsFile && n.endsWith(".json")
    );
    for (const name of others) {
      const path = `${config.dataDir}/${name}`;
      const records = await createFileSessionStore({ path, token: config.discordToken, logger })
        .load();
      for (const r of records) {
        if (r.shardId < config.firstShardId || r.shardId > last || have.has(r.shardId)) continue;
        have.add(r.shardId);
        adopted.push(r);
      }
    }
    if (adopted.length > 0) await sessionStore.save([...own, ...adopted]);
    for (const name of others) {
      await Deno.remove(`${config.dataDir}/${name}`).catch(() => {});
      logger.warn("took over the sessions file of another shard range", {
        file: name,
        adopted: adopted.length,
      });
    }
  };

  const service: Service = {
    config,
    counters,
    get readyShards() {
      const ready = new Set<number>();
      const range = stats.range;
      if (!range) return ready;
      for (let id = range.first; id <= range.last; id++) {
        if (!stats.downSince.has(id)) ready.add(id);
      }
      return ready;
    },
    stats,
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
      stats.range = { first: config.firstShardId, last: lastShardId, total: totalShards };
      stats.info = info;
      stats.startedAt = Date.now();
      for (let id = config.firstShardId; id <= lastShardId; id++) {
        stats.downSince.set(id, Date.now());
      }
      logger.info("gateway info from the REST proxy", {
        recommendedShards: info.shards,
        totalShards,
        shards: `${config.firstShardId}-${lastShardId}`,
        maxConcurrency: info.sessionStartLimit.maxConcurrency,
        sessionStartsRemaining: info.sessionStartLimit.remaining,
      });
      const journalFile = `journal-${range}.sqlite`;
      await ensurePrivateFile(`${config.dataDir}/${journalFile}`);
      journal = createSqliteJournal({
        path: `${config.dataDir}/${journalFile}`,
        synchronous: config.queue.journalSync,
      });
      await adoptOtherRanges(journal, journalFile, lastShardId);
      const sessions = await usableSessions(config.firstShardId, lastShardId, info.url);
      if (sessions.size > 0) {
        logger.info("resuming stored sessions instead of identifying", {
          resuming: sessions.size,
          identifying: owned - sessions.size,
        });
      }

      // An override belongs to whoever passed it; the one made here is closed on stop.
      ownTransport = overrides.transport ? undefined : createHttpTransport({
        url: config.eventHandler.url,
        authorization: config.eventHandler.authorization,
        timeoutMs: config.eventHandler.timeoutMs,
        client: config.eventHandler.client,
      });
      const defaultTransport = overrides.transport ?? ownTransport!;
      const transport = deliveryTransport = controller.transport?.(ctx, defaultTransport) ??
        defaultTransport;
      deadLetterSink = createFileDeadLetters({
        path: `${config.dataDir}/dead-letters.jsonl`,
        maxBytes: config.deadLetters.maxBytes,
        logger,
        counters,
      });
      const q = queue = createDeliveryQueue({
        transport,
        logger,
        counters,
        journal,
        deadLetters: deadLetterSink,
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
        poisonAfterAttempts: config.delivery.poisonAfterAttempts,
        resuming: new Map([...sessions].map(([id, r]) => [id, r.sessionId])),
      });
      const emit = (event: QueuedEvent) => q.push(event);
      const defaultShaper = overrides.shaper?.(emit) ?? createShaper({
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
      const shaper = service.shaper = controller.shaper?.(ctx, defaultShaper, emit) ??
        defaultShaper;
      const defaultQueue = overrides.identifyQueue ? undefined : createIdentifyQueue({
        maxConcurrency: info.sessionStartLimit.maxConcurrency,
        intervalMs: config.spawnShardDelayMs,
        remaining: info.sessionStartLimit.remaining,
        resetAfterMs: info.sessionStartLimit.resetAfter,
        total: info.sessionStartLimit.total,
        logger,
      });
      const baseQueue = overrides.identifyQueue?.(info) ?? defaultQueue!;
      const identifyQueue = controller.identifyQueue?.(ctx, info, baseQueue) ?? baseQueue;
      const next = (dispatch: GatewayDispatch, payload: DispatchPayload) => {
        for (const event of shaper.shape(dispatch, payload)) q.push(event);
      };
      const startedAt = Date.now();
      const mc = info.sessionStartLimit.maxConcurrency;
      progressTimer = setInterval(() => {
        const waiting = stats.downSince.size;
        if (waiting === 0) return clearInterval(progressTimer);
        let next = Infinity;
        for (let b = 0; b < mc; b++) {
          next = Math.min(next, (defaultQueue?.nextSlot(b) ?? Date.now()) - Date.now());
        }
        const etaMs = Math.ceil(waiting / mc) * config.spawnShardDelayMs;
        logger.info(
          `shards ready ${owned - waiting}/${owned}, next identify in ${
            (Math.max(0, next) / 1000).toFixed(1)
          } s, ETA ${formatDuration(etaMs)}`,
        );
      }, PROGRESS_INTERVAL_MS);
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
          if (controller.onDispatch) controller.onDispatch(dispatch, payload, next);
          else next(dispatch, payload);
        },
        onShardCreated: controller.shard && ((shard) => controller.shard!(shard, ctx)),
        onFatal(error) {
          logger.error("fatal gateway close", { shard: error.shardId, code: error.code });
          fatal.resolve(error);
        },
        onShardEvent(shardId, event, detail) {
          if (event === "identify") stats.identifies++;
          if (event === "resume") stats.resumes++;
          if (event === "disconnected") {
            const code = detail?.code ?? 0;
            stats.closesByCode.set(code, (stats.closesByCode.get(code) ?? 0) + 1);
            if (!stats.downSince.has(shardId)) stats.downSince.set(shardId, Date.now());
          }
          if (event === "ready" || event === "resumed") {
            if (stats.downSince.delete(shardId)) {
              logger.info(event === "ready" ? "shard ready" : "shard resumed", {
                shard: shardId,
                ready: `${owned - stats.downSince.size}/${owned}`,
                elapsedMs: Date.now() - startedAt,
              });
            }
            if (stats.downSince.size === 0) allReady.resolve();
          }
        },
      });
      overrides.gateway?.(gateway);
      controller.gateway?.(gateway, ctx);
      service.gateway = gateway;
      saveTimer = setInterval(() => {
        service.saveSessions().catch((error) => logger.warn("saving sessions failed", { error }));
      }, config.sessionSaveIntervalMs);
      gateway.spawnShards().catch((error) => {
        if (!abort.signal.aborted) logger.error("spawning shards failed", { error });
      });
    },
    redeliverDeadLetters() {
      if (!deadLetterSink || !deliveryTransport) {
        return Promise.reject(new Error("the service has not started yet"));
      }
      return redeliverDeadLetters({
        path: deadLetterSink.path,
        exclusive: deadLetterSink.exclusive,
        transport: deliveryTransport,
        logger,
        signal: abort.signal,
      });
    },
    async saveSessions() {
      if (!service.gateway) return;
      await sessionStore.save(currentSessions());
    },
    async stop(drainMs = config.shutdownDrainMs) {
      if (stopped) return { unjournaled: 0 };
      stopped = true;
      let report: CloseReport = { unjournaled: 0 };
      clearInterval(saveTimer);
      clearInterval(progressTimer);
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
        report = await queue.close();
      }
      ownTransport?.close?.();
      // Everything undelivered is journaled now, so sessions resume after the last event received.
      if (service.gateway) {
        await service.saveSessions().catch((error) =>
          logger.error("saving sessions at shutdown failed; shards will identify next time", {
            error,
          })
        );
      }
      service.shaper?.close();
      try {
        journal?.close();
      } catch (error) {
        logger.warn("closing the journal failed", { error });
      }
      dataDir.release();
      return report;
    },
  };
  return service;
}
