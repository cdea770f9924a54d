/**
 * Types of the comparison benchmark's results and the Markdown table the
 * README includes (`bench/COMPARE.md`), with the targets and, where one is
 * missed, what the measurements say limits it.
 * @module
 */
import { type ContenderName, CONTENDERS } from "./compare_procs.ts";
import {
  ABORT_BACKLOG_SECONDS,
  type CpuUse,
  type LatencyResult,
  type PostRateResult,
  type SustainedResult,
} from "./compare_measure.ts";

/** Sizes and durations of one mode. */
export interface ModeConfig {
  /** Shard count of the main process (start-up, memory, latency). */
  mainShards: number;
  /** `max_concurrency` of the main process; its start-up is measured. */
  mainMaxConcurrency: number;
  /** Guilds of the main process. */
  guilds: number;
  /** Shard counts measured for throughput, each in a fresh process. */
  throughputShards: number[];
  /** Guilds per shard in those processes. */
  guildsPerShard: number;
  /** Extra start-up-only runs of `mainShards` with these `max_concurrency`. */
  startupOnly: number[];
  idleMs: number;
  warmupRate: number;
  warmupMs: number;
  probeMs: number;
  windowMs: number;
  /** Windows of the search at `mainShards`. */
  maxSteps: number;
  /** The search stops once the failing and sustained rates are this close (hi/lo - 1). */
  precision: number;
  /** Probe and windows of the search at the other shard counts. */
  otherProbeMs: number;
  otherMaxSteps: number;
  /** At the other shard counts, stop at the first sustained window. */
  otherStopOnFirstPass: boolean;
  /** Stop at the first sustained window when the probe found no limit. */
  stopAtLowerBound: boolean;
  /** Rates at which the ceiling's send → parsed latency is measured. */
  ceilingLatencyRates: number[];
  /** Warm-up of the other processes. */
  otherWarmupMs: number;
  confirmRuns: number;
  latencyRates: number[];
  latencyRuns: number;
  latencyMs: number;
  /** Duration of each POST reference measurement. */
  postRateMs: number;
  /** What this mode shortens, for the report. */
  caveats: string[];
}

/** Start-up of one process. */
export interface StartupResult {
  shards: number;
  maxConcurrency: number;
  guilds: number;
  /** Spawn to every shard holding a session (READY sent), s. */
  readySeconds: number | null;
  /** ceil(shards / max_concurrency) x 5 s. */
  boundSeconds: number;
  /** (ceil(shards / max_concurrency) - 1) x 5 s: the first identify is free. */
  floorSeconds: number;
  /** Spawn to every READY and GUILD_CREATE received at the counter, s. */
  guildsSeconds: number | null;
  identifies: number;
}

/** Everything measured for one contender. */
export interface ContenderResult {
  name: ContenderName;
  label: string;
  throughput: Record<number, SustainedResult | null>;
  latency: Record<number, LatencyResult | null>;
  memory: { idleMiB: number | null; loadMiB: number | null; loadRate: number | null };
  startup: StartupResult[];
  errors: string[];
  /** Sink counters after its runs (forwarders); `meanBodyBytes` is request body bytes per event. */
  sink?: {
    outOfOrder: number;
    unauthorized: number;
    events: number;
    /** Requests that carried them (absent in reports from before batching). */
    requests?: number;
    meanBodyBytes: number;
  };
}

export type CompareReport = {
  mode: string;
  date: string;
  machine: MachineInfo;
  seconds: number;
  settings: ModeConfig;
  /** One Deno process POSTing to the sink, nothing else: 1 and 16 requests in flight. */
  postReference: PostRateResult[];
  /** Other benchmark processes seen at the start or the end (their figures are skewed). */
  concurrentBenchmarks: string[];
  loadAverageAtEnd: string;
  traffic: {
    mix: readonly string[];
    meanPayloadBytes: number;
    messageCreateBytes: [number, number];
    note: string;
  };
  contenders: Record<string, ContenderResult>;
};

/** Where the benchmark ran. */
export interface MachineInfo {
  cores: number;
  cpu: string;
  os: string;
  deno: string;
  v8: string;
  loadAverageAtStart: string;
  openFileLimit: number | null;
}

