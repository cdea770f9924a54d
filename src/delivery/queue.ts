/**
 * The delivery queue: at-least-once, in order per shard, bounded in memory,
 * spilling to a disk journal, retrying with backoff, deferring interactions.
 * @module
 */
import { backoffDelay, delay } from "../backoff.ts";
import type { Logger } from "../log.ts";
import type { DeliveryResult, Transport } from "../transport/http.ts";
import { bump, createCounters, type DeliveryCounters, observe } from "./counters.ts";
import type { DeadLetterSink } from "./dead_letters.ts";
import type { DeferOutcome, InteractionDeferrer } from "./deferral.ts";
import type { Journal } from "./journal.ts";
import type { QueuedEvent } from "./types.ts";

/** Discord refuses interaction callbacks later than this after creation. */
const INTERACTION_DEADLINE_MS = 3000;
/** Room for the callback's trip through the REST proxy. */
const DEADLINE_MARGIN_MS = 150;
/** How often delivered journal rows are deleted. */
const PRUNE_INTERVAL_MS = 50;

/** Options of {@linkcode createDeliveryQueue}. */
export interface DeliveryQueueOptions {
  transport: Transport;
  logger: Logger;
  /** @default createCounters() */
  counters?: DeliveryCounters;
  /** Where events go when memory is full; without one they are dropped. */
  journal?: Journal;
  /** Where rejected events go; without one they are only logged. */
  deadLetters?: DeadLetterSink;
  /** Acknowledges interactions the bot cannot get in time; without one none are deferred. */
  deferrer?: InteractionDeferrer;
  /** Events held in memory. @default 100000 */
  maxEvents?: number;
  /** Payload bytes held in memory. @default 256 MiB */
  maxBytes?: number;
  /** Payload bytes held in the journal. @default 4 GiB */
  maxDiskBytes?: number;
  /** Retry backoff. @default {baseMs: 1000, maxMs: 30000} */
  retry?: { baseMs?: number; maxMs?: number };
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
   * events wait until RESUMED, so Discord's replay of older events can go in front of them,
   * and replayed events already in the journal are skipped.
   */
  resuming?: ReadonlyMap<number, string>;
  /** Longest a resuming shard's journaled events wait for RESUMED, ms. @default 60000 */
  replayHoldMs?: number;
  /** @default Date.now */
  now?: () => number;
}

/** The delivery stage's interface. */
export interface DeliveryQueue {
  /** Takes an event; never throws, never blocks. */
  push(event: QueuedEvent): void;
  /** Resolves `true` once nothing waits for delivery, `false` after `timeoutMs`. */
  idle(timeoutMs?: number): Promise<boolean>;
  /** Stops delivering and writes what is still in memory to the journal. */
  close(): Promise<void>;
  /** Events waiting (memory, disk), for one shard or all. */
  depth(shardId?: number): { memory: number; disk: number };
  /** Age of the oldest waiting event, ms (0 when empty). */
  backlogAgeMs(): number;
  /**
   * The highest `s` of `session` on `shardId` such that every dispatch up to it was
   * delivered or journaled, given the last `s` received: what a resume may safely name.
   */
  resumeSeq(shardId: number, session: string, lastReceived: number): number;
  readonly counters: DeliveryCounters;
}

interface Lane {
  id: number;
  mem: Deque<QueuedEvent>;
  /** Events of this lane in the journal that are not loaded yet. */
  disk: number;
  diskBytes: number;
  /** Next `pos` for replayed events that must sort before this lane's journaled ones. */
  fillPos?: number;
  /** Where the resumed session's journaled events start; its replay waits in `pendingFill` until then. */
  fillBefore?: number;
  pendingFill: QueuedEvent[];
  /** Highest journaled `pos` delivered but not yet removed from the journal. */
  deliveredDiskPos?: number;
  /** Highest journaled `pos` loaded into memory (rows stay on disk until delivered). */
  loadedPos?: number;
  running: boolean;
  /** Waiting for a resume's replay before delivering journaled events. */
  held: boolean;
  failing: boolean;
  attempt: number;
  inFlight: boolean;
}

