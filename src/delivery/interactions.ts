/**
 * Interactions in the delivery queue: a watchdog per interaction defers it on the bot's
 * behalf when it cannot be delivered before Discord's deadline, and the outcome (deferred,
 * already answered) is applied to whichever copy of the event is delivered.
 * @module
 */
import type { DeliveryCounters } from "../counters.ts";
import type { DeferOutcome, InteractionDeferrer } from "./deferral.ts";
import type { Journal } from "./journal.ts";
import type { Lane } from "./lane.ts";
import type { Logger } from "../log.ts";
import type { QueuedEvent } from "./types.ts";

/** Discord refuses interaction callbacks later than this after creation. */
const INTERACTION_DEADLINE_MS = 3000;
/** Room for the callback's trip through the REST proxy. */
const DEADLINE_MARGIN_MS = 150;

/** Options of {@linkcode createInteractionWatch}. */
export interface InteractionWatchOptions {
  /** Without one, nothing is deferred. */
  deferrer?: InteractionDeferrer;
  /** Where a journaled interaction's outcome is recorded for the next run. */
  journal?: Journal;
  counters: DeliveryCounters;
  logger: Logger;
  /** An interaction not delivered this long after receipt is deferred, ms. */
  deferAfterMs: number;
  /** An interaction older than this is delivered with `expired: true`, ms. */
  interactionTtlMs: number;
  now: () => number;
}

/** The queue's interaction bookkeeping; see {@linkcode createInteractionWatch}. */
export interface InteractionWatch {
  /** Watches a pushed interaction: deferred at once if its lane is stuck, else after `deferAfterMs`. */
  watch(event: QueuedEvent, l: Lane): void;
  /** Defers an interaction now, unless it is deferred, answered or being deferred. */
  defer(event: QueuedEvent): void;
  /** Waits for the head's deferral and applies its outcome; `false` = the bot already has it. */
  prepare(event: QueuedEvent): Promise<boolean>;
  /**
   * An interaction behind the head, for a batch: its outcome applied, as `prepare` does;
   * `false` while its deferral is pending or when the bot already has it.
   */
  readyInBatch(event: QueuedEvent): boolean;
  /**
   * The signal for an attempt whose last event is `event`: cut in time to defer the
   * interaction if the bot does not answer. Call `done` once the attempt ends.
   */
  attemptSignal(event: QueuedEvent, stop: AbortSignal): { signal: AbortSignal; done(): void };
  /** The outcome recorded for an interaction, if any. */
  outcome(id: string): { deferred?: boolean; acknowledged?: boolean } | undefined;
  /** Drops an interaction's state once its event left the queue. */
  forget(id: string): void;
  /** Stops every watchdog. */
  stopWatching(): void;
  /** Resolves once every deferral under way has an outcome. */
  settled(): Promise<unknown>;
}

/** Creates the {@linkcode InteractionWatch}. */
export function createInteractionWatch(options: InteractionWatchOptions): InteractionWatch {
  const { deferrer, journal, counters, logger: log, deferAfterMs, interactionTtlMs, now } = options;
  const deferrals = new Map<string, Promise<DeferOutcome>>();
  /**
   * Deferral outcomes by interaction id. The event object delivered may be a copy read back
   * from the journal, not the one the deferral started with: it reads its flags from here.
   */
  const outcomes = new Map<string, { deferred?: boolean; acknowledged?: boolean }>();
  const watchdogs = new Map<string, ReturnType<typeof setTimeout>>();
  const inFlightIds = new Set<string>();

  function defer(event: QueuedEvent) {
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

  /** Applies the recorded outcome to this copy; `false` = the bot already has it. */
  function apply(event: QueuedEvent): boolean {
    const outcome = outcomes.get(event.interaction!.id);
    if (outcome?.deferred) event.deferred = true;
    if (outcome?.acknowledged) event.acknowledged = true;
    if (event.acknowledged) return false;
    if (now() - event.receivedAt > interactionTtlMs) event.expired = true;
    return true;
  }

  return {
    watch(event, l) {
      const info = event.interaction;
      if (!info || !deferrer) return;
      // Only this shard's state matters: a backlog elsewhere does not delay this event.
      if (l.failing || l.disk > 0 || l.held) {
        defer(event);
        return;
      }
      const wait = Math.max(0, event.receivedAt + deferAfterMs - now());
      const timer = setTimeout(() => {
        watchdogs.delete(info.id);
        // An attempt in flight is cut at the same moment and defers on failure.
        if (!inFlightIds.has(info.id)) defer(event);
      }, wait);
      watchdogs.set(info.id, timer);
    },
    defer,
    async prepare(event) {
      const pending = deferrals.get(event.interaction!.id);
      if (pending) await pending;
      return apply(event);
    },
    readyInBatch(event) {
      const id = event.interaction!.id;
      if (deferrals.has(id) && !outcomes.get(id)) return false;
      return apply(event);
    },
    attemptSignal(event, stop) {
      const info = event.interaction;
      const left = event.receivedAt + deferAfterMs - now();
      if (!info || event.deferred || !deferrer || deferrals.has(info.id) || left <= 0) {
        return { signal: stop, done() {} };
      }
      inFlightIds.add(info.id);
      return {
        signal: AbortSignal.any([stop, AbortSignal.timeout(left)]),
        done: () => inFlightIds.delete(info.id),
      };
    },
    outcome(id) {
      return outcomes.get(id);
    },
    forget(id) {
      deferrals.delete(id);
      outcomes.delete(id);
      clearTimeout(watchdogs.get(id));
      watchdogs.delete(id);
    },
    stopWatching() {
      for (const t of watchdogs.values()) clearTimeout(t);
      watchdogs.clear();
    },
    settled() {
      return Promise.allSettled([...deferrals.values()]);
    },
  };
}
