/**
 * Everything the comparison benchmark measures of one contender: start-up,
 * memory and latency in one process, throughput at each shard count in a fresh
 * one, and the extra start-up runs of `--full`.
 * @module
 */
import { CONTENDER_LABELS, type ContenderName, type Sink } from "./compare_procs.ts";
import { runWindow, type Target, waitDrained } from "./compare_measure.ts";
import { findSustained } from "./compare_search.ts";
import { measureLatency } from "./compare_latency.ts";
import type { ContenderResult, ModeConfig } from "./compare_results.ts";
import { startProcess } from "./compare_process.ts";
import { log } from "./compare_log.ts";

async function warmUp(target: Target, mode: ModeConfig, ms = mode.warmupMs) {
  await runWindow(target, mode.warmupRate, ms);
  await waitDrained(target);
}

export async function runContender(
  name: ContenderName,
  mode: ModeConfig,
  sink: Sink,
): Promise<ContenderResult> {
  const result: ContenderResult = {
    name,
    label: CONTENDER_LABELS[name],
    throughput: {},
    latency: {},
    memory: { idleMiB: null, loadMiB: null, loadRate: null },
    startup: [],
    errors: [],
  };
  const search = { ...mode, log };
  const fail = (what: string, error: unknown) => {
    const msg = `${what}: ${error instanceof Error ? error.message : String(error)}`;
    log(`  ERROR ${msg}`);
    result.errors.push(msg);
  };

  log(`\n== ${CONTENDER_LABELS[name]}`);
  const sink0 = await sink.stats();
  // Main process: start-up, memory and latency at mainShards.
  try {
    const p = await startProcess(
      name,
      {
        shards: mode.mainShards,
        maxConcurrency: mode.mainMaxConcurrency,
        guilds: mode.guilds,
      },
      sink,
      mode,
    );
    try {
      result.startup.push(p.startup);
      result.memory.idleMiB = p.idleMiB;
      await warmUp(p.target, mode);
      let loadMiB = 0;
      for (const rate of name === "ceiling" ? mode.ceilingLatencyRates : mode.latencyRates) {
        const l = await measureLatency(p.target, rate, mode.latencyRuns, mode.latencyMs);
        result.latency[rate] = l;
        loadMiB = l.rssMaxMiB;
        result.memory.loadRate = rate;
        log(
          `  latency at ${rate}/s: p50 ${l.p50} ms, p99 ${l.p99} ms, max ${l.max} ms (${l.runs} runs${
            l.kept ? "" : ", NOT sustained"
          }; clock offset ${l.clock.offsetMs} ms, rtt ${l.clock.rttMs} ms), RSS ${l.rssMaxMiB} MiB`,
        );
      }
      if (
        name === "ceiling" && !mode.ceilingLatencyRates.includes(Math.max(...mode.latencyRates))
      ) {
        // Memory under the same load, without the latency recording.
        const rate = Math.max(...mode.latencyRates);
        const w = await runWindow(p.target, rate, mode.latencyMs);
        await waitDrained(p.target);
        loadMiB = w.rssMaxMiB;
        result.memory.loadRate = rate;
      }
      result.memory.loadMiB = loadMiB;
    } finally {
      await p.cleanup();
    }
  } catch (error) {
    fail(`${mode.mainShards} shards (start-up, memory, latency)`, error);
  }

  // Throughput: a fresh process per shard count, so no earlier overload colours it.
  for (const shards of mode.throughputShards) {
    try {
      const p = await startProcess(
        name,
        {
          shards,
          maxConcurrency: shards,
          guilds: shards * mode.guildsPerShard,
        },
        sink,
        { ...mode, idleMs: 0 },
      );
      try {
        await warmUp(p.target, mode, mode.otherWarmupMs);
        log(`  throughput, ${shards} shard(s):`);
        const main = shards === mode.mainShards;
        result.throughput[shards] = await findSustained(p.target, {
          ...search,
          probeMs: main ? mode.probeMs : mode.otherProbeMs,
          maxSteps: main ? mode.maxSteps : mode.otherMaxSteps,
          stopOnFirstPass: main ? false : mode.otherStopOnFirstPass,
        });
      } finally {
        await p.cleanup();
      }
    } catch (error) {
      result.throughput[shards] = null;
      fail(`${shards} shards (throughput)`, error);
    }
  }

  for (const maxConcurrency of mode.startupOnly) {
    try {
      const p = await startProcess(
        name,
        {
          shards: mode.mainShards,
          maxConcurrency,
          guilds: mode.guilds,
        },
        sink,
        { ...mode, idleMs: 0 },
      );
      result.startup.push(p.startup);
      await p.cleanup();
    } catch (error) {
      fail(`start-up with max_concurrency ${maxConcurrency}`, error);
    }
  }
  const s = name === "ceiling" ? undefined : await sink.stats().catch(() => undefined);
  if (s) {
    result.sink = {
      outOfOrder: s.outOfOrder - sink0.outOfOrder,
      unauthorized: s.unauthorized - sink0.unauthorized,
      events: s.count - sink0.count,
      requests: s.requests - sink0.requests,
      meanBodyBytes: Math.round((s.bytes - sink0.bytes) / Math.max(1, s.count - sink0.count)),
    };
  }
  return result;
}
