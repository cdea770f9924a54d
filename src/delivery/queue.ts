/**
 * The delivery queue: at-least-once, in order per shard, bounded in memory, spilling to a
 * disk journal (`spill.ts`), retrying with backoff, deferring interactions
 * (`interactions.ts`), setting aside events the handler always fails on (`poison.ts`);
 * optionally several events of a shard per request (`batching.ts`). This module holds the
 * lanes (one per shard) and the loop that delivers each lane's head.
 *
 * A little over 400 lines: the loop, `push` and `close` share the lanes' state, clearest in one closure.
 * @module
 */
import { backoffDelay, delay } from "../backoff.ts";
import type { DeliveryResult } from "../transport/types.ts";
import { createBacklogLog } from "./backlog_log.ts";
import { createBatcher } from "./batching.ts";
import { bump, createCounters, observe } from "../counters.ts";
import { createProblemTracker } from "./handler_problem.ts";
import { createInteractionWatch } from "./interactions.ts";
import { createLane, type Durable, type Lane } from "./lane.ts";
import { createPoisonJudge, witness } from "./poison.ts";
import { createReplayHold } from "./replay_hold.ts";
import { deliveredSeqOf, resumeSeqOf } from "./sequences.ts";
import { createSpill } from "./spill.ts";
import type { QueuedEvent } from "./types.ts";
import type { DeliveryQueue, DeliveryQueueOptions } from "./queue_types.ts";

