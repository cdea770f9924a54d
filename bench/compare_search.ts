/**
 * The comparison benchmark's search for the highest sustained rate: a quick
 * probe that raises the rate until a backlog builds, then fixed-rate windows
 * ({@linkcode runWindow}) bisecting between the highest sustained rate and the
 * lowest failing one, the final rate confirmed by a majority of runs.
 * @module
 */
import { sleep } from "./compare_procs.ts";
import {
  type CpuUse,
  type DrainResult,
  runWindow,
  sample,
  startEmitter,
  type Target,
  waitDrained,
  waitQuiet,
  type WindowResult,
} from "./compare_measure.ts";

/** Result of {@linkcode probeCapacity}. */
export interface ProbeResult {
  /** Last rate held without a backlog building, events/s: the estimate the windows verify. */
  capacity: number;
  /** Highest rate the emitter reached. */
  peakRate: number;
  /** The backlog never built up: the probe found no limit (emitter too slow or probe too short). */
  noLimitFound: boolean;
  drain: DrainResult;
}

/**
 * Raises the rate by 20% every 150 ms (from 2000/s) until the backlog holds
 * more than 20 ms worth of events and grew in three samples in a row, then stops at once:
 * a quick estimate for the windows to verify, with little overload (a
 * forwarder without backpressure degrades for a while after a deep one).
 */
export async function probeCapacity(
  target: Target,
  ms: number,
  startRate = 2000,
  maxRate = 200_000,
): Promise<ProbeResult> {
  const startedAt = performance.now();
  let rate = startRate;
  let lastGood = 0;
  let over = 0;
  let short = 0;
  let previousBacklog = 0;
  let peakRate = rate;
  let limitFound = false;
  const emitter = startEmitter(target.traffic, rate);
  let last = await sample(target, startedAt);
  while (performance.now() - startedAt < ms) {
    await sleep(150);
    const s = await sample(target, startedAt);
    const achieved = (s.emitted - last.emitted) / ((s.t - last.t) / 1000);
    last = s;
    // A backlog over 20 ms worth that grew three samples in a row: a GC pause makes a spike
    // that shrinks again, an overload one that keeps growing.
    const high = s.backlog > Math.max(100, rate * 0.02);
    const growing = s.backlog > previousBacklog;
    previousBacklog = s.backlog;
    if (high && growing) {
      if (++over >= 3) {
        limitFound = true;
        break;
      }
      continue;
    }
    over = 0;
    if (high) continue; // shrinking after a spike: hold the rate
    // The emitter fell short: hold the rate; three times in a row, the emitter is the limit.
    if (achieved < 0.9 * rate) {
      if (++short >= 3) break;
      continue;
    }
    short = 0;
    // Held without a backlog, and the emitter kept up: good; go faster.
    lastGood = rate;
    rate = Math.min(rate * 1.2, maxRate);
    peakRate = Math.max(peakRate, rate);
    emitter.setRate(rate);
  }
  emitter.stop();
  target.check?.();
  const drain = await waitDrained(target);
  return {
    capacity: Math.round(lastGood || rate * 0.5),
    peakRate: Math.round(peakRate),
    noLimitFound: !limitFound,
    drain,
  };
}

/** Options of {@linkcode findSustained}. */
export interface SearchOptions {
  probeMs: number;
  windowMs: number;
  /** Windows tried at most during the search. */
  maxSteps: number;
  /** Windows at the final rate (the search's passing one included); the majority verdict counts. */
  confirmRuns: number;
  /** Stop at the first sustained window (a lower bound; fewer windows). @default {false} */
  stopOnFirstPass?: boolean;
  /** Stop at the first sustained window when the probe found no limit. @default {false} */
  stopAtLowerBound?: boolean;
  /** Stop when the bracket is this tight (hi/lo - 1). @default {0.05} */
  precision?: number;
  log?: (msg: string) => void;
}

/** Result of {@linkcode findSustained}. */
export interface SustainedResult {
  /** Highest rate verified sustained, events/s (0 if none). */
  rate: number;
  /** Median delivered rate of the confirming windows. */
  deliveredRate: number;
  /** Lowest rate seen not sustained, if any. */
  failedAt?: number;
  /** A window at the final rate fell short of its rate: the harness could not emit faster. */
  emitterBound: boolean;
  /** A failing rate was found above `rate`; when false, `rate` is only a lower bound. */
  bracketed: boolean;
  probe: ProbeResult;
  windows: WindowResult[];
  /** CPU use during the (median) confirming window at `rate`. */
  cpu?: CpuUse;
  runs: number;
}

