/**
 * Measurements of the comparison benchmark (`bench/compare.ts`): a paced
 * emitter, fixed-rate windows with backlog samples, an adaptive probe, the
 * search for the highest sustained rate, drains, and latency runs.
 *
 * Backlog = events emitted by the harness - events received by the counter
 * (the sink, or the ceiling's parse count), both counted from a reference
 * point taken once the contender has settled. A rate is sustained when a
 * least-squares fit of the backlog over the window (after its first second)
 * grows by no more than 1% of the events of the window plus 50 ms worth of
 * them (the in-flight jitter of a batched emitter), and the emitter achieved
 * at least 98% of the rate (otherwise the result is marked emitter-bound).
 * @module
 */
import type { Traffic } from "./compare_traffic.ts";
import { clockNow, type Counter, machineCpu, procStats, sleep } from "./compare_procs.ts";
import type { LatencySummary } from "./latency_recorder.ts";
import { createHttp1Client } from "../src/transport/http1.ts";

/** What a measurement drives and reads. */
export interface Target {
  traffic: Traffic;
  counter: Counter;
  /** Contender process (memory, CPU). */
  pid: number;
  /** Sink process, when events go through it. */
  sinkPid?: number;
  /** Counts at the reference point. */
  ref: { emitted: number; received: number };
  /** Throws when the contender is no longer fit to measure (exited, lost shards). */
  check?: () => void;
}

/** One backlog sample. */
export interface Sample {
  /** ms since the window started. */
  t: number;
  emitted: number;
  received: number;
  backlog: number;
}

/** A paced emitter whose rate can change while it runs. */
interface Emitter {
  setRate(rate: number): void;
  stop(): void;
  /** Events emitted by this emitter. */
  readonly count: number;
}

const TICK_MS = 4;
/**
 * A window stops as failed once its backlog grew by this many seconds of its rate (at least
 * 500 events; twice that during the first second).
 */
export const ABORT_BACKLOG_SECONDS = 0.25;

function startEmitter(traffic: Traffic, initialRate: number): Emitter {
  let rate = initialRate;
  let credit = 0;
  let count = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    // Stalls longer than 100 ms are not made up (the shortfall shows in the achieved rate).
    credit = Math.min(credit + (now - last) * rate / 1000, Math.max(2, rate / 10));
    last = now;
    let n = Math.floor(credit);
    credit -= n;
    count += n;
    while (n-- > 0) traffic.emit();
  }, TICK_MS);
  return {
    setRate(r) {
      rate = r;
    },
    stop() {
      clearInterval(timer);
    },
    get count() {
      return count;
    },
  };
}

async function sample(target: Target, startedAt: number): Promise<Sample> {
  const emitted = target.traffic.emitted - target.ref.emitted;
  const received = (await target.counter.count()) - target.ref.received;
  return { t: performance.now() - startedAt, emitted, received, backlog: emitted - received };
}

/** CPU use of the processes involved over a window, % of one core. */
export interface CpuUse {
  contender: number;
  sink?: number;
  harness: number;
  /** The whole machine, kernel (loopback networking, interrupts) and steal included, % of one core. */
  machine?: number;
}

function cpuMeter(target: Target): () => CpuUse {
  const t0 = performance.now();
  const m0 = machineCpu();
  const c0 = procStats(target.pid)?.cpuMs ?? 0;
  const s0 = target.sinkPid ? procStats(target.sinkPid)?.cpuMs ?? 0 : 0;
  const h0 = procStats("self")?.cpuMs ?? 0;
  return () => {
    const wall = performance.now() - t0;
    const pct = (ms: number) => Math.round(ms / wall * 100);
    return {
      contender: pct((procStats(target.pid)?.cpuMs ?? c0) - c0),
      sink: target.sinkPid ? pct((procStats(target.sinkPid)?.cpuMs ?? s0) - s0) : undefined,
      harness: pct((procStats("self")?.cpuMs ?? h0) - h0),
      machine: machineBusy(m0, machineCpu()),
    };
  };
}

