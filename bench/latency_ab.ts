/**
 * Interleaved latency comparison: several contenders run at once (each with its own simulator and
 * sink), and rounds of one window each at the same rate alternate between them, so the machine's
 * noise (other processes, the CPU's clock) falls on all of them alike. A single run of each, one
 * after the other (as in `bench/compare.ts`), moves p99 by several ms on a shared 2-core machine.
 *
 * ```sh
 * deno run -A bench/latency_ab.ts [--only service,service-batch] [--rate 1000] [--rounds 8] [--ms 3000]
 * ```
 * Prints one line per window and a summary (median and spread over rounds of p50, p99 and max).
 * @module
 */
import { parseArgs } from "node:util";
import { startProcess } from "./compare_process.ts";
import { MODES } from "./compare_modes.ts";
import { type ContenderName, CONTENDERS, emergencyCleanup, startSink } from "./compare_procs.ts";
import { median, round, runWindow, waitDrained } from "./compare_measure.ts";
import { measureLatency } from "./compare_latency.ts";

/** Latency of each contender over interleaved rounds. */
export interface AbResult {
  rate: number;
  windowMs: number;
  contenders: Record<string, { p50: number[]; p99: number[]; max: number[]; kept: boolean }>;
}

/** Runs the interleaved comparison; `log` gets progress lines. */
export async function latencyAb(
  names: ContenderName[],
  { rate = 1000, rounds = 8, ms = 3000, shards = 16, guilds = 800, log = console.log } = {},
): Promise<AbResult> {
  const mode = { ...MODES.quick, guilds, mainShards: shards, mainMaxConcurrency: shards };
  const running = [];
  const result: AbResult = { rate, windowMs: ms, contenders: {} };
  try {
    for (const name of names) {
      const sink = await startSink();
      const proc = await startProcess(
        name,
        { shards, maxConcurrency: shards, guilds },
        sink,
        mode,
      );
      running.push({ name, sink, proc });
      result.contenders[name] = { p50: [], p99: [], max: [], kept: true };
      // Warm up once: the first window after start-up pays for JIT and the backfill's garbage.
      await runWindow(proc.target, rate, 2000);
      await waitDrained(proc.target);
    }
    for (let r = 0; r < rounds; r++) {
      // Alternate the order so neither always follows the other.
      const order = r % 2 === 0 ? running : [...running].reverse();
      for (const { name, proc } of order) {
        const l = await measureLatency(proc.target, rate, 1, ms);
        const c = result.contenders[name];
        c.p50.push(l.p50);
        c.p99.push(l.p99);
        c.max.push(l.max);
        c.kept &&= l.kept;
        log(`round ${r + 1} ${name}: p50 ${l.p50} p99 ${l.p99} max ${l.max} ms`);
      }
    }
  } finally {
    for (const { sink, proc } of running) {
      await proc.cleanup().catch(() => {});
      await sink.stop().catch(() => {});
    }
  }
  return result;
}

/** One summary line per contender: median [min-max] over rounds. */
export function summarize(r: AbResult): string[] {
  const span = (v: number[]) =>
    `${round(median(v), 2)} [${round(Math.min(...v), 2)}-${round(Math.max(...v), 2)}]`;
  return Object.entries(r.contenders).map(([name, c]) =>
    `${name.padEnd(18)} p50 ${span(c.p50)}  p99 ${span(c.p99)}  max ${span(c.max)}${
      c.kept ? "" : "  (a window did not keep up)"
    }`
  );
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      only: { type: "string" },
      rate: { type: "string" },
      rounds: { type: "string" },
      ms: { type: "string" },
    },
  });
  const names = (values.only ?? "service,service-batch").split(",") as ContenderName[];
  for (const n of names) {
    if (!CONTENDERS.includes(n) || n === "ceiling") throw new Error(`unknown contender ${n}`);
  }
  try {
    const r = await latencyAb(names, {
      rate: Number(values.rate ?? 1000),
      rounds: Number(values.rounds ?? 8),
      ms: Number(values.ms ?? 3000),
    });
    console.log(`\n${r.rate}/s, ${r.windowMs} ms windows, median [min-max] over rounds, ms:`);
    for (const line of summarize(r)) console.log(line);
  } finally {
    emergencyCleanup();
  }
}
