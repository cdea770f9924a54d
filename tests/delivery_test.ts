import { assert, assertEquals, assertStringIncludes } from "./helpers/assert.ts";
import { until } from "./helpers/wait.ts";
import { AUTH, interaction, makeEvent, range, rig, seqsByShard } from "./helpers/queue_rig.ts";
import { startTestHandler } from "./helpers/handler.ts";
import {
  createDeliveryQueue,
  createFileDeadLetters,
  createSqliteJournal,
  type DeferOutcome,
  type InteractionInfo,
} from "../src/delivery/mod.ts";
import { createHttpTransport } from "../src/transport/mod.ts";
import { createLogger } from "../src/log.ts";

Deno.test("createDeliveryQueue() delivers every event once, in order per shard, with the secret", async () => {
  const r = await rig();
  for (let s = 1; s <= 50; s++) for (const shard of [0, 1, 2]) r.queue.push(makeEvent(shard, s));
  await until(() => r.handler.events.length === 150, "150 deliveries");
  for (const shard of [0, 1, 2]) assertEquals(seqsByShard(r).get(shard), range(1, 50));
  assert(r.handler.events.every((e) => e.authorization === AUTH));
  assertEquals(r.queue.counters.delivered, 150);
  await r.close();
});

Deno.test("createDeliveryQueue() holds events while the handler is down and drains them in order", async () => {
  const r = await rig();
  await r.handler.down();
  for (let s = 1; s <= 30; s++) for (const shard of [0, 1]) r.queue.push(makeEvent(shard, s));
  await until(() => r.queue.counters.retried >= 4, "retries while down");
  assertEquals(r.handler.events.length, 0);
  // New events keep queueing behind the undelivered ones.
  for (let s = 31; s <= 40; s++) for (const shard of [0, 1]) r.queue.push(makeEvent(shard, s));
  r.handler.up();
  await until(() => r.handler.events.length === 80, "80 deliveries");
  for (const shard of [0, 1]) assertEquals(seqsByShard(r).get(shard), range(1, 40));
  await until(() => r.logs.some((l) => l.includes("backlog drained")), "backlog end log");
  assert(r.logs.some((l) => l.includes("backlog started")));
  await r.close();
});

Deno.test("createDeliveryQueue() retries 503 until the handler answers 200", async () => {
  const r = await rig();
  let failures = 3;
  r.handler.behave = () => (failures-- > 0 ? { status: 503 } : undefined);
  r.queue.push(makeEvent(0, 1));
  r.queue.push(makeEvent(0, 2));
  await until(() => r.handler.events.length === 2, "2 deliveries");
  assertEquals(r.handler.requests.map((q) => q.status), [503, 503, 503, 200, 200]);
  assertEquals(seqsByShard(r).get(0), [1, 2]);
  assertEquals(r.queue.counters.retried, 3);
  await r.close();
});

Deno.test("createDeliveryQueue() waits at least Retry-After after a 429", async () => {
  const r = await rig({ retry: { baseMs: 1, maxMs: 5 } });
  let first = true;
  r.handler.behave = () => {
    if (!first) return undefined;
    first = false;
    return { status: 429, headers: { "retry-after": "0.4" } };
  };
  r.queue.push(makeEvent(0, 1));
  await until(() => r.handler.events.length === 1, "delivery after 429");
  const [limited, ok] = r.handler.requests;
  assertEquals([limited.status, ok.status], [429, 200]);
  assert(ok.body.at - limited.body.at >= 400, `retried after ${ok.body.at - limited.body.at} ms`);
  await r.close();
});

Deno.test("createDeliveryQueue() dead-letters an event answered 400 and moves on", async () => {
  const r = await rig();
  r.handler.behave = (e) => (e.data.s === 2 ? { status: 400, body: "bad event 2" } : undefined);
  for (let s = 1; s <= 4; s++) r.queue.push(makeEvent(0, s));
  await until(() => r.handler.events.length === 3, "3 deliveries");
  assertEquals(seqsByShard(r).get(0), [1, 3, 4]);
  assertEquals(r.queue.counters.deadLettered, 1);
  await until(async () => {
    try {
      return (await Deno.readTextFile(`${r.dir}/dead-letters.jsonl`)).length > 0;
    } catch {
      return false;
    }
  }, "dead-letter file");
  const lines = (await Deno.readTextFile(`${r.dir}/dead-letters.jsonl`)).trim().split("\n");
  assertEquals(lines.length, 1);
  const dead = JSON.parse(lines[0]);
  assertEquals([dead.shardId, dead.s, dead.status, dead.body], [0, 2, 400, "bad event 2"]);
  assertEquals(dead.data.s, 2);
  assert(r.logs.some((l) => l.includes("rejected an event") && l.includes("status=400")));
  await r.close();
});