/** The targets this service is held to. */
export const TARGETS = {
  /** Batched delivery (`service-batch`): at least this many times the baseline, at 16 shards. */
  batchVsBaseline: 3,
  /** ... and at least this share of the ceiling. */
  batchVsCeiling: 0.5,
  /** 2 worker threads (`service-2w`): at least this many times the defaults, at 16 shards. */
  workersVsMain: 1.3,
  /** Shard count the batching and worker targets are measured at. */
  variantShards: 16,
  /** Sustained throughput at least this many times the baseline's. */
  vsBaseline: 3,
  /** Sustained throughput at least this share of the ceiling's. */
  vsCeiling: 0.7,
  /** p99 delivery latency under this many ms at 1000 events/s. */
  p99Ms: 10,
  p99Rate: 1000,
};

/** The table columns: every contender, in the order the harness runs them. */
const COLUMNS: readonly ContenderName[] = CONTENDERS;

const fmtInt = (n: number) => Math.round(n).toLocaleString("en-US");
const fmtRatio = (r: number) =>
  !Number.isFinite(r) ? "-" : r >= 10 ? `${r.toFixed(0)}×` : `${r.toFixed(r < 1 ? 2 : 1)}×`;
const fmtMs = (v: number) =>
  Number.isNaN(v) ? "-" : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);

/** No failing rate was found above it, or the emitter fell short: the figure is a lower bound. */
function isLowerBound(r: SustainedResult | null | undefined): boolean {
  return !!r && r.rate > 0 && (r.emitterBound || !r.bracketed);
}

function rateOf(r: SustainedResult | null | undefined): number | undefined {
  return r && r.rate > 0 ? r.rate : undefined;
}

function throughputCell(
  report: CompareReport,
  name: ContenderName,
  shards: number,
): string {
  const r = report.contenders[name]?.throughput[shards];
  if (r === undefined) return "n/a";
  if (r === null) return "failed";
  if (r.rate === 0) return r.failedAt ? `< ${fmtInt(r.failedAt)}` : "none";
  const prefix = isLowerBound(r) ? "≥ " : "";
  const b = report.contenders.baseline?.throughput[shards];
  const c = report.contenders.ceiling?.throughput[shards];
  const base = rateOf(b);
  const ceil = rateOf(c);
  // A ratio with a lower bound on either side is indicative only.
  const mark = (other: SustainedResult | null | undefined) =>
    isLowerBound(r) || isLowerBound(other) ? "*" : "";
  const ratios = [
    name !== "baseline" && base ? `${fmtRatio(r.rate / base)}${mark(b)} b` : undefined,
    name !== "ceiling" && ceil ? `${Math.round(r.rate / ceil * 100)}%${mark(c)} c` : undefined,
  ].filter(Boolean);
  return `${prefix}${fmtInt(r.rate)}${ratios.length ? ` (${ratios.join(" · ")})` : ""}`;
}

function latencyOf(report: CompareReport, name: ContenderName, rate: number) {
  return report.contenders[name]?.latency[rate] ?? undefined;
}

function latencyCell(
  report: CompareReport,
  name: ContenderName,
  rate: number,
  key: "p50" | "p99" | "max",
): string {
  const l = latencyOf(report, name, rate);
  if (!l) return "n/a";
  const v = l[key];
  const base = latencyOf(report, "baseline", rate)?.[key];
  const ceil = latencyOf(report, "ceiling", rate)?.[key];
  const ratios = [
    name !== "baseline" && base ? `${fmtRatio(v / base)} b` : undefined,
    name !== "ceiling" && ceil ? `${fmtRatio(v / ceil)} c` : undefined,
  ].filter(Boolean);
  const mark = l.kept ? "" : " ⚠";
  return `${fmtMs(v)}${mark}${ratios.length ? ` (${ratios.join(" · ")})` : ""}`;
}

function memoryCell(report: CompareReport, name: ContenderName, key: "idleMiB" | "loadMiB") {
  const v = report.contenders[name]?.memory[key];
  if (v === null || v === undefined) return "n/a";
  const base = report.contenders.baseline?.memory[key];
  const ceil = report.contenders.ceiling?.memory[key];
  const ratios = [
    name !== "baseline" && base ? `${fmtRatio(v / base)} b` : undefined,
    name !== "ceiling" && ceil ? `${fmtRatio(v / ceil)} c` : undefined,
  ].filter(Boolean);
  return `${v.toFixed(0)} MiB${ratios.length ? ` (${ratios.join(" · ")})` : ""}`;
}

