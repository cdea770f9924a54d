/**
 * Comparison benchmark: this service (at its defaults, and with batches of up
 * to 64 events per request, `EVENT_HANDLER_BATCH_MAX=64`) against a baseline
 * forwarder written the way the Discordeno guide describes it
 * (`bench/baseline.ts`), the same forwarding on `@discordjs/ws`
 * (`bench/peer_djs.ts`), and a ceiling that connects and parses but forwards
 * nothing (`bench/ceiling.ts`). Every
 * contender runs as its own process, gets the same simulated traffic from the
 * Discord simulator in this process over loopback, and delivers to the same
 * sink process (`bench/latency_sink.ts`).
 *
 * ```sh
 * deno run -A bench/compare.ts [--quick|--full|--smoke] [--out DIR] [--only service,service-batch]
 * deno run -A bench/compare.ts --render [--out DIR]   # DIR/COMPARE.md again from DIR/compare.json
 * ```
 *
 * Writes `DIR/compare.json` and `DIR/COMPARE.md` (default DIR: `bench/`;
 * `--smoke` writes `compare.smoke.json` only). `--quick` (the default) takes
 * about 2.5-3 minutes, `--full` about 50 (20 s windows, 3 runs at the final
 * rate, 50,000 guilds, start-up with max_concurrency 1 and 4), `--smoke` about
 * 20 s. `--only` runs a subset of the contenders (the ratios need the
 * baseline and the ceiling). See `bench/compare_measure.ts` for what
 * "sustained" means, and the notes in the Markdown for what each mode
 * shortens. Run nothing else meanwhile: two benchmarks on the same cores skew
 * each other (the report flags other benchmark processes it sees).
 * @module
 */
import { parseArgs } from "node:util";
import { createSimulator, type Simulator } from "../src/simulator/mod.ts";
import { Intents } from "../src/simulator/mod.ts";
import {
  clockNow,
  type Contender,
  CONTENDER_FLAGS,
  CONTENDER_LABELS,
  type ContenderName,
  CONTENDERS,
  emergencyCleanup,
  HANDLER_AUTHORIZATION,
  procStats,
  removeTempDir,
  REST_AUTHORIZATION,
  type Sink,
  sleep,
  startContender,
  startSink,
  TOKEN,
  trackTempDir,
} from "./compare_procs.ts";
import { createTraffic, MIX, type Traffic } from "./compare_traffic.ts";
import {
  findSustained,
  measureLatency,
  measurePostRate,
  type PostRateResult,
  round,
  runWindow,
  type Target,
  waitDrained,
} from "./compare_measure.ts";
import {
  type CompareReport,
  type ContenderResult,
  type ModeConfig,
  renderMarkdown,
  type StartupResult,
} from "./compare_report.ts";

