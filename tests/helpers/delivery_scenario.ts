/**
 * One seeded random run against the delivery queue: pushes on 1-3 shards, re-identifies,
 * handler outages and poisoned events, memory pressure, deferral outcomes, session saves,
 * crashes and graceful restarts; then the handler heals and the run is checked.
 *
 * Every decision comes from the seed and the model's own state (which shards are live,
 * which reconnect), never from timing: the queue runs on real timers, so what it does
 * between two steps may vary, but the steps of a seed are always the same.
 * @module
 */
import { setImmediate } from "node:timers";
import { checkWorld } from "./delivery_checks.ts";
import type { HandlerMode } from "./delivery_fakes.ts";
import { type QueueKnobs, World } from "./delivery_world.ts";
import { createRng, type Rng } from "./prng.ts";

/** What one seed found. */
export interface ScenarioResult {
  seed: number;
  /** Broken promises, each starting with its kind in brackets; empty = the seed passed. */
  problems: string[];
  /** The steps taken (and, with `verbose`, the queue's log lines). */
  trace: string[];
  ms: number;
}

/** Options of {@linkcode runScenario}. */
export interface ScenarioOptions {
  /** Folder for the seed's journal file (removed afterwards). */
  dir: string;
  /** Adds the queue's debug log to the trace. @default false */
  verbose?: boolean;
  /** How long the healed queue may take to empty, ms. @default 2000 */
  drainMs?: number;
  /** Discord's replay includes earlier READY/RESUMED dispatches (see `WorldOptions`). @default true */
  replayMarkers?: boolean;
  /**
   * Each instance may batch (`batch.maxEvents` > 1, half of them), drawn from a generator of
   * its own so that the steps of a seed are the same either way. @default true
   */
  batching?: boolean;
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

const MODES: readonly (readonly [HandlerMode, number])[] = [
  ["accept", 4],
  ["flaky", 2],
  ["fail500", 1],
  ["refused", 1],
  ["503", 1],
  ["401", 1],
  ["404", 1],
];

/**
 * Queue options for one instance: small memory so events spill and are read back; with
 * `batchRng`, sometimes batches (small byte caps too, so that they are cut by size).
 */
function knobs(rng: Rng, batchRng?: Rng): QueueKnobs {
  const k: QueueKnobs = {
    maxEvents: rng.pick([2, 3, 4, 6, 10, 100_000]),
    maxBytes: rng.pick([undefined, 250, 600]),
    readBatch: rng.pick([1, 2, 3, 5, 512]),
    deferAfterMs: rng.pick([2, 5, 15, 50]),
    poisonAfterAttempts: 4,
  };
  if (batchRng?.chance(0.5)) {
    k.batch = {
      maxEvents: batchRng.pick([2, 3, 8, 64]),
      lingerMs: batchRng.pick([0, 0, 1, 3]),
      maxBytes: batchRng.pick([undefined, 300, 1000]),
    };
  }
  return k;
}

/** Runs seed `seed`; see the module doc. */
export async function runScenario(seed: number, options: ScenarioOptions): Promise<ScenarioResult> {
  const { dir, verbose = false, drainMs = 2000, replayMarkers = true, batching = true } = options;
  const started = performance.now();
  const rng = createRng(seed);
  const batchRng = batching ? createRng(seed ^ 0x2c1b3c6d) : undefined;
  const path = `${dir}/journal-${seed}.sqlite`;
  const w = new World(path, { seed, verbose, replayMarkers });
  try {
    const shards = rng.int(1, 3);
    const steps = rng.int(15, 45);
    let poisons = 0;
    w.start(knobs(rng, batchRng));
    for (let id = 0; id < shards; id++) w.identify(id);
    for (let i = 0; i < steps; i++) {
      w.op = i;
      const live = w.shardsIn("live");
      const connected = w.shardsIn("live", "resuming");
      const reconnecting = w.shardsIn("resuming", "identifying");
      const step = rng.weighted(
        [
          ["push", 40],
          ["wait", 10],
          ["mode", 8],
          ["latency", 2],
          ["poison", poisons < 2 && live.length > 0 ? 2 : 0],
          ["reidentify", live.length > 0 ? 3 : 0],
          ["save", 10],
          ["crash", 4],
          ["stop", 2],
          ["connect", reconnecting.length > 0 ? 25 : 0],
        ] as const,
      );
      switch (step) {
        case "push": {
          // Discord sends on live shards and keeps a resuming session's events for its replay.
          const shard = rng.pick(connected.length > 0 ? connected : [0]);
          const n = rng.int(1, 4);
          for (let k = 0; k < n; k++) {
            const kind = rng.weighted([["message", 14], ["interaction", 4], ["bad", 0.3]] as const);
            const plan = kind === "interaction"
              ? {
                kind: rng.weighted(
                  [
                    ["deferred", 5],
                    ["already-acknowledged", 2],
                    ["failed", 3],
                  ] as const,
                ),
                atOp: i + rng.int(0, 6),
              }
              : undefined;
            w.push(shard, kind, plan);
          }
          break;
        }
        case "wait": {
          const answers = rng.int(1, 6);
          w.note(`wait for ${answers} answers`);
          await w.settle(answers, 5);
          break;
        }
        case "mode":
          w.mode = rng.weighted(MODES);
          w.note(`handler mode ${w.mode}`);
          break;
        case "latency":
          w.latencyMs = rng.pick([0, 0, 1, 3]);
          w.note(`handler latency ${w.latencyMs} ms`);
          break;
        case "poison": {
          const shard = rng.pick(live);
          w.shards.get(shard)!.poisonNext = true;
          poisons++;
          w.note(`the next message on shard ${shard} is poisoned`);
          break;
        }
        case "reidentify":
          w.identify(rng.pick(live));
          break;
        case "save":
          w.save();
          break;
        case "crash":
        case "stop":
          await w.restart(step, knobs(rng, batchRng));
          break;
        case "connect":
          w.connect(rng.pick(reconnecting));
          break;
      }
      w.releaseDue();
      await turn();
    }
    await w.drain(drainMs);
    const problems = [...w.problems, ...checkWorld(w)];
    return { seed, problems, trace: w.trace, ms: performance.now() - started };
  } finally {
    await w.close();
    for (const suffix of ["", "-wal", "-shm"]) await Deno.remove(path + suffix).catch(() => {});
  }
}
