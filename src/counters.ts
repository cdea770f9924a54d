/**
 * Every stage's counters in one place (gateway, shaping, delivery, workers), for logs,
 * `/metrics` and the status page: one object the service creates and hands to each stage.
 * @module
 */

/** Monotonic counters and gauges of the pipeline, shared by every stage. */
export interface DeliveryCounters {
  /** Dispatches received from the shards. */
  received: number;
  /** Events the handler answered 2xx. */
  delivered: number;
  /** Failed attempts that will be retried, per event (a failed batch of 10 counts 10). */
  retried: number;
  /** Events written to the disk journal because memory was full. */
  spilled: number;
  /** Events the handler rejected (non-retryable 4xx), written to the dead-letter file. */
  deadLettered: number;
  /** Events lost because memory and disk budgets were both exhausted. */
  dropped: number;
  /** Interactions acknowledged by the proxy on the bot's behalf. */
  deferred: number;
  /** Deferrals that failed (REST proxy down, 4xx). */
  deferFailed: number;
  /** Interactions the bot had already answered when the proxy tried to defer. */
  alreadyAcknowledged: number;
  /** Events Discord replayed on a resume that the journal already held. */
  replayDuplicates: number;
  /** Events dead-lettered because they kept failing while the handler accepted others. */
  poisoned: number;
  /** HANDLER_CHECK_DD requests sent to prove the handler up while one event kept failing. */
  witnesses: number;
  /** Failed attempts answered as "handler unavailable" (3xx, 401, 403, 404, 405), per event. */
  unavailable: number;
  /** Requests that delivered more than one event (`EVENT_HANDLER_BATCH_MAX` > 1). */
  batches: number;
  /** Failed batches halved to find the event the handler refuses or keeps failing on. */
  batchSplits: number;
  /** Journal writes that failed (disk full, permissions); their events stayed in memory. */
  journalWriteFailures: number;
  /** Times the dead-letter file passed `DEAD_LETTERS_MAX_BYTES` and was rotated to `.1` (the older `.1` deleted). */
  deadLetterRotations: number;
  /** Gauge: events waiting in memory. */
  queuedMemory: number;
  /** Gauge: bytes waiting in memory. */
  queuedMemoryBytes: number;
  /** Gauge: events waiting in the disk journal. */
  queuedDisk: number;
  /** Gauge: bytes waiting in the disk journal. */
  queuedDiskBytes: number;
  /** Per dispatch name: received. */
  receivedByType: Map<string, number>;
  /** Per shard: received. */
  receivedByShard: Map<number, number>;
  /** Per shard: delivered. */
  deliveredByShard: Map<number, number>;
  /** Dispatches the shaping stage dropped, by rule (`message-update-unchanged`, `filter-deny`, ...). */
  droppedByRule: Map<string, number>;
  /** Delivery latency (receipt from Discord to the handler's 2xx), ms. */
  latency: Histogram;
}

/** A cumulative histogram, in Prometheus's shape. */
export interface Histogram {
  /** Upper bounds, ascending. */
  bounds: number[];
  /** Observations at or below each bound (cumulative), plus the total last. */
  counts: number[];
  sum: number;
  count: number;
}

/** Delivery latency buckets, ms. */
export const LATENCY_BOUNDS_MS = [
  1,
  2,
  5,
  10,
  25,
  50,
  100,
  250,
  500,
  1000,
  2500,
  5000,
  10_000,
  60_000,
];

/** Records one observation. */
export function observe(h: Histogram, value: number): void {
  h.sum += value;
  h.count++;
  for (let i = 0; i < h.bounds.length; i++) if (value <= h.bounds[i]) h.counts[i]++;
}

/** Creates zeroed {@linkcode DeliveryCounters}. */
export function createCounters(): DeliveryCounters {
  return {
    received: 0,
    delivered: 0,
    retried: 0,
    spilled: 0,
    deadLettered: 0,
    dropped: 0,
    deferred: 0,
    deferFailed: 0,
    alreadyAcknowledged: 0,
    replayDuplicates: 0,
    poisoned: 0,
    witnesses: 0,
    unavailable: 0,
    batches: 0,
    batchSplits: 0,
    journalWriteFailures: 0,
    deadLetterRotations: 0,
    queuedMemory: 0,
    queuedMemoryBytes: 0,
    queuedDisk: 0,
    queuedDiskBytes: 0,
    receivedByType: new Map(),
    receivedByShard: new Map(),
    deliveredByShard: new Map(),
    droppedByRule: new Map(),
    latency: {
      bounds: LATENCY_BOUNDS_MS,
      counts: LATENCY_BOUNDS_MS.map(() => 0),
      sum: 0,
      count: 0,
    },
  };
}

/** Adds one to a keyed counter. */
export function bump<K>(map: Map<K, number>, key: K, by = 1): void {
  map.set(key, (map.get(key) ?? 0) + by);
}