/** Busy share between two readings, % of one core (200 = two cores fully busy). */
function machineBusy(
  from: ReturnType<typeof machineCpu>,
  to: ReturnType<typeof machineCpu>,
): number | undefined {
  if (!from || !to || to.totalMs <= from.totalMs) return undefined;
  const cores = navigator.hardwareConcurrency;
  return Math.round((to.busyMs - from.busyMs) / (to.totalMs - from.totalMs) * cores * 100);
}

/** Result of {@linkcode runWindow}. */
export interface WindowResult {
  rate: number;
  seconds: number;
  achievedRate: number;
  /** Events received per second over the judged part of the window. */
  deliveredRate: number;
  /** Backlog growth of the fitted line over the judged part. */
  backlogGrowth: number;
  tolerance: number;
  backlogEnd: number;
  sustained: boolean;
  /** Stopped early: the backlog passed {@linkcode ABORT_BACKLOG_SECONDS} worth of events. */
  aborted: boolean;
  emitterBound: boolean;
  cpu: CpuUse;
  rssMaxMiB: number;
}

/** Emits at `rate` for `ms`, sampling the backlog every `sampleMs`, and judges it. */
export async function runWindow(
  target: Target,
  rate: number,
  ms: number,
  sampleMs = 250,
): Promise<WindowResult> {
  const cpu = cpuMeter(target);
  const startedAt = performance.now();
  const e0 = target.traffic.emitted;
  const emitter = startEmitter(target.traffic, rate);
  const samples: Sample[] = [];
  let rssMax = 0;
  // Clearly failing: stop before the overload itself changes the picture (a forwarder
  // without backpressure opens a connection per queued event, and can exhaust the sink's
  // file descriptors).
  // The first second is not judged (start-up transients), and only a twice larger backlog stops it.
  const skip = Math.min(1000, ms * 0.2);
  const abortBacklog = Math.max(500, rate * ABORT_BACKLOG_SECONDS);
  const start = await sample(target, startedAt);
  let aborted = false;
  while (performance.now() - startedAt < ms) {
    await sleep(Math.min(sampleMs, ms - (performance.now() - startedAt)));
    const s = await sample(target, startedAt);
    samples.push(s);
    rssMax = Math.max(rssMax, procStats(target.pid)?.rssKiB ?? 0);
    if (s.backlog - start.backlog > (s.t < skip ? 2 : 1) * abortBacklog) {
      aborted = true;
      break;
    }
  }
  emitter.stop();
  target.check?.();
  const seconds = (performance.now() - startedAt) / 1000;
  const emitted = target.traffic.emitted - e0;
  const judged = samples.filter((s) => s.t >= skip);
  const fit = linearFit(judged.map((s) => [s.t / 1000, s.backlog]));
  const span = judged.length > 1 ? (judged[judged.length - 1].t - judged[0].t) / 1000 : 0;
  const backlogGrowth = fit.slope * span;
  const achievedRate = emitted / seconds;
  const tolerance = 0.01 * achievedRate * span + 0.05 * achievedRate;
  const lastSample = samples[samples.length - 1];
  const first = judged.length > 1 ? judged[0] : start;
  const deliveredRate = lastSample && lastSample.t > first.t
    ? (lastSample.received - first.received) / ((lastSample.t - first.t) / 1000)
    : 0;
  return {
    rate,
    seconds: round(seconds, 2),
    achievedRate: Math.round(achievedRate),
    deliveredRate: Math.round(deliveredRate),
    backlogGrowth: Math.round(backlogGrowth),
    tolerance: Math.round(tolerance),
    backlogEnd: lastSample?.backlog ?? 0,
    sustained: !aborted && backlogGrowth <= tolerance,
    aborted,
    emitterBound: achievedRate < 0.98 * rate,
    cpu: cpu(),
    rssMaxMiB: round(rssMax / 1024, 1),
  };
}

