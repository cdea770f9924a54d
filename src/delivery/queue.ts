/**
 * The delivery queue: at-least-once, in order per shard, bounded in memory,
 * spilling to a disk journal, retrying with backoff, deferring interactions,
 * setting aside events the handler always fails on; optionally several events
 * of a shard per request (batches).
 * @module
 */
import { backoffDelay, delay } from "../backoff.ts";
import type { Logger } from "../log.ts";
import { type DeliveryResult, encodeEvent, type Transport } from "../transport/http.ts";
import { bump, createCounters, type DeliveryCounters, observe } from "./counters.ts";
import type { DeadLetterSink } from "./dead_letters.ts";
import type { DeferOutcome, InteractionDeferrer } from "./deferral.ts";
import { Deque } from "./deque.ts";
import type { Journal } from "./journal.ts";
import type { QueuedEvent } from "./types.ts";
import { SYNTHETIC_EVENTS } from "../shaping/event_names.ts";

/** Discord refuses interaction callbacks later than this after creation. */
const INTERACTION_DEADLINE_MS = 3000;
/** Room for the callback's trip through the REST proxy. */
const DEADLINE_MARGIN_MS = 150;
/** How often delivered journal rows are deleted. */
const PRUNE_INTERVAL_MS = 50;
/** Disk bytes counted per journaled row besides its payload, until the next measurement. */
const ROW_OVERHEAD_BYTES = 100;

/** Options of {@linkcode createDeliveryQueue}. */
export interface DeliveryQueueOptions {
  transport: Transport;
  logger: Logger;
  /** @default createCounters() */
  counters?: DeliveryCounters;
  /** Where events go when memory is full; without one they are dropped. */
  journal?: Journal;
  /** Where rejected and poisoned events go; without one they are only logged. */
  deadLetters?: DeadLetterSink;
  /** Acknowledges interactions the bot cannot get in time; without one none are deferred. */
  deferrer?: InteractionDeferrer;
  /** Events held in memory. @default 100000 */
  maxEvents?: number;
  /** Payload bytes held in memory. @default 256 MiB */
  maxBytes?: number;
  /** Bytes the journal may occupy on disk (live pages plus its write-ahead log). @default 4 GiB */
  maxDiskBytes?: number;
  /** Retry backoff. @default {baseMs: 1000, maxMs: 30000} */
  retry?: { baseMs?: number; maxMs?: number };
  /**
   * An event that failed this many attempts while the handler accepted other events is
   * dead-lettered, so it cannot block its shard. While every delivery fails nothing is. @default 8
   */
  poisonAfterAttempts?: number;
  /** How often a handler that answers "unavailable" (3xx, 401, 403, 404, 405) is logged, ms. @default 60000 */
  unavailableLogIntervalMs?: number;
  /** An interaction not delivered this long after receipt is deferred. @default 2000 */
  deferAfterMs?: number;
  /** An interaction older than this is delivered with `expired: true`. @default 900000 */
  interactionTtlMs?: number;
  /** Summary log period while a backlog exists. @default 60000 */
  summaryIntervalMs?: number;
  /** Journal records read back per batch. @default 512 */
  readBatch?: number;
  /**
   * Shards about to resume a stored session (shard id -> session id). Their journaled
   * events wait until READY or RESUMED, so that Discord's replay can take its place among
   * them: replayed events already journaled are skipped, the others fill the gaps in order.
   */
  resuming?: ReadonlyMap<number, string>;
  /** Longest a resuming shard's journaled events wait for RESUMED, ms. @default 60000 */
  replayHoldMs?: number;
  /**
   * Several events of one shard per request (`EVENT_HANDLER_BATCH_*`), through the transport's
   * `sendBatch` (a transport without it sends every event alone). A batch is what waits in the
   * shard's lane when its previous request ends, in order, and ends at an interaction. A 2xx
   * delivers all of it; a failed batch is retried whole; one the handler refuses (4xx) or that
   * is found poisoned is halved until the event at fault stands alone, and only then do the
   * one-event rules set it aside.
   */
  batch?: {
    /** Events per request at most; 1 sends each event alone, with `send`. @default 1 */
    maxEvents?: number;
    /**
     * How long a batch may wait for more events, counted from its first event's receipt, ms;
     * it goes at once when full or when an interaction waits. 0: never waits. @default 0
     */
    lingerMs?: number;
    /** Request body bytes a batch stays within; a single larger event goes alone. @default 1 MiB */
    maxBytes?: number;
  };
  /** @default Date.now */
  now?: () => number;
}

/** Why the handler is not taking events, when it is not. */
export interface HandlerProblem {
  /** `unavailable`: answers that point at a setting (3xx, 401, 403, 404, 405); `failing`: errors, 5xx. */
  kind: "unavailable" | "failing";
  status?: number;
  error: string;
  /** What to check. */
  hint: string;
  /** Epoch ms of the first failure in this stretch. */
  since: number;
}

/** What {@linkcode DeliveryQueue.close} could not make durable. */
export interface CloseReport {
  /** Undelivered events that are neither delivered nor journaled: lost unless Discord replays them. */
  unjournaled: number;
}