function startupRows(report: CompareReport): string[] {
  const mcs = new Set<number>();
  for (const c of Object.values(report.contenders)) {
    for (const s of c.startup) mcs.add(s.maxConcurrency);
  }
  const rows: string[] = [];
  for (const mc of [...mcs].sort((a, b) => a - b)) {
    let bound = 0;
    let shards = 0;
    const cells = COLUMNS.filter((c) => c !== "ceiling").map((name) => {
      const s = report.contenders[name]?.startup.find((x) => x.maxConcurrency === mc);
      if (!s) return "n/a";
      bound = s.boundSeconds;
      shards = s.shards;
      if (s.readySeconds === null) return "did not finish";
      return `${s.readySeconds.toFixed(1)} s (${fmtRatio(s.readySeconds / s.boundSeconds)} bound)`;
    });
    const guildCells = COLUMNS.filter((c) => c !== "ceiling").map((name) => {
      const s = report.contenders[name]?.startup.find((x) => x.maxConcurrency === mc);
      return s?.guildsSeconds != null ? `${s.guildsSeconds.toFixed(1)} s` : "n/a";
    });
    const guilds = report.contenders.service?.startup.find((x) => x.maxConcurrency === mc)?.guilds;
    rows.push(
      `| ${shards} shards ready, max_concurrency ${mc} | ${cells.join(" | ")} | ${bound} s |`,
      `| ... and all ${guilds ?? "?"} GUILD_CREATEs delivered | ${guildCells.join(" | ")} | - |`,
    );
  }
  return rows;
}

/** CPU per forwarded event at the sustained rate, µs of one core, from the median window. */
export function perEventUs(
  r: SustainedResult | null | undefined,
): { contender: number; sink?: number; harness: number } | undefined {
  if (!r?.cpu || !(r.deliveredRate > 0)) return undefined;
  const us = (pct: number) => pct * 1e4 / r.deliveredRate;
  return {
    contender: us(r.cpu.contender),
    sink: r.cpu.sink === undefined ? undefined : us(r.cpu.sink),
    harness: us(r.cpu.harness),
  };
}

function perEventText(report: CompareReport, name: ContenderName, shards: number): string {
  const own = perEventUs(report.contenders[name]?.throughput[shards]);
  if (!own) return "-";
  const base = perEventUs(report.contenders.baseline?.throughput[shards]);
  const ratio = name !== "baseline" && base
    ? ` (${fmtRatio(own.contender / base.contender)} b)`
    : "";
  return `${own.contender.toFixed(0)}${ratio} / ${
    own.sink === undefined ? "-" : own.sink.toFixed(0)
  }`;
}

function cpuText(cpu: CpuUse | undefined): string {
  if (!cpu) return "-";
  return `${cpu.contender}% / ${cpu.sink ?? "-"}% / ${cpu.harness}% / ${cpu.machine ?? "-"}%`;
}

