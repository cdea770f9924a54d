/**
 * Which shards this process runs, decided through leases in a {@linkcode ClusterStore}.
 *
 * Every round (a third of the lease) the process announces itself, extends its leases and,
 * with `assignment: "auto"`, claims free shards up to its fair share of the live members or
 * hands one shard over when another member has too few (gradually: one per round). With a
 * fixed range it claims exactly its range and waits where another holds a shard.
 *
 * Safety: a lease is trusted locally only until `sentAt + leaseMs - margin`, counted from
 * when the extending command was *sent*, so the local deadline always falls before the
 * store's expiry; past it (a long pause, Redis unreachable) the shard is stopped before any
 * other process can claim it. With a fixed range nobody else may take the shards, so an
 * unreachable store leaves them running; only a store that names another holder stops one.
 * @module
 */
import { withTimeout } from "../backoff.ts";
import type { Logger } from "../log.ts";
import type { ClusterStore, MemberInfo } from "./store.ts";

/** What the owner asks of the service. */
export interface ShardLeaseHooks {
  /** The lease is ours: start the shard (resume its stored session). */
  acquired(shardId: number): Promise<void>;
  /** The lease is gone (taken, or no longer confirmed): stop the shard at once. */
  lost(shardId: number, why: string): void;
  /**
   * Give the shard up gracefully for another member: stop it resumably and save its session;
   * the lease is released after this resolves.
   */
  handOver(shardId: number): Promise<void>;
}

/** Options of {@linkcode createShardLeases}. */
export interface ShardLeasesOptions {
  store: ClusterStore;
  memberId: string;
  totalShards: number;
  /** `auto`, or the fixed ids of a range. */
  assignment: "auto" | readonly number[];
  leaseMs: number;
  /** Key of shard `id`'s lease. */
  leaseKey(shardId: number): string;
  hooks: ShardLeaseHooks;
  logger: Logger;
  /** @default Date.now */
  now?: () => number;
  /** Safety margin of the local deadline, ms. @default max(200, leaseMs / 10) */
  marginMs?: number;
}

/** This process's shard leases. */
export interface ShardLeases {
  /** One round: announce, extend, expire, claim or hand over. Never throws. */
  tick(): Promise<void>;
  /** Whether this process may run `shardId` now (its lease is held and confirmed). */
  valid(shardId: number): boolean;
  /** Until when (epoch ms) `shardId`'s lease is trusted here: 0 if not held, Infinity for a fixed range. */
  until(shardId: number): number;
  /** Shards held now. */
  owned(): number[];
  /** Lease ages for `/shards`: ms since the lease was last confirmed, by shard. */
  confirmedAgo(): Map<number, number>;
  /** Whether the last round reached the store, and if not why. */
  readonly problem: string | undefined;
  /** Hands every shard back (after `hooks.handOver`) and leaves the cluster. */
  leave(): Promise<void>;
  /** Frees every lease at once, without hand-over (the set was closed). */
  releaseAll(): Promise<void>;
}

