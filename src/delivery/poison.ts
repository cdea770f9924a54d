/**
 * Telling a poisoned event (one the handler always fails on) from a handler that is down:
 * only failures that can be the event's own count, and only while something proves the
 * handler up (another attempt answered, or a synthetic HANDLER_CHECK_DD, the witness).
 * A batch found poisoned is halved until the event at fault goes alone.
 * @module
 */
import type { DeliveryResult } from "../transport/types.ts";
import type { DeliveryCounters } from "../counters.ts";
import type { Durable, Lane } from "./lane.ts";
import type { Logger } from "../log.ts";
import type { QueuedEvent } from "./types.ts";
import { SYNTHETIC_EVENTS } from "../shaping/event_names.ts";

/** Options of {@linkcode createPoisonJudge}. */
export interface PoisonJudgeOptions {
  /** Strikes (own failures while the handler was proven up) that set an event aside. */
  poisonAfterAttempts: number;
  counters: DeliveryCounters;
  logger: Logger;
}

/** What to do with a head (or batch) whose attempt failed with a retryable answer. */
export type Judgement = "retry" | "split" | "poisoned";

/** The queue's poison rules; see {@linkcode createPoisonJudge}. */
export interface PoisonJudge {
  /** Every attempt takes a ticket before it is sent. */
  ticket(): number;
  /** Tickets taken so far: a new lane's `evidenceMark`. */
  tickets(): number;
  /** Records that the attempt with `ticket` was answered (2xx or a refusal): the handler is up. */
  answered(ticket: number): void;
  /** Judges a failed attempt of `batch` (the lane's head first) and updates the lane. */
  judge(l: Lane, batch: Durable[], result: DeliveryResult & { ok: false }): Judgement;
  /** Narrows the lane's suspicion to this failed batch: the next batches take half of it. */
  split(l: Lane, batch: Durable[], result: DeliveryResult & { ok: false }): void;
  /** The lane's head left: its successor starts with a clean record. */
  headDone(l: Lane): void;
}

/** Creates the {@linkcode PoisonJudge}. */
export function createPoisonJudge(options: PoisonJudgeOptions): PoisonJudge {
  const { poisonAfterAttempts, counters, logger: log } = options;
  /** Every attempt takes a ticket; an answer records its ticket here (proof the handler is up). */
  let attemptSeq = 0;
  let lastAcceptedTicket = 0;

  const judge: PoisonJudge = {
    ticket: () => ++attemptSeq,
    tickets: () => attemptSeq,
    answered(ticket) {
      lastAcceptedTicket = Math.max(lastAcceptedTicket, ticket);
    },
    judge(l, batch, result) {
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
        judge.split(l, batch, result);
        return "split";
      }
      return l.strikes >= poisonAfterAttempts ? "poisoned" : "retry";
    },
    split(l, batch, result) {
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
    },
    headDone(l) {
      if (l.suspect > 0) l.suspect--;
      l.strikes = 0;
      l.needsWitness = false;
      l.evidenceMark = attemptSeq;
    },
  };
  return judge;
}

/** The synthetic event that asks the handler whether it is up, before `failing` is retried. */
export function witness(failing: QueuedEvent): QueuedEvent {
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
export function ownFailure(result: DeliveryResult & { ok: false }): boolean {
  if (result.verdict !== "retry") return false;
  if (result.timedOut) return true;
  const status = result.status;
  return status !== undefined && status >= 500 && status !== 502 && status !== 503 &&
    status !== 504;
}