/** What the measurements say limits a throughput figure of the service. */
function throughputLimit(
  report: CompareReport,
  shards: number,
  target: "baseline" | "ceiling",
): string {
  const s = report.contenders.service?.throughput[shards];
  const b = rateOf(report.contenders.baseline?.throughput[shards]);
  const c = report.contenders.ceiling?.throughput[shards];
  if (!s) return "the service did not run";
  const wanted = target === "baseline"
    ? (b ?? 0) * TARGETS.vsBaseline
    : (rateOf(c) ?? 0) * TARGETS.vsCeiling;
  const goal = target === "baseline"
    ? `${TARGETS.vsBaseline}× the baseline`
    : `${TARGETS.vsCeiling * 100}% of the ceiling`;
  const parts: string[] = [];
  const cpu = s.cpu;
  if (cpu && cpu.contender >= 85) {
    parts.push(
      `the service's process used ${cpu.contender}% of one core at ${
        fmtInt(s.rate)
      }/s: its JavaScript thread is saturated`,
    );
  }
  // Older reports have no client field: they measured fetch, which the service then used.
  const ref = (concurrency: (n: number) => boolean) => {
    const own = report.postReference.filter((p) => concurrency(p.concurrency));
    return own.find((p) => p.client === "http1") ?? own.find((p) => p.client !== "http1");
  };
  const seq = ref((n) => n === 1);
  const conc = ref((n) => n > 1);
  if (seq && conc) {
    const bound = Math.min(shards * seq.perSecond, conc.perSecond);
    if (wanted > bound) {
      parts.push(
        `one POST per event, one in flight per shard (order): a bare process with the service's HTTP client gets ${
          fmtInt(seq.perSecond)
        }/s to this sink with one request in flight and ${
          fmtInt(conc.perSecond)
        }/s with ${conc.concurrency}, so ${shards} shard${shards === 1 ? "" : "s"} cannot exceed ~${
          fmtInt(bound)
        }/s before any gateway work, below ${goal} (${fmtInt(wanted)}/s)`,
      );
    }
  }
  const own = perEventUs(s);
  if (own && wanted > s.rate) {
    // What the three processes would need at the target rate, at the per-event costs measured.
    const need = wanted * (own.contender + (own.sink ?? 0) + own.harness) / 1e4;
    const cores = report.machine.cores;
    if (need > cores * 100) {
      parts.push(
        `at ${goal} (${fmtInt(wanted)}/s) the service (${
          own.contender.toFixed(0)
        } µs of CPU per event), the sink (${(own.sink ?? 0).toFixed(0)} µs) and the simulator (${
          own.harness.toFixed(0)
        } µs) would need ${Math.round(need)}% CPU of the ${
          cores * 100
        }% this machine has: out of reach here whatever the service does`,
      );
    }
  }
  const busy = cpu?.machine ?? (cpu ? cpu.contender + (cpu.sink ?? 0) + cpu.harness : 0);
  if (cpu && busy >= report.machine.cores * 85) {
    parts.push(
      `the ${report.machine.cores} cores were ${busy}% busy at the highest rate held (service ${cpu.contender}%, sink ${cpu.sink}%, simulator/harness ${cpu.harness}%, the rest kernel networking and other processes)`,
    );
  }
  if (target === "ceiling" && c && (c.emitterBound || !c.bracketed)) {
    parts.push(
      `the ceiling is a lower bound (${
        c.emitterBound ? "the harness could not emit faster" : "no failing rate found"
      } at ${fmtInt(c.rate)}/s), so the share of the ceiling is overstated`,
    );
  }
  if (parts.length === 0 && s.failedAt !== undefined) {
    // Nothing saturated on average: say how the failing windows failed.
    const failed = s.windows.filter((w) => !w.sustained && w.rate >= s.failedAt!);
    const aborted = failed.filter((w) => w.aborted).length;
    const busiest = Math.max(...failed.map((w) => w.cpu.machine ?? 0));
    const svc = Math.max(...failed.map((w) => w.cpu.contender));
    if (failed.length > 0) {
      parts.push(
        `${failed.length} window${failed.length === 1 ? "" : "s"} at ${
          fmtInt(s.failedAt)
        }/s and above failed${
          aborted > 0
            ? ` (${aborted} stopped when the backlog jumped by over ${ABORT_BACKLOG_SECONDS} s of events)`
            : ""
        }; no process saturated on average (service up to ${svc}% of its one JavaScript thread, machine up to ${busiest}% busy of ${
          report.machine.cores * 100
        }%): the jumps are bursts in which the service, the sink and the simulator compete for the same ${report.machine.cores} cores`,
      );
    }
  }
  return parts.join("; ") || "no single limit stood out";
}