export const MODES: Record<"smoke" | "quick" | "full", ModeConfig> = {
  smoke: {
    mainShards: 2,
    mainMaxConcurrency: 2,
    guilds: 40,
    throughputShards: [2],
    guildsPerShard: 10,
    startupOnly: [],
    idleMs: 200,
    warmupRate: 200,
    warmupMs: 500,
    probeMs: 700,
    windowMs: 1000,
    maxSteps: 1,
    precision: 0.15,
    otherProbeMs: 700,
    otherWarmupMs: 300,
    otherMaxSteps: 1,
    otherStopOnFirstPass: true,
    stopAtLowerBound: true,
    ceilingLatencyRates: [200],
    confirmRuns: 1,
    latencyRates: [200],
    latencyRuns: 1,
    latencyMs: 500,
    postRateMs: 300,
    caveats: ["smoke mode: tiny sizes, checks the harness runs; the figures mean nothing"],
  },
  quick: {
    mainShards: 16,
    mainMaxConcurrency: 16,
    guilds: 5_000,
    throughputShards: [16, 4, 1],
    guildsPerShard: 50,
    startupOnly: [],
    idleMs: 500,
    warmupRate: 1000,
    warmupMs: 1000,
    probeMs: 2000,
    windowMs: 2000,
    maxSteps: 5,
    precision: 0.15,
    otherProbeMs: 2000,
    otherWarmupMs: 500,
    otherMaxSteps: 4,
    otherStopOnFirstPass: false,
    stopAtLowerBound: false,
    ceilingLatencyRates: [1000],
    confirmRuns: 1,
    latencyRates: [1000, 5000],
    latencyRuns: 3,
    latencyMs: 1000,
    postRateMs: 700,
    caveats: [
      "quick mode: sustained = backlog flat over a 2 s window (not 20 s), one run per shard count (no repeats); after a probe (up to 2 s), windows from 75% of the rate it held (90% if it found no limit), up by 25% while sustained, then bisecting (at most 5 windows at 16 shards, 4 at 1 shard, 2 more down if none was sustained; ≥: no failing rate found within them); latency: 3 runs of 1 s per rate, the ceiling's at 1,000/s only",
      "quick mode: start-up, memory and latency with 5,000 guilds on 16 shards (50,000 in --full: the guide baseline alone needs ~30 s to forward a 50k-guild backfill here); throughput at 16, 4 and 1 shards, in fresh processes with 50 guilds per shard",
      "quick mode: start-up measured with max_concurrency 16 only (all 16 shards identify at once; bound 5 s); --full measures max_concurrency 1 and 4",
    ],
  },
  full: {
    mainShards: 16,
    mainMaxConcurrency: 4,
    guilds: 50_000,
    throughputShards: [16, 4, 1],
    guildsPerShard: 50,
    startupOnly: [1],
    idleMs: 5000,
    warmupRate: 1000,
    warmupMs: 5000,
    probeMs: 3000,
    windowMs: 20_000,
    maxSteps: 6,
    precision: 0.05,
    otherProbeMs: 3000,
    otherWarmupMs: 5000,
    otherMaxSteps: 5,
    otherStopOnFirstPass: false,
    stopAtLowerBound: false,
    ceilingLatencyRates: [1000, 5000],
    confirmRuns: 3,
    latencyRates: [1000, 5000],
    latencyRuns: 3,
    latencyMs: 10_000,
    postRateMs: 5000,
    caveats: [
      "start-up, memory and latency with 50,000 guilds on 16 shards (Discord would want 20 shards: the simulator's 2,500-guilds-per-shard limit is raised); throughput in fresh processes with 50 guilds per shard",
    ],
  },
};

const startedAt = performance.now();
/** Progress lines, with the seconds since the start. */
const log = (msg: string) => {
  const lead = msg.startsWith("\n") ? "\n" : "";
  const elapsed = ((performance.now() - startedAt) / 1000).toFixed(1).padStart(6);
  console.log(`${lead}[${elapsed} s] ${msg.trimStart()}`);
};

interface ProcessPlan {
  shards: number;
  maxConcurrency: number;
  guilds: number;
}

interface RunningProcess {
  sim: Simulator;
  contender: Contender;
  target: Target;
  startup: StartupResult;
  idleMiB: number;
}