export type { CloseReport, DeliveryQueue, DeliveryQueueOptions } from "./queue_types.ts";
export type { HandlerProblem } from "./handler_problem.ts";

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
  const idleWaiters = new Set<() => void>();
  const runs = new Set<Promise<void>>();
  const retryTimers = new Set<ReturnType<typeof setTimeout>>();
  let closed = false;

  const spill = createSpill({
    journal,
    counters,
    logger: log,
    maxEvents,
    maxBytes,
    maxDiskBytes,
    readBatch,
    retry: backoff,
  });
  const interactions = createInteractionWatch({
    deferrer,
    journal,
    counters,
    logger: log,
    deferAfterMs,
    interactionTtlMs,
    now,
  });
  const batcher = createBatcher({
    maxEvents: batching ? batchMaxEvents : 1,
    maxBytes: batchMaxBytes,
    lingerMs,
    readyInBatch: interactions.readyInBatch,
    signal: stop.signal,
    now,
  });
  const poison = createPoisonJudge({ poisonAfterAttempts, counters, logger: log });
  const problem = createProblemTracker({ counters, logger: log, unavailableLogIntervalMs, now });
  const backlog = createBacklogLog({
    counters,
    logger: log,
    lanes,
    backlogAgeMs,
    summaryIntervalMs,
    now,
  });

  const lane = (id: number): Lane => {
    let l = lanes.get(id);
    if (!l) {
      l = createLane(id, poison.tickets());
      lanes.set(id, l);
    }
    return l;
  };
  const replay = createReplayHold({
    journal,
    resuming,
    holdMs: replayHoldMs,
    logger: log,
    spill,
    lane,
    start,
  });

  // Resume what an earlier run left in the journal.
  let nextPos = spill.restore(lane);
  if (journal) {
    const waitingForReplay = replay.hold();
    if (lanes.size > 0) {
      log.info("delivering events journaled by an earlier run", {
        events: counters.queuedDisk,
        shards: lanes.size,
        waitingForReplay,
      });
      for (const l of lanes.values()) start(l);
    }
    replay.arm();
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
    poison.headDone(l);
    const size = event.raw.length;
    counters.queuedMemory--;
    counters.queuedMemoryBytes -= size;
    if (event.interaction) interactions.forget(event.interaction.id);
    spill.delivered(l, event);
    backlog.check();
    checkIdle();
  }

  function delivered(l: Lane, event: Durable) {
    counters.delivered++;
    observe(counters.latency, now() - event.receivedAt);
    bump(counters.deliveredByShard, l.id);
    l.failing = false;
    l.attempt = 0;
    problem.recovered();
    finish(l, event);
  }

  /**
   * One delivery attempt of one event, or of a batch (whose only interaction, if any, is its
   * last event); an answer records that the handler was up when it started.
   */
  async function attempt(events: readonly QueuedEvent[]): Promise<DeliveryResult> {
    const event = events[events.length - 1];
    const { signal, done } = interactions.attemptSignal(event, stop.signal);
    const ticket = poison.ticket();
    const result = batching
      ? await transport.sendBatch!(events, signal)
      : await transport.send(event, signal);
    done();
    // A refusal (4xx) proves the handler up as well as a 2xx does.
    if (result.ok || result.verdict === "reject") poison.answered(ticket);
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

  async function run(l: Lane) {
    while (!closed) {
      const event = l.mem.peek();
      if (!event) {
        if (l.disk > 0) {
          spill.refill(l);
          continue;
        }
        break;
      }
      if (event.interaction && !(await interactions.prepare(event))) {
        finish(l, event);
        continue;
      }
      if (closed) break;
      if (lingerMs > 0 && batching && !l.failing && l.suspect === 0) {
        await batcher.linger(l, event);
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
      const batch = batching ? batcher.take(l, event) : [event];
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
          poison.split(l, batch, result);
          continue;
        }
        await deadLetter(l, event, result, "the event handler rejected an event");
        l.suspect = 0;
        continue;
      }
      counters.retried += batch.length;
      problem.failed(result, batch.length);
      backlog.enter(result);
      l.failing = true;
      if (poison.judge(l, batch, result) === "poisoned") {
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
      if (event.interaction) interactions.defer(event);
      // Everything queued behind a failing head is stuck: defer its interactions now.
      for (const queued of l.mem) if (queued.interaction) interactions.defer(queued);
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
      const where = replay.admit(l, event);
      if (where === "duplicate") {
        counters.replayDuplicates++;
        return;
      }
      const placed = where === "placed";
      counters.received++;
      bump(counters.receivedByType, event.t);
      bump(counters.receivedByShard, event.shardId);
      if (!placed) event.pos = nextPos++;
      if (event.interaction) interactions.watch(event, l);
      if (placed) {
        l.wake?.();
        return start(l);
      }
      const size = event.raw.length;
      if (
        closed || l.disk > 0 || counters.queuedMemory >= maxEvents ||
        counters.queuedMemoryBytes + size > maxBytes
      ) {
        spill.spill(l, event);
        if (closed) spill.flush();
      } else {
        l.mem.push(event);
        counters.queuedMemory++;
        counters.queuedMemoryBytes += size;
      }
      l.wake?.();
      start(l);
    },
    sessionStarted: replay.sessionStarted,
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
      replay.stop();
      for (const t of retryTimers) clearTimeout(t);
      stop.abort(new Error("delivery queue closed"));
      await Promise.allSettled([...runs]);
      interactions.stopWatching();
      backlog.stop();
      // Deferral outcomes land in the watch's outcomes and in the journal.
      await interactions.settled();
      spill.prune();
      const rest: Durable[] = [];
      for (const l of lanes.values()) {
        for (const e of l.mem) {
          const outcome = e.interaction && interactions.outcome(e.interaction.id);
          if (outcome) Object.assign(e, outcome);
          if (!e.durable && !e.acknowledged) rest.push(e);
        }
      }
      const unjournaled = spill.persist(rest);
      spill.stop();
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
    handlerProblem: problem.current,
    resumeSeq: (shardId, session, lastReceived) =>
      resumeSeqOf(lanes.get(shardId), spill.unwritten(shardId), session, lastReceived),
    deliveredSeq: (shardId, session, lastReceived) =>
      deliveredSeqOf(lanes.get(shardId), spill.unwritten(shardId), session, lastReceived),
  };
}