/** The delivery stage's interface. */
export interface DeliveryQueue {
  /** Takes an event; never throws, never blocks. */
  push(event: QueuedEvent): void;
  /** Resolves `true` once nothing waits for delivery, `false` after `timeoutMs`. */
  idle(timeoutMs?: number): Promise<boolean>;
  /** Stops delivering and writes what is still in memory to the journal; never throws. */
  close(): Promise<CloseReport>;
  /** Events waiting (memory, disk), for one shard or all. */
  depth(shardId?: number): { memory: number; disk: number };
  /** Age of the oldest waiting event, ms (0 when empty). */
  backlogAgeMs(): number;
  /** Why deliveries are failing right now; `undefined` while the handler takes events. */
  handlerProblem(): HandlerProblem | undefined;
  /**
   * The highest `s` of `session` on `shardId` such that every dispatch up to it was
   * delivered or journaled, given the last `s` received: what a resume may safely name.
   */
  resumeSeq(shardId: number, session: string, lastReceived: number): number;
  /**
   * The sequence up to which `session`'s events of the shard reached the bot (or were dead-lettered):
   * what a cluster stores, so that a host lost with its journal loses nothing Discord can replay.
   */
  deliveredSeq(shardId: number, session: string, lastReceived: number): number;
  readonly counters: DeliveryCounters;
}

interface Lane {
  id: number;
  /** The last event of the lane that reached the bot or was dead-lettered (its session and `s`). */
  done?: { session: string; s: number };
  mem: Deque<Durable>;
  /** Events of this lane behind `mem`: journaled and not loaded yet, or waiting to be written. */
  disk: number;
  diskBytes: number;
  /** Highest journaled `pos` delivered but not yet removed from the journal. */
  deliveredDiskPos?: number;
  /** Highest journaled `pos` loaded into memory (rows stay on disk until delivered). */
  loadedPos?: number;
  running: boolean;
  /** Waiting for a resume's replay before delivering journaled events. */
  held: boolean;
  failing: boolean;
  attempt: number;
  /** Failed attempts of the head while the handler was proven up. */
  strikes: number;
  /** The head's last failure was its own and nothing proved the handler up: witness first. */
  needsWitness: boolean;
  /** Attempts started up to here cannot prove the handler up for the head (see `run`). */
  evidenceMark: number;
  /**
   * The first `suspect` events hold one the handler refused or keeps failing on as part of a
   * batch: batches are halved within them until that event goes alone. 0: no suspicion.
   */
  suspect: number;
  /** Set while the lane lingers for a batch to fill; `push` calls it. */
  wake?: () => void;
}

/** A queued event; `durable` once its copy is in the journal (so a crash cannot lose it). */
type Durable = QueuedEvent & {
  durable?: boolean;
  /** Failed attempts that can be the event's own fault (see `ownFailure`). */
  failures?: number;
  /** UTF-8 bytes of `raw`, once a batch needed them. */
  utf8?: number;
};