/** Starts a simulator and a contender, waits for all shards and the guild backfill. */
export async function startProcess(
  name: ContenderName,
  plan: ProcessPlan,
  sink: Sink,
  mode: ModeConfig,
): Promise<RunningProcess & { cleanup(): Promise<void> }> {
  const { shards, maxConcurrency, guilds } = plan;
  const sim = await createSimulator({
    token: TOKEN,
    restAuthorization: REST_AUTHORIZATION,
    shards,
    maxConcurrency,
    guilds,
    // 50k guilds on 16 shards is 3125 a shard; Discord would ask for 20 shards.
    maxGuildsPerShard: Math.max(2500, Math.ceil(guilds / shards) + 100),
    allowedPrivilegedIntents: Intents.MessageContent,
    // Nothing resumes during the benchmark; a smaller replay buffer keeps the harness light.
    replayBufferSize: 2000,
  });
  const dir = trackTempDir(await Deno.makeTempDir({ prefix: `bench-compare-${name}-` }));
  let contender: Contender | undefined;
  const cleanup = async () => {
    // Measurements are over: no graceful stop needed (the service would flush and save sessions),
    // unless BENCH_CONTENDER_FLAGS asks for a profile, which is written only on a clean exit.
    await contender?.stop(CONTENDER_FLAGS.length > 0 ? 8000 : 0).catch(() => {});
    await sim.shutdown().catch(() => {});
    await removeTempDir(dir);
  };
  try {
    const received0 = name === "ceiling" ? 0 : await sink.counter.count();
    contender = await startContender(name, { sim, sink, dir });
    const c = contender;
    const waves = Math.ceil(shards / maxConcurrency);
    const boundSeconds = waves * 5;
    const deadline = c.spawnedAt + (boundSeconds * 2 + 60) * 1000;
    let readySeconds: number | null = null;
    while (clockNow() < deadline && !c.exited()) {
      if (sim.connectedShards().length >= shards) {
        readySeconds = round((clockNow() - c.spawnedAt) / 1000, 2);
        break;
      }
      await sleep(10);
    }
    if (readySeconds === null) {
      throw new Error(
        `${name}: ${sim.connectedShards().length}/${shards} shards ready after ${
          round((clockNow() - c.spawnedAt) / 1000, 1)
        } s${c.exited() ? ` (exited with ${c.exited()!.code})` : ""}\n${await c.logTail()}`,
      );
    }
    // Guild backfill: READY + one GUILD_CREATE per guild must reach the counter.
    const expected = guilds + shards;
    let guildsSeconds: number | null = null;
    let last = -1;
    let stableSince = performance.now();
    const guildDeadline = performance.now() + 300_000;
    while (performance.now() < guildDeadline) {
      const n = (await c.counter.count()) - received0;
      if (n !== last) {
        last = n;
        stableSince = performance.now();
        if (n >= expected && guildsSeconds === null) {
          guildsSeconds = round((clockNow() - c.spawnedAt) / 1000, 2);
        }
      }
      const quiet = performance.now() - stableSince;
      if ((n >= expected && quiet >= 500) || quiet >= 30_000) break;
      await sleep(50);
    }
    if (guildsSeconds === null) {
      log(`  ${name}: only ${last}/${expected} start-up dispatches arrived`);
    }
    await sleep(mode.idleMs);
    const idleMiB = round((procStats(c.pid)?.rssKiB ?? 0) / 1024, 1);
    const traffic: Traffic = createTraffic({
      sim,
      shards: Array.from({ length: shards }, (_, i) => i),
      numShards: shards,
    });
    const target: Target = {
      traffic,
      counter: c.counter,
      pid: c.pid,
      sinkPid: name === "ceiling" ? undefined : sink.pid,
      ref: { emitted: 0, received: await c.counter.count() },
      check() {
        if (sink.exited()) throw new Error("the sink process died");
        const status = c.exited();
        if (status) throw new Error(`${name} exited with code ${status.code}`);
        const connected = sim.connectedShards().length;
        if (connected < shards || traffic.failed > 0) {
          throw new Error(
            `${name} lost shards: ${connected}/${shards} connected, ${traffic.failed} events not sent; closes: ${
              sim.closes.slice(-5).map((x) => `${x.shardId}:${x.code} ${x.reason}`).join(", ")
            }`,
          );
        }
      },
    };
    const startup: StartupResult = {
      shards,
      maxConcurrency,
      guilds,
      readySeconds,
      boundSeconds,
      floorSeconds: (waves - 1) * 5,
      guildsSeconds,
      identifies: sim.identifies.filter((i) => i.accepted).length,
    };
    log(
      `  ${name}: ${shards} shards ready in ${readySeconds} s (mc ${maxConcurrency}, bound ${boundSeconds} s), ${guilds} guilds in ${guildsSeconds} s, idle RSS ${idleMiB} MiB`,
    );
    return { sim, contender: c, target, startup, idleMiB, cleanup };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

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

/** Other benchmark processes running now (they would share the cores and skew every figure). */
function otherBenchmarks(): string[] {
  const found: string[] = [];
  try {
    for (const entry of Deno.readDirSync("/proc")) {
      // Not this process, nor `bench/main.ts` when it started this one.
      if (!/^\d+$/.test(entry.name) || [Deno.pid, Deno.ppid].includes(Number(entry.name))) continue;
      try {
        const cmd = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`).replaceAll("\0", " ");
        if (/bench\/(compare|main|queue_bench|restart_bench)\.ts/.test(cmd)) {
          found.push(`${entry.name}: ${cmd.trim().slice(0, 120)}`);
        }
      } catch { /* gone */ }
    }
  } catch { /* no /proc */ }
  return found;
}

/** `Max open files` (soft) of this process, which the sink inherits. */
function openFileLimit(): number | undefined {
  try {
    const limits = Deno.readTextFileSync("/proc/self/limits");
    const m = /Max open files\s+(\d+)/.exec(limits);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

function machine() {
  const cpuinfo = (() => {
    try {
      return Deno.readTextFileSync("/proc/cpuinfo");
    } catch {
      return "";
    }
  })();
  const load = (() => {
    try {
      return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
    } catch {
      return "";
    }
  })();
  return {
    cores: navigator.hardwareConcurrency,
    cpu: /model name\s*:\s*(.+)/.exec(cpuinfo)?.[1] ?? "unknown",
    os: `${Deno.build.os} ${Deno.build.arch}`,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    loadAverageAtStart: load,
    openFileLimit: openFileLimit() ?? null,
  };
}

async function main() {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      quick: { type: "boolean" },
      full: { type: "boolean" },
      smoke: { type: "boolean" },
      out: { type: "string" },
      only: { type: "string" },
      render: { type: "boolean" },
    },
  });
  if (values.render) {
    // Re-render DIR/COMPARE.md from DIR/compare.json (after a change to the report only).
    const dir = values.out ?? new URL(".", import.meta.url).pathname;
    const report = JSON.parse(await Deno.readTextFile(`${dir}/compare.json`)) as CompareReport;
    await Deno.writeTextFile(`${dir}/COMPARE.md`, renderMarkdown(report));
    console.log(renderMarkdown(report));
    return 0;
  }
  const modeName = values.smoke ? "smoke" : values.full ? "full" : "quick";
  const mode = MODES[modeName];
  const outDir = values.out ?? new URL(".", import.meta.url).pathname;
  const names = values.only
    ? CONTENDERS.filter((c) => values.only!.split(",").includes(c))
    : [...CONTENDERS];
  const started = performance.now();
  const info = machine();
  const others = otherBenchmarks();
  if (others.length > 0) {
    log(`WARNING: other benchmark processes are running; the figures will be skewed:`);
    for (const o of others) log(`  ${o}`);
  }
  log(
    `compare (${modeName}) on ${info.cores} cores (${info.cpu}), Deno ${info.deno}, load ${info.loadAverageAtStart}`,
  );

  // Payload sizes of the mix, from a throwaway simulator.
  const probeSim = await createSimulator({ token: TOKEN, restAuthorization: "x", guilds: 1 });
  const sizes = (() => {
    const sessionless = createTraffic({
      sim: { ...probeSim, dispatch: () => 0, guildIds: () => probeSim.guildIds(0, 1) },
      shards: [0],
      numShards: 1,
    });
    let sampleDispatch = "";
    const capture = createTraffic({
      sim: {
        botId: probeSim.botId,
        guildIds: () => probeSim.guildIds(0, 1),
        dispatch: (_shard, t, d) => {
          sampleDispatch ||= JSON.stringify({ op: 0, d, s: 1234, t });
          return 0;
        },
      },
      shards: [0],
      numShards: 1,
    });
    capture.emit();
    return {
      meanPayloadBytes: sessionless.meanPayloadBytes,
      messageCreateBytes: sessionless.messageCreateBytes,
      sampleDispatch,
    };
  })();
  await probeSim.shutdown();

  let sink = await startSink();
  const results: ContenderResult[] = [];
  const postRates: PostRateResult[] = [];
  try {
    // Reference: what one Deno process can POST to this sink at all, with fetch (the baseline's
    // and the peer's client) and with the service's own HTTP/1.1 client.
    const body = `{"shardId":0,"data":${sizes.sampleDispatch}}`;
    for (const client of ["fetch", "http1"] as const) {
      for (const concurrency of [1, 16]) {
        const r = await measurePostRate(
          sink.url,
          HANDLER_AUTHORIZATION,
          body,
          concurrency,
          mode.postRateMs,
          sink.pid,
          client,
        );
        postRates.push(r);
        log(
          `POST reference, ${client}, ${concurrency} in flight: ${r.perSecond}/s (sender CPU ${r.senderCpu}%, sink ${r.sinkCpu}%)`,
        );
      }
    }
    for (const name of names) {
      const result = await runContender(name, mode, sink);
      await sleep(200);
      if (sink.exited()) {
        result.errors.push(
          `the sink process died (exit ${
            sink.exited()!.code
          }) while this contender ran: most likely out of file descriptors (ulimit -n ${
            openFileLimit() ?? "?"
          }), one per connection the contender opened; restarted for the next contender`,
        );
        log(`  ERROR ${result.errors.at(-1)}`);
        await sink.stop().catch(() => {});
        sink = await startSink();
      }
      results.push(result);
    }
  } finally {
    await sink.stop();
  }

  const report = {
    mode: modeName,
    date: new Date().toISOString(),
    machine: info,
    seconds: round((performance.now() - started) / 1000, 1),
    settings: mode,
    postReference: postRates,
    concurrentBenchmarks: [...new Set([...others, ...otherBenchmarks()])],
    loadAverageAtEnd: machine().loadAverageAtStart,
    traffic: {
      mix: MIX,
      meanPayloadBytes: sizes.meanPayloadBytes,
      messageCreateBytes: sizes.messageCreateBytes,
      note:
        "MESSAGE_CREATE with member, link embed and (every third) a bot mention; MESSAGE_UPDATE real edits; MESSAGE_REACTION_ADD and TYPING_START with member; MESSAGE_DELETE. Send time in d.nonce of each MESSAGE_CREATE.",
    },
    contenders: Object.fromEntries(results.map((r) => [r.name, r])),
  } satisfies CompareReport;
  await Deno.mkdir(outDir, { recursive: true });
  const jsonName = modeName === "smoke" ? "compare.smoke.json" : "compare.json";
  await Deno.writeTextFile(`${outDir}/${jsonName}`, JSON.stringify(report, null, 2) + "\n");
  const md = renderMarkdown(report);
  if (modeName !== "smoke") await Deno.writeTextFile(`${outDir}/COMPARE.md`, md);
  console.log("\n" + md);
  log(`done in ${report.seconds} s`);
  // A reference contender that fails (e.g. the peer's shards not ready in time) is a finding,
  // reported in the Markdown; only a failing service (either setting) fails the run.
  const failed = results.some((r) => r.name.startsWith("service") && r.errors.length > 0);
  return failed ? 1 : 0;
}

if (import.meta.main) {
  // Never leave contenders or temp dirs behind, whatever ends the harness.
  globalThis.addEventListener("error", emergencyCleanup);
  globalThis.addEventListener("unhandledrejection", emergencyCleanup);
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => {
      emergencyCleanup();
      Deno.exit(130);
    });
  }
  Deno.exit(await main());
}
