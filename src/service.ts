/**
 * Wires the stages together, in the order data flows:
 * Discord -> shard set -> shaping -> delivery queue -> transport -> handler.
 * The entry point, the demo and the tests all start the service through here.
 * Over 400 lines: the one owner of the run-time state (live and next shard sets, queue, leases) wiring every stage; the parts that take explicit inputs live in stored_sessions.ts and cluster/service_*.ts.
 * @module
 */
import type { Config } from "../configs.ts";
import { adoptOtherRanges } from "./adopt_ranges.ts";
import { type Cluster, connectCluster, type LeaseHandle } from "./cluster/mod.ts";
import { runClusterLeases } from "./cluster/service_leases.ts";
import {
  followClusterReshard,
  type FollowState,
  leadClusterReshard,
} from "./cluster/service_reshard.ts";
import { chooseTotal, usableSessions } from "./stored_sessions.ts";
import type { Controller } from "./controller.ts";
import { type DataDir, ensurePrivateFile, openDataDir } from "./data_dir.ts";
import {
  type CloseReport,
  createCounters,
  createDeliveryQueue,
  createFileDeadLetters,
  createRestDeferrer,
  createSqliteJournal,
  type DeliveryCounters,
  type DeliveryQueue,
  type FileDeadLetters,
  type Journal,
  type QueuedEvent,
  redeliverDeadLetters,
  type RedeliverResult,
} from "./delivery/mod.ts";
import {
  createFileSessionStore,
  createIdentifyQueue,
  type FatalGatewayError,
  type GatewayCommand,
  type SessionRecord,
  type ShardEvent,
  type ShardGroup,
} from "./gateway/mod.ts";
import type { Logger } from "./log.ts";
import {
  createOverlapDedupe,
  createResharder,
  needsReshard,
  type OverlapDedupe,
  type PreparedSet,
  type ReshardAnswer,
  type Resharder,
  type ReshardReason,
  type ReshardStatus,
} from "./reshard/mod.ts";
import { createRestClient, fetchGatewayBot, type GatewayBotInfo } from "./rest/mod.ts";
import {
  createShardSet,
  type DispatchFacts,
  guildCount,
  loadedShards,
  type SetMode,
  type ShardSet,
} from "./shard_set.ts";
import { createWorkerShardSet, type WorkerInfo } from "./workers/worker_set.ts";
import { SYNTHETIC_EVENTS } from "./shaping/event_names.ts";
import type { Shaper } from "./shaping/mod.ts";
import {
  createHttpTransport,
  createRedisStreamsTransport,
  type RedisStreamsStats,
  type RedisStreamsTransport,
  type Transport,
} from "./transport/mod.ts";

/** Options of {@linkcode createService}. */
export interface ServiceOptions {
  config: Config;
  logger: Logger;
  /**
   * Every replaceable part (`GATEWAY_CONTROLLER`, or an object passed here by a program or a
   * test): the one extension mechanism; each hook gets the default it may wrap or replace.
   */
  controller?: Controller;
  /** Backoff of the start-up `GET /gateway/bot` retries. */
  restRetry?: { baseMs?: number; maxMs?: number };
  /** Delivery retry backoff (defaults: 1 s base, `RETRY_MAX_DELAY_MS` cap). */
  deliveryRetry?: { baseMs?: number; maxMs?: number };
}