/** Least-squares line through points. */
function linearFit(points: [number, number][]): { slope: number; intercept: number } {
  const n = points.length;
  if (n < 2) return { slope: 0, intercept: points[0]?.[1] ?? 0 };
  let sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (const [x, y] of points) {
    sx += x;
    sy += y;
    sxx += x * x;
    sxy += x * y;
  }
  const den = n * sxx - sx * sx;
  const slope = den === 0 ? 0 : (n * sxy - sx * sy) / den;
  return { slope, intercept: (sy - slope * sx) / n };
}

/** Result of {@linkcode waitDrained}. */
export interface DrainResult {
  drained: boolean;
  ms: number;
  backlog: number;
}

/**
 * Waits until the counter caught up with everything emitted, or until nothing
 * arrived for `stallMs`, or `timeoutMs` passed.
 */
export async function waitDrained(
  target: Target,
  timeoutMs = 30_000,
  stallMs = 5_000,
): Promise<DrainResult> {
  const started = performance.now();
  let last = await sample(target, started);
  let lastProgress = performance.now();
  while (last.backlog > 0) {
    const now = performance.now();
    if (now - started > timeoutMs || now - lastProgress > stallMs) break;
    await sleep(50);
    const next = await sample(target, started);
    if (next.received > last.received) lastProgress = performance.now();
    last = next;
  }
  return {
    drained: last.backlog <= 0,
    ms: Math.round(performance.now() - started),
    backlog: Math.max(0, last.backlog),
  };
}

/**
 * After an overload: waits until the contender's CPU use falls under `idlePct`
 * of one core over 200 ms (its garbage collected, its sockets closed), at most
 * `maxMs`, so that one window's overload does not fail the next.
 */
export async function waitQuiet(pid: number, maxMs = 3000, idlePct = 25): Promise<number> {
  const started = performance.now();
  let last = procStats(pid)?.cpuMs ?? 0;
  while (performance.now() - started < maxMs) {
    await sleep(200);
    const now = procStats(pid)?.cpuMs ?? last;
    if ((now - last) / 200 * 100 < idlePct) break;
    last = now;
  }
  return Math.round(performance.now() - started);
}

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

/** Median (the lower middle for even counts); NaN when empty. */
export function median(values: number[]): number {
  const v = values.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  return v[Math.floor((v.length - 1) / 2)];
}

export function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

export { clockNow };

/** Result of {@linkcode measurePostRate}. */
export interface PostRateResult {
  /** `fetch`: Deno's fetch (what the baseline and peer use); `http1`: the service's client. */
  client: "fetch" | "http1";
  concurrency: number;
  perSecond: number;
  /** CPU of the sending process (the harness, idle otherwise), % of one core. */
  senderCpu: number;
  sinkCpu: number;
}

/**
 * A reference for every forwarder: how many POSTs per second one Deno process
 * gets through to the sink with `concurrency` requests in flight and nothing
 * else to do (no gateway), with a realistic body and the same headers as the
 * service sends. One in flight is what a single shard allows when order is kept.
 */
export async function measurePostRate(
  url: string,
  authorization: string,
  body: string,
  concurrency: number,
  ms: number,
  sinkPid: number,
  client: "fetch" | "http1" = "fetch",
): Promise<PostRateResult> {
  const headers = { authorization, "content-type": "application/json" };
  const http1 = client === "http1" ? createHttp1Client({ url, headers }) : undefined;
  const post = http1 ? () => http1.post(body) : async () => {
    const res = await fetch(url, { method: "POST", headers, body });
    await res.body?.cancel();
  };
  const t0 = performance.now();
  const c0 = procStats("self")?.cpuMs ?? 0;
  const s0 = procStats(sinkPid)?.cpuMs ?? 0;
  const end = t0 + ms;
  let n = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < end) {
      await post();
      n++;
    }
  }));
  const wall = performance.now() - t0;
  http1?.close();
  return {
    client,
    concurrency,
    perSecond: Math.round(n / wall * 1000),
    senderCpu: Math.round(((procStats("self")?.cpuMs ?? c0) - c0) / wall * 100),
    sinkCpu: Math.round(((procStats(sinkPid)?.cpuMs ?? s0) - s0) / wall * 100),
  };
}