/**
 * Probes, then bisects with fixed-rate windows between the highest sustained
 * rate and the lowest failing one; the final rate is re-run `confirmRuns - 1`
 * more times and must pass in the majority.
 */
export async function findSustained(
  target: Target,
  options: SearchOptions,
): Promise<SustainedResult> {
  const { probeMs, windowMs, maxSteps, confirmRuns, precision = 0.05 } = options;
  const log = options.log ?? (() => {});
  const probe = await probeCapacity(target, probeMs);
  await waitQuiet(target.pid); // let the contender settle after the probe's brief overload
  log(
    `  probe: ${probe.capacity}/s held (peak ${probe.peakRate}/s${
      probe.noLimitFound ? ", no limit found" : ""
    }), drained in ${probe.drain.ms} ms`,
  );
  const windows: WindowResult[] = [];
  let lo: WindowResult | undefined;
  let hi: number | undefined;
  // Start below the estimate: the first window should pass for every contender, before any
  // failing window's overload can colour the next ones (forwarders without backpressure
  // keep hundreds of open connections and a large heap for a while after one).
  // (When the probe found no limit, 90%: the contender outran the probe anyway.)
  const first = probe.noLimitFound ? 0.9 : 0.75;
  let rate = Math.max(100, Math.round(probe.capacity * first / 50) * 50);
  const tryRate = async (r: number) => {
    const w = await runWindow(target, r, windowMs);
    const drain = await waitDrained(target);
    // After an overload, let the contender settle (GC, closing sockets) before the next window.
    const settle = w.sustained ? 0 : await waitQuiet(target.pid);
    windows.push(w);
    log(
      `  ${r}/s for ${w.seconds} s: ${w.sustained ? "sustained" : "NOT sustained"}${
        w.aborted ? ` (stopped after ${w.seconds} s)` : ""
      } (delivered ${w.deliveredRate}/s, backlog +${w.backlogGrowth} vs ${w.tolerance} allowed, cpu ${
        JSON.stringify(w.cpu)
      }${
        w.emitterBound ? `, emitter reached only ${w.achievedRate}/s` : ""
      }); drain ${drain.ms} ms${settle ? `, settle ${settle} ms` : ""}`,
    );
    return w;
  };
  // If nothing passed within maxSteps, up to 2 more windows going down: every contender gets a figure.
  for (let step = 0; step < maxSteps || (!lo && step < maxSteps + 2); step++) {
    const w = await tryRate(rate);
    if (w.sustained) {
      lo = w;
      // Cannot push harder; or the probe found no limit (the contender outran it): the
      // verified rate is a lower bound either way, and more windows would only raise it.
      if (w.emitterBound || (options.stopAtLowerBound && probe.noLimitFound)) break;
      if (options.stopOnFirstPass) break;
      rate = hi === undefined ? Math.round(rate * 1.25) : Math.round((rate + hi) / 2);
      if (rate <= lo.rate) break;
    } else {
      hi = hi === undefined ? rate : Math.min(hi, rate);
      // A window stopped early measured a collapse, not a capacity: step down by a quarter.
      rate = lo !== undefined
        ? Math.round((lo.rate + hi) / 2)
        : w.aborted
        ? Math.round(rate * 0.75)
        : Math.round(Math.max(rate * 0.5, Math.min(rate * 0.9, w.deliveredRate * 0.97)));
    }
    if (lo && hi !== undefined && hi / lo.rate - 1 <= precision) break;
  }
  if (!lo) {
    return {
      rate: 0,
      deliveredRate: 0,
      failedAt: hi,
      emitterBound: false,
      bracketed: true,
      probe,
      windows,
      runs: 0,
    };
  }
  // Several runs at the final rate; the majority decides, stepping down 5% if it fails.
  let final = lo;
  let runs = [lo];
  for (let attempt = 0; confirmRuns > 1 && attempt < 3; attempt++) {
    while (runs.length < confirmRuns) runs.push(await tryRate(final.rate));
    const passed = runs.filter((w) => w.sustained).length;
    if (passed * 2 > runs.length) break;
    hi = final.rate;
    const lower = Math.round(final.rate * 0.95);
    runs = [await tryRate(lower)];
    final = runs[0];
  }
  const sorted = [...runs].sort((a, b) => a.deliveredRate - b.deliveredRate);
  const median = sorted[Math.floor(sorted.length / 2)];
  return {
    rate: runs.filter((w) => w.sustained).length * 2 > runs.length ? final.rate : 0,
    deliveredRate: median.deliveredRate,
    failedAt: hi,
    emitterBound: runs.some((w) => w.emitterBound),
    bracketed: hi !== undefined,
    probe,
    windows,
    cpu: median.cpu,
    runs: runs.length,
  };
}
