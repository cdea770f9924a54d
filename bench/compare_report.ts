/**
 * The Markdown the README includes (`bench/COMPARE.md`), rendered from the
 * comparison benchmark's results (`compare_results.ts`): its tables are built
 * in `compare_tables.ts`, the targets and, where one is missed, what the
 * measurements say limits it in `compare_diagnosis.ts`.
 * @module
 */
import type { ContenderName } from "./compare_procs.ts";
import type { CompareReport } from "./compare_results.ts";
import { COLUMNS, fmtInt } from "./compare_format.ts";
import {
  cpuText,
  latencyCell,
  memoryCell,
  perEventText,
  startupRows,
  throughputCell,
  variantRows,
} from "./compare_tables.ts";
import { targetRows } from "./compare_diagnosis.ts";

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
