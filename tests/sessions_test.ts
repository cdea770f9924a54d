import { assert, assertEquals } from "./helpers/assert.ts";
import { startTestHandler } from "./helpers/handler.ts";
import { until } from "./helpers/wait.ts";
import {
  createFileSessionStore,
  type SessionRecord,
  syncDirectory,
} from "../src/gateway/sessions.ts";
import { createDeliveryQueue, createSqliteJournal, type QueuedEvent } from "../src/delivery/mod.ts";
import { createHttpTransport } from "../src/transport/mod.ts";
import { createLogger } from "../src/log.ts";

function logger() {
  const lines: string[] = [];
  return { lines, logger: createLogger({ write: (_l, line) => lines.push(line) }) };
}

const RECORD: SessionRecord = {
  shardId: 3,
  sessionId: "abc",
  resumeGatewayUrl: "wss://resume.example",
  totalShards: 8,
  seq: 41,
  savedAt: 1,
};

Deno.test("createFileSessionStore() round-trips sessions through an atomic write", async () => {
  const dir = await Deno.makeTempDir();
  const { logger: log } = logger();
  const store = createFileSessionStore({ path: `${dir}/s.json`, token: "t.o.k", logger: log });
  assertEquals(await store.load(), []);
  await store.save([RECORD]);
  assertEquals(await store.load(), [RECORD]);
  const names = [...Deno.readDirSync(dir)].map((e) => e.name);
  assertEquals(names, ["s.json"], "no temporary file left behind");
  assert(!(await Deno.readTextFile(`${dir}/s.json`)).includes("t.o.k"), "the token is not stored");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("createFileSessionStore() ignores another token's file and malformed records, with warnings", async () => {
  const dir = await Deno.makeTempDir();
  const { lines, logger: log } = logger();
  const path = `${dir}/s.json`;
  await createFileSessionStore({ path, token: "other", logger: log }).save([RECORD]);
  const mine = createFileSessionStore({ path, token: "mine", logger: log });
  assertEquals(await mine.load(), []);
  assert(lines.some((l) => l.includes("another bot token")));
  await mine.save([RECORD, { ...RECORD, shardId: -1 } as SessionRecord]);
  assertEquals(await mine.load(), [RECORD]);
  assert(lines.some((l) => l.includes("malformed session record")));
  await Deno.remove(dir, { recursive: true });
});

Deno.test({
  name:
    "createFileSessionStore() writes the file with mode 0600, over an older 0644 file and a leftover temporary file",
  ignore: Deno.build.os === "windows",
  async fn() {
    const dir = await Deno.makeTempDir();
    const path = `${dir}/s.json`;
    await Deno.writeTextFile(path, "{}", { mode: 0o644 });
    await Deno.writeTextFile(`${path}.tmp`, "half a file", { mode: 0o644 });
    await Deno.chmod(path, 0o644);
    await Deno.chmod(`${path}.tmp`, 0o644);
    const store = createFileSessionStore({ path, token: "t.o.k", logger: logger().logger });
    await store.save([RECORD]);
    assertEquals((await Deno.stat(path)).mode! & 0o777, 0o600);
    assertEquals(await store.load(), [RECORD]);
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), ["s.json"]);
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test("createFileSessionStore() serializes concurrent saves; the last one wins", async () => {
  const dir = await Deno.makeTempDir();
  const store = createFileSessionStore({
    path: `${dir}/s.json`,
    token: "t.o.k",
    logger: logger().logger,
  });
  await Promise.all([1, 2, 3].map((seq) => store.save([{ ...RECORD, seq }])));
  assertEquals((await store.load()).map((r) => r.seq), [3]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("syncDirectory() syncs a folder and quietly skips one it cannot open", async () => {
  const dir = await Deno.makeTempDir();
  await syncDirectory(dir);
  await syncDirectory(`${dir}/missing`);
  await Deno.remove(dir, { recursive: true });
});

function ev(shardId: number, s: number, session: string): QueuedEvent {
  return {
    shardId,
    s,
    session,
    t: "MESSAGE_CREATE",
    receivedAt: Date.now(),
    raw: JSON.stringify({ op: 0, t: "MESSAGE_CREATE", s, d: {} }),
  };
}

/** A queue resuming `session` on shard 0 over a journal an earlier (crashed) run left. */
async function resumingQueue(journaled: QueuedEvent[], session: string) {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/j.sqlite`;
  const j1 = createSqliteJournal({ path });
  j1.append(journaled);
  j1.close();
  const handler = await startTestHandler();
  const journal = createSqliteJournal({ path });
  const transport = createHttpTransport({ url: handler.url, authorization: "x" });
  const queue = createDeliveryQueue({
    transport,
    logger: logger().logger,
    journal,
    resuming: new Map([[0, session]]),
  });
  return {
    handler,
    queue,
    async close() {
      await queue.close();
      transport.close?.();
      journal.close();
      await handler.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("createDeliveryQueue() puts a resume's replay in front of the journal and skips what it holds", async () => {
  // A crashed run left s=50..60 of session A on disk; s=40..49 were only in memory.
  const { handler, queue, close } = await resumingQueue(
    Array.from({ length: 11 }, (_, i) => ({ ...ev(0, 50 + i, "A"), pos: 100 + i })),
    "A",
  );
  // Nothing is delivered until the resume's replay has arrived.
  await new Promise((r) => setTimeout(r, 50));
  assertEquals(handler.events.length, 0);
  for (let s = 40; s <= 65; s++) queue.push(ev(0, s, "A")); // Discord's replay and new events
  queue.sessionStarted(0, "A", "resumed", 66);
  queue.push({ ...ev(0, 66, "A"), t: "RESUMED" });
  await until(() => handler.events.length === 27, "27 deliveries");
  assertEquals(handler.events.map((e) => e.data.s), Array.from({ length: 27 }, (_, i) => 40 + i));
  assertEquals(queue.counters.replayDuplicates, 11);
  await close();
});

Deno.test("createDeliveryQueue() puts a resume's replay after an older session's journaled events", async () => {
  // A crashed run had journaled s=50..55 of session A, then re-identified (session B) and
  // journaled B's s=20..25; B's s=15..19 were only in memory. The restart resumes B.
  const { handler, queue, close } = await resumingQueue([
    ...Array.from({ length: 6 }, (_, i) => ({ ...ev(0, 50 + i, "A"), pos: 100 + i })),
    ...Array.from({ length: 6 }, (_, i) => ({ ...ev(0, 20 + i, "B"), pos: 106 + i })),
  ], "B");
  for (let s = 15; s <= 30; s++) queue.push(ev(0, s, "B")); // B's replay and new events
  // The replayed s=15..19 went straight to their place in the journal: durable. s=26..30 wait
  // for the batched journal write, so a save now must name 25.
  assertEquals(queue.resumeSeq(0, "B", 30), 25);
  queue.sessionStarted(0, "B", "resumed", 31);
  queue.push({ ...ev(0, 31, "B"), t: "RESUMED" });
  await until(() => handler.events.length === 23, "23 deliveries");
  assertEquals(handler.events.map((e) => e.data.s), [
    ...[50, 51, 52, 53, 54, 55], // session A, first: it is older
    ...Array.from({ length: 17 }, (_, i) => 15 + i), // then B in order: replay, journal, new
  ]);
  assertEquals(queue.counters.replayDuplicates, 6);
  await close();
});

// The replay hold learns about sessions from sessionStarted(), not from the dispatches it carries.
Deno.test("createDeliveryQueue() delivers a resuming shard's journaled events once sessionStarted() reports another session", async () => {
  const { handler, queue, close } = await resumingQueue(
    [10, 11, 12].map((s, i) => ({ ...ev(0, s, "A"), pos: 100 + i })),
    "A",
  );
  const delivered = () => handler.events.map((e) => e.data.s);
  // The resume failed: a new session B starts; the hold (60 s by default) ends at once.
  queue.sessionStarted(0, "B", "ready", 1);
  queue.push(ev(0, 1, "B"));
  await until(() => delivered().length === 4, "4 deliveries");
  assertEquals(delivered(), [10, 11, 12, 1]);
  await close();
});

Deno.test("createDeliveryQueue() keeps holding after sessionStarted() reports a RESUMED the journal holds events after", async () => {
  const { handler, queue, close } = await resumingQueue(
    [10, 11, 12].map((s, i) => ({ ...ev(0, s, "A"), pos: 100 + i })),
    "A",
  );
  const delivered = () => handler.events.map((e) => e.data.s);
  // An earlier RESUMED of A (s 5), repeated by Discord's replay: the replay goes on. Had it
  // ended the hold, s 10-12 would be on their way before s 9 arrives.
  queue.sessionStarted(0, "A", "resumed", 5);
  queue.push(ev(0, 9, "A"));
  queue.push(ev(0, 10, "A")); // journaled already: skipped
  queue.sessionStarted(0, "A", "resumed", 13);
  queue.push(ev(0, 13, "A"));
  await until(() => delivered().length === 5, "5 deliveries");
  assertEquals(delivered(), [9, 10, 11, 12, 13]);
  assertEquals(queue.counters.replayDuplicates, 1);
  await close();
});

Deno.test("createDeliveryQueue().resumeSeq() stops before the oldest event only held in memory", async () => {
  const handler = await startTestHandler();
  await handler.down();
  const { logger: log } = logger();
  const queue = createDeliveryQueue({
    transport: createHttpTransport({ url: handler.url, authorization: "x" }),
    logger: log,
    retry: { baseMs: 10_000 },
  });
  assertEquals(queue.resumeSeq(0, "A", 9), 9);
  for (let s = 10; s <= 12; s++) queue.push(ev(0, s, "A"));
  assertEquals(queue.resumeSeq(0, "A", 12), 9);
  assertEquals(queue.resumeSeq(0, "B", 3), 3, "another session's events do not hold it back");
  assertEquals(queue.resumeSeq(1, "A", 7), 7);
  await queue.close();
  await handler.close();
});
