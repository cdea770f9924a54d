/**
 * What `/metrics` costs per event: the hand-written counters the service uses
 * today (`src/counters.ts`: plain numbers and Maps bumped per event,
 * rendered on scrape) against `prom-client` (npm) doing the same per-event
 * work, and whether prom-client's `collectDefaultMetrics()` works under Deno.
 *
 * Per event, every contender records what the delivery queue records for one
 * delivered event: received by type, received by shard, forwarded by shard,
 * and the delivery latency in a histogram (four updates). Contenders:
 * - `hand`: `bump()` and `observe()` from `src/counters.ts`, as the queue calls them;
 * - `prom`: prom-client `Counter.inc(labels)` ×3 and `Histogram.observe(value)`, as its README
 *   shows them;
 * - `prom-bound`: the same with each label set's child bound once (`counter.labels(...)`),
 *   the cheapest way to use prom-client.
 *
 * Each run is a fresh process that records `--events` events after a warm-up and reports its
 * own CPU time (`process.cpuUsage()`); runs alternate between contenders (A/B/C, A/B/C, ...),
 * and the table gives the median and the spread (min-max) of ns of CPU per event, and that
 * cost as a share of the service's 36-65 µs of CPU per forwarded event (bench/COMPARE.md).
 * Then one process with `collectDefaultMetrics()` runs allocation-heavy work and says which
 * default metrics have values (event-loop lag, GC pauses, heap, handles), and idle processes
 * with and without the defaults give their background CPU.
 *
 * Usage: deno run -A bench/metrics_bench.ts [--runs 5] [--events 3000000]
 * @module
 */
import process from "node:process";
// Inline and pinned: a benchmark-only dependency, kept out of deno.json because the service does
// not use it (see docs/architecture.md, "Maintained libraries").
// deno-lint-ignore no-import-prefix
import promClient from "npm:prom-client@15.1.3";
import { bump, createCounters, observe } from "../src/counters.ts";

const CONTENDERS = ["hand", "prom", "prom-bound"] as const;
type Contender = typeof CONTENDERS[number];

/** The service's CPU per forwarded event, µs (bench/COMPARE.md, "CPU per forwarded event"). */
const SERVICE_US_PER_EVENT = { low: 36, high: 65 };

/** Dispatch names in the benchmark mix's proportions (bench/compare_traffic.ts). */
const TYPES = [
  ...Array(14).fill("MESSAGE_CREATE"),
  "MESSAGE_UPDATE",
  "MESSAGE_UPDATE",
  "MESSAGE_REACTION_ADD",
  "MESSAGE_REACTION_ADD",
  "TYPING_START",
  "MESSAGE_DELETE",
] as string[];
const SHARDS = 16;

/** Pseudo-random but identical inputs for every contender: shard, type and a latency in ms. */
function inputs(n: number): { shard: Int32Array; type: string[]; latencyMs: Float64Array } {
  let seed = 42;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const shard = new Int32Array(n);
  const type: string[] = new Array(n);
  const latencyMs = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    shard[i] = Math.floor(rand() * SHARDS);
    type[i] = TYPES[i % TYPES.length];
    // Mostly sub-millisecond to a few ms, with a tail, as measured at 1,000-5,000/s.
    latencyMs[i] = 0.3 + rand() * 2 + (rand() < 0.02 ? rand() * 40 : 0);
  }
  return { shard, type, latencyMs };
}

/** A contender's per-event work, on a registry of its own. */
function recorder(contender: Contender): (shard: number, type: string, latencyMs: number) => void {
  if (contender === "hand") {
    const c = createCounters();
    return (shard, type, latencyMs) => {
      bump(c.receivedByType, type);
      bump(c.receivedByShard, shard);
      observe(c.latency, latencyMs);
      bump(c.deliveredByShard, shard);
    };
  }
  const registers = [new promClient.Registry()];
  const byType = new promClient.Counter({
    name: "gateway_events_received_total",
    help: "Dispatches taken by the delivery queue, by type.",
    labelNames: ["type"],
    registers,
  });
  const byShard = new promClient.Counter({
    name: "gateway_shard_events_received_total",
    help: "Dispatches taken by the delivery queue, by shard.",
    labelNames: ["shard"],
    registers,
  });
  const forwarded = new promClient.Counter({
    name: "gateway_events_forwarded_total",
    help: "Events the handler answered 2xx, by shard.",
    labelNames: ["shard"],
    registers,
  });
  const latency = new promClient.Histogram({
    name: "gateway_delivery_latency_seconds",
    help: "From receipt from Discord to the handler's 2xx.",
    buckets: [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60],
    registers,
  });
  if (contender === "prom") {
    return (shard, type, latencyMs) => {
      byType.inc({ type });
      byShard.inc({ shard });
      latency.observe(latencyMs / 1000);
      forwarded.inc({ shard });
    };
  }
  const typeChild = new Map(TYPES.map((t) => [t, byType.labels(t)]));
  const shardChild = Array.from({ length: SHARDS }, (_, s) => byShard.labels(String(s)));
  const forwardedChild = Array.from({ length: SHARDS }, (_, s) => forwarded.labels(String(s)));
  return (shard, type, latencyMs) => {
    typeChild.get(type)!.inc();
    shardChild[shard].inc();
    latency.observe(latencyMs / 1000);
    forwardedChild[shard].inc();
  };
}

/** In a child: records `events` events after a warm-up; prints `{nsPerEvent}`. */
function runOne(contender: Contender, events: number): void {
  const n = 1 << 16;
  const { shard, type, latencyMs } = inputs(n);
  const record = recorder(contender);
  const loop = (count: number) => {
    for (let i = 0; i < count; i++) {
      const j = i & (n - 1);
      record(shard[j], type[j], latencyMs[j]);
    }
  };
  loop(Math.min(events, 500_000));
  const c0 = process.cpuUsage();
  loop(events);
  const c = process.cpuUsage(c0);
  console.log(JSON.stringify({ nsPerEvent: (c.user + c.system) * 1000 / events }));
}