Deno.test("createDeliveryQueue() spills past the memory bound to disk and delivers all in order", async () => {
  const r = await rig({ maxEvents: 10, readBatch: 7 });
  await r.handler.down();
  for (let s = 1; s <= 200; s++) for (const shard of [0, 1]) r.queue.push(makeEvent(shard, s));
  assert(r.queue.counters.queuedMemory <= 10);
  assert(r.queue.counters.spilled >= 390);
  r.handler.up();
  await until(() => r.handler.events.length === 400, "400 deliveries");
  for (const shard of [0, 1]) assertEquals(seqsByShard(r).get(shard), range(1, 200));
  assertEquals(r.queue.depth(), { memory: 0, disk: 0 });
  assertEquals(r.queue.counters.dropped, 0);
  await r.close();
});

Deno.test("createDeliveryQueue() bounds the journal's real size on disk and drops only past it", async () => {
  // The bound is on the file (live pages plus write-ahead log), not on payload characters.
  const maxDiskBytes = 2 * 1024 * 1024;
  const r = await rig({ maxEvents: 5, maxDiskBytes });
  await r.handler.down();
  const pad = "x".repeat(1000);
  const total = 3000;
  for (let s = 1; s <= total; s++) {
    r.queue.push(makeEvent(0, s, "MESSAGE_CREATE", { pad }));
    // Let the batched journal writes happen as they would under a live stream.
    if (s % 50 === 0) await new Promise((resolve) => setTimeout(resolve, 0));
  }
  await until(() => r.queue.counters.spilled + r.queue.counters.dropped === total - 5, "spills");
  await new Promise((resolve) => setTimeout(resolve, 0));
  const dropped = r.queue.counters.dropped;
  assert(dropped > 0 && dropped < total - 5, `dropped ${dropped}`);
  let onDisk = 0;
  for (const suffix of ["", "-wal"]) {
    onDisk += await Deno.stat(`${r.dir}/journal.sqlite${suffix}`).then((s) => s.size, () => 0);
  }
  assert(onDisk <= maxDiskBytes * 1.05, `journal takes ${onDisk} bytes on disk`);
  assertEquals(r.logs.filter((l) => l.includes("event DROPPED")).length, dropped);
  assertStringIncludes(r.logs.find((l) => l.includes("event DROPPED"))!, "shardId=0");
  r.handler.up();
  await until(() => r.handler.events.length === total - dropped, "all kept events");
  // The oldest events are kept, the newest beyond the budget dropped.
  assertEquals(seqsByShard(r).get(0), range(1, total - dropped));
  await r.close();
});

Deno.test("createDeliveryQueue() persists undelivered events on close and delivers them on the next start", async () => {
  const first = await rig();
  await first.handler.down();
  for (let s = 1; s <= 25; s++) first.queue.push(makeEvent(3, s));
  await until(() => first.queue.counters.retried >= 1, "a failed attempt");
  await first.close();
  const second = await rig({}, first.dir);
  await until(() => second.handler.events.length === 25, "replayed events");
  assertEquals(seqsByShard(second).get(3), range(1, 25));
  second.queue.push(makeEvent(3, 26));
  await until(() => second.handler.events.length === 26, "live event after replay");
  await second.close();
});

function recordingDeferrer(outcome: (i: InteractionInfo) => DeferOutcome = () => ({
  kind: "deferred",
  callbackType: 5,
})) {
  const calls: { info: InteractionInfo; at: number }[] = [];
  return {
    calls,
    defer(info: InteractionInfo) {
      calls.push({ info, at: Date.now() });
      return Promise.resolve(outcome(info));
    },
  };
}

Deno.test("createDeliveryQueue() defers interactions while the handler is down and marks them deferred", async () => {
  const deferrer = recordingDeferrer();
  const r = await rig({ deferrer });
  await r.handler.down();
  r.queue.push(makeEvent(0, 1));
  r.queue.push(interaction(0, 2, 2));
  r.queue.push(interaction(0, 3, 3));
  await until(() => deferrer.calls.length === 2, "two deferrals");
  r.handler.up();
  await until(() => r.handler.events.length === 3, "3 deliveries");
  const [plain, command, component] = r.handler.events;
  assertEquals(plain.deferred, undefined);
  assertEquals([command.deferred, component.deferred], [true, true]);
  assertEquals(r.queue.counters.deferred, 2);
  await r.close();
});