/** Creates the lease keeper; call `tick()` every `leaseMs / 3`. */
export function createShardLeases(options: ShardLeasesOptions): ShardLeases {
  const { store, memberId, totalShards, leaseMs, leaseKey, hooks, logger } = options;
  const now = options.now ?? Date.now;
  const margin = options.marginMs ?? Math.max(200, Math.floor(leaseMs / 10));
  const roundTimeoutMs = Math.max(100, Math.floor(leaseMs / 3));
  const fixed = options.assignment === "auto" ? undefined : [...options.assignment];
  const log = logger.with({ component: "leases", member: memberId });
  const startedAt = now();
  /** Held shards and until when each is trusted locally. */
  const held = new Map<number, { until: number; confirmedAt: number }>();
  /** Shards being started or handed over: no second claim or hand-over meanwhile. */
  const busy = new Set<number>();
  let problem: string | undefined;
  let rounds = 0;
  let leaving = false;
  let pending: Promise<void> | undefined;

  const lose = (id: number, why: string) => {
    if (!held.delete(id)) return;
    log.warn("shard lease lost; stopping the shard", { shard: id, why });
    hooks.lost(id, why);
  };

  const take = async (id: number, sentAt: number) => {
    held.set(id, { until: sentAt + leaseMs - margin, confirmedAt: sentAt });
    busy.add(id);
    try {
      await hooks.acquired(id);
    } catch (error) {
      log.error("starting a leased shard failed; releasing it", { shard: id, error });
      held.delete(id);
      await store.release(leaseKey(id), memberId).catch(() => {});
    } finally {
      busy.delete(id);
    }
  };

  const handOver = async (id: number) => {
    busy.add(id);
    try {
      await hooks.handOver(id);
    } catch (error) {
      log.warn("handing a shard over failed; releasing its lease anyway", { shard: id, error });
    } finally {
      held.delete(id);
      busy.delete(id);
    }
    await store.release(leaseKey(id), memberId).catch(() => {});
  };

  /** Free shards in an order that starts at a place of this member's own, so claims collide less. */
  const claimOrder = (free: number[]): number[] => {
    let h = 0;
    for (const c of memberId) h = (h * 31 + c.charCodeAt(0)) >>> 0;
    const start = free.length > 0 ? h % free.length : 0;
    return [...free.slice(start), ...free.slice(0, start)];
  };

  const round = async () => {
    const sentAt = now();
    await store.announce({ id: memberId, owned: held.size, startedAt }, leaseMs);
    // Extend what we hold; a lease another holds now is gone at once.
    const ids = [...held.keys()];
    const renewed = await store.renew(ids.map(leaseKey), memberId, leaseMs);
    ids.forEach((id, i) => {
      const h = held.get(id);
      if (!h) return;
      if (renewed[i]) {
        h.until = sentAt + leaseMs - margin;
        h.confirmedAt = sentAt;
      } else lose(id, "the lease is held by another process or expired in the store");
    });
    problem = undefined;
    if (leaving) return;

    const wanted = fixed ?? await autoTarget();
    if (wanted === undefined) return;
    const missing = wanted.filter((id) => !held.has(id) && !busy.has(id));
    if (missing.length === 0) return;
    const holders = await store.holders(missing.map(leaseKey));
    const free = missing.filter((_, i) => holders[i] === null);
    if (fixed && free.length < missing.length && rounds % 15 === 0) {
      const taken = missing.map((id, i) => [id, holders[i]?.owner] as const).filter(([, o]) => o);
      log.warn("shards of this range are leased by another process; waiting for them", {
        shards: taken.map(([id, o]) => `${id}:${o}`).join(", "),
      });
    }
    const quota = fixed ? free.length : claimQuota;
    for (const id of claimOrder(free).slice(0, quota)) {
      const at = now();
      if (held.has(id) || busy.has(id)) continue;
      if (await store.claim(leaseKey(id), memberId, leaseMs)) {
        if (held.has(id) || busy.has(id)) continue;
        log.info("shard lease taken", { shard: id });
        // Started in the background: a resume or an identify wait must not stall the round.
        take(id, at);
      }
    }
  };

  /** How many more shards `auto` may claim this round (set by {@linkcode autoTarget}). */
  let claimQuota = 0;

  /** Every shard id (auto), after deciding whether to claim more or hand one over. */
  const autoTarget = async (): Promise<number[] | undefined> => {
    const members: MemberInfo[] = await store.members();
    if (!members.some((m) => m.id === memberId)) {
      members.push({ id: memberId, owned: held.size, startedAt });
    }
    // A newcomer waits one round: members starting together see each other before claiming.
    if (rounds === 0) return undefined;
    const n = members.length;
    const high = Math.ceil(totalShards / n);
    const low = Math.floor(totalShards / n);
    const mine = held.size;
    claimQuota = Math.max(0, high - mine);
    const starving = members.some((m) => m.id !== memberId && m.owned < low);
    if (mine > high || (mine > low && starving)) {
      // One per round, the highest id not already moving: rebalancing stays gradual.
      const candidate = [...held.keys()].filter((id) => !busy.has(id)).sort((a, b) => b - a)[0];
      if (candidate !== undefined) {
        log.info("handing a shard over to rebalance", {
          shard: candidate,
          members: n,
          holding: mine,
          fair: `${low}-${high}`,
        });
        handOver(candidate);
      }
      claimQuota = 0;
      return undefined;
    }
    if (claimQuota === 0) return undefined;
    const all: number[] = [];
    for (let id = 0; id < totalShards; id++) all.push(id);
    return all;
  };

  return {
    async tick() {
      try {
        // A round that never came back (a hung store) is not run twice: its late answers
        // could otherwise race a new round's.
        if (pending) throw new Error("the previous round has had no answer yet");
        pending = round().finally(() => pending = undefined);
        // A store that stops answering without closing the connection (a partition, a paused
        // Redis) must not stall the rounds: the deadlines below are checked whatever it does.
        await withTimeout(pending, roundTimeoutMs, "no answer");
      } catch (error) {
        const message = (error as Error).message ?? String(error);
        if (problem === undefined) {
          log.error("cannot reach the cluster store; no new shards are started", {
            error: message,
          });
        }
        problem = `cluster store unreachable: ${message}`;
      } finally {
        rounds++;
      }
      // A lease not confirmed in time is given up, store or no store (auto only: a fixed
      // range has no other candidate owner, so its shards keep running while the store is down).
      if (!fixed) {
        const t = now();
        for (const [id, h] of [...held]) {
          if (t >= h.until) {
            lose(id, `not confirmed for ${t - h.confirmedAt} ms (lease ${leaseMs} ms)`);
          }
        }
      }
    },
    valid(shardId) {
      const h = held.get(shardId);
      if (!h) return false;
      return fixed ? true : now() < h.until;
    },
    until(shardId) {
      const h = held.get(shardId);
      if (!h) return 0;
      return fixed ? Infinity : h.until;
    },
    owned: () => [...held.keys()].sort((a, b) => a - b),
    confirmedAgo() {
      const t = now();
      return new Map([...held].map(([id, h]) => [id, t - h.confirmedAt]));
    },
    get problem() {
      return problem;
    },
    async releaseAll() {
      leaving = true;
      const ids = [...held.keys()];
      held.clear();
      await Promise.all(ids.map((id) => store.release(leaseKey(id), memberId).catch(() => {})));
    },
    async leave() {
      leaving = true;
      await Promise.all([...held.keys()].filter((id) => !busy.has(id)).map(handOver));
      await store.leave(memberId).catch(() => {});
    },
  };
}
