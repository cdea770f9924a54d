/**
 * Events per second, in all and per shard, and the status page's history:
 * the received counters sampled every second, rates over the last 10 s, and
 * one history point every 5 s for the last 10 minutes.
 * @module
 */
import type { DeliveryCounters } from "../counters.ts";
import type { HistoryPoint } from "./wire.ts";

/** Rates and history of a running process; `close()` stops the sampling. */
export interface EventRates {
  /** Events/s over the last 10 s, of one shard or of all; 0 until two samples exist. */
  rate(shardId?: number): number;
  /** Oldest first. */
  history(): HistoryPoint[];
  close(): void;
}

/** Options of {@linkcode createEventRates}. */
export interface EventRatesOptions {
  /** Where the received counts are read. */
  counters(): DeliveryCounters;
  /** Events queued in all, for the history. */
  queueDepth(): number;
  /** @default Date.now */
  now?: () => number;
}

/** Samples kept: 11 samples a second apart span the 10 s of a rate. */
const SAMPLES = 11;
/** One history point per this many samples. */
const HISTORY_EVERY = 5;
/** 120 points 5 s apart: 10 minutes. */
const HISTORY_POINTS = 120;

/** Starts sampling at once and every second. */
export function createEventRates(options: EventRatesOptions): EventRates {
  const { counters, queueDepth, now = Date.now } = options;
  const samples: { at: number; byShard: Map<number, number>; total: number }[] = [];
  const history: HistoryPoint[] = [];
  const sample = () => {
    const c = counters();
    samples.push({ at: now(), byShard: new Map(c.receivedByShard), total: c.received });
    if (samples.length > SAMPLES) samples.shift();
  };
  const rate = (shardId?: number) => {
    if (samples.length < 2) return 0;
    const a = samples[0];
    const b = samples[samples.length - 1];
    const seconds = (b.at - a.at) / 1000;
    if (seconds <= 0) return 0;
    const diff = shardId === undefined
      ? b.total - a.total
      : (b.byShard.get(shardId) ?? 0) - (a.byShard.get(shardId) ?? 0);
    return Math.round(diff / seconds * 10) / 10;
  };
  sample();
  let ticks = 0;
  const timer = setInterval(() => {
    sample();
    if (++ticks % HISTORY_EVERY === 0) {
      history.push({ at: now(), eventsPerSecond: rate(), queueDepth: queueDepth() });
      if (history.length > HISTORY_POINTS) history.shift();
    }
  }, 1000);
  return {
    rate,
    history: () => [...history],
    close: () => clearInterval(timer),
  };
}
