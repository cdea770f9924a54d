/**
 * Measurements of the comparison benchmark (`bench/compare.ts`): a paced
 * emitter, fixed-rate windows with backlog samples, and drains. The search
 * for the highest sustained rate built on them is in `compare_search.ts`, the
 * latency runs in `compare_latency.ts`, the POST reference in
 * `compare_post_rate.ts`.
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

export function startEmitter(traffic: Traffic, initialRate: number): Emitter {
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

export async function sample(target: Target, startedAt: number): Promise<Sample> {
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