/** Creates the {@linkcode DeliveryQueue}; journaled events from an earlier run are delivered first. */
export function createDeliveryQueue(options: DeliveryQueueOptions): DeliveryQueue {
  const {
    transport,
    logger,
    journal,
    deadLetters,
    deferrer,
    maxEvents = 100_000,
    maxBytes = 256 * 1024 ** 2,
    maxDiskBytes = 4 * 1024 ** 3,
    retry = {},
    poisonAfterAttempts = 8,
    unavailableLogIntervalMs = 60_000,
    deferAfterMs = 2000,
    interactionTtlMs = 900_000,
    summaryIntervalMs = 60_000,
    readBatch = 512,
    resuming = new Map<number, string>(),
    replayHoldMs = 60_000,
    now = Date.now,
  } = options;
  const {
    maxEvents: batchMaxEvents = 1,
    lingerMs = 0,
    maxBytes: batchMaxBytes = 1024 ** 2,
  } = options.batch ?? {};
  if (!(maxEvents >= 1)) throw new RangeError(`maxEvents must be >= 1, got ${maxEvents}`);
  if (!(maxBytes >= 1)) throw new RangeError(`maxBytes must be >= 1, got ${maxBytes}`);
  if (!(poisonAfterAttempts >= 1)) {
    throw new RangeError(`poisonAfterAttempts must be >= 1, got ${poisonAfterAttempts}`);
  }
  if (!(Number.isInteger(batchMaxEvents) && batchMaxEvents >= 1)) {
    throw new RangeError(`batch.maxEvents must be a whole number >= 1, got ${batchMaxEvents}`);
  }
  if (!(lingerMs >= 0)) throw new RangeError(`batch.lingerMs must be >= 0, got ${lingerMs}`);
  if (!(batchMaxBytes >= 1)) {
    throw new RangeError(`batch.maxBytes must be >= 1, got ${batchMaxBytes}`);
  }
  /** Every request is a batch (an array, 1 to `batchMax` events): batching is on and possible. */
  const batching = batchMaxEvents > 1 && transport.sendBatch !== undefined;
  const batchMax = batching ? batchMaxEvents : 1;
  const backoff = { baseMs: retry.baseMs ?? 1000, maxMs: retry.maxMs ?? 30_000 };
  const counters = options.counters ?? createCounters();
  const log = logger.with({ component: "delivery" });
  if (batchMaxEvents > 1 && !batching) {
    log.warn("batching is configured but the transport has no sendBatch: one event per request", {
      maxEvents: batchMaxEvents,
    });
  }
  const lanes = new Map<number, Lane>();
  const stop = new AbortController();
  const deferrals = new Map<string, Promise<DeferOutcome>>();
  /**
   * Deferral outcomes by interaction id. The event object delivered may be a copy read back
   * from the journal, not the one the deferral started with: it reads its flags from here.
   */
  const outcomes = new Map<string, { deferred?: boolean; acknowledged?: boolean }>();
  const watchdogs = new Map<string, ReturnType<typeof setTimeout>>();
  const inFlightIds = new Set<string>();
  const idleWaiters = new Set<() => void>();
  const runs = new Set<Promise<void>>();
  const retryTimers = new Set<ReturnType<typeof setTimeout>>();
  /** Spilled events not written yet (the write is batched, or the disk refused it). */
  let pendingSpill: Durable[] = [];
  let pendingSpillBytes = 0;
  let spillTimer: ReturnType<typeof setTimeout> | undefined;
  let spillFailures = 0;
  let nextPos = 1;
  let diskBytes = 0;
  /** The journal's size on disk at the last measurement, plus what was written since. */
  let diskUse = 0;
  /** Shard id -> the resumed session whose journaled events wait for its replay. */
  const replay = new Map<number, string>();
  let holdTimer: ReturnType<typeof setTimeout> | undefined;
  let pruneTimer: ReturnType<typeof setTimeout> | undefined;
  /** Every attempt takes a ticket; a 2xx records its ticket here (proof the handler is up). */
  let attemptSeq = 0;
  let lastAcceptedTicket = 0;
  let problem: (HandlerProblem & { loggedAt: number }) | undefined;
  let closed = false;
  let backlog:
    | {
      startedAt: number;
      delivered: number;
      received: number;
      timer: ReturnType<typeof setInterval>;
    }
    | undefined;

  const lane = (id: number): Lane => {
    let l = lanes.get(id);
    if (!l) {
      l = {
        id,
        mem: new Deque(),
        disk: 0,
        diskBytes: 0,
        running: false,
        held: false,
        failing: false,
        attempt: 0,
        strikes: 0,
        needsWitness: false,
        evidenceMark: attemptSeq,
        suspect: 0,
      };
      lanes.set(id, l);
    }
    return l;
  };

  const measureDisk = () => {
    if (!journal) return;
    try {
      diskUse = journal.sizeBytes();
    } catch (error) {
      log.warn("could not measure the journal's size", { error });
    }
  };

  // Resume what an earlier run left in the journal.
  if (journal) {
    for (const [shardId, s] of journal.stats()) {
      const l = lane(shardId);
      l.disk = s.events;
      l.diskBytes = s.bytes;
      diskBytes += s.bytes;
      counters.queuedDisk += s.events;
      counters.queuedDiskBytes += s.bytes;
      nextPos = Math.max(nextPos, Math.floor(s.maxPos) + 1);
    }
    for (const r of journal.sessions()) {
      if (resuming.get(r.shardId) !== r.session) continue;
      replay.set(r.shardId, r.session);
      lane(r.shardId).held = true;
    }
    measureDisk();
    if (lanes.size > 0) {
      log.info("delivering events journaled by an earlier run", {
        events: counters.queuedDisk,
        shards: lanes.size,
        waitingForReplay: replay.size,
      });
      for (const l of lanes.values()) start(l);
    }
    if (replay.size > 0) {
      holdTimer = setTimeout(() => {
        if (replay.size > 0) {
          log.warn("resumes did not finish in time; delivering journaled events now", {
            shards: [...replay.keys()].join(","),
          });
        }
        for (const id of [...replay.keys()]) release(id);
      }, replayHoldMs);
    }
  }

  function release(shardId: number) {
    replay.delete(shardId);
    const l = lanes.get(shardId);
    if (l?.held) {
      l.held = false;
      start(l);
    }
  }

  function prune() {
    clearTimeout(pruneTimer);
    pruneTimer = undefined;
    let removed = false;
    for (const l of lanes.values()) {
      if (l.deliveredDiskPos === undefined) continue;
      try {
        journal?.remove(l.id, l.deliveredDiskPos);
        removed = true;
      } catch (error) {
        log.warn("could not remove delivered events from the journal", { shardId: l.id, error });
      }
      l.deliveredDiskPos = undefined;
    }
    if (removed) measureDisk();
  }

  /** Writes pending spilled events; on failure they stay in memory and the write is retried. */
  function flushSpill(): boolean {
    clearTimeout(spillTimer);
    spillTimer = undefined;
    if (pendingSpill.length === 0 || !journal) return true;
    try {
      journal.append(pendingSpill);
    } catch (error) {
      counters.journalWriteFailures++;
      if (spillFailures++ === 0 || spillFailures % 100 === 0) {
        log.error("journal write failed; the events stay in memory and the write is retried", {
          error,
          events: pendingSpill.length,
          failures: spillFailures,
        });
      }
      spillTimer = setTimeout(flushSpill, backoffDelay(Math.min(spillFailures, 10), backoff));
      return false;
    }
    if (spillFailures > 0) log.info("journal writes work again", { failures: spillFailures });
    spillFailures = 0;
    for (const e of pendingSpill) e.durable = true;
    pendingSpill = [];
    pendingSpillBytes = 0;
    measureDisk();
    return true;
  }

  function drop(event: QueuedEvent, why: string) {
    counters.dropped++;
    log.error(`event DROPPED: ${why}`, {
      shardId: event.shardId,
      s: event.s,
      t: event.t,
      queuedMemory: counters.queuedMemory,
      journalBytes: diskUse,
      maxDiskBytes,
    });
  }

  function spill(l: Lane, event: Durable) {
    const size = event.raw.length;
    if (!journal) return drop(event, "memory is full and there is no journal");
    if (diskUse + size + ROW_OVERHEAD_BYTES > maxDiskBytes) {
      return drop(event, "memory and disk budgets are exhausted");
    }
    // While the disk refuses writes, unwritten events may take up to the memory budget again.
    if (
      spillFailures > 0 && (pendingSpill.length >= maxEvents || pendingSpillBytes + size > maxBytes)
    ) {
      return drop(event, "the journal refuses writes and memory is full");
    }
    if (l.disk === 0 && counters.spilled === 0) {
      log.warn("memory bound reached; events spill to the disk journal", { maxEvents, maxBytes });
    }
    l.disk++;
    l.diskBytes += size;
    diskBytes += size;
    diskUse += size + ROW_OVERHEAD_BYTES;
    counters.spilled++;
    counters.queuedDisk++;
    counters.queuedDiskBytes += size;
    pendingSpill.push(event);
    pendingSpillBytes += size;
    spillTimer ??= setTimeout(flushSpill, 0);
  }

  /** Moves an event counted as "behind memory" into the lane's memory. */
  function load(l: Lane, e: Durable) {
    const size = e.raw.length;
    l.mem.push(e);
    l.disk--;
    l.diskBytes -= size;
    diskBytes -= size;
    counters.queuedDisk--;
    counters.queuedDiskBytes -= size;
    counters.queuedMemory++;
    counters.queuedMemoryBytes += size;
  }

  function refill(l: Lane) {
    flushSpill();
    if (!journal) {
      l.disk = 0;
      return;
    }
    const room = Math.max(1, Math.min(readBatch, maxEvents - counters.queuedMemory));
    const records = journal.read(l.id, room, l.loadedPos);
    if (records.length > 0) {
      l.loadedPos = records[records.length - 1].pos;
      for (const r of records as Durable[]) {
        r.durable = true;
        load(l, r);
      }
      return;
    }
    // Nothing on disk: what the journal has not taken yet comes next, in order.
    const mine = pendingSpill.filter((e) => e.shardId === l.id);
    if (mine.length === 0) {
      log.error("journal lost track of a shard's events", { shardId: l.id, expected: l.disk });
      l.disk = 0;
      return;
    }
    pendingSpill = pendingSpill.filter((e) => e.shardId !== l.id);
    for (const e of mine) {
      pendingSpillBytes -= e.raw.length;
      load(l, e);
    }
  }

  /** A replayed event of a resumed session goes to its place among the journaled ones. */
  function placeReplayed(l: Lane, event: Durable): "placed" | "duplicate" | "append" {
    if (!journal || event.session === undefined) return "append";
    try {
      const pos = journal.place(event.shardId, event.session, event.s);
      if (pos === "duplicate") return "duplicate";
      if (pos === undefined) return "append";
      if (l.loadedPos !== undefined && pos <= l.loadedPos) {
        log.warn("a replayed event arrived after its place was delivered; appending it", {
          shardId: l.id,
          s: event.s,
        });
        return "append";
      }
      event.pos = pos;
      journal.append([event]);
    } catch (error) {
      log.warn("could not place a replayed event in the journal; appending it", { error });
      return "append";
    }
    const size = event.raw.length;
    l.disk++;
    l.diskBytes += size;
    diskBytes += size;
    diskUse += size + ROW_OVERHEAD_BYTES;
    counters.queuedDisk++;
    counters.queuedDiskBytes += size;
    return "placed";
  }

  function startDeferral(event: QueuedEvent) {
    const info = event.interaction;
    if (!info || !deferrer || deferrals.has(info.id) || outcomes.has(info.id)) return;
    if (event.deferred || event.acknowledged) return;
    clearTimeout(watchdogs.get(info.id));
    watchdogs.delete(info.id);
    const fields = { shardId: event.shardId, s: event.s, interaction: info.id, type: info.type };
    // A callback after Discord's deadline is refused; keep a margin for the trip.
    const left = event.receivedAt + INTERACTION_DEADLINE_MS - DEADLINE_MARGIN_MS - now();
    if (left <= 0) {
      log.debug("too late to defer an interaction", fields);
      return;
    }
    const promise = deferrer.defer(info, AbortSignal.timeout(left)).then((outcome) => {
      if (outcome.kind === "deferred") {
        counters.deferred++;
        outcomes.set(info.id, { deferred: true });
        event.deferred = true;
        log.info("interaction deferred on the bot's behalf", {
          ...fields,
          callbackType: outcome.callbackType,
        });
      } else if (outcome.kind === "already-acknowledged") {
        counters.alreadyAcknowledged++;
        outcomes.set(info.id, { acknowledged: true });
        event.acknowledged = true;
        log.info("interaction was already answered by the bot", fields);
      } else {
        counters.deferFailed++;
        // Nothing pending any more; another try may follow while the deadline allows.
        deferrals.delete(info.id);
        log.warn("could not defer an interaction; it stays queued", {
          ...fields,
          reason: outcome.reason,
        });
      }
      // If the event is in the journal, its flags must be there too, for the next run.
      if (outcome.kind !== "failed") {
        try {
          journal?.update(event);
        } catch (error) {
          log.warn("could not record a deferral in the journal", { ...fields, error });
        }
      }
      return outcome;
    });
    deferrals.set(info.id, promise);
  }

  function watchInteraction(event: QueuedEvent, l: Lane) {
    const info = event.interaction;
    if (!info || !deferrer) return;
    // Only this shard's state matters: a backlog elsewhere does not delay this event.
    if (l.failing || l.disk > 0 || l.held) {
      startDeferral(event);
      return;
    }
    const wait = Math.max(0, event.receivedAt + deferAfterMs - now());
    const timer = setTimeout(() => {
      watchdogs.delete(info.id);
      // An attempt in flight is cut at the same moment and defers on failure.
      if (!inFlightIds.has(info.id)) startDeferral(event);
    }, wait);
    watchdogs.set(info.id, timer);
  }

  function enterBacklog(reason: DeliveryResult) {
    if (backlog) return;
    const timer = setInterval(summary, summaryIntervalMs);
    backlog = {
      startedAt: now(),
      delivered: counters.delivered,
      received: counters.received,
      timer,
    };
    log.warn("backlog started: the event handler is not accepting events; queueing", {
      error: reason.ok ? undefined : reason.error,
      status: reason.ok ? undefined : reason.status,
      queued: counters.queuedMemory + counters.queuedDisk,
    });
  }

  function summary() {
    log.warn("backlog summary", {
      queuedMemory: counters.queuedMemory,
      queuedDisk: counters.queuedDisk,
      backlogAgeMs: backlogAgeMs(),
      received: counters.received,
      delivered: counters.delivered,
      retried: counters.retried,
      deferred: counters.deferred,
      deadLettered: counters.deadLettered,
      poisoned: counters.poisoned,
      dropped: counters.dropped,
    });
  }

  function checkBacklogEnd() {
    if (!backlog) return;
    for (const l of lanes.values()) if (l.failing || l.disk > 0 || l.mem.length > 1) return;
    clearInterval(backlog.timer);
    log.info("backlog drained; live delivery resumed", {
      durationMs: now() - backlog.startedAt,
      deliveredDuringBacklog: counters.delivered - backlog.delivered,
      receivedDuringBacklog: counters.received - backlog.received,
      deadLettered: counters.deadLettered,
      dropped: counters.dropped,
    });
    backlog = undefined;
  }

  function checkIdle() {
    if (counters.queuedMemory + counters.queuedDisk > 0) return;
    for (const resolve of idleWaiters) resolve();
    idleWaiters.clear();
  }

  /** Removes the head of the lane (delivered, dead-lettered or already answered). */
  function finish(l: Lane, event: Durable) {
    l.mem.shift();
    if (event.session !== undefined && event.s > 0) {
      if (l.done?.session !== event.session || event.s > l.done.s) {
        l.done = { session: event.session, s: event.s };
      }
    }
    if (l.suspect > 0) l.suspect--;
    l.strikes = 0;
    l.needsWitness = false;
    l.evidenceMark = attemptSeq;
    const size = event.raw.length;
    counters.queuedMemory--;
    counters.queuedMemoryBytes -= size;
    if (event.interaction) {
      const id = event.interaction.id;
      deferrals.delete(id);
      outcomes.delete(id);
      clearTimeout(watchdogs.get(id));
      watchdogs.delete(id);
    }
    if (event.durable && event.pos !== undefined) {
      // Removed from the journal in small batches (see `prune`), not one write per event.
      l.deliveredDiskPos = event.pos;
      pruneTimer ??= setTimeout(prune, PRUNE_INTERVAL_MS);
    }
    checkBacklogEnd();
    checkIdle();
  }

  function delivered(l: Lane, event: Durable) {
    counters.delivered++;
    observe(counters.latency, now() - event.receivedAt);
    bump(counters.deliveredByShard, l.id);
    l.failing = false;
    l.attempt = 0;
    if (problem) {
      log.info("the event handler accepts events again", {
        afterMs: now() - problem.since,
        status: problem.status,
      });
      problem = undefined;
    }
    finish(l, event);
  }

  /** Applies the interaction's deferral outcome to this copy; `false` = the bot already has it. */
  async function prepareInteraction(event: QueuedEvent): Promise<boolean> {
    const id = event.interaction!.id;
    const pending = deferrals.get(id);
    if (pending) await pending;
    const outcome = outcomes.get(id);
    if (outcome?.deferred) event.deferred = true;
    if (outcome?.acknowledged) event.acknowledged = true;
    if (event.acknowledged) return false;
    if (now() - event.receivedAt > interactionTtlMs) event.expired = true;
    return true;
  }

  /**
   * One delivery attempt of one event, or of a batch (whose only interaction, if any, is its
   * last event); a 2xx records that the handler was up when it started.
   */
  async function attempt(events: readonly QueuedEvent[]): Promise<DeliveryResult> {
    const event = events[events.length - 1];
    const info = event.interaction;
    let signal = stop.signal;
    const left = event.receivedAt + deferAfterMs - now();
    if (info && !event.deferred && deferrer && !deferrals.has(info.id) && left > 0) {
      // Cut the attempt in time to defer if the bot does not answer.
      signal = AbortSignal.any([stop.signal, AbortSignal.timeout(left)]);
      inFlightIds.add(info.id);
    }
    const ticket = ++attemptSeq;
    const result = batching
      ? await transport.sendBatch!(events, signal)
      : await transport.send(event, signal);
    if (info) inFlightIds.delete(info.id);
    // A refusal (4xx) proves the handler up as well as a 2xx does.
    if (result.ok || result.verdict === "reject") {
      lastAcceptedTicket = Math.max(lastAcceptedTicket, ticket);
    }
    return result;
  }

  async function deadLetter(l: Lane, event: Durable, reason: DeliveryResult, why: string) {
    if (reason.ok) return;
    log.error(`${why}; dead-lettered`, {
      shardId: event.shardId,
      s: event.s,
      t: event.t,
      status: reason.status,
      error: reason.error,
      body: reason.body?.slice(0, 200),
    });
    counters.deadLettered++;
    await deadLetters?.write(event, { ...reason, error: `${why}: ${reason.error}` }).catch((
      error,
    ) => log.error("dead-letter write failed", { error, shardId: event.shardId, s: event.s }));
    finish(l, event);
  }

  function noteFailure(result: DeliveryResult & { ok: false }, events: number) {
    const kind = result.verdict === "unavailable" ? "unavailable" : "failing";
    if (kind === "unavailable") counters.unavailable += events;
    if (problem?.kind === kind && problem.status === result.status) {
      if (kind === "unavailable" && now() - problem.loggedAt >= unavailableLogIntervalMs) {
        problem.loggedAt = now();
        log.error(`the event handler is unavailable: ${problem.hint}`, {
          status: result.status,
          error: result.error,
          forMs: now() - problem.since,
        });
      }
      return;
    }
    problem = {
      kind,
      status: result.status,
      error: result.error,
      hint: hintFor(result),
      since: problem?.since ?? now(),
      loggedAt: now(),
    };
    if (kind === "unavailable") {
      log.error(`the event handler is unavailable: ${problem.hint}`, {
        status: result.status,
        error: result.error,
      });
    }
  }

  async function run(l: Lane) {
    while (!closed) {
      const event = l.mem.peek();
      if (!event) {
        if (l.disk > 0) {
          refill(l);
          continue;
        }
        break;
      }
      if (event.interaction && !(await prepareInteraction(event))) {
        finish(l, event);
        continue;
      }
      if (closed) break;
      if (lingerMs > 0 && batching && !l.failing && l.suspect === 0) {
        await linger(l, event);
        if (closed) break;
      }
      if (l.needsWitness) {
        // Nothing showed the handler up since this event failed on its own: just before the
        // retry, a synthetic HANDLER_CHECK_DD asks it, so that a failure of the retry counts
        // against the event only if the handler answered the check.
        l.needsWitness = false;
        counters.witnesses++;
        await attempt([witness(event)]);
        if (closed) break;
      }
      // One event, or (batching) what waits behind it now; `event` stays the head throughout.
      const batch = batching ? takeBatch(l, event) : [event];
      const result = await attempt(batch);
      if (result.ok) {
        if (batch.length > 1) counters.batches++;
        for (const e of batch) delivered(l, e);
        continue;
      }
      if (closed) break;
      if (result.verdict === "reject") {
        if (batch.length > 1) {
          // Some event of the batch is refused, not all of them: halve until it stands alone.
          split(l, batch, result);
          continue;
        }
        await deadLetter(l, event, result, "the event handler rejected an event");
        l.suspect = 0;
        continue;
      }
      counters.retried += batch.length;
      noteFailure(result, batch.length);
      enterBacklog(result);
      l.failing = true;
      // Only failures that can be the event's own count: an answer that points at a setting
      // (401, 404, a redirect) or at a handler that is down (refused, 502-504) holds the stream.
      // The handler is proven up when an attempt that started after this event's previous
      // failure was answered (another shard's event, or the witness); only such failures are
      // strikes. A batch is judged as one event.
      const own = ownFailure(result);
      if (own) { for (const e of batch) e.failures = (e.failures ?? 0) + 1; }
      const proven = lastAcceptedTicket > l.evidenceMark;
      l.evidenceMark = attemptSeq;
      const strike = proven && own;
      if (strike) l.strikes++;
      l.needsWitness = own && !proven;
      if (batch.length > 1 && strike && (l.strikes >= poisonAfterAttempts || l.suspect > 0)) {
        // A batch found poisoned (or a part of one, being narrowed down): halve it; nothing is
        // set aside before the event at fault stands alone and fails on its own.
        split(l, batch, result);
      } else if (l.strikes >= poisonAfterAttempts) {
        counters.poisoned++;
        await deadLetter(
          l,
          event,
          result,
          `an event failed ${event.failures} times, ${l.strikes} of them while the handler accepted others`,
        );
        l.suspect = 0;
        continue;
      }
      if (event.interaction) startDeferral(event);
      // Everything queued behind a failing head is stuck: defer its interactions now.
      for (const queued of l.mem) if (queued.interaction) startDeferral(queued);
      const wait = Math.max(backoffDelay(l.attempt++, backoff), result.retryAfterMs ?? 0);
      log.debug("delivery failed; retrying", {
        shardId: l.id,
        s: event.s,
        events: batch.length,
        error: result.error,
        status: result.status,
        retryInMs: wait,
      });
      await delay(wait, stop.signal).catch(() => {});
    }
  }

  /** Narrows the lane's suspicion to this failed batch: the next batches take half of it. */
  function split(l: Lane, batch: Durable[], result: DeliveryResult & { ok: false }) {
    counters.batchSplits++;
    l.suspect = batch.length;
    // The strikes were the batch's; the event at fault earns its own once it goes alone.
    l.strikes = 0;
    l.needsWitness = false;
    log.debug("splitting a failed batch to find the event at fault", {
      shardId: l.id,
      s: batch[0].s,
      events: batch.length,
      status: result.status,
      error: result.error,
    });
  }

  /**
   * The batch starting at the lane's head: up to `batchMax` events (half the suspect ones while
   * narrowing), within `batchMaxBytes`, ending at an interaction.
   */
  function takeBatch(l: Lane, head: Durable): Durable[] {
    const max = l.suspect > 0 ? Math.min(batchMax, Math.ceil(l.suspect / 2)) : batchMax;
    const batch = [head];
    if (max === 1 || head.interaction) return batch;
    // Bytes are counted exactly only near the cap: up to then, 3 per UTF-16 unit is a bound.
    let bound = 2 + envelopeBytes(head) + head.raw.length * 3;
    let exact: number | undefined;
    for (let i = 1; i < l.mem.length && batch.length < max; i++) {
      const e = l.mem.at(i)!;
      // An interaction goes last, and only once its deferral (if any) has an outcome.
      if (e.interaction && !readyInBatch(e)) break;
      const envelope = 1 + envelopeBytes(e); // with its comma
      if (exact === undefined && bound + envelope + e.raw.length * 3 <= batchMaxBytes) {
        bound += envelope + e.raw.length * 3;
      } else {
        exact ??= batch.reduce((sum, x) => sum + 1 + envelopeBytes(x) + utf8Of(x), 1);
        const add = envelope + utf8Of(e);
        if (exact + add > batchMaxBytes) break;
        exact += add;
      }
      batch.push(e);
      if (e.interaction) break;
    }
    return batch;
  }

  /**
   * An interaction behind the head, for a batch: its deferral's outcome applied, as
   * `prepareInteraction` does for a head; `false` while the deferral is pending or when the
   * bot already has it (it ends the batch before it, and is handled as the head next).
   */
  function readyInBatch(event: QueuedEvent): boolean {
    const id = event.interaction!.id;
    const outcome = outcomes.get(id);
    if (deferrals.has(id) && !outcome) return false;
    if (outcome?.deferred) event.deferred = true;
    if (outcome?.acknowledged) event.acknowledged = true;
    if (event.acknowledged) return false;
    if (now() - event.receivedAt > interactionTtlMs) event.expired = true;
    return true;
  }

  /**
   * Waits until the lane holds a full batch (by count or bytes), an interaction or events on
   * disk, or until its head has waited `lingerMs`; `push` wakes it.
   */
  async function linger(l: Lane, head: Durable) {
    let scanned = 0;
    let bytes = 2;
    const full = () => {
      if (l.disk > 0 || l.mem.length >= batchMax) return true;
      for (; scanned < l.mem.length; scanned++) {
        const e = l.mem.at(scanned)!;
        if (e.interaction) return true;
        bytes += 1 + envelopeBytes(e) + e.raw.length;
        if (bytes >= batchMaxBytes) return true;
      }
      return false;
    };
    const left = head.receivedAt + lingerMs - now();
    if (left <= 0 || full()) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        stop.signal.removeEventListener("abort", done);
        l.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, left);
      stop.signal.addEventListener("abort", done, { once: true });
      l.wake = () => {
        if (full()) done();
      };
    });
  }

  function start(l: Lane) {
    if (l.running || closed || l.held) return;
    l.running = true;
    let crashed = false;
    const p = run(l).catch((error) => {
      crashed = true;
      log.error("delivery lane failed; retrying", { shardId: l.id, error });
    }).finally(() => {
      l.running = false;
      runs.delete(p);
      if (closed || l.held || (l.mem.length === 0 && l.disk === 0)) return checkIdle();
      // A journal error must not spin: come back after a backoff.
      if (crashed) {
        l.failing = true;
        const timer = setTimeout(() => {
          retryTimers.delete(timer);
          start(l);
        }, backoffDelay(l.attempt++, backoff));
        retryTimers.add(timer);
      } else {
        // Work may have arrived between the loop's last look and now.
        start(l);
      }
    });
    runs.add(p);
  }

  function backlogAgeMs(): number {
    let oldest = Infinity;
    for (const l of lanes.values()) {
      const head = l.mem.peek();
      if (head) oldest = Math.min(oldest, head.receivedAt);
    }
    return oldest === Infinity ? 0 : Math.max(0, now() - oldest);
  }

  return {
    counters,
    push(event: Durable) {
      const l = lane(event.shardId);
      const held = replay.get(event.shardId);
      let placed = false;
      if (held !== undefined) {
        if (event.session !== held) {
          // A READY of another session: the resume failed, nothing more will be replayed.
          if (event.t === "READY") release(event.shardId);
        } else {
          // Of the held session: its place among the journaled events, unless it comes after
          // all of them. A READY or an earlier RESUMED can be part of the replay itself.
          const where = placeReplayed(l, event);
          if (where === "duplicate") {
            counters.replayDuplicates++;
            return;
          }
          placed = where === "placed";
          // The RESUMED that ends this replay comes after everything journaled.
          if (!placed && event.t === "RESUMED") release(event.shardId);
        }
      }
      counters.received++;
      bump(counters.receivedByType, event.t);
      bump(counters.receivedByShard, event.shardId);
      if (!placed) event.pos = nextPos++;
      if (event.interaction) watchInteraction(event, l);
      if (placed) {
        l.wake?.();
        return start(l);
      }
      const size = event.raw.length;
      if (
        closed || l.disk > 0 || counters.queuedMemory >= maxEvents ||
        counters.queuedMemoryBytes + size > maxBytes
      ) {
        spill(l, event);
        if (closed) flushSpill();
      } else {
        l.mem.push(event);
        counters.queuedMemory++;
        counters.queuedMemoryBytes += size;
      }
      l.wake?.();
      start(l);
    },
    idle(timeoutMs = Infinity) {
      if (counters.queuedMemory + counters.queuedDisk === 0) return Promise.resolve(true);
      return new Promise((resolve) => {
        const done = () => {
          clearTimeout(timer);
          resolve(true);
        };
        const timer = Number.isFinite(timeoutMs)
          ? setTimeout(() => {
            idleWaiters.delete(done);
            resolve(false);
          }, timeoutMs)
          : undefined;
        idleWaiters.add(done);
      });
    },
    async close() {
      if (closed) return { unjournaled: 0 };
      closed = true;
      clearTimeout(holdTimer);
      for (const t of retryTimers) clearTimeout(t);
      stop.abort(new Error("delivery queue closed"));
      await Promise.allSettled([...runs]);
      for (const t of watchdogs.values()) clearTimeout(t);
      watchdogs.clear();
      if (backlog) clearInterval(backlog.timer);
      backlog = undefined;
      // Deferral outcomes land in `outcomes` and in the journal.
      await Promise.allSettled([...deferrals.values()]);
      prune();
      let unjournaled = 0;
      const rest: Durable[] = [];
      for (const l of lanes.values()) {
        for (const e of l.mem) {
          const outcome = e.interaction && outcomes.get(e.interaction.id);
          if (outcome) Object.assign(e, outcome);
          if (!e.durable && !e.acknowledged) rest.push(e);
        }
      }
      if (journal) {
        // Unwritten spills and memory go in one transaction; positions keep their order.
        const all = [...pendingSpill, ...rest];
        if (all.length > 0) {
          try {
            journal.append(all);
            for (const e of all) e.durable = true;
            pendingSpill = [];
            pendingSpillBytes = 0;
            log.info("undelivered events written to the journal for the next start", {
              events: all.length,
            });
          } catch (error) {
            unjournaled = all.length;
            log.error("could not journal the undelivered events; they are at risk", {
              error,
              events: all.length,
            });
          }
        }
      } else {
        unjournaled = rest.length;
        if (unjournaled > 0) {
          log.error("closing with undelivered events and no journal: they are lost", {
            events: unjournaled,
          });
        }
      }
      clearTimeout(spillTimer);
      for (const resolve of idleWaiters) resolve();
      idleWaiters.clear();
      return { unjournaled };
    },
    depth(shardId) {
      if (shardId !== undefined) {
        const l = lanes.get(shardId);
        return { memory: l?.mem.length ?? 0, disk: l?.disk ?? 0 };
      }
      return { memory: counters.queuedMemory, disk: counters.queuedDisk };
    },
    backlogAgeMs,
    handlerProblem() {
      if (!problem) return undefined;
      const { loggedAt: _, ...rest } = problem;
      return rest;
    },
    resumeSeq(shardId, session, lastReceived) {
      const l = lanes.get(shardId);
      if (l) {
        for (const e of l.mem) {
          if (e.session === session && !e.durable) return Math.min(lastReceived, e.s - 1);
        }
      }
      for (const e of pendingSpill) {
        if (e.shardId === shardId && e.session === session) return Math.min(lastReceived, e.s - 1);
      }
      return lastReceived;
    },
    deliveredSeq(shardId, session, lastReceived) {
      const l = lanes.get(shardId);
      const waiting = (l !== undefined && (l.mem.length > 0 || l.disk > 0)) ||
        pendingSpill.some((e) => e.shardId === shardId);
      if (!waiting) return lastReceived;
      if (l?.done?.session === session) return Math.min(lastReceived, l.done.s);
      if (l) {
        for (const e of l.mem) {
          if (e.session === session && e.s > 0) return Math.min(lastReceived, e.s - 1);
        }
      }
      // Nothing of this session delivered and its events not in memory: from its start.
      return 0;
    },
  };
}

