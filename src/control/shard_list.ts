/**
 * The `/shards` and `/status` list: every shard of this process's range, from
 * the shard group's reports, the shaping stage's guild facts and the queue; in
 * a cluster also the shards other processes hold, as they last reported them.
 * @module
 */
import type { ControlInputs } from "./inputs.ts";
import type { ShardState, ShardStatus } from "./wire.ts";

/**
 * One {@linkcode ShardStatus} per shard of the range, in id order; empty before start.
 * `rate` gives a shard's events per second.
 */
export function listShards(
  inputs: ControlInputs,
  rate: (shardId: number) => number,
  now: () => number,
): ShardStatus[] {
  const range = inputs.stats().range;
  if (!range) return [];
  const facts = inputs.guildFacts();
  const reports = new Map(inputs.shardReports().map((r) => [r.shardId, r]));
  const cluster = inputs.cluster;
  const view = cluster?.view(range.total);
  const ages = cluster?.leaseAges(range.total);
  const out: ShardStatus[] = [];
  for (let id = range.first; id <= range.last; id++) {
    const s = reports.get(id);
    if (!s && view) {
      // Held by another process (as it reported in its last lease round), or by none.
      const r = view.get(id);
      out.push({
        id,
        totalShards: range.total,
        state: (r?.state ?? "offline") as ShardState,
        latencyMs: r?.latencyMs ?? null,
        guilds: r?.guilds ?? 0,
        unavailable: 0,
        loading: 0,
        sessionId: null,
        lastEventAt: null,
        eventsPerSecond: 0,
        queue: { memory: 0, disk: 0 },
        member: r?.member,
        leaseAgeMs: r ? r.leaseAgeMs + (now() - r.reportedAt) : undefined,
      });
      continue;
    }
    const f = facts.get(id);
    out.push({
      id,
      totalShards: range.total,
      state: s?.state ?? "identifying",
      latencyMs: s?.latencyMs ?? null,
      guilds: f?.guilds ?? 0,
      unavailable: f?.unavailable ?? 0,
      loading: f?.loading ?? 0,
      sessionId: s?.sessionId ?? null,
      lastEventAt: f?.lastEventAt || null,
      eventsPerSecond: rate(id),
      queue: inputs.queueDepth(id),
      ...(cluster ? { member: cluster.memberId, leaseAgeMs: ages?.get(id) } : {}),
    });
  }
  return out;
}
