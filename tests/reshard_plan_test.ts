/**
 * Table tests of the reshard planner (src/reshard/plan.ts): how many shards the guilds
 * need, when a bot counts as large, the multiple every shard count must be, when the
 * shards are full enough to reshard, and `planReshard()`'s counts and refusals.
 * @module
 */
import type { GatewayBotInfo } from "../src/rest/gateway_bot.ts";
import {
  isLargeBot,
  isRefusal,
  MAX_GUILDS_PER_SHARD,
  needsReshard,
  planReshard,
  type ReshardPlan,
  type ReshardPolicy,
  type ReshardReason,
  type ReshardRefusal,
  roundUp,
  shardMultiple,
  shardsNeeded,
} from "../src/reshard/plan.ts";
import { assert, assertEquals, assertStringIncludes } from "./helpers/assert.ts";

/** `GET /gateway/bot` as Discord would answer it. */
function info(
  over: { shards?: number; remaining?: number; maxConcurrency?: number; resetAfter?: number } = {},
): GatewayBotInfo {
  return {
    url: "wss://gateway.discord.gg",
    shards: over.shards ?? 1,
    sessionStartLimit: {
      total: 1000,
      remaining: over.remaining ?? 1000,
      resetAfter: over.resetAfter ?? 3_600_000,
      maxConcurrency: over.maxConcurrency ?? 1,
    },
  };
}

const POLICY: ReshardPolicy = { percentage: 80, largeBotSharding: "auto" };

function plan(input: {
  current: number;
  guilds: number;
  info?: GatewayBotInfo;
  policy?: Partial<ReshardPolicy>;
  reason?: ReshardReason;
  requested?: number;
}): ReshardPlan | ReshardRefusal {
  return planReshard({
    current: input.current,
    guilds: input.guilds,
    info: input.info ?? info(),
    policy: { ...POLICY, ...input.policy },
    reason: input.reason ?? "capacity",
    requested: input.requested,
  });
}

function expectPlan(result: ReshardPlan | ReshardRefusal, label: string): ReshardPlan {
  assert(!isRefusal(result), `${label}: expected a plan, got ${JSON.stringify(result)}`);
  return result;
}

function expectRefusal(result: ReshardPlan | ReshardRefusal, label: string): ReshardRefusal {
  assert(isRefusal(result), `${label}: expected a refusal, got ${JSON.stringify(result)}`);
  return result;
}

Deno.test("MAX_GUILDS_PER_SHARD is Discord's 2500", () => {
  assertEquals(MAX_GUILDS_PER_SHARD, 2500);
});

Deno.test("shardsNeeded() keeps every shard under the percentage of 2500 guilds", () => {
  const table: [guilds: number, percentage: number, expected: number][] = [
    [0, 80, 1], // never below one shard
    [1, 80, 1],
    [1999, 80, 1],
    [2000, 80, 1], // exactly 80% of 2500 fits in one shard
    [2001, 80, 2],
    [4000, 80, 2],
    [4001, 80, 3],
    [2500, 100, 1],
    [2501, 100, 2],
    [1250, 50, 1],
    [1251, 50, 2],
    [100_000, 80, 50],
    [100_001, 80, 51],
    [10_000, 25, 16], // 625 per shard
    [10_001, 25, 17],
  ];
  for (const [guilds, percentage, expected] of table) {
    assertEquals(
      shardsNeeded(guilds, percentage),
      expected,
      `shardsNeeded(${guilds}, ${percentage})`,
    );
  }
});

Deno.test("isLargeBot() follows LARGE_BOT_SHARDING, and in auto mode guilds > 100,000 or max_concurrency >= 16", () => {
  const table: [
    policy: ReshardPolicy["largeBotSharding"],
    guilds: number,
    mc: number,
    expected: boolean,
  ][] = [
    [true, 10, 1, true],
    [true, 0, 1, true],
    [false, 500_000, 64, false],
    [false, 100_001, 16, false],
    ["auto", 100_000, 1, false], // not above 100,000
    ["auto", 100_001, 1, true],
    ["auto", 10, 15, false],
    ["auto", 10, 16, true],
    ["auto", 10, 32, true],
    ["auto", 0, 1, false],
  ];
  for (const [largeBotSharding, guilds, mc, expected] of table) {
    assertEquals(
      isLargeBot({ largeBotSharding }, guilds, mc),
      expected,
      `isLargeBot(${largeBotSharding}, ${guilds}, ${mc})`,
    );
  }
});