function targetRows(report: CompareReport): string[] {
  const rows: string[] = [];
  const service = report.contenders.service;
  if (!service) return rows;
  const shardCounts = Object.keys(service.throughput).map(Number).sort((a, b) => a - b);
  for (const shards of shardCounts) {
    const s = rateOf(service.throughput[shards]);
    const b = rateOf(report.contenders.baseline?.throughput[shards]);
    const c = rateOf(report.contenders.ceiling?.throughput[shards]);
    if (s !== undefined && b !== undefined) {
      const ratio = s / b;
      const met = ratio >= TARGETS.vsBaseline;
      const lb = (r: SustainedResult | null | undefined) => isLowerBound(r) ? "≥ " : "";
      rows.push(
        `| ≥ ${TARGETS.vsBaseline}× baseline, ${shards} shard(s) | ${fmtRatio(ratio)}${
          isLowerBound(service.throughput[shards]) ||
            isLowerBound(report.contenders.baseline?.throughput[shards])
            ? "*"
            : ""
        } (${lb(service.throughput[shards])}${fmtInt(s)} vs ${
          lb(report.contenders.baseline?.throughput[shards])
        }${fmtInt(b)}/s) | ${met ? "met" : "**missed**"} | ${
          met ? "" : throughputLimit(report, shards, "baseline")
        } |`,
      );
    }
    const bRun = report.contenders.baseline?.throughput[shards];
    if (s !== undefined && b === undefined && bRun && bRun.rate === 0 && bRun.failedAt) {
      // The baseline sustained none of its windows: the ratio is only a lower bound.
      const ratio = s / bRun.failedAt;
      const met = ratio >= TARGETS.vsBaseline;
      rows.push(
        `| ≥ ${TARGETS.vsBaseline}× baseline, ${shards} shard(s) | > ${fmtRatio(ratio)} (${
          fmtInt(s)
        } vs < ${fmtInt(bRun.failedAt)}/s: the baseline sustained none of its windows) | ${
          met ? "met" : "**not established**"
        } | ${met ? "" : throughputLimit(report, shards, "baseline")} |`,
      );
    }
    if (s !== undefined && c !== undefined) {
      const share = s / c;
      const met = share >= TARGETS.vsCeiling;
      const lb = (r: SustainedResult | null | undefined) => isLowerBound(r) ? "≥ " : "";
      rows.push(
        `| ≥ ${TARGETS.vsCeiling * 100}% of ceiling, ${shards} shard(s) | ${
          Math.round(share * 100)
        }%${
          isLowerBound(service.throughput[shards]) ||
            isLowerBound(report.contenders.ceiling?.throughput[shards])
            ? "*"
            : ""
        } (${lb(service.throughput[shards])}${fmtInt(s)} vs ${
          lb(report.contenders.ceiling?.throughput[shards])
        }${fmtInt(c)}/s) | ${met ? "met" : "**missed**"} | ${
          met ? "" : throughputLimit(report, shards, "ceiling")
        } |`,
      );
    }
  }
  const l = service.latency[TARGETS.p99Rate];
  if (l) {
    const met = l.p99 < TARGETS.p99Ms && l.kept;
    rows.push(
      `| p99 < ${TARGETS.p99Ms} ms at ${fmtInt(TARGETS.p99Rate)}/s | ${fmtMs(l.p99)} ms (p50 ${
        fmtMs(l.p50)
      }, max ${fmtMs(l.max)}) | ${met ? "met" : "**missed**"} | ${
        met ? "" : `service CPU ${l.cpu.contender}%, sink ${l.cpu.sink}%, harness ${l.cpu.harness}%`
      } |`,
    );
  }
  rows.push(...variantTargetRows(report));
  return rows;
}