Deno.test("createDeliveryQueue() defers an interaction stuck behind a slow handler before 3 s", async () => {
  const deferrer = recordingDeferrer();
  const r = await rig({ deferrer, deferAfterMs: 300 });
  r.handler.behave = (e) => (e.data.s === 1 ? { delayMs: 1000 } : undefined);
  r.queue.push(makeEvent(0, 1));
  const i = interaction(0, 2, 2);
  r.queue.push(i);
  await until(() => r.handler.events.length === 2, "both deliveries");
  assertEquals(deferrer.calls.length, 1);
  assert(deferrer.calls[0].at - i.receivedAt < 3000);
  assertEquals(r.handler.events[1].deferred, true);
  await r.close();
});

Deno.test("createDeliveryQueue() delivers an interaction the bot already answered only once", async () => {
  const deferrer = recordingDeferrer(() => ({ kind: "already-acknowledged" }));
  const r = await rig({ deferrer, deferAfterMs: 200 });
  // The handler takes the interaction but answers too late: the attempt is cut, the
  // deferral finds it answered, and it is not sent again.
  r.handler.behave = (e) => (e.data.t === "INTERACTION_CREATE" ? { delayMs: 600 } : undefined);
  r.queue.push(interaction(0, 1, 2));
  r.queue.push(makeEvent(0, 2));
  await until(() => r.handler.events.length === 2, "deliveries");
  await r.queue.idle(5000);
  assertEquals(r.handler.requests.filter((q) => q.body.data.s === 1).length, 1);
  assertEquals(r.queue.counters.alreadyAcknowledged, 1);
  await r.close();
});

Deno.test("createDeliveryQueue() still queues an interaction whose deferral failed", async () => {
  const deferrer = recordingDeferrer(() => ({ kind: "failed", reason: "HTTP 503" }));
  const r = await rig({ deferrer });
  await r.handler.down();
  r.queue.push(interaction(0, 1, 2));
  await until(() => deferrer.calls.length === 1, "deferral attempt");
  r.handler.up();
  await until(() => r.handler.events.length === 1, "delivery");
  assertEquals(r.handler.events[0].deferred, undefined);
  assertEquals(r.queue.counters.deferFailed, 1);
  assert(r.logs.some((l) => l.includes("could not defer") && l.includes("HTTP 503")));
  await r.close();
});

Deno.test("createDeliveryQueue() marks interactions older than 15 minutes as expired", async () => {
  const r = await rig({ interactionTtlMs: 50 });
  const e = interaction(0, 1, 2);
  e.receivedAt = Date.now() - 1000;
  r.queue.push(e);
  await until(() => r.handler.events.length === 1, "delivery");
  assertEquals(r.handler.events[0].expired, true);
  await r.close();
});

Deno.test("createDeliveryQueue() logs a summary line periodically while a backlog lasts", async () => {
  const r = await rig({ summaryIntervalMs: 30 });
  await r.handler.down();
  r.queue.push(makeEvent(0, 1));
  await until(() => r.logs.filter((l) => l.includes("backlog summary")).length >= 2, "summaries");
  const line = r.logs.find((l) => l.includes("backlog summary"))!;
  assertStringIncludes(line, "queuedMemory=1");
  assertStringIncludes(line, "backlogAgeMs=");
  r.handler.up();
  await until(() => r.logs.some((l) => l.includes("backlog drained")), "drained");
  const count = r.logs.filter((l) => l.includes("backlog summary")).length;
  await new Promise((res) => setTimeout(res, 100));
  assertEquals(r.logs.filter((l) => l.includes("backlog summary")).length, count);
  await r.close();
});

Deno.test("createDeliveryQueue() does not redeliver journaled events delivered before a clean stop", async () => {
  const first = await rig({ maxEvents: 10, readBatch: 20 });
  await first.handler.down();
  for (let s = 1; s <= 30; s++) first.queue.push(makeEvent(0, s));
  first.handler.behave = () => ({ delayMs: 20 });
  first.handler.up();
  // Past the 10 in memory and partway into the first journal batch.
  await until(() => first.handler.events.length >= 14, "14 deliveries");
  await first.close();
  const delivered = new Set(first.handler.events.map((e) => e.data.s));
  const second = await rig({}, first.dir);
  await second.queue.idle(20_000);
  const again = second.handler.events.map((e) => e.data.s);
  // Only the request in flight at the stop (the handler took it, the answer was cut) repeats.
  const repeated = again.filter((s) => delivered.has(s));
  assert(repeated.length <= 1, `repeated ${repeated}`);
  if (repeated.length === 1) assertEquals(repeated[0], Math.max(...delivered));
  assertEquals([...new Set([...delivered, ...again])].sort((a, b) => a - b), range(1, 30));
  await second.close();
});

