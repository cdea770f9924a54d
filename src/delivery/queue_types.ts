/**
 * The delivery queue's options and interface (see `queue.ts` for how it works).
 * @module
 */
import type { BackoffOptions } from "../backoff.ts";
import type { Logger } from "../log.ts";
import type { Transport } from "../transport/types.ts";
import type { DeliveryCounters } from "../counters.ts";
import type { DeadLetterSink } from "./dead_letters.ts";
import type { InteractionDeferrer } from "./deferral.ts";
import type { HandlerProblem } from "./handler_problem.ts";
import type { Journal } from "./journal.ts";
import type { QueuedEvent } from "./types.ts";

/** Options of `createDeliveryQueue`. */
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
  /** Backoff between a lane's delivery attempts (and journal write retries). @default {baseMs: 1000, maxMs: 30000} */
  retry?: Pick<BackoffOptions, "baseMs" | "maxMs">;
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
   * events wait until {@linkcode DeliveryQueue.sessionStarted} says the session resumed (or
   * another one started), so that Discord's replay can take its place among
   * them: replayed events already journaled are skipped, the others fill the gaps in order.
   */
  resuming?: ReadonlyMap<number, string>;
  /** Longest a resuming shard's journaled events wait for its resume, ms. @default 60000 */
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

/** What {@linkcode DeliveryQueue.close} could not make durable. */
export interface CloseReport {
  /** Undelivered events that are neither delivered nor journaled: lost unless Discord replays them. */
  unjournaled: number;
}

/** The delivery stage's interface. */
export interface DeliveryQueue {
  /** Takes an event; never throws, never blocks. */
  push(event: QueuedEvent): void;
  /**
   * A shard's session started (`ready`: a new session, Discord's READY) or was resumed
   * (`resumed`: the replay is over, Discord's RESUMED, whose `s` is `seq`). Call it just
   * before pushing that dispatch: a shard whose journaled events wait for the replay of
   * a resumed session (`resuming`) delivers them from then on. A `resumed` at a `seq` the
   * journal holds events after is part of the replay itself and ends nothing.
   */
  sessionStarted(
    shardId: number,
    session: string | undefined,
    kind: "ready" | "resumed",
    seq: number,
  ): void;
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
