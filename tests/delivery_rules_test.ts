/**
 * What the delivery queue does with each kind of failed answer: poisoned events set aside
 * only while the handler demonstrably works, misconfiguration answers held, never
 * dead-lettered, and a journal that refuses writes losing nothing.
 */
import { assert, assertEquals, assertStringIncludes } from "./helpers/assert.ts";
import { makeEvent, range, readDeadLetters, rig, seqsByShard } from "./helpers/queue_rig.ts";
import { until } from "./helpers/wait.ts";
import { createSqliteJournal, type Journal } from "../src/delivery/mod.ts";

Deno.test("createDeliveryQueue() sets aside an event that fails while other shards' events are accepted", async () => {
  const r = await rig({ poisonAfterAttempts: 3 });
  r.handler.behave = (e) => e.shardId === 0 && e.data.s === 2 ? { status: 500 } : undefined;
  r.queue.push(makeEvent(0, 1));
  r.queue.push(makeEvent(0, 2));
  // Shard 1 keeps flowing meanwhile: the proof that the handler is up.
  let s = 0;
  while (r.queue.counters.poisoned === 0) {
    r.queue.push(makeEvent(1, ++s));
    await until(() => r.handler.events.length >= s + 1, "shard 1 delivered");
  }
  r.queue.push(makeEvent(0, 3));
  await until(() => seqsByShard(r).get(0)?.length === 2, "shard 0 moving again");
  assertEquals(seqsByShard(r).get(0), [1, 3]);
  const dead = await readDeadLetters(r.dir);
  assertEquals(dead.map((d) => [d.shardId, d.s]), [[0, 2]]);
  assertStringIncludes(dead[0].error, "3 of them while the handler accepted others");
  assertEquals(r.queue.counters.poisoned, 1);
  await r.close();
});

Deno.test("createDeliveryQueue() on a single shard asks the handler with HANDLER_CHECK_DD before setting an event aside", async () => {
  const r = await rig({ poisonAfterAttempts: 3 });
  r.handler.behave = (e) => e.data.s === 2 ? { status: 500 } : undefined;
  for (let s = 1; s <= 5; s++) r.queue.push(makeEvent(0, s));
  await until(() => r.queue.counters.poisoned === 1, "set aside");
  const real = () => r.handler.events.filter((e) => e.data.t !== "HANDLER_CHECK_DD");
  await until(() => real().length === 4, "the rest delivered");
  // In order, no duplicates: the checks are synthetic events, not real ones sent again.
  assertEquals(real().map((e) => e.data.s), [1, 3, 4, 5]);
  const checks = r.handler.events.filter((e) => e.data.t === "HANDLER_CHECK_DD");
  assertEquals(checks.length, r.queue.counters.witnesses);
  assert(checks.length >= 3, `${checks.length} checks`);
  assertEquals(checks[0].data.d, { shard_id: 0, failing_s: 2, failing_t: "MESSAGE_CREATE" });
  const dead = await readDeadLetters(r.dir);
  assertEquals(dead.map((d) => d.s), [2]);
  assertStringIncludes(dead[0].error, "3 of them while the handler accepted others");
  await r.close();
});

Deno.test("createDeliveryQueue() sets nothing aside while the handler answers 500 to everything, checks included", async () => {
  const r = await rig({ poisonAfterAttempts: 2 });
  let broken = true;
  r.handler.behave = () => broken ? { status: 500 } : undefined;
  for (let s = 1; s <= 3; s++) r.queue.push(makeEvent(0, s));
  await until(() => r.queue.counters.witnesses >= 4, "checks answered 500");
  assertEquals(r.queue.counters.deadLettered, 0);
  broken = false;
  await until(() => seqsByShard(r).get(0)?.length === 3, "delivered");
  assertEquals(seqsByShard(r).get(0), [1, 2, 3]);
  assertEquals(await readDeadLetters(r.dir), []);
  await r.close();
});

Deno.test("createDeliveryQueue() never sets anything aside while the handler is down, however long", async () => {
  const r = await rig({ poisonAfterAttempts: 2 });
  await r.handler.down();
  for (let s = 1; s <= 3; s++) {
    r.queue.push(makeEvent(0, s));
    r.queue.push(makeEvent(1, s));
  }
  // Many times the threshold, probes included.
  await until(() => r.queue.counters.retried >= 20, "many failed attempts");
  assertEquals(r.queue.counters.deadLettered, 0);
  r.handler.up();
  await until(() => r.handler.events.length === 6, "everything after the outage");
  assertEquals(seqsByShard(r).get(0), [1, 2, 3]);
  assertEquals(seqsByShard(r).get(1), [1, 2, 3]);
  assertEquals(await readDeadLetters(r.dir), []);
  await r.close();
});

