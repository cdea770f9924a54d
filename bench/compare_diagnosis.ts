/**
 * The targets this service is held to in the comparison benchmark, the rows
 * that say whether each was met, and, where one is missed, what the
 * measurements say limits it (a saturated thread, the POST reference, the
 * machine's cores, a lower-bound ceiling, bursts).
 * @module
 */
import type { ContenderName } from "./compare_procs.ts";
import { ABORT_BACKLOG_SECONDS } from "./compare_measure.ts";
import type { SustainedResult } from "./compare_search.ts";
import type { CompareReport } from "./compare_results.ts";
import { fmtInt, fmtMs, fmtRatio, isLowerBound, perEventUs, rateOf } from "./compare_format.ts";

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

export function targetRows(report: CompareReport): string[] {
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