/** The batching and worker-thread targets, with the CPU that limits each missed one. */
function variantTargetRows(report: CompareReport): string[] {
  const n = TARGETS.variantShards;
  const result = (name: ContenderName) => report.contenders[name]?.throughput[n];
  const rows: string[] = [];
  const limit = (name: ContenderName) => {
    const r = result(name);
    const cpu = r?.cpu;
    const us = perEventUs(r ?? undefined);
    if (!r || !cpu) return "";
    return `at ${fmtInt(r.rate)}/s: ${name} ${cpu.contender}%, sink ${
      cpu.sink ?? "-"
    }%, simulator ${cpu.harness}%, machine ${cpu.machine ?? "-"}% of ${
      report.machine.cores * 100
    }%${
      us ? ` (${us.contender.toFixed(0)} µs of the service's CPU per event)` : ""
    }: the three processes share the cores`;
  };
  const ratioRow = (
    label: string,
    name: ContenderName,
    other: ContenderName,
    want: number,
    share = false,
  ) => {
    const a = rateOf(result(name));
    const b = rateOf(result(other));
    if (a === undefined || b === undefined) return;
    const r = a / b;
    const met = r >= want;
    const lb = isLowerBound(result(name)) || isLowerBound(result(other)) ? "*" : "";
    rows.push(
      `| ${label}, ${n} shards | ${share ? `${Math.round(r * 100)}%` : fmtRatio(r)}${lb} (${
        fmtInt(a)
      } vs ${fmtInt(b)}/s) | ${met ? "met" : "**missed**"} | ${met ? "" : limit(name)} |`,
    );
  };
  ratioRow(
    `batching ≥ ${TARGETS.batchVsBaseline}× baseline`,
    "service-batch",
    "baseline",
    TARGETS.batchVsBaseline,
  );
  ratioRow(
    `batching ≥ ${TARGETS.batchVsCeiling * 100}% of ceiling`,
    "service-batch",
    "ceiling",
    TARGETS.batchVsCeiling,
    true,
  );
  ratioRow(
    `2 workers ≥ ${TARGETS.workersVsMain}× defaults`,
    "service-2w",
    "service",
    TARGETS.workersVsMain,
  );
  return rows;
}

/** The service's variants (batching, worker threads) against its defaults: same traffic, same sink. */
function variantRows(report: CompareReport): string[] {
  const plain = report.contenders.service;
  const variants = (["service-batch", "service-1w", "service-2w", "service-batch-2w"] as const)
    .filter((v) => report.contenders[v]);
  if (!plain || variants.length === 0) return [];
  const all = [plain, ...variants.map((v) => report.contenders[v]!)];
  const shardCounts = [...new Set(all.flatMap((c) => Object.keys(c.throughput).map(Number)))]
    .sort((a, b) => a - b);
  const rate = (r: SustainedResult | null | undefined) =>
    r && r.rate > 0 ? `${isLowerBound(r) ? "≥ " : ""}${fmtInt(r.rate)}` : "-";
  const rows = [
    `| the service's variants | defaults | ${variants.join(" | ")} |`,
    `|---|---:|${variants.map(() => "---:").join("|")}|`,
  ];
  const row = (label: string, cell: (c: ContenderResult) => string) =>
    rows.push(`| ${label} | ${all.map(cell).join(" | ")} |`);
  for (const n of shardCounts) {
    const sh = `${n} shard${n === 1 ? "" : "s"}`;
    row(`sustained events/s, ${sh}`, (c) => {
      const r = c.throughput[n];
      const base = rateOf(plain.throughput[n]);
      const ratio = c !== plain && base && rateOf(r) ? ` (${fmtRatio(rateOf(r)! / base)})` : "";
      return `${rate(r)}${ratio}`;
    });
    row(`service CPU per event, ${sh}, µs`, (c) => {
      const u = perEventUs(c.throughput[n]);
      return u ? u.contender.toFixed(0) : "-";
    });
    row(`sink CPU per event, ${sh}, µs`, (c) => {
      const u = perEventUs(c.throughput[n]);
      return u?.sink !== undefined ? u.sink.toFixed(0) : "-";
    });
  }
  const rates = [...new Set(all.flatMap((c) => Object.keys(c.latency)))].map(Number)
    .sort((a, b) => a - b);
  for (const r of rates) {
    for (const k of ["p50", "p99"] as const) {
      row(`${k} latency at ${fmtInt(r)}/s, ms`, (c) => {
        const l = c.latency[r];
        return l ? `${fmtMs(l[k])}${l.kept ? "" : " ⚠"}` : "-";
      });
    }
  }
  row(
    "events per request at the sink",
    (c) => c.sink?.requests ? (c.sink.events / c.sink.requests).toFixed(1) : "-",
  );
  rows.push("");
  return rows;
}

