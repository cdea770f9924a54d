/**
 * The comparison benchmark's latency runs: fixed-rate windows during which the
 * counter records send-to-delivery latency of each MESSAGE_CREATE, corrected
 * for the offset between its clock and this one.
 * @module
 */
import type { LatencySummary } from "./latency_recorder.ts";
import {
  type CpuUse,
  median,
  round,
  runWindow,
  type Target,
  waitDrained,
} from "./compare_measure.ts";

/** Latency figures of one rate, medians over runs, ms, offset-corrected. */
export interface LatencyResult {
  rate: number;
  runs: number;
  /** Median over runs of each percentile. */
  p50: number;
  p99: number;
  max: number;
  /** Every run's summary (corrected). */
  each: LatencySummary[];
  /** Whether every run kept up: no window stopped for its backlog, and each drained. */
  kept: boolean;
  /** Clock offset used and the probe round trip. */
  clock: { offsetMs: number; rttMs: number };
  rssMaxMiB: number;
  cpu: CpuUse;
}

/** Runs `runs` windows at `rate`, recording delivery latency of each MESSAGE_CREATE. */
export async function measureLatency(
  target: Target,
  rate: number,
  runs: number,
  ms: number,
): Promise<LatencyResult> {
  const clock = await target.counter.clockOffset();
  const each: LatencySummary[] = [];
  let kept = true;
  let rssMax = 0;
  let cpu: CpuUse | undefined;
  for (let i = 0; i < runs; i++) {
    await target.counter.latencyStart();
    const w = await runWindow(target, rate, ms);
    rssMax = Math.max(rssMax, w.rssMaxMiB);
    cpu ??= w.cpu;
    const drain = await waitDrained(target);
    kept &&= !w.aborted && drain.drained;
    const raw = await target.counter.latency();
    const fix = (v?: number) => v === undefined ? undefined : round(v - clock.offsetMs, 3);
    each.push({
      n: raw.n,
      min: fix(raw.min),
      p50: fix(raw.p50),
      p90: fix(raw.p90),
      p99: fix(raw.p99),
      p999: fix(raw.p999),
      max: fix(raw.max),
      mean: fix(raw.mean),
    });
  }
  return {
    rate,
    runs,
    p50: median(each.map((e) => e.p50 ?? NaN)),
    p99: median(each.map((e) => e.p99 ?? NaN)),
    max: median(each.map((e) => e.max ?? NaN)),
    each,
    kept,
    clock: { offsetMs: round(clock.offsetMs, 3), rttMs: round(clock.rttMs, 3) },
    rssMaxMiB: rssMax,
    cpu: cpu ?? { contender: 0, harness: 0 },
  };
}