/** Gateway lifecycle facts for health and metrics. */
export interface GatewayStats {
  /** The live shard set: this process's shards and the bot's total (set once started). */
  range?: { first: number; last: number; total: number };
  /** `GET /gateway/bot` at start. */
  info?: GatewayBotInfo;
  identifies: number;
  resumes: number;
  /** Disconnects by close code. */
  closesByCode: Map<number, number>;
  /** Since when a shard of the live set is not READY/RESUMED (absent = live). */
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
  /** The live shard set's group (set once started). */
  readonly group?: ShardGroup;
  /** Shards of the live set that are READY or RESUMED (the range minus `stats.downSince`). */
  readonly readyShards: ReadonlySet<number>;
  /** The live set's shaping stage (set once started): guild facts per shard, cache sizes. */
  readonly shaper?: Shaper;
  /** Identifies, resumes, disconnects. */
  readonly stats: GatewayStats;
  /** Fetches `/gateway/bot`, resumes stored sessions, identifies the rest. Resolves once spawning began. */
  start(): Promise<void>;
  /** Resolves when every owned shard has been READY or RESUMED once. */
  readonly allReady: Promise<void>;
  /** Resolves with the first fatal gateway error (bad token, disallowed intents, ...). */
  readonly fatal: Promise<FatalGatewayError>;
  /**
   * Sends a gateway command to a shard of the set that is live for delivery; a presence
   * (op 3) is remembered, so a reshard's new set identifies with it.
   * @throws {ShardUnavailableError}
   */
  send(shardId: number, payload: GatewayCommand): Promise<void>;
  /** Starts a reshard (`POST /reshard`): 202 with the plan, or why not. */
  reshard(request: { totalShards?: number; reason?: ReshardReason }): Promise<ReshardAnswer>;
  /** Where resharding stands (`GET /reshard`). */
  reshardStatus(): ReshardStatus;
  /** The live set's worker threads (empty with `TOTAL_WORKERS=0`). */
  workers(): WorkerInfo[];
  /** This process's part in a cluster on Redis (`REDIS_URL`), if any. */
  readonly cluster?: Cluster;
  /** Whether shard `shardId` of the live set runs in this process now. */
  runsShard(shardId: number): boolean;
  /** With `TRANSPORT=redis-streams`: what was appended, and what trimming removed unacknowledged. */
  streamStats(): RedisStreamsStats | undefined;
  /** Writes the live set's resumable sessions now (also every `SESSION_SAVE_INTERVAL_MS`). */
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

/** A set's own start: never delivered from a set that is not live (the bot has those guilds). */
const SET_START_EVENTS = new Set<string>([
  "READY",
  "RESUMED",
  SYNTHETIC_EVENTS.guildLoaded,
  SYNTHETIC_EVENTS.shardGuildsLoaded,
]);

/** Workers for a shard set of `shards` shards: 0 keeps it in the main thread. */
function workerCount(config: Config, shards: number): number {
  const { total, shardsPerWorker } = config.workers;
  if (total <= 0) return 0;
  const wanted = shardsPerWorker ? Math.ceil(shards / shardsPerWorker) : total;
  return Math.max(1, Math.min(total, wanted, shards));
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
  const { config, logger, controller = {} } = options;
  const ctx = { config, logger };
  const abort = new AbortController();
  const auto = config.cluster?.assignment === "auto";
  const range = auto ? "auto" : `${config.firstShardId}-${config.lastShardId ?? "last"}`;
  // Redis first: a wrong REDIS_URL should stop the start before anything else happens.
  const cluster = config.cluster ? await connectCluster(config, logger) : undefined;
  let dataDir: DataDir;
  try {
    dataDir = await openDataDir(config.dataDir);
  } catch (error) {
    await cluster?.close();
    throw error;
  }
  const rest = createRestClient({
    token: config.discordToken,
    url: config.rest.url,
    authorization: config.rest.authorization,
  });
  const sessionsFile = `sessions-${range}.json`;
  const defaultSessionStore = cluster?.sessionStore ?? createFileSessionStore({
    path: `${config.dataDir}/${sessionsFile}`,
    token: config.discordToken,
    logger,
  });
  const sessionStore = controller.sessionStore?.(ctx, defaultSessionStore) ?? defaultSessionStore;
  /** Other ranges' session files are adopted only into the default file store. */
  const fileSessions = !cluster && sessionStore === defaultSessionStore;
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
  /** `TRANSPORT=redis-streams`: the transport, for its counters. */
  let streams: RedisStreamsTransport | undefined;
  let deliveryTransport: Transport | undefined;
  let deadLetterSink: FileDeadLetters | undefined;
  let queue: DeliveryQueue | undefined;
  let saveTimer: ReturnType<typeof setInterval> | undefined;
  let progressTimer: ReturnType<typeof setInterval> | undefined;
  let stopped = false;
  /** The set whose events are delivered and whose sessions are stored. */
  let live: ShardSet | undefined;
  /** A reshard's new set, while it is prepared and switched to. */
  let next: { set: ShardSet; failure?: string } | undefined;
  /** Where commands go: the new set from the moment the switch begins. */
  let commandSet: ShardSet | undefined;
  let dedupe: OverlapDedupe | undefined;
  let resharder: Resharder | undefined;
  /** The last presence set through the API (op 3 `d`), for a new set's identify. */
  let presence: unknown;
  /** In a cluster: the live set's leases, and a reshard this process follows (not leads). */
  let liveLeases: LeaseHandle | undefined;
  /** A reshard another process leads, while this one follows it. */
  const follow: FollowState = { following: undefined };
  let followTimer: ReturnType<typeof setInterval> | undefined;
  let checkTimer: ReturnType<typeof setInterval> | undefined;

  /** Resumable sessions of the live set; `seq` never passes what was delivered or journaled. */
  const currentSessions = (): SessionRecord[] =>
    (live?.group.sessions() ?? []).map((s) => ({
      shardId: s.shardId,
      sessionId: s.sessionId,
      resumeGatewayUrl: s.resumeGatewayUrl,
      totalShards: s.totalShards,
      // In a cluster the stored sequence is the delivered one: if this host is lost for good
      // with its journal, whoever takes the shard over has Discord replay what was not delivered.
      seq: !queue
        ? s.lastSeq
        : cluster
        ? queue.deliveredSeq(s.shardId, s.sessionId, s.lastSeq)
        : queue.resumeSeq(s.shardId, s.sessionId, s.lastSeq),
      savedAt: Date.now(),
    }));

  const started = (): { queue: DeliveryQueue; live: ShardSet } => {
    if (!queue || !live) throw new Error("the service has not started");
    return { queue, live };
  };

  /** How long the reshard lead lasts unless renewed (the leader renews it every third). */
  const leadMs = Math.max(30_000, 3 * (config.cluster?.leaseMs ?? 0));

  /** Guilds of the live set: this process's shards, and in a cluster the others' reports. */
  const clusterGuilds = () => {
    let n = guildCount(live!);
    if (cluster) { for (const r of cluster.view(live!.totalShards).values()) n += r.guilds; }
    return n;
  };

  const service: Service = {
    config,
    counters,
    get group() {
      return live?.group;
    },
    get shaper() {
      return live?.shaper;
    },
    get readyShards() {
      const ready = new Set<number>();
      for (const id of live?.group.shardIds() ?? []) {
        if (!stats.downSince.has(id)) ready.add(id);
      }
      return ready;
    },
    cluster,
    runsShard: (shardId) => live?.group.shardIds().includes(shardId) ?? false,
    streamStats: () => streams?.stats(),
    stats,
    allReady: allReady.promise,
    fatal: fatal.promise,
    get queue(): DeliveryQueue {
      return started().queue;
    },
    async start() {
      const info = await fetchGatewayBot(rest, {
        logger,
        signal: abort.signal,
        ...options.restRetry,
      });
      const stored = await sessionStore.load();
      // Every process of a cluster runs the same count: the first one's choice, or the last reshard's.
      const totalShards = cluster
        ? await cluster.agreeTotal(chooseTotal(config, logger, info, stored))
        : chooseTotal(config, logger, info, stored);
      if (cluster && config.totalShards !== undefined && config.totalShards !== totalShards) {
        logger.warn(
          "TOTAL_SHARDS differs from the shard count the cluster runs; running the cluster's",
          {
            configured: config.totalShards,
            cluster: totalShards,
          },
        );
      }
      const first = auto ? 0 : config.firstShardId;
      const lastShardId = auto ? totalShards - 1 : config.lastShardId ?? totalShards - 1;
      const owned = lastShardId - first + 1;
      // Several processes on Redis reshard only together (not built yet): like a partial range.
      const partial = cluster !== undefined || first !== 0 || lastShardId !== totalShards - 1;
      stats.range = { first, last: lastShardId, total: totalShards };
      stats.info = info;
      stats.startedAt = Date.now();
      logger.info("gateway info from the REST proxy", {
        recommendedShards: info.shards,
        totalShards,
        shards: `${first}-${lastShardId}`,
        maxConcurrency: info.sessionStartLimit.maxConcurrency,
        sessionStartsRemaining: info.sessionStartLimit.remaining,
      });
      const journalFile = `journal-${range}.sqlite`;
      await ensurePrivateFile(`${config.dataDir}/${journalFile}`);
      const fileJournal = createSqliteJournal({
        path: `${config.dataDir}/${journalFile}`,
        synchronous: config.queue.journalSync,
      });
      journal = controller.journal?.(ctx, fileJournal) ?? fileJournal;
      const adopted = await adoptOtherRanges({
        config,
        dataDir,
        logger,
        journal,
        journalFile,
        sessions: fileSessions
          ? { store: sessionStore, file: sessionsFile, own: stored }
          : undefined,
        lastShardId,
      });
      // In a cluster each shard's session is read when its lease is won, not at start.
      const sessions = cluster
        ? new Map<number, SessionRecord>()
        : usableSessions(logger, adopted ?? stored, totalShards, first, lastShardId, info.url);
      if (sessions.size > 0) {
        logger.info("resuming stored sessions instead of identifying", {
          resuming: sessions.size,
          identifying: owned - sessions.size,
        });
      }

      // The transport made here is closed on stop; a controller's own belongs to its author.
      if (config.transport.kind === "redis-streams" && cluster) {
        streams = createRedisStreamsTransport({
          redis: cluster.redis,
          keyBase: cluster.base,
          maxLen: config.transport.streamMaxLen,
          group: config.transport.streamGroup,
          timeoutMs: config.eventHandler.timeoutMs,
          logger,
        });
      }
      ownTransport = streams ?? createHttpTransport({
        url: config.eventHandler.url,
        authorization: config.eventHandler.authorization,
        timeoutMs: config.eventHandler.timeoutMs,
        client: config.eventHandler.client,
      });
      const defaultTransport = ownTransport;
      const transport = deliveryTransport = controller.transport?.(ctx, defaultTransport) ??
        defaultTransport;
      deadLetterSink = createFileDeadLetters({
        path: `${config.dataDir}/dead-letters.jsonl`,
        maxBytes: config.deadLetters.maxBytes,
        logger,
        counters,
      });
      const deadLetters = controller.deadLetters?.(ctx, deadLetterSink) ?? deadLetterSink;
      // Redelivery reads the file: only while the file sink is the one in use.
      if (deadLetters !== deadLetterSink) deadLetterSink = undefined;
      const q = queue = createDeliveryQueue({
        transport,
        logger,
        counters,
        journal,
        deadLetters,
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
        batch: config.eventHandler.batch,
        resuming: new Map([...sessions].map(([id, r]) => [id, r.sessionId])),
      });
      const defaultQueue = cluster ? undefined : createIdentifyQueue({
        maxConcurrency: info.sessionStartLimit.maxConcurrency,
        intervalMs: config.spawnShardDelayMs,
        remaining: info.sessionStartLimit.remaining,
        resetAfterMs: info.sessionStartLimit.resetAfter,
        total: info.sessionStartLimit.total,
        logger,
      });
      const baseQueue = cluster?.identifyQueue(info, config.spawnShardDelayMs) ?? defaultQueue!;
      // One limiter for every set: a reshard's new set shares the buckets with the old one.
      const identifyQueue = controller.identifyQueue?.(ctx, info, baseQueue) ?? baseQueue;
      const startedAt = Date.now();

      const makeSet = (
        total: number,
        last: number,
        stored: ReadonlyMap<number, SessionRecord> | undefined,
        mode: SetMode,
        shardIds?: readonly number[],
      ): ShardSet => {
        const common = {
          config,
          logger,
          info,
          totalShards: total,
          firstShardId: first,
          lastShardId: last,
          identifyQueue,
          sessions: stored,
          shardIds,
          // A shard whose lease this process cannot confirm neither connects nor delivers:
          // whoever holds the lease now resumes it and has Discord replay these events.
          mayConnect: cluster && ((id: number) => cluster.leasesFor(total)?.valid(id) ?? false),
          leaseUntil: cluster && ((id: number) => cluster.leasesFor(total)?.until(id) ?? 0),
          presence: presence === undefined ? undefined : () => presence,
          mode,
          push: cluster
            ? (event: QueuedEvent) => {
              if (cluster.leasesFor(total)?.valid(event.shardId)) return pushDispatch(q, event);
              counters.droppedByRule.set(
                "lease-lost",
                (counters.droppedByRule.get("lease-lost") ?? 0) + 1,
              );
            }
            : (event: QueuedEvent) => pushDispatch(q, event),
          admit,
          onFatal: (error: FatalGatewayError) => onFatal(set, error),
          onShardEvent(shardId: number, event: ShardEvent, detail?: { code?: number }) {
            if (event === "identify") stats.identifies++;
            if (event === "resume") stats.resumes++;
            if (event === "disconnected") {
              const code = detail?.code ?? 0;
              stats.closesByCode.set(code, (stats.closesByCode.get(code) ?? 0) + 1);
            }
            if (set !== live || (event !== "ready" && event !== "resumed")) return;
            const running = cluster ? set.group.shardIds().length : owned;
            logger.info(event === "ready" ? "shard ready" : "shard resumed", {
              shard: shardId,
              ready: `${running - set.downSince.size}/${running}`,
              elapsedMs: Date.now() - startedAt,
            });
            if (set.downSince.size === 0) allReady.resolve();
          },
        };
        const workers = workerCount(config, last - first + 1);
        const set: ShardSet = workers > 0
          ? createWorkerShardSet({
            ...common,
            workers,
            assign: controller.workers && ((f, l, k) => controller.workers!(ctx, f, l, k)),
            resumeSeq: (shardId, session, lastSeq) => q.resumeSeq(shardId, session, lastSeq),
            counters,
          })
          : createShardSet({ ...common, controller, counters });
        return set;
      };

      /**
       * Which copy of a dispatch is delivered while two sets run. A set being prepared
       * delivers nothing of its own start (READY, its guilds' backfill): the bot has those
       * guilds. Of the rest, it delivers only what the live set cannot (the guild's shard there
       * is down, e.g. closed with 4011); once the switch begins, whichever set brings a dispatch
       * first delivers it, and the other's copy is held back.
       */
      const admit = (set: ShardSet, facts: DispatchFacts, event: QueuedEvent): boolean => {
        if (set !== live && SET_START_EVENTS.has(event.t)) return false;
        if (set.mode === "observe" && !liveShardDown(facts.guildId)) return false;
        return dedupe ? dedupe.admit(set.totalShards, facts.t, facts.d) : true;
      };
      const liveShardDown = (guildId: string | undefined): boolean => {
        let shardId = 0;
        if (guildId !== undefined && /^\d+$/.test(guildId)) {
          shardId = Number((BigInt(guildId) >> 22n) % BigInt(live!.totalShards));
        }
        return live!.downSince.has(shardId);
      };

      const onFatal = (set: ShardSet, error: FatalGatewayError) => {
        if (next?.set === set) {
          // The new set of a reshard failed; the old one carries on.
          next.failure = error.message;
          return;
        }
        if (error.code === 4011 && config.resharding.enabled && (!partial || auto)) {
          logger.warn("Discord refused a shard with 4011 (too many guilds): resharding", {
            shard: error.shardId,
          });
          requestAfter4011();
          return;
        }
        if (error.code === 4011 && partial) {
          logger.error(
            `this process runs shards ${first}-${lastShardId} of ${totalShards}; raise TOTAL_SHARDS on every process together (resharding several processes needs a coordinator)`,
          );
        }
        logger.error("fatal gateway close", { shard: error.shardId, code: error.code });
        fatal.resolve(error);
      };

      const requestAfter4011 = () => {
        if (stopped) return;
        service.reshard({ reason: "4011" }).then((answer) => {
          // 409: a reshard is already running, which is what 4011 asks for.
          if (answer.status === 202 || answer.status === 409) return;
          logger.error("cannot reshard after 4011; trying again in a minute", {
            reason: answer.reason,
          });
          const timer = setTimeout(requestAfter4011, 60_000);
          abort.signal.addEventListener("abort", () => clearTimeout(timer), { once: true });
        });
      };

      /**
       * Starts a new set of `to` shards beside the live one and returns the steps of the
       * switch. In a cluster each process runs its share of the new set (its leases), and
       * `leader` says whether this process planned the reshard (it announces the result).
       */
      const startNext = (to: number, leader = true): PreparedSet => {
        dedupe = createOverlapDedupe({ windowMs: 2 * config.resharding.overlapMs });
        // The live set's dispatches are remembered too, so the new set never doubles one.
        live!.mode = "overlap";
        const set = makeSet(to, to - 1, undefined, "observe", cluster ? [] : undefined);
        const state: { set: ShardSet; failure?: string; leases?: LeaseHandle } = { set };
        next = state;
        if (cluster) {
          // Aligned with the old set when the new count is a multiple of the old one: new shard
          // n gets the guilds of old shard n % from, so both copies of a dispatch reach the same
          // process and its dedupe. Otherwise spread like any set (copies may then both arrive).
          const from = live!.totalShards;
          const mine = new Set(live!.group.shardIds());
          const ids: number[] | "auto" = to % from === 0
            ? Array.from({ length: to }, (_, n) => n).filter((n) => mine.has(n % from))
            : "auto";
          state.leases = runClusterLeases({
            cluster,
            set,
            queue: q,
            info,
            total: to,
            first: 0,
            last: to - 1,
            ids,
            config,
            logger,
          });
        } else {
          set.group.spawn().catch((error) => {
            state.failure ??= `spawning the new shards failed: ${(error as Error).message}`;
          });
        }
        const closeSet = async (s: ShardSet, code: number, reason: string) => {
          s.mode = "closed";
          await s.group.stop(code, reason).catch((error) =>
            logger.warn("closing a shard set failed", { error, totalShards: s.totalShards })
          );
          s.shaper.close();
        };
        return {
          progress() {
            if (!cluster) return { ready: loadedShards(set), total: to };
            // Every process's share: its own, and what the others reported last round.
            let ready = loadedShards(set);
            for (const r of cluster.view(to).values()) {
              if (r.state === "connected" && r.loading === 0) ready++;
            }
            return { ready: Math.min(ready, to), total: to };
          },
          failure: () => state.failure,
          overlap() {
            set.mode = "overlap";
            commandSet = set;
          },
          async promote() {
            const old = live!;
            const oldLeases = liveLeases;
            live = set;
            liveLeases = state.leases;
            next = undefined;
            stats.range = { first: 0, last: to - 1, total: to };
            stats.downSince = set.downSince;
            // Its sessions end (1000): the new set owns the guilds now.
            await closeSet(old, 1000, "resharded");
            await oldLeases?.stop("release");
            if (leader) {
              q.push({
                shardId: first,
                totalShards: to,
                t: SYNTHETIC_EVENTS.resharded,
                s: 0,
                receivedAt: Date.now(),
                raw: JSON.stringify({
                  op: 0,
                  t: SYNTHETIC_EVENTS.resharded,
                  s: null,
                  d: { from: old.totalShards, to },
                }),
              });
            }
            // One atomic write replaces the old set's sessions with the new set's.
            await service.saveSessions().catch((error) =>
              logger.error("saving the new set's sessions failed", { error })
            );
          },
          settle() {
            const deduped = dedupe?.deduped ?? 0;
            dedupe = undefined;
            set.mode = "deliver";
            return deduped;
          },
          async abandon() {
            next = undefined;
            commandSet = live;
            dedupe = undefined;
            if (live!.mode === "overlap") live!.mode = "deliver";
            await closeSet(set, 1000, "reshard abandoned");
            await state.leases?.stop("release");
          },
        };
      };
      const prepare = (to: number): PreparedSet =>
        cluster
          ? leadClusterReshard(cluster, to, startNext, {
            from: live!.totalShards,
            leadMs,
            logger,
          })
          : startNext(to);

      live = commandSet = makeSet(
        totalShards,
        lastShardId,
        sessions,
        "deliver",
        cluster ? [] : undefined,
      );
      stats.downSince = live.downSince;
      if (cluster) {
        // Commands other processes pass on; the control API replaces this with its checked one.
        cluster.handleCommands((id, command) =>
          command.kind === "send" ? service.send(id, command.payload) : live!.group.restart(id)
        );
        const ids: number[] = [];
        for (let id = first; id <= lastShardId; id++) ids.push(id);
        liveLeases = runClusterLeases({
          cluster,
          set: live,
          queue: q,
          info,
          total: totalShards,
          first,
          last: lastShardId,
          ids: auto ? "auto" : ids,
          config,
          logger,
        });
        followTimer = setInterval(
          () =>
            void followClusterReshard(cluster, startNext, follow, {
              live: () => stopped ? undefined : live,
              logger,
            }),
          Math.max(100, Math.floor(config.cluster!.leaseMs / 3)),
        );
      }
      const mc = info.sessionStartLimit.maxConcurrency;
      resharder = createResharder({
        host: {
          current: () => ({ totalShards: live!.totalShards, guilds: clusterGuilds() }),
          fetchInfo: () =>
            fetchGatewayBot(rest, {
              logger,
              signal: AbortSignal.any([abort.signal, AbortSignal.timeout(15_000)]),
              ...options.restRetry,
            }),
          prepare,
        },
        logger,
        policy: {
          percentage: config.resharding.percentage,
          largeBotSharding: config.resharding.largeBotSharding,
          sessionReserve: config.resharding.sessionReserve,
        },
        enabled: config.resharding.enabled,
        // A cluster with fixed ranges cannot move shards between processes: no reshard there.
        partialRange: cluster && !auto
          ? `${first}-${lastShardId} of ${totalShards} (SHARD_ASSIGNMENT=range)`
          : !cluster && partial
          ? `${first}-${lastShardId} of ${totalShards}`
          : undefined,
        // In a cluster the periodic check runs only where the reshard lead can be taken.
        checkIntervalMs: cluster ? 0 : config.resharding.checkIntervalMs,
        overlapMs: config.resharding.overlapMs,
        readyTimeoutMs: (to) =>
          Math.ceil(to / mc) * config.spawnShardDelayMs + config.shaping.guildLoadTimeoutMs +
          60_000,
      });
      progressTimer = setInterval(() => {
        const waiting = stats.downSince.size;
        if (waiting === 0) return clearInterval(progressTimer);
        let soonest = Infinity;
        for (let b = 0; b < mc; b++) {
          soonest = Math.min(soonest, (defaultQueue?.nextSlot(b) ?? Date.now()) - Date.now());
        }
        const etaMs = Math.ceil(waiting / mc) * config.spawnShardDelayMs;
        const running = live?.group.shardIds().length ?? owned;
        logger.info(
          `shards ready ${running - waiting}/${running}, next identify in ${
            (Math.max(0, soonest) / 1000).toFixed(1)
          } s, ETA ${formatDuration(etaMs)}`,
        );
      }, PROGRESS_INTERVAL_MS);
      if (cluster && auto && config.resharding.enabled && config.resharding.checkIntervalMs > 0) {
        // Every process checks; the one that takes the lead plans (the others get 409).
        checkTimer = setInterval(() => {
          if (
            !live || follow.following ||
            !needsReshard(clusterGuilds(), live.totalShards, config.resharding.percentage)
          ) return;
          service.reshard({ reason: "capacity" }).catch((error) =>
            logger.error("reshard check failed", { error })
          );
        }, config.resharding.checkIntervalMs);
      }
      saveTimer = setInterval(() => {
        service.saveSessions().catch((error) => logger.warn("saving sessions failed", { error }));
      }, config.sessionSaveIntervalMs);
      live.group.spawn().catch((error) => {
        if (!abort.signal.aborted) logger.error("spawning shards failed", { error });
      });
    },
    async send(shardId, payload) {
      const set = commandSet ?? started().live;
      await set.group.send(shardId, payload);
      if (payload.op === 3) presence = payload.d;
    },
    async reshard(request) {
      if (!resharder) return { status: 409, reason: "the gateway has not started yet" };
      const input = { reason: request.reason ?? "manual", totalShards: request.totalShards };
      if (!cluster || !auto || !config.resharding.enabled) return await resharder.request(input);
      // One process plans for the cluster: whoever takes the lead.
      if (follow.following) {
        return { status: 409, reason: "a reshard led by another process is in progress" };
      }
      const lead = await cluster.lead(leadMs).catch((e) => ({
        ok: false as const,
        holder: `(Redis unreachable: ${(e as Error).message})`,
      }));
      if (!lead.ok) {
        return { status: 409, reason: `${lead.holder} is leading a reshard of the cluster` };
      }
      const answer = await resharder.request(input);
      if (answer.status !== 202) await cluster.unlead();
      return answer;
    },
    reshardStatus() {
      const own = resharder?.status() ?? { state: "idle" as const, deduped: 0, completed: 0 };
      const f = follow.following;
      if (!f) return own;
      return { ...own, state: f.phase === "prepare" ? "preparing" : "switching" };
    },
    workers: () => {
      const set = live as (ShardSet & { workers?: () => WorkerInfo[] }) | undefined;
      return set?.workers?.() ?? [];
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
      if (!live) return;
      await sessionStore.save(currentSessions());
    },
    async stop(drainMs = config.shutdownDrainMs) {
      if (stopped) return { unjournaled: 0 };
      stopped = true;
      let report: CloseReport = { unjournaled: 0 };
      clearInterval(saveTimer);
      clearInterval(progressTimer);
      clearInterval(followTimer);
      clearInterval(checkTimer);
      await follow.following?.prepared.abandon().catch(() => {});
      follow.following = undefined;
      abort.abort(new Error("service stopping"));
      // In a cluster every shard is handed over first: stopped resumably, its queued events
      // delivered for up to SHUTDOWN_DRAIN_MS, its session stored, its lease released.
      await cluster?.leave();
      // A reshard in preparation is abandoned: the old set stays the one to resume.
      await resharder?.close();
      if (next) {
        next.set.mode = "closed";
        await next.set.group.stop(1000, "gateway proxy stopping").catch(() => {});
        next.set.shaper.close();
      }
      // 3000 keeps the Discord session resumable (1000/1001 would end it).
      await live?.group.stop(3000, "gateway proxy stopping").catch((error) =>
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
      if (live && !cluster) {
        await service.saveSessions().catch((error) =>
          logger.error("saving sessions at shutdown failed; shards will identify next time", {
            error,
          })
        );
      }
      live?.shaper.close();
      try {
        journal?.close();
      } catch (error) {
        logger.warn("closing the journal failed", { error });
      }
      // Last: the Redis Streams transport delivered through this connection until now.
      await cluster?.close().catch(() => {});
      dataDir.release();
      return report;
    },
  };
  return service;
}

/**
 * Hands a shard's dispatch to the queue; a READY or RESUMED first tells it that a session
 * started, which ends a resumed shard's replay hold (the queue does not read dispatch names).
 */
function pushDispatch(queue: DeliveryQueue, event: QueuedEvent): void {
  if (event.t === "READY" || event.t === "RESUMED") {
    const kind = event.t === "READY" ? "ready" : "resumed";
    queue.sessionStarted(event.shardId, event.session, kind, event.s);
  }
  queue.push(event);
}