Deno.test("shardMultiple() is 16 (or more) for large bots, else max_concurrency (at least 1)", () => {
  const table: [large: boolean, mc: number, expected: number][] = [
    [false, 1, 1],
    [false, 2, 2],
    [false, 7, 7],
    [false, 0, 1], // a bogus max_concurrency never divides by zero
    [true, 1, 16],
    [true, 16, 16],
    [true, 32, 32],
    [true, 64, 64],
  ];
  for (const [large, mc, expected] of table) {
    assertEquals(shardMultiple(large, mc), expected, `shardMultiple(${large}, ${mc})`);
  }
});

Deno.test("roundUp() raises to the next multiple, and keeps a multiple", () => {
  const table: [n: number, m: number, expected: number][] = [
    [1, 1, 1],
    [5, 1, 5],
    [1, 16, 16],
    [16, 16, 16],
    [17, 16, 32],
    [3, 2, 4],
    [4, 2, 4],
  ];
  for (const [n, m, expected] of table) {
    assertEquals(roundUp(n, m), expected, `roundUp(${n}, ${m})`);
  }
});

Deno.test("needsReshard() is true once guilds reach total x 2500 x percentage / 100", () => {
  const table: [guilds: number, current: number, percentage: number, expected: boolean][] = [
    [1999, 1, 80, false],
    [2000, 1, 80, true], // reaching the percentage counts
    [2001, 1, 80, true],
    [3999, 2, 80, false],
    [4000, 2, 80, true],
    [0, 1, 80, false],
    [2499, 1, 100, false],
    [2500, 1, 100, true],
    [1249, 1, 50, false],
    [1250, 1, 50, true],
    [79_999, 40, 80, false],
    [80_000, 40, 80, true],
    [1749, 1, 70, false],
    [1750, 1, 70, true],
  ];
  for (const [guilds, current, percentage, expected] of table) {
    assertEquals(
      needsReshard(guilds, current, percentage),
      expected,
      `needsReshard(${guilds}, ${current}, ${percentage})`,
    );
  }
});

Deno.test("planReshard() picks Discord's recommendation, never below need, raised to the multiple, above current", () => {
  const table: {
    label: string;
    current: number;
    guilds: number;
    shards: number;
    mc?: number;
    large?: ReshardPolicy["largeBotSharding"];
    percentage?: number;
    to: number;
  }[] = [
    { label: "recommendation above need", current: 1, guilds: 2000, shards: 4, to: 4 },
    { label: "need above recommendation", current: 1, guilds: 6001, shards: 2, to: 4 },
    {
      label: "need at another percentage",
      current: 1,
      guilds: 2600,
      shards: 1,
      percentage: 50,
      to: 3,
    },
    { label: "raised to max_concurrency", current: 1, guilds: 2000, shards: 3, mc: 2, to: 4 },
    { label: "already a multiple", current: 2, guilds: 4000, shards: 4, mc: 2, to: 4 },
    {
      label: "raised to 16 for a large bot",
      current: 16,
      guilds: 100_001,
      shards: 41,
      mc: 1,
      to: 64,
    },
    {
      label: "recommendation raised to 16",
      current: 16,
      guilds: 100_001,
      shards: 70,
      mc: 1,
      to: 80,
    },
    {
      label: "large through max_concurrency 16",
      current: 1,
      guilds: 2000,
      shards: 2,
      mc: 16,
      to: 16,
    },
    {
      label: "large bot with max_concurrency 32",
      current: 32,
      guilds: 200_000,
      shards: 90,
      mc: 32,
      to: 128,
    },
    { label: "forced large bot", current: 1, guilds: 2000, shards: 2, large: true, to: 16 },
    { label: "large sharding off", current: 40, guilds: 100_001, shards: 41, large: false, to: 51 },
    {
      label: "recommendation = current: next count up",
      current: 2,
      guilds: 4000,
      shards: 2,
      to: 3,
    },
    {
      label: "recommendation below current: next count up",
      current: 4,
      guilds: 4000,
      shards: 2,
      to: 5,
    },
    { label: "next multiple up", current: 4, guilds: 8000, shards: 4, mc: 4, to: 8 },
    {
      label: "next multiple of 16 up",
      current: 16,
      guilds: 32_000,
      shards: 16,
      large: true,
      to: 32,
    },
    { label: "recommendation 0", current: 1, guilds: 0, shards: 0, to: 2 },
  ];
  for (const row of table) {
    const result = expectPlan(
      plan({
        current: row.current,
        guilds: row.guilds,
        info: info({ shards: row.shards, maxConcurrency: row.mc ?? 1 }),
        policy: {
          largeBotSharding: row.large ?? "auto",
          percentage: row.percentage ?? 80,
        },
      }),
      row.label,
    );
    assertEquals(result.to, row.to, row.label);
    assert(result.to > row.current, `${row.label}: grows`);
  }
});