/** In a child: what `collectDefaultMetrics()` reports under Deno after allocation-heavy work. */
async function checkDefaults(): Promise<void> {
  const register = new promClient.Registry();
  promClient.collectDefaultMetrics({ register });
  const junk: unknown[] = [];
  for (let round = 0; round < 5; round++) {
    for (let i = 0; i < 1_000_000; i++) {
      junk.push({ i, s: `x${i}` });
      if (junk.length > 100_000) junk.length = 0;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  // A timer and a socket that are open while the metrics are read.
  const timer = setInterval(() => {}, 1000);
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const metrics = await register.getMetricsAsJSON();
  clearInterval(timer);
  listener.close();
  const sum = (name: string) => {
    const m = metrics.find((x) => x.name === name) as
      | { values: { value: number; metricName?: string }[] }
      | undefined;
    if (!m) return null;
    const values = m.values.filter((v) => !v.metricName || v.metricName.endsWith("_count"));
    return values.reduce((a, v) => a + v.value, 0);
  };
  console.log(JSON.stringify({
    eventLoopLagP99Seconds: sum("nodejs_eventloop_lag_p99_seconds"),
    gcPausesObserved: sum("nodejs_gc_duration_seconds"),
    heapUsedBytes: sum("nodejs_heap_size_used_bytes"),
    activeHandles: sum("nodejs_active_handles_total"),
    activeResources: sum("nodejs_active_resources_total"),
    residentBytes: sum("process_resident_memory_bytes"),
    openFds: sum("process_open_fds"),
  }));
}

/** In a child: CPU of an idle process over `ms`, with or without the default metrics, ms/s. */
async function idle(withDefaults: boolean, ms: number): Promise<void> {
  if (withDefaults) promClient.collectDefaultMetrics({ register: new promClient.Registry() });
  await new Promise((r) => setTimeout(r, 300));
  const c0 = process.cpuUsage();
  await new Promise((r) => setTimeout(r, ms));
  const c = process.cpuUsage(c0);
  console.log(JSON.stringify({ cpuMsPerSecond: (c.user + c.system) / ms }));
}

async function child(args: string[]): Promise<Record<string, number | null>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", import.meta.filename!, ...args],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`child ${args.join(" ")} failed`);
  const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
  return JSON.parse(lines[lines.length - 1]);
}

const med = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor((v.length - 1) / 2)];
const fmt = (v: number, digits = 0) =>
  v.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });

async function main(): Promise<void> {
  const arg = (name: string, fallback: number) => {
    const i = Deno.args.indexOf(`--${name}`);
    return i >= 0 ? Number(Deno.args[i + 1]) : fallback;
  };
  const runs = arg("runs", 5);
  const events = arg("events", 3_000_000);
  if (!(runs >= 1) || !(events >= 1000)) {
    throw new RangeError(`need --runs >= 1 and --events >= 1000, got ${runs} and ${events}`);
  }
  console.log(
    `Deno ${Deno.version.deno}, prom-client 15.1.3; ${runs} runs of ${
      fmt(events)
    } events per contender, alternating; load average ${Deno.loadavg().join(" ")}`,
  );
  const ns: Record<Contender, number[]> = { hand: [], prom: [], "prom-bound": [] };
  for (let r = 0; r < runs; r++) {
    for (const c of CONTENDERS) {
      ns[c].push((await child(["--child", c, String(events)])).nsPerEvent!);
    }
  }
  console.log(
    "\n| per delivered event (4 updates) | ns CPU, median | spread (min-max) | share of 65 / 36 µs |",
  );
  console.log("|---|---:|---:|---:|");
  for (const c of CONTENDERS) {
    const m = med(ns[c]);
    const share = (us: number) => `${fmt(m / (us * 1000) * 100, 2)}%`;
    console.log(
      `| ${c} | ${fmt(m)} | ${fmt(Math.min(...ns[c]))}-${fmt(Math.max(...ns[c]))} | ${
        share(SERVICE_US_PER_EVENT.high)
      } / ${share(SERVICE_US_PER_EVENT.low)} |`,
    );
  }
  const extra = (c: Contender) => med(ns[c]) - med(ns.hand);
  console.log(
    `\nprom-client over hand-written: +${fmt(extra("prom"))} ns per event (prom), +${
      fmt(extra("prom-bound"))
    } ns (prom-bound); runs: ${JSON.stringify(ns)}`,
  );

  console.log("\ncollectDefaultMetrics() under Deno, after allocation-heavy work:");
  console.log(await child(["--defaults"]));
  const idleWith: number[] = [];
  const idleWithout: number[] = [];
  for (let r = 0; r < Math.min(runs, 3); r++) {
    idleWithout.push((await child(["--idle", "0"])).cpuMsPerSecond!);
    idleWith.push((await child(["--idle", "1"])).cpuMsPerSecond!);
  }
  console.log(
    `idle CPU, ms per second (median of ${idleWith.length}): without defaults ${
      fmt(med(idleWithout), 2)
    }, with collectDefaultMetrics() ${fmt(med(idleWith), 2)}`,
  );
}

if (import.meta.main) {
  if (Deno.args[0] === "--child") runOne(Deno.args[1] as Contender, Number(Deno.args[2]));
  else if (Deno.args[0] === "--defaults") await checkDefaults();
  else if (Deno.args[0] === "--idle") await idle(Deno.args[1] === "1", 2000);
  else await main();
}