/** Renders the Markdown the README includes. */
export function renderMarkdown(report: CompareReport): string {
  const m = report.machine;
  const present = COLUMNS.filter((c) => report.contenders[c]);
  const header = (first: string, last = "ceiling") => [
    `| ${first} | ${present.map((c) => c === "ceiling" ? last : c).join(" | ")} |`,
    `|---|${present.map(() => "---:").join("|")}|`,
  ];
  const shardCounts = [
    ...new Set(
      Object.values(report.contenders).flatMap((c) => Object.keys(c.throughput).map(Number)),
    ),
  ].sort((a, b) => a - b);
  const rates = [
    ...new Set(
      Object.values(report.contenders).flatMap((c) => Object.keys(c.latency).map(Number)),
    ),
  ].sort((a, b) => a - b);
  const cols = (f: (name: ContenderName) => string) => present.map(f).join(" | ");
  const main = report.settings.mainShards;
  const lines = [
    `Measured ${
      report.date.slice(0, 10)
    } (${report.mode} mode, ${report.seconds} s) on ${m.cores} cores (${m.cpu}), Deno ${m.deno} (V8 ${m.v8}), load average ${m.loadAverageAtStart} at start and ${report.loadAverageAtEnd} at the end.`,
    `Each contender is its own process; the simulator and the harness share one process, the sink another; all on loopback.`,
    `Traffic: ${report.traffic.mix.length}-event mix (${
      report.traffic.note.split(";")[0]
    }; ...), mean ${report.traffic.meanPayloadBytes} bytes per dispatch, MESSAGE_CREATE ${
      report.traffic.messageCreateBytes.join(" / ")
    } bytes. Ratios: \`b\` to the baseline, \`c\` to the ceiling; \`≥\` a lower bound (no failing rate found above it), \`*\` a ratio involving one (indicative only).`,
    `Reference: one Deno process doing nothing but POST this payload to the sink: ${
      report.postReference.map((p) =>
        `${fmtInt(p.perSecond)}/s with ${p.concurrency} in flight (${
          p.client ?? "fetch"
        }; sink CPU ${p.sinkCpu}%)`
      ).join(", ")
    }; \`fetch\` is Deno's fetch (the baseline's and the peer's client), \`http1\` the service's own client.`,
    ...report.settings.caveats.map((c) => `*${c}.*`),
    ...(report.concurrentBenchmarks.length > 0
      ? [
        `**Other benchmark processes ran at the same time (${report.concurrentBenchmarks.length}): these figures are skewed.**`,
      ]
      : []),
    "",
    ...header("sustained forwarded events/s"),
    ...shardCounts.map((n) =>
      `| ${n} shard${n === 1 ? "" : "s"} | ${cols((c) => throughputCell(report, c, n))} |`
    ),
    "",
    ...header("CPU at that rate: contender / sink / harness / whole machine"),
    ...shardCounts.map((n) =>
      `| ${n} shard${n === 1 ? "" : "s"} | ${
        cols((c) => cpuText(report.contenders[c]?.throughput[n]?.cpu))
      } |`
    ),
    "",
    ...header("CPU per forwarded event, µs: contender / sink"),
    ...shardCounts.map((n) =>
      `| ${n} shard${n === 1 ? "" : "s"} | ${cols((c) => perEventText(report, c, n))} |`
    ),
    "",
    ...header("at the sink, all runs of the contender"),
    `| events received | ${
      cols((c) => c === "ceiling" ? "-" : fmtInt(report.contenders[c]?.sink?.events ?? NaN))
    } |`,
    `| ... that arrived after a later event of their shard | ${
      cols((c) => c === "ceiling" ? "-" : fmtInt(report.contenders[c]?.sink?.outOfOrder ?? NaN))
    } |`,
    `| mean request body per event, bytes | ${
      cols((c) => c === "ceiling" ? "-" : fmtInt(report.contenders[c]?.sink?.meanBodyBytes ?? NaN))
    } |`,
    `| events per request | ${
      cols((c) => {
        const sink = report.contenders[c]?.sink;
        return c === "ceiling" || !sink?.requests ? "-" : (sink.events / sink.requests).toFixed(1);
      })
    } |`,
    "",
    ...header(`delivery latency, ms, ${main} shards (send → sink)`, "ceiling (send → parsed)"),
    ...rates.flatMap((rate) =>
      (["p50", "p99", "max"] as const).map((k) =>
        `| ${k} at ${fmtInt(rate)}/s | ${cols((c) => latencyCell(report, c, rate, k))} |`
      )
    ),
    "",
    ...header(`resident memory, ${main} shards, ${fmtInt(report.settings.guilds)} guilds`),
    `| idle | ${cols((c) => memoryCell(report, c, "idleMiB"))} |`,
    `| under load (${fmtInt(report.contenders.service?.memory.loadRate ?? 0)}/s, peak) | ${
      cols((c) => memoryCell(report, c, "loadMiB"))
    } |`,
    "",
    `| start-up | ${
      present.filter((c) => c !== "ceiling").join(" | ")
    } | identify bound: ceil(shards / max_concurrency) × 5 s |`,
    `|---|${present.filter((c) => c !== "ceiling").map(() => "---:").join("|")}|---:|`,
    ...startupRows(report),
    "",
    "| target (this service) | measured | | what limits it |",
    "|---|---:|---|---|",
    ...targetRows(report),
    "",
    ...variantRows(report),
  ];
  const oddities: string[] = [];
  for (const c of Object.values(report.contenders)) {
    if (c.errors.length) oddities.push(`- ${c.name}: ${c.errors.join("; ").slice(0, 400)}`);
  }
  const latencyWarn = Object.values(report.contenders).some((c) =>
    Object.values(c.latency).some((l) => l && !l.kept)
  );
  if (latencyWarn) {
    oddities.push(
      "- ⚠: that contender did not sustain that rate (its backlog grew); latency includes queueing.",
    );
  }
  if (oddities.length) lines.push(...oddities, "");
  return lines.join("\n");
}