Deno.test("planReshard() returns a plan with from, to, reason, guilds and session starts", () => {
  const result = expectPlan(
    plan({
      current: 2,
      guilds: 4100,
      info: info({ shards: 3, remaining: 900 }),
      reason: "4011",
    }),
    "plan",
  );
  assertEquals(result, {
    from: 2,
    to: 3,
    reason: "4011",
    guilds: 4100,
    sessionStarts: { needed: 3, reserve: 2, remaining: 900 },
  });
  for (const reason of ["capacity", "4011", "manual"] as const) {
    assertEquals(expectPlan(plan({ current: 1, guilds: 10, reason }), reason).reason, reason);
  }
});

Deno.test("planReshard() takes a manual count that is a valid multiple above need", () => {
  const table: {
    label: string;
    current: number;
    guilds: number;
    requested: number;
    mc?: number;
    large?: ReshardPolicy["largeBotSharding"];
  }[] = [
    { label: "bigger", current: 1, guilds: 100, requested: 5 },
    { label: "ignores the recommendation", current: 1, guilds: 100, requested: 7 },
    { label: "a multiple of max_concurrency", current: 2, guilds: 100, requested: 6, mc: 2 },
    { label: "a multiple of 16", current: 16, guilds: 100_001, requested: 64 },
    { label: "smaller but enough", current: 10, guilds: 4000, requested: 2 },
    { label: "exactly the need", current: 1, guilds: 6000, requested: 3 },
  ];
  for (const row of table) {
    const result = expectPlan(
      plan({
        current: row.current,
        guilds: row.guilds,
        info: info({ shards: 1, maxConcurrency: row.mc ?? 1 }),
        policy: { largeBotSharding: row.large ?? "auto" },
        reason: "manual",
        requested: row.requested,
      }),
      row.label,
    );
    assertEquals(result.to, row.requested, row.label);
    assertEquals(result.from, row.current, row.label);
    assertEquals(result.reason, "manual", row.label);
  }
});

Deno.test("planReshard() refuses a manual count with 400 and says why, with the numbers", () => {
  const table: {
    label: string;
    current: number;
    guilds: number;
    requested: number;
    mc?: number;
    large?: ReshardPolicy["largeBotSharding"];
    includes: string[];
  }[] = [
    {
      label: "zero",
      current: 1,
      guilds: 10,
      requested: 0,
      includes: ["totalShards must be a positive integer, got 0"],
    },
    {
      label: "negative",
      current: 1,
      guilds: 10,
      requested: -4,
      includes: ["totalShards must be a positive integer, got -4"],
    },
    {
      label: "fraction",
      current: 1,
      guilds: 10,
      requested: 2.5,
      includes: ["totalShards must be a positive integer, got 2.5"],
    },
    {
      label: "NaN",
      current: 1,
      guilds: 10,
      requested: NaN,
      includes: ["positive integer, got NaN"],
    },
    {
      label: "Infinity",
      current: 1,
      guilds: 10,
      requested: Infinity,
      includes: ["positive integer, got Infinity"],
    },
    {
      label: "unsafe integer",
      current: 1,
      guilds: 10,
      requested: 2 ** 53,
      includes: ["positive integer"],
    },
    {
      label: "below need",
      current: 1,
      guilds: 6001,
      requested: 3,
      includes: ["totalShards 3 is below the 4 shards", "6001 guilds", "80%", "2500"],
    },
    {
      label: "not a multiple of max_concurrency",
      current: 2,
      guilds: 100,
      requested: 5,
      mc: 2,
      includes: ["totalShards 5 is not a multiple of 2", "max_concurrency"],
    },
    {
      label: "not a multiple of 16",
      current: 16,
      guilds: 100_001,
      requested: 60,
      includes: ["totalShards 60 is not a multiple of 16", "large-bot sharding"],
    },
    {
      label: "equal to current",
      current: 4,
      guilds: 100,
      requested: 4,
      includes: ["already runs 4 shards"],
    },
    {
      label: "equal to current, a multiple of 16",
      current: 32,
      guilds: 100,
      requested: 32,
      mc: 16,
      includes: ["already runs 32 shards"],
    },
  ];
  for (const row of table) {
    const refusal = expectRefusal(
      plan({
        current: row.current,
        guilds: row.guilds,
        info: info({ shards: 1, maxConcurrency: row.mc ?? 1 }),
        policy: { largeBotSharding: row.large ?? "auto" },
        reason: "manual",
        requested: row.requested,
      }),
      row.label,
    );
    assertEquals(refusal.status, 400, row.label);
    for (const part of row.includes) assertStringIncludes(refusal.reason, part, row.label);
  }
});

