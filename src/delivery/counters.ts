/**
 * Every stage's counters in one place, for logs now and `/metrics` later.
 * @module
 */

/** Monotonic counters and gauges of the delivery pipeline. */
export interface DeliveryCounters {
  /** Dispatches received from the shards. */
  received: number;
  /** Events the handler answered 2xx. */
  delivered: number;
  /** Failed attempts that will be retried. */
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
    queuedMemory: 0,
    queuedMemoryBytes: 0,
    queuedDisk: 0,
    queuedDiskBytes: 0,
    receivedByType: new Map(),
    receivedByShard: new Map(),
    deliveredByShard: new Map(),
    droppedByRule: new Map(),
  };
}

/** Adds one to a keyed counter. */
export function bump<K>(map: Map<K, number>, key: K, by = 1): void {
  map.set(key, (map.get(key) ?? 0) + by);
}