Deno.test("createDeliveryQueue() keeps a journaled interaction's deferral across a restart", async () => {
  const acknowledged = new Set<string>();
  const deferrer = recordingDeferrer((info) => {
    if (acknowledged.has(info.id)) return { kind: "already-acknowledged" };
    acknowledged.add(info.id);
    return { kind: "deferred", callbackType: 5 };
  });
  const first = await rig({ deferrer, maxEvents: 1 });
  await first.handler.down();
  first.queue.push(makeEvent(0, 1));
  await until(() => first.queue.counters.retried >= 1, "a failed attempt");
  first.queue.push(interaction(0, 2, 2)); // memory is full: straight to the journal
  await until(() => first.queue.counters.deferred === 1, "deferral");
  await first.close();
  const second = await rig({ deferrer }, first.dir);
  await until(() => second.handler.events.length === 2, "both events after the restart");
  assertEquals(second.handler.events.map((e) => [e.data.s, e.deferred ?? false]), [[1, false], [
    2,
    true,
  ]]);
  assertEquals(deferrer.calls.length, 1, "deferred once, not again after the restart");
  await second.close();
});

Deno.test("createDeliveryQueue() does not defer an interaction on a healthy shard because another shard is failing", async () => {
  const deferrer = recordingDeferrer();
  const r = await rig({ deferrer });
  r.handler.behave = (e) => (e.shardId === 0 ? { status: 503 } : undefined);
  r.queue.push(makeEvent(0, 1));
  await until(() => r.queue.counters.retried >= 1, "shard 0 failing");
  r.queue.push(interaction(1, 1, 2));
  await until(() => r.handler.events.some((e) => e.shardId === 1), "shard 1 delivery");
  assertEquals(r.handler.events.find((e) => e.shardId === 1)!.deferred, undefined);
  assertEquals(deferrer.calls.length, 0);
  r.handler.behave = () => undefined;
  await r.close();
});

Deno.test("createDeliveryQueue() backs off instead of spinning when the journal fails", async () => {
  const handler = await startTestHandler();
  const logs: string[] = [];
  const journal = createSqliteJournal({ path: ":memory:" });
  const broken = {
    ...journal,
    read: () => {
      throw new Error("disk I/O error");
    },
  };
  const transport = createHttpTransport({ url: handler.url, authorization: AUTH });
  const queue = createDeliveryQueue({
    transport,
    logger: createLogger({ write: (_l, line) => logs.push(line) }),
    journal: broken,
    maxEvents: 1,
    retry: { baseMs: 50, maxMs: 50 },
  });
  await handler.down();
  queue.push(makeEvent(0, 1));
  queue.push(makeEvent(0, 2)); // on disk
  handler.up();
  // The event loop keeps turning: timers fire while the lane retries.
  let ticks = 0;
  await until(
    () => ++ticks > 5 && logs.filter((l) => l.includes("delivery lane failed")).length >= 2,
    "retries",
  );
  assert(logs.filter((l) => l.includes("delivery lane failed")).length < 50, "no tight loop");
  await queue.close().catch(() => {});
  transport.close?.();
  journal.close();
  await handler.close();
});

Deno.test("createFileDeadLetters() keeps writing after one write failed", async () => {
  const dir = await Deno.makeTempDir();
  const sink = createFileDeadLetters(`${dir}/missing/dead.jsonl`);
  const failed = await sink.write(makeEvent(0, 1), { error: "x" }).then(() => false, () => true);
  assert(failed, "the folder does not exist yet");
  await Deno.mkdir(`${dir}/missing`);
  await sink.write(makeEvent(0, 2), { error: "x" });
  const lines = (await Deno.readTextFile(`${dir}/missing/dead.jsonl`)).trim().split("\n");
  assertEquals(lines.map((l) => JSON.parse(l).s), [2]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("createSqliteJournal() keeps each event's shard set (totalShards) and opens an older journal without it", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/j.sqlite`;
  // A journal written before the column existed.
  const { DatabaseSync } = await import("node:sqlite");
  const old = new DatabaseSync(path);
  old.exec(
    "CREATE TABLE events (pos INTEGER NOT NULL, shard INTEGER NOT NULL, s INTEGER NOT NULL, session TEXT, t TEXT NOT NULL, received_at INTEGER NOT NULL, meta TEXT, bytes INTEGER NOT NULL, raw TEXT NOT NULL)",
  );
  old.exec(`INSERT INTO events VALUES (1, 0, 5, 'a', 'X', 0, NULL, 2, '{}')`);
  old.close();
  const journal = createSqliteJournal({ path });
  journal.append([{ ...makeEvent(0, 6), pos: 2, totalShards: 4 }]);
  const rows = journal.read(0, 10);
  assertEquals(rows.map((r) => [r.s, r.totalShards]), [[5, undefined], [6, 4]]);
  journal.close();
  await Deno.remove(dir, { recursive: true });
});
