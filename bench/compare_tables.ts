/**
 * Cells and rows of the comparison benchmark's Markdown tables: throughput,
 * CPU, latency, memory, start-up, and the service's variants against its
 * defaults.
 * @module
 */
import type { ContenderName } from "./compare_procs.ts";
import type { CpuUse } from "./compare_measure.ts";
import type { SustainedResult } from "./compare_search.ts";
import type { CompareReport, ContenderResult } from "./compare_results.ts";
import {
  COLUMNS,
  fmtInt,
  fmtMs,
  fmtRatio,
  isLowerBound,
  perEventUs,
  rateOf,
} from "./compare_format.ts";

export function throughputCell(
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

export function latencyCell(
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

export function memoryCell(report: CompareReport, name: ContenderName, key: "idleMiB" | "loadMiB") {
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

export function startupRows(report: CompareReport): string[] {
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

export function perEventText(report: CompareReport, name: ContenderName, shards: number): string {
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

export function cpuText(cpu: CpuUse | undefined): string {
  if (!cpu) return "-";
  return `${cpu.contender}% / ${cpu.sink ?? "-"}% / ${cpu.harness}% / ${cpu.machine ?? "-"}%`;
}

/** The service's variants (batching, worker threads) against its defaults: same traffic, same sink. */
export function variantRows(report: CompareReport): string[] {
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