/** A queued event whose copy is in the journal (so a crash cannot lose it). */
type Durable = QueuedEvent & { durable?: boolean };

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
    deferAfterMs = 2000,
    interactionTtlMs = 900_000,
    summaryIntervalMs = 60_000,
    readBatch = 512,
    resuming = new Map<number, string>(),
    replayHoldMs = 60_000,
    now = Date.now,
  } = options;
  if (!(maxEvents >= 1)) throw new RangeError(`maxEvents must be >= 1, got ${maxEvents}`);
  if (!(maxBytes >= 1)) throw new RangeError(`maxBytes must be >= 1, got ${maxBytes}`);
  const counters = options.counters ?? createCounters();
  const log = logger.with({ component: "delivery" });
  const lanes = new Map<number, Lane>();
  const stop = new AbortController();
  const deferrals = new Map<string, Promise<DeferOutcome>>();
  const watchdogs = new Map<string, ReturnType<typeof setTimeout>>();
  const idleWaiters = new Set<() => void>();
  const runs = new Set<Promise<void>>();
  let pendingSpill: QueuedEvent[] = [];
  let spillTimer: ReturnType<typeof setTimeout> | undefined;
  let nextPos = 1;
  let diskBytes = 0;
  const replay = new Map<number, { session: string; minS: number; maxS: number }>();
  let holdTimer: ReturnType<typeof setTimeout> | undefined;
  let pruneTimer: ReturnType<typeof setTimeout> | undefined;

  function prune() {
    clearTimeout(pruneTimer);
    pruneTimer = undefined;
    for (const l of lanes.values()) {
      if (l.deliveredDiskPos === undefined) continue;
      try {
        journal?.remove(l.id, l.deliveredDiskPos);
      } catch (error) {
        log.warn("could not remove delivered events from the journal", { shardId: l.id, error });
      }
      l.deliveredDiskPos = undefined;
    }
  }
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
        pendingFill: [],
        disk: 0,
        diskBytes: 0,
        running: false,
        held: false,
        failing: false,
        attempt: 0,
        inFlight: false,
      };
      lanes.set(id, l);
    }
    return l;
  };

  // Resume what an earlier run left in the journal.
  if (journal) {
    for (const [shardId, s] of journal.stats()) {
      const l = lane(shardId);
      l.disk = s.events;
      l.diskBytes = s.bytes;
      diskBytes += s.bytes;
      l.fillPos = s.minPos - 1_000_000;
      counters.queuedDisk += s.events;
      counters.queuedDiskBytes += s.bytes;
      nextPos = Math.max(nextPos, s.maxPos + 1);
    }
    for (const r of journal.ranges()) {
      if (resuming.get(r.shardId) === r.session) {
        replay.set(r.shardId, r);
        const l = lane(r.shardId);
        l.held = true;
        // The replay joins where this session's journaled events start: after anything older
        // (an earlier session's events, when the shard re-identified before the crash).
        l.fillBefore = r.minPos;
      }
    }
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

  function flushSpill() {
    clearTimeout(spillTimer);
    spillTimer = undefined;
    if (pendingSpill.length === 0 || !journal) return;
    const batch = pendingSpill;
    pendingSpill = [];
    try {
      journal.append(batch);
    } catch (error) {
      // The journal failed (disk full, permissions): these events are lost; say so loudly.
      for (const e of batch) {
        const l = lane(e.shardId);
        l.disk--;
        l.diskBytes -= e.raw.length;
        diskBytes -= e.raw.length;
        counters.queuedDisk--;
        counters.queuedDiskBytes -= e.raw.length;
        counters.dropped++;
      }
      log.error("journal write failed; events DROPPED", {
        error,
        events: batch.length,
        first: `${batch[0].shardId}/${batch[0].s}`,
      });
    }
  }

  function spill(l: Lane, event: QueuedEvent) {
    const size = event.raw.length;
    if (!journal || diskBytes + size > maxDiskBytes) {
      counters.dropped++;
      log.error("event DROPPED: memory and disk budgets are exhausted", {
        shardId: event.shardId,
        s: event.s,
        t: event.t,
        queuedMemory: counters.queuedMemory,
        queuedDiskBytes: diskBytes,
        maxDiskBytes,
      });
      return;
    }
    if (l.disk === 0 && counters.spilled === 0) {
      log.warn("memory bound reached; events spill to the disk journal", { maxEvents, maxBytes });
    }
    l.disk++;
    l.diskBytes += size;
    diskBytes += size;
    counters.spilled++;
    counters.queuedDisk++;
    counters.queuedDiskBytes += size;
    pendingSpill.push(event);
    spillTimer ??= setTimeout(flushSpill, 0);
  }

  function refill(l: Lane) {
    flushSpill();
    if (!journal) {
      l.disk = 0;
      return;
    }
    const room = Math.max(1, Math.min(readBatch, maxEvents - counters.queuedMemory));
    const records = journal.read(l.id, room, l.loadedPos);
    if (records.length === 0) {
      log.error("journal lost track of a shard's events", { shardId: l.id, expected: l.disk });
      l.disk = 0;
      return;
    }
    l.loadedPos = records[records.length - 1].pos;
    for (const r of records as Durable[]) {
      if (l.fillBefore !== undefined && r.pos! >= l.fillBefore) flushFill(l);
      const size = r.raw.length;
      r.durable = true;
      l.mem.push(r);
      l.disk--;
      l.diskBytes -= size;
      diskBytes -= size;
      counters.queuedDisk--;
      counters.queuedDiskBytes -= size;
      counters.queuedMemory++;
      counters.queuedMemoryBytes += size;
    }
  }

  /** Moves a waiting replay into the lane; true if there was one. */
  function flushFill(l: Lane): boolean {
    l.fillBefore = undefined;
    if (l.pendingFill.length === 0) return false;
    for (const e of l.pendingFill) l.mem.push(e);
    l.pendingFill = [];
    return true;
  }

  function startDeferral(event: QueuedEvent) {
    const info = event.interaction;
    if (!info || !deferrer || deferrals.has(info.id) || event.deferred || event.acknowledged) {
      return;
    }
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
        event.deferred = true;
        log.info("interaction deferred on the bot's behalf", {
          ...fields,
          callbackType: outcome.callbackType,
        });
      } else if (outcome.kind === "already-acknowledged") {
        counters.alreadyAcknowledged++;
        event.acknowledged = true;
        log.info("interaction was already answered by the bot", fields);
      } else {
        counters.deferFailed++;
        log.warn("could not defer an interaction; it stays queued", {
          ...fields,
          reason: outcome.reason,
        });
      }
      // If the event already went to disk, its flags must follow it there.
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
    if (l.failing || l.disk > 0) {
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
  const inFlightIds = new Set<string>();

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

  function finish(l: Lane, event: QueuedEvent) {
    l.mem.shift();
    const size = event.raw.length;
    counters.queuedMemory--;
    counters.queuedMemoryBytes -= size;
    if (event.interaction) {
      deferrals.delete(event.interaction.id);
      clearTimeout(watchdogs.get(event.interaction.id));
      watchdogs.delete(event.interaction.id);
    }
    if ((event as Durable).durable && event.pos !== undefined) {
      // Removed from the journal in small batches (see `prune`), not one write per event.
      l.deliveredDiskPos = event.pos;
      pruneTimer ??= setTimeout(prune, PRUNE_INTERVAL_MS);
    }
    checkBacklogEnd();
    checkIdle();
  }

  /** Applies a finished deferral to the event; `false` = the bot already has it. */
  async function prepareInteraction(event: QueuedEvent): Promise<boolean> {
    const pending = deferrals.get(event.interaction!.id);
    if (pending) await pending;
    if (event.acknowledged) return false;
    if (now() - event.receivedAt > interactionTtlMs) event.expired = true;
    return true;
  }

  async function run(l: Lane) {
    while (!closed) {
      const event = l.mem.peek();
      if (!event) {
        if (l.disk > 0) {
          refill(l);
          continue;
        }
        if (flushFill(l)) continue;
        break;
      }
      if (event.interaction && !(await prepareInteraction(event))) {
        finish(l, event);
        continue;
      }
      if (closed) break;
      const info = event.interaction;
      let signal = stop.signal;
      const left = event.receivedAt + deferAfterMs - now();
      if (info && !event.deferred && deferrer && !deferrals.has(info.id) && left > 0) {
        // Cut the attempt in time to defer if the bot does not answer.
        signal = AbortSignal.any([stop.signal, AbortSignal.timeout(left)]);
        inFlightIds.add(info.id);
      }
      l.inFlight = true;
      const result = await transport.send(event, signal);
      l.inFlight = false;
      if (info) inFlightIds.delete(info.id);
      if (result.ok) {
        counters.delivered++;
        observe(counters.latency, now() - event.receivedAt);
        bump(counters.deliveredByShard, l.id);
        l.failing = false;
        l.attempt = 0;
        finish(l, event);
        continue;
      }
      if (closed) break;
      if (result.verdict === "reject") {
        counters.deadLettered++;
        log.error("the event handler rejected an event; dead-lettered", {
          shardId: event.shardId,
          s: event.s,
          t: event.t,
          status: result.status,
          body: result.body?.slice(0, 200),
        });
        await deadLetters?.write(event, result).catch((error) =>
          log.error("dead-letter write failed", { error, shardId: event.shardId, s: event.s })
        );
        finish(l, event);
        continue;
      }
      counters.retried++;
      l.failing = true;
      enterBacklog(result);
      if (info) startDeferral(event);
      // Everything queued behind a failing head is stuck: defer its interactions now.
      for (const queued of l.mem) if (queued.interaction) startDeferral(queued);
      const wait = Math.max(
        backoffDelay(l.attempt++, { baseMs: retry.baseMs ?? 1000, maxMs: retry.maxMs ?? 30_000 }),
        result.retryAfterMs ?? 0,
      );
      log.debug("delivery failed; retrying", {
        shardId: l.id,
        s: event.s,
        error: result.error,
        status: result.status,
        retryInMs: wait,
      });
      await delay(wait, stop.signal).catch(() => {});
    }
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
        const timer = setTimeout(
          () => {
            retryTimers.delete(timer);
            start(l);
          },
          backoffDelay(l.attempt++, { baseMs: retry.baseMs ?? 1000, maxMs: retry.maxMs ?? 30_000 }),
        );
        retryTimers.add(timer);
      } else {
        // Work may have arrived between the loop's last look and now.
        start(l);
      }
    });
    runs.add(p);
  }
  const retryTimers = new Set<ReturnType<typeof setTimeout>>();

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
    push(event) {
      let fill = false;
      const r = replay.get(event.shardId);
      if (r) {
        if (event.t === "READY" || event.t === "RESUMED") {
          release(event.shardId);
        } else if (event.session === r.session) {
          if (event.s >= r.minS && event.s <= r.maxS) {
            counters.replayDuplicates++;
            return;
          }
          // Older than the journal: goes in front of it.
          fill = event.s < r.minS;
        }
      }
      counters.received++;
      bump(counters.receivedByType, event.t);
      bump(counters.receivedByShard, event.shardId);
      const l = lane(event.shardId);
      event.pos = fill && l.fillPos !== undefined ? l.fillPos++ : nextPos++;
      if (event.interaction) watchInteraction(event, l);
      const size = event.raw.length;
      if (
        !fill && (closed || l.disk > 0 || counters.queuedMemory >= maxEvents ||
          counters.queuedMemoryBytes + size > maxBytes)
      ) {
        spill(l, event);
        if (closed) flushSpill();
      } else {
        if (fill && l.fillBefore !== undefined) l.pendingFill.push(event);
        else l.mem.push(event);
        counters.queuedMemory++;
        counters.queuedMemoryBytes += size;
      }
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
      if (closed) return;
      closed = true;
      clearTimeout(holdTimer);
      for (const t of retryTimers) clearTimeout(t);
      stop.abort(new Error("delivery queue closed"));
      await Promise.allSettled([...runs]);
      for (const t of watchdogs.values()) clearTimeout(t);
      watchdogs.clear();
      if (backlog) clearInterval(backlog.timer);
      backlog = undefined;
      // Deferral outcomes land on the events themselves (and in the journal).
      await Promise.allSettled([...deferrals.values()]);
      flushSpill();
      prune();
      if (journal) {
        const rest: QueuedEvent[] = [];
        for (const l of lanes.values()) {
          // A replay still waiting for its place is journaled at its fill positions, in front of
          // the lane's journaled events: right, unless an older session's events are still
          // among them (positions leave no room between).
          for (const e of [...l.mem, ...l.pendingFill]) if (!e.acknowledged) rest.push(e);
        }
        if (rest.length > 0) {
          journal.append(rest);
          for (const e of rest as Durable[]) e.durable = true;
          log.info("undelivered events written to the journal for the next start", {
            events: rest.length,
          });
        }
      } else if (counters.queuedMemory > 0) {
        log.error("closing with undelivered events and no journal: they are lost", {
          events: counters.queuedMemory,
        });
      }
      for (const resolve of idleWaiters) resolve();
      idleWaiters.clear();
    },
    depth(shardId) {
      if (shardId !== undefined) {
        const l = lanes.get(shardId);
        return { memory: (l?.mem.length ?? 0) + (l?.pendingFill.length ?? 0), disk: l?.disk ?? 0 };
      }
      return { memory: counters.queuedMemory, disk: counters.queuedDisk };
    },
    backlogAgeMs,
    resumeSeq(shardId, session, lastReceived) {
      const l = lanes.get(shardId);
      if (l) {
        for (const e of l.pendingFill) {
          if (e.session === session) return Math.min(lastReceived, e.s - 1);
        }
        for (const e of l.mem as Iterable<Durable>) {
          if (e.session === session && !e.durable) return Math.min(lastReceived, e.s - 1);
        }
      }
      for (const e of pendingSpill) {
        if (e.shardId === shardId && e.session === session) return Math.min(lastReceived, e.s - 1);
      }
      return lastReceived;
    },
  };
}

/** FIFO with O(1) push and shift (Array#shift is O(n) on large queues). */
class Deque<T> implements Iterable<T> {
  #items: (T | undefined)[] = [];
  #head = 0;
  get length(): number {
    return this.#items.length - this.#head;
  }
  push(item: T): void {
    this.#items.push(item);
  }
  peek(): T | undefined {
    return this.#items[this.#head];
  }
  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }
  *[Symbol.iterator](): Iterator<T> {
    for (let i = this.#head; i < this.#items.length; i++) yield this.#items[i] as T;
  }
}