Deno.test("planReshard() answers 503 when session starts do not cover the new set plus the reserve", () => {
  const table: {
    label: string;
    current: number;
    to: number;
    remaining: number;
    reserve?: number;
    ok: boolean;
    expectedReserve: number;
  }[] = [
    // reserve defaults to the current shard count
    { label: "exactly enough", current: 2, to: 4, remaining: 6, ok: true, expectedReserve: 2 },
    { label: "one short", current: 2, to: 4, remaining: 5, ok: false, expectedReserve: 2 },
    { label: "none left", current: 2, to: 4, remaining: 0, ok: false, expectedReserve: 2 },
    // policy.sessionReserve overrides it
    {
      label: "reserve 0",
      current: 2,
      to: 4,
      remaining: 4,
      reserve: 0,
      ok: true,
      expectedReserve: 0,
    },
    {
      label: "reserve 0, short",
      current: 2,
      to: 4,
      remaining: 3,
      reserve: 0,
      ok: false,
      expectedReserve: 0,
    },
    {
      label: "reserve 10",
      current: 2,
      to: 4,
      remaining: 13,
      reserve: 10,
      ok: false,
      expectedReserve: 10,
    },
    {
      label: "reserve 10, enough",
      current: 2,
      to: 4,
      remaining: 14,
      reserve: 10,
      ok: true,
      expectedReserve: 10,
    },
  ];
  for (const row of table) {
    const result = plan({
      current: row.current,
      guilds: 10,
      info: info({ shards: row.to, remaining: row.remaining, resetAfter: 90_001 }),
      policy: { sessionReserve: row.reserve },
    });
    if (row.ok) {
      const p = expectPlan(result, row.label);
      assertEquals(p.to, row.to, row.label);
      assertEquals(
        p.sessionStarts,
        { needed: row.to, reserve: row.expectedReserve, remaining: row.remaining },
        row.label,
      );
    } else {
      const refusal = expectRefusal(result, row.label);
      assertEquals(refusal.status, 503, row.label);
      assertEquals(
        refusal.reason,
        `session starts left (${row.remaining}) do not cover ${row.to} new shards plus ${row.expectedReserve} in reserve; Discord resets them in 2 min`,
        row.label,
      );
    }
  }
});

Deno.test("planReshard() checks session starts for manual counts too", () => {
  const refusal = expectRefusal(
    plan({
      current: 3,
      guilds: 10,
      info: info({ remaining: 10, resetAfter: 60_000 }),
      reason: "manual",
      requested: 8,
    }),
    "manual 503",
  );
  assertEquals(refusal.status, 503);
  assertStringIncludes(refusal.reason, "(10)");
  assertStringIncludes(refusal.reason, "8 new shards plus 3 in reserve");
  assertStringIncludes(refusal.reason, "in 1 min");
  // A count the request gets wrong is refused as such (400) before session starts are counted.
  const bad = expectRefusal(
    plan({ current: 3, guilds: 10, info: info({ remaining: 0 }), requested: 0 }),
    "manual 400",
  );
  assertEquals(bad.status, 400);
});

Deno.test("isRefusal() tells a refusal from a plan", () => {
  assert(isRefusal({ status: 503, reason: "x" }));
  assert(
    !isRefusal({
      from: 1,
      to: 2,
      reason: "manual",
      guilds: 0,
      sessionStarts: { needed: 2, reserve: 1, remaining: 10 },
    }),
  );
});
