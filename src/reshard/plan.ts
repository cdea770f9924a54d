/**
 * Deciding whether to reshard and to how many shards: pure functions, table-tested.
 * @module
 */
import type { GatewayBotInfo } from "../rest/gateway_bot.ts";

/** Discord closes a shard that would hold more guilds than this (4011). */
export const MAX_GUILDS_PER_SHARD = 2500;

/** Settings that shape a plan (`RESHARD_*`, `LARGE_BOT_SHARDING`). */
export interface ReshardPolicy {
  /** Reshard when guilds reach this percentage of `total x 2500`. */
  percentage: number;
  /** `auto`: on above 100,000 guilds or with `max_concurrency` >= 16. */
  largeBotSharding: boolean | "auto";
  /** Session starts kept for the old set's re-identifies; `undefined` = the current shard count. */
  sessionReserve?: number;
}

/** Why a reshard starts. */
export type ReshardReason = "capacity" | "4011" | "manual";

/** A decided reshard. */
export interface ReshardPlan {
  from: number;
  to: number;
  reason: ReshardReason;
  /** The guilds counted when it was planned. */
  guilds: number;
  /** Session starts it needs (the new set) and keeps in reserve. */
  sessionStarts: { needed: number; reserve: number; remaining: number };
}

/** Why no reshard happens; `status` is the HTTP answer a manual request gets. */
export interface ReshardRefusal {
  status: 400 | 409 | 503;
  reason: string;
}

/** The least shard count that keeps `guilds` under `percentage` of capacity. */
export function shardsNeeded(guilds: number, percentage: number): number {
  return Math.max(1, Math.ceil(guilds / (MAX_GUILDS_PER_SHARD * percentage / 100)));
}

/** Whether Discord's large-bot sharding applies (shard counts in multiples of 16). */
export function isLargeBot(
  policy: Pick<ReshardPolicy, "largeBotSharding">,
  guilds: number,
  maxConcurrency: number,
): boolean {
  if (policy.largeBotSharding !== "auto") return policy.largeBotSharding;
  return guilds > 100_000 || maxConcurrency >= 16;
}

/** The multiple every shard count must be: 16 for large bots, else `max_concurrency`. */
export function shardMultiple(large: boolean, maxConcurrency: number): number {
  return large ? Math.max(16, maxConcurrency) : Math.max(1, maxConcurrency);
}

/** `n` raised to a multiple of `m`. */
export function roundUp(n: number, m: number): number {
  return Math.ceil(n / m) * m;
}

/** Whether the shards are full enough (or a shard was refused) to reshard now. */
export function needsReshard(
  guilds: number,
  current: number,
  percentage: number,
): boolean {
  return guilds >= current * MAX_GUILDS_PER_SHARD * percentage / 100;
}

/**
 * Plans a reshard from `current` shards holding `guilds`, with `info` from `GET /gateway/bot`.
 * `requested` is a manual request's count; without it the count is Discord's
 * recommendation, never below what the guilds need at the percentage, raised to the multiple.
 */
export function planReshard(input: {
  current: number;
  guilds: number;
  info: GatewayBotInfo;
  policy: ReshardPolicy;
  reason: ReshardReason;
  requested?: number;
}): ReshardPlan | ReshardRefusal {
  const { current, guilds, info, policy, reason, requested } = input;
  const mc = info.sessionStartLimit.maxConcurrency;
  const large = isLargeBot(policy, guilds, mc);
  const multiple = shardMultiple(large, mc);
  const needed = shardsNeeded(guilds, policy.percentage);
  let to: number;
  if (requested !== undefined) {
    if (!Number.isSafeInteger(requested) || requested < 1) {
      return { status: 400, reason: `totalShards must be a positive integer, got ${requested}` };
    }
    if (requested < needed) {
      return {
        status: 400,
        reason:
          `totalShards ${requested} is below the ${needed} shards that ${guilds} guilds need at ${policy.percentage}% of ${MAX_GUILDS_PER_SHARD} per shard`,
      };
    }
    if (requested % multiple !== 0) {
      return {
        status: 400,
        reason: `totalShards ${requested} is not a multiple of ${multiple} (${
          large ? "large-bot sharding" : "max_concurrency"
        })`,
      };
    }
    to = requested;
  } else {
    to = roundUp(Math.max(info.shards, needed, 1), multiple);
    // A reshard that does not grow would not help: at least the next multiple up.
    if (to <= current) to = roundUp(current + 1, multiple);
  }
  if (to === current) {
    return { status: 400, reason: `the bot already runs ${current} shards` };
  }
  const reserve = policy.sessionReserve ?? current;
  const remaining = info.sessionStartLimit.remaining;
  if (remaining < to + reserve) {
    return {
      status: 503,
      reason:
        `session starts left (${remaining}) do not cover ${to} new shards plus ${reserve} in reserve; Discord resets them in ${
          Math.ceil(info.sessionStartLimit.resetAfter / 60_000)
        } min`,
    };
  }
  return {
    from: current,
    to,
    reason,
    guilds,
    sessionStarts: { needed: to, reserve, remaining },
  };
}

/** Narrows a plan result. */
export function isRefusal(x: ReshardPlan | ReshardRefusal): x is ReshardRefusal {
  return "status" in x;
}