for (
  const [status, expect, headers] of [
    [401, "EVENT_HANDLER_AUTHORIZATION", undefined],
    [403, "EVENT_HANDLER_AUTHORIZATION", undefined],
    [404, "check the path", undefined],
    [405, "check the path", undefined],
    [307, "redirect", { location: "http://127.0.0.1:1/events/" }],
  ] as const
) {
  Deno.test(`createDeliveryQueue() holds delivery on HTTP ${status} (a setting, not the event) and says what to check`, async () => {
    const r = await rig({ poisonAfterAttempts: 2 });
    let answer: number = status;
    r.handler.behave = () => answer === 200 ? undefined : { status: answer, headers };
    for (let s = 1; s <= 4; s++) r.queue.push(makeEvent(0, s));
    await until(() => r.queue.counters.unavailable >= 10, "held attempts");
    const problem = r.queue.handlerProblem();
    assertEquals([problem?.kind, problem?.status], ["unavailable", status]);
    assertStringIncludes(problem!.hint, expect);
    assert(
      r.logs.some((l) => l.includes("ERROR") && l.includes("the event handler is unavailable")),
      "logged loudly",
    );
    assertEquals(r.queue.counters.deadLettered, 0);
    answer = 200;
    await until(() => r.handler.events.length === 4, "delivery after the fix");
    assertEquals(seqsByShard(r).get(0), range(1, 4));
    assertEquals(r.queue.handlerProblem(), undefined);
    await r.close();
  });
}

Deno.test("createDeliveryQueue() dead-letters 400, 413 and 422 at once: they refuse the event itself", async () => {
  const r = await rig();
  const refuse: Record<number, number> = { 2: 400, 3: 413, 4: 422 };
  r.handler.behave = (e) => refuse[e.data.s] ? { status: refuse[e.data.s] } : undefined;
  for (let s = 1; s <= 5; s++) r.queue.push(makeEvent(0, s));
  await until(() => r.handler.events.length === 2, "the accepted ones");
  assertEquals(seqsByShard(r).get(0), [1, 5]);
  await until(() => r.queue.counters.deadLettered === 3, "three dead letters");
  assertEquals((await readDeadLetters(r.dir)).map((d) => d.s), [2, 3, 4]);
  await r.close();
});

/** A journal whose writes fail while `broken` is set, like a full disk. */
function breakable(inner: Journal) {
  const state = { broken: false, failed: 0 };
  const journal: Journal = {
    ...inner,
    append(events) {
      if (state.broken) {
        state.failed++;
        throw new Error("SQLITE_FULL: database or disk is full");
      }
      inner.append(events);
    },
  };
  return { journal, state };
}

Deno.test("createDeliveryQueue() keeps events in memory while the journal refuses writes, and spills later", async () => {
  const dir = await Deno.makeTempDir();
  const { journal, state } = breakable(createSqliteJournal({ path: `${dir}/journal.sqlite` }));
  const r = await rig({ maxEvents: 3, journal }, dir);
  await r.handler.down();
  state.broken = true;
  for (let s = 1; s <= 20; s++) r.queue.push(makeEvent(0, s));
  await until(() => state.failed >= 2, "failed journal writes, retried");
  assertEquals(r.queue.counters.dropped, 0);
  assert(r.queue.counters.journalWriteFailures >= 2);
  // Not durable yet: a session saved now must make Discord replay them.
  assertEquals(r.queue.resumeSeq(0, "sess", 20), 20);
  state.broken = false;
  await until(
    () =>
      r.queue.counters.journalWriteFailures > 0 &&
      r.logs.some((l) => l.includes("journal writes work again")),
    "the retried write",
  );
  r.handler.up();
  await until(() => r.handler.events.length === 20, "everything");
  assertEquals(seqsByShard(r).get(0), range(1, 20));
  await r.close();
});

Deno.test("createDeliveryQueue() delivers unwritten spilled events in order when the journal never recovers", async () => {
  const dir = await Deno.makeTempDir();
  const { journal, state } = breakable(createSqliteJournal({ path: `${dir}/journal.sqlite` }));
  const r = await rig({ maxEvents: 3, journal }, dir);
  await r.handler.down();
  for (let s = 1; s <= 5; s++) r.queue.push(makeEvent(0, s));
  await until(() => r.queue.counters.spilled === 2, "two spilled");
  await new Promise((resolve) => setTimeout(resolve, 10));
  state.broken = true;
  for (let s = 6; s <= 12; s++) r.queue.push(makeEvent(0, s));
  r.handler.up();
  await until(() => r.handler.events.length === 12, "everything, journal still broken");
  assertEquals(seqsByShard(r).get(0), range(1, 12));
  assertEquals(r.queue.counters.dropped, 0);
  await r.close();
});

Deno.test("createDeliveryQueue().close() reports what it could not journal, and resumeSeq stays below it", async () => {
  const dir = await Deno.makeTempDir();
  const { journal, state } = breakable(createSqliteJournal({ path: `${dir}/journal.sqlite` }));
  const r = await rig({ journal }, dir);
  await r.handler.down();
  for (let s = 1; s <= 4; s++) r.queue.push({ ...makeEvent(0, s), session: "sess" });
  await until(() => r.queue.counters.retried >= 1, "a failed attempt");
  state.broken = true;
  const report = await r.queue.close();
  assertEquals(report.unjournaled, 4);
  assert(r.logs.some((l) => l.includes("could not journal the undelivered events")));
  // Discord replays from s 1: nothing is lost while the session is resumable.
  assertEquals(r.queue.resumeSeq(0, "sess", 4), 0);
  state.broken = false;
  await r.close();
});
