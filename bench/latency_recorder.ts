/**
 * Latency samples of the comparison benchmark, kept by the processes that
 * receive events (`bench/latency_sink.ts`, `bench/ceiling.ts`): each sample is
 * this process's clock at receipt minus the harness's send time; the harness
 * corrects for the offset between the two clocks (see `GET /clock`).
 * @module
 */

/** This process's wall clock in ms with sub-ms digits (the harness uses the same formula). */
export function clockNow(): number {
  return performance.timeOrigin + performance.now();
}

/** Percentiles of one recording, ms (raw: not yet corrected for the clock offset). */
export interface LatencySummary {
  n: number;
  min?: number;
  p50?: number;
  p90?: number;
  p99?: number;
  p999?: number;
  max?: number;
  mean?: number;
}

/** Collects latency samples between `start()` and `summary()`. */
export interface LatencyRecorder {
  readonly recording: boolean;
  /** Clears the samples and starts recording. */
  start(): void;
  /** Adds a sample from a send time (ms since the Unix epoch, as a string or number). */
  add(sentAt: string | number, receivedAt: number): void;
  /** Stops recording and summarizes. */
  summary(): LatencySummary;
}

/** Creates a recorder. */
export function createLatencyRecorder(): LatencyRecorder {
  let samples = new Float64Array(1 << 18);
  let n = 0;
  let recording = false;
  return {
    get recording() {
      return recording;
    },
    start() {
      n = 0;
      recording = true;
    },
    add(sentAt, receivedAt) {
      if (!recording) return;
      const sent = typeof sentAt === "number" ? sentAt : Number(sentAt);
      if (!Number.isFinite(sent) || sent < 1e12) return; // not a harness timestamp
      if (n === samples.length) {
        const bigger = new Float64Array(samples.length * 2);
        bigger.set(samples);
        samples = bigger;
      }
      samples[n++] = receivedAt - sent;
    },
    summary() {
      recording = false;
      if (n === 0) return { n: 0 };
      const sorted = samples.slice(0, n).sort();
      const at = (q: number) => sorted[Math.min(n - 1, Math.floor(q * n))];
      let sum = 0;
      for (const v of sorted) sum += v;
      return {
        n,
        min: sorted[0],
        p50: at(0.5),
        p90: at(0.9),
        p99: at(0.99),
        p999: at(0.999),
        max: sorted[n - 1],
        mean: sum / n,
      };
    },
  };
}
