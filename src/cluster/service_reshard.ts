/**
 * A reshard of a cluster on Redis: how the process that planned it runs it (every step written
 * to Redis), and how the others follow those steps with their share of the new set.
 * @module
 */
import type { Logger } from "../log.ts";
import type { PreparedSet } from "../reshard/mod.ts";
import type { ShardSet } from "../shard_set.ts";
import type { Cluster } from "./cluster.ts";

/** Starts this process's share of a new set of `to` shards (`leader`: it announces the result). */
export type StartNext = (to: number, leader: boolean) => PreparedSet;

/** The reshard this process follows, if any (kept by the service, changed here). */
export interface FollowState {
  following:
    | { id: string; prepared: PreparedSet; phase: "prepare" | "overlap" | "switch" }
    | undefined;
}

/**
 * The reshard as the process that planned it runs it: every step is written to Redis for the
 * others to follow (`followClusterReshard`), and its own share runs like theirs.
 */
export function leadClusterReshard(
  c: Cluster,
  to: number,
  start: StartNext,
  opts: { from: number; leadMs: number; logger: Logger },
): PreparedSet {
  const { from, leadMs, logger } = opts;
  const id = crypto.randomUUID();
  let failure: string | undefined;
  const write = (
    phase: "prepare" | "overlap" | "switch" | "done" | "abandoned",
    error?: string,
  ) =>
    c.setReshardState({ id, from, to, phase, leader: c.memberId, error, at: Date.now() })
      .catch((e) => {
        failure ??= `cannot write the reshard state to Redis: ${(e as Error).message}`;
      });
  const local = start(to, true);
  const written = write("prepare");
  const keep = setInterval(() => {
    c.lead(leadMs).then((r) => {
      if (!r.ok) failure ??= `${r.holder} took the reshard lead over`;
    }).catch(() => {});
  }, Math.floor(leadMs / 3));
  const end = () => {
    clearInterval(keep);
    c.unlead();
  };
  logger.info("leading a reshard of the cluster", { from, to });
  return {
    progress: local.progress,
    failure: () => failure ?? local.failure(),
    overlap() {
      local.overlap();
      write("overlap");
    },
    async promote() {
      await written;
      await write("switch");
      await local.promote();
    },
    settle() {
      const deduped = local.settle();
      write("done").then(() => c.forgetSessions(from)).catch(() => {});
      end();
      return deduped;
    },
    async abandon() {
      await write("abandoned", failure ?? "abandoned by the leader");
      end();
      await local.abandon();
    },
  };
}

/**
 * Follows a reshard another process leads: starts this process's share of the new set, then
 * overlaps, switches and settles as the leader's state in Redis says, in that order even if a
 * step was missed. A leader that vanished before the switch ends it (abandoned here).
 */
export async function followClusterReshard(
  c: Cluster,
  start: StartNext,
  state: FollowState,
  opts: { live(): ShardSet | undefined; logger: Logger },
): Promise<void> {
  const { logger } = opts;
  const live = opts.live();
  if (!live) return;
  let st;
  try {
    st = await c.reshardState();
  } catch {
    return; // Redis unreachable: try next round
  }
  if (!st || st.leader === c.memberId) return;
  const f = state.following;
  if (f && f.id !== st.id) {
    await f.prepared.abandon().catch(() => {});
    state.following = undefined;
    return;
  }
  if (!f) {
    if ((st.phase !== "prepare" && st.phase !== "overlap") || live.totalShards !== st.from) {
      return;
    }
    logger.info("following a reshard of the cluster", {
      from: st.from,
      to: st.to,
      leader: st.leader,
    });
    state.following = { id: st.id, prepared: start(st.to, false), phase: "prepare" };
    return;
  }
  const leader = await c.leader().catch(() => st.leader);
  if (st.phase === "abandoned" || (f.phase !== "switch" && leader !== st.leader)) {
    logger.warn("the cluster's reshard was abandoned; the old set stays", { reason: st.error });
    await f.prepared.abandon().catch(() => {});
    state.following = undefined;
    return;
  }
  if (st.phase !== "prepare" && f.phase === "prepare") {
    f.prepared.overlap();
    f.phase = "overlap";
  }
  if ((st.phase === "switch" || st.phase === "done") && f.phase === "overlap") {
    f.phase = "switch";
    await f.prepared.promote();
  }
  if (st.phase === "done" && f.phase === "switch") {
    f.prepared.settle();
    state.following = undefined;
    logger.info("the cluster's reshard is done", { to: st.to });
  }
}
