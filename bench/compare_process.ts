/**
 * One measured process of the comparison benchmark: a simulator in this
 * process and a contender in its own, started together; resolves once every
 * shard is ready and the guild backfill has arrived, with the start-up figures.
 * @module
 */
import { createSimulator, Intents, type Simulator } from "../src/simulator/mod.ts";
import {
  clockNow,
  type Contender,
  CONTENDER_FLAGS,
  type ContenderName,
  procStats,
  removeTempDir,
  REST_AUTHORIZATION,
  type Sink,
  sleep,
  startContender,
  TOKEN,
  trackTempDir,
} from "./compare_procs.ts";
import { createTraffic, type Traffic } from "./compare_traffic.ts";
import { round, type Target } from "./compare_measure.ts";
import type { ModeConfig, StartupResult } from "./compare_results.ts";
import { log } from "./compare_log.ts";

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
