/**
 * `GET /readyz`: whether this process is ready, and if not every reason, in
 * words an operator can act on.
 * @module
 */
import type { ControlInputs } from "./inputs.ts";
import type { ReadinessAnswer } from "./wire.ts";

/** Options of {@linkcode readinessOf}. */
export interface ReadinessOptions {
  alive(): boolean;
  /** A shard down for less than this still counts as ready (a resume in progress), ms. */
  readyGraceMs: number;
  now(): number;
}

/**
 * Ready when the process runs, the gateway started, every shard is live or down for less
 * than the grace period (and not offline), no worker restarts, Redis answers and the event
 * handler is not "unavailable".
 */
export function readinessOf(inputs: ControlInputs, options: ReadinessOptions): ReadinessAnswer {
  const { alive, readyGraceMs, now } = options;
  const reasons: string[] = [];
  const stats = inputs.stats();
  if (!alive()) reasons.push("the process is stopping");
  if (!stats.range) reasons.push("the gateway has not started yet (GET /gateway/bot pending)");
  const states = new Map(inputs.shardReports().map((r) => [r.shardId, r.state]));
  for (const [id, since] of stats.downSince) {
    const state = states.get(id) ?? "not spawned";
    const down = now() - since;
    if (down >= readyGraceMs || state === "offline") {
      reasons.push(`shard ${id} is ${state} for ${Math.round(down / 1000)} s`);
    }
  }
  for (const w of inputs.workers()) {
    if (w.state === "restarting") {
      reasons.push(
        `worker ${w.index} (shards ${w.firstShardId}-${w.lastShardId}) is restarting after ${w.restarts} crash(es): ${w.lastCrash}`,
      );
    }
  }
  const clusterProblem = inputs.cluster?.problem();
  if (clusterProblem) {
    reasons.push(
      `${clusterProblem}: running shards keep running and queue locally, but no shard starts or is taken over until Redis answers`,
    );
  }
  const problem = inputs.handlerProblem();
  if (problem?.kind === "unavailable") {
    reasons.push(
      `the event handler is unavailable (HTTP ${problem.status}) for ${
        Math.round((now() - problem.since) / 1000)
      } s: ${problem.hint}; events are held`,
    );
  }
  return { ready: reasons.length === 0, reasons };
}
