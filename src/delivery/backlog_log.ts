/**
 * The backlog's log lines: one when the handler stops taking events, a summary every
 * `summaryIntervalMs` while events wait, and one when the backlog has drained.
 * @module
 */
import type { DeliveryResult } from "../transport/types.ts";
import type { DeliveryCounters } from "../counters.ts";
import type { Lane } from "./lane.ts";
import type { Logger } from "../log.ts";

/** Options of {@linkcode createBacklogLog}. */
export interface BacklogLogOptions {
  counters: DeliveryCounters;
  logger: Logger;
  /** The queue's lanes, to tell when the backlog has drained. */
  lanes: ReadonlyMap<number, Lane>;
  /** Age of the oldest waiting event, ms. */
  backlogAgeMs: () => number;
  /** Summary period, ms. */
  summaryIntervalMs: number;
  now: () => number;
}

/** The backlog's logging; see {@linkcode createBacklogLog}. */
export interface BacklogLog {
  /** A delivery failed: the backlog starts, unless it has. */
  enter(reason: DeliveryResult): void;
  /** An event left the queue: the backlog ends once no lane waits. */
  check(): void;
  /** Stops the summaries. */
  stop(): void;
}

/** Creates the {@linkcode BacklogLog}. */
export function createBacklogLog(options: BacklogLogOptions): BacklogLog {
  const { counters, logger: log, lanes, backlogAgeMs, summaryIntervalMs, now } = options;
  let backlog:
    | {
      startedAt: number;
      delivered: number;
      received: number;
      timer: ReturnType<typeof setInterval>;
    }
    | undefined;

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

  return {
    enter(reason) {
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
    },
    check() {
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
    },
    stop() {
      if (backlog) clearInterval(backlog.timer);
      backlog = undefined;
    },
  };
}