/** Bytes an event's envelope adds to its payload in a request body (`{"shardId":N,"data":...}`). */
function envelopeBytes(event: QueuedEvent): number {
  return encodeEvent({
    shardId: event.shardId,
    raw: "",
    deferred: event.deferred,
    expired: event.expired,
  }).length;
}

/** UTF-8 bytes of an event's payload, computed once. */
function utf8Of(event: Durable): number {
  return event.utf8 ??= utf8Length(event.raw);
}

/** UTF-8 length of a string, without encoding it. */
function utf8Length(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) bytes += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      // A surrogate pair: 4 bytes for 2 units.
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 2;
        i++;
      } else bytes += 2;
    } else bytes += 2;
  }
  return bytes;
}

/** The synthetic event that asks the handler whether it is up (see `run`). */
function witness(failing: QueuedEvent): QueuedEvent {
  const t = SYNTHETIC_EVENTS.handlerCheck;
  return {
    shardId: failing.shardId,
    totalShards: failing.totalShards,
    t,
    s: 0,
    receivedAt: Date.now(),
    raw: JSON.stringify({
      op: 0,
      t,
      s: null,
      d: { shard_id: failing.shardId, failing_s: failing.s, failing_t: failing.t },
    }),
  };
}

/**
 * Whether a failed attempt can be the event's own fault: the handler answered 5xx (but not
 * 502-504, which gateways in front of a dead handler send) or gave no answer in time.
 * Refused connections, 408, 429 and "unavailable" answers say nothing about the event.
 */
function ownFailure(result: DeliveryResult & { ok: false }): boolean {
  if (result.verdict !== "retry") return false;
  if (result.timedOut) return true;
  const status = result.status;
  return status !== undefined && status >= 500 && status !== 502 && status !== 503 &&
    status !== 504;
}

/** What to check, for a failed attempt's log line and `/readyz`. */
function hintFor(result: DeliveryResult & { ok: false }): string {
  const status = result.status;
  if (status === undefined) return `the handler cannot be reached (${result.error})`;
  if (status >= 300 && status < 400) {
    return "EVENT_HANDLER_URL answers with a redirect; set it to the URL the handler serves";
  }
  if (status === 401 || status === 403) {
    return `the handler refuses EVENT_HANDLER_AUTHORIZATION (HTTP ${status}); check both sides use the same secret`;
  }
  if (status === 404 || status === 405) {
    return `nothing takes POST at EVENT_HANDLER_URL (HTTP ${status}); check the path, or the ingress during a deploy`;
  }
  return `the handler answers HTTP ${status}`;
}
