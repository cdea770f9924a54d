import { assert, assertEquals, assertRejects } from "./helpers/assert.ts";
import { classifyClose } from "../src/gateway/close_codes.ts";
import { createIdentifyQueue } from "../src/gateway/identify_queue.ts";
import { backoffDelay } from "../src/backoff.ts";

Deno.test("classifyClose() maps every Discord close code to an action", () => {
  const table: [number, string][] = [
    [1000, "resume"],
    [1006, "resume"],
    [4000, "resume"],
    [4001, "resume"],
    [4002, "resume"],
    [4003, "reidentify"],
    [4004, "fatal"],
    [4005, "resume"],
    [4007, "reidentify"],
    [4008, "resume"],
    [4009, "reidentify"],
    [4010, "fatal"],
    [4011, "fatal"],
    [4012, "fatal"],
    [4013, "fatal"],
    [4014, "fatal"],
    [3000, "local"],
    [3010, "local"],
    [3066, "local"],
  ];
  for (const [code, action] of table) assertEquals(classifyClose(code).action, action, `${code}`);
  assert(classifyClose(4014).reason.includes("privileged"));
});

/** A virtual clock: sleeps advance time instantly, so spacing is checked exactly. */
function virtualClock() {
  let t = 1_000_000;
  return {
    now: () => t,
    sleep: (ms: number, signal?: AbortSignal) => {
      signal?.throwIfAborted();
      t += ms;
      return Promise.resolve();
    },
  };
}

Deno.test("createIdentifyQueue() spaces identifies per bucket and runs buckets in parallel", async () => {
  const clock = virtualClock();
  const q = createIdentifyQueue({ maxConcurrency: 2, intervalMs: 5000, ...clock });
  const grants: [number, number][] = [];
  await Promise.all(
    [0, 1, 2, 3, 4, 5].map((id) =>
      q.wait(id).then((t) => {
        grants.push([id, clock.now()]);
        t.sent();
      })
    ),
  );
  const byShard = new Map(grants);
  // Bucket 0: shards 0, 2, 4; bucket 1: shards 1, 3, 5.
  assert(byShard.get(2)! - byShard.get(0)! >= 5000);
  assert(byShard.get(4)! - byShard.get(2)! >= 5000);
  assert(byShard.get(3)! - byShard.get(1)! >= 5000);
  // The first shard of each bucket does not wait for the other bucket.
  assertEquals(byShard.get(1), byShard.get(0));
  assertEquals(q.granted, 6);
});

Deno.test("createIdentifyQueue() waits for the reset once session starts run out", async () => {
  const clock = virtualClock();
  const q = createIdentifyQueue({
    maxConcurrency: 1,
    intervalMs: 0,
    remaining: 1,
    total: 1000,
    resetAfterMs: 60_000,
    ...clock,
  });
  const start = clock.now();
  (await q.wait(0)).sent();
  assertEquals(clock.now(), start);
  (await q.wait(1)).sent();
  assert(clock.now() - start >= 60_000);
});

Deno.test("createIdentifyQueue() rejects waits once the signal aborts", async () => {
  const q = createIdentifyQueue({ maxConcurrency: 1, intervalMs: 60_000 });
  (await q.wait(0)).sent();
  const c = new AbortController();
  const waiting = q.wait(1, c.signal);
  c.abort(new Error("stop"));
  await assertRejects(waiting, Error);
});

Deno.test("createIdentifyQueue() spaces identifies from when they were sent, not granted", async () => {
  const clock = virtualClock();
  const q = createIdentifyQueue({ maxConcurrency: 1, intervalMs: 5000, ...clock });
  const first = await q.wait(0);
  const grantedAt = clock.now();
  const second = q.wait(1).then((t) => {
    t.sent();
    return clock.now();
  });
  // Opening the first shard's socket took 2 s before its identify left.
  await clock.sleep(2000);
  first.sent();
  assert((await second) - grantedAt >= 7000);
});

Deno.test("backoffDelay() grows exponentially from the base and stays under the cap", () => {
  const exact = { jitter: 0 };
  assertEquals([0, 1, 2, 3].map((a) => backoffDelay(a, exact)), [1000, 2000, 4000, 8000]);
  assertEquals(backoffDelay(20, exact), 30_000);
  for (let i = 0; i < 100; i++) {
    const d = backoffDelay(3);
    assert(d >= 7200 && d <= 8800);
  }
});
