import { assert, assertEquals, assertStringIncludes, assertThrows } from "./helpers/assert.ts";
import { createFileDeadLetters, type DeadLetter } from "../src/delivery/dead_letters.ts";
import { createCounters } from "../src/counters.ts";
import type { QueuedEvent } from "../src/delivery/types.ts";
import { createLogger } from "../src/log.ts";

function event(s: number, pad = 0): QueuedEvent {
  return {
    shardId: 1,
    s,
    t: "MESSAGE_CREATE",
    receivedAt: 1_700_000_000_000 + s,
    raw: JSON.stringify({ op: 0, t: "MESSAGE_CREATE", s, d: { content: "x".repeat(pad) } }),
  };
}

async function lines(path: string): Promise<DeadLetter[]> {
  try {
    return (await Deno.readTextFile(path)).split("\n").filter(Boolean).map((l) => JSON.parse(l));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
}

async function setup(maxBytes: number) {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/dead-letters.jsonl`;
  const logs: string[] = [];
  const counters = createCounters();
  const sink = createFileDeadLetters({
    path,
    maxBytes,
    counters,
    logger: createLogger({ write: (_l, line) => logs.push(line) }),
    now: () => 0,
  });
  return { dir, path, logs, counters, sink };
}

/** Bytes of one dead-letter line for `event(s)` (every s below 10 gives the same length). */
async function lineBytes(): Promise<number> {
  const { dir, path, sink } = await setup(1e9);
  await sink.write(event(1), { status: 422, error: "HTTP 422" });
  const size = (await Deno.stat(path)).size;
  await Deno.remove(dir, { recursive: true });
  return size;
}

Deno.test("createFileDeadLetters() writes the event, why and when, as one JSON line", async () => {
  const { dir, path, sink } = await setup(1e9);
  await sink.write({ ...event(7), deferred: true }, {
    status: 422,
    error: "HTTP 422",
    body: "no",
  });
  assertEquals(await lines(path), [{
    at: "1970-01-01T00:00:00.000Z",
    shardId: 1,
    s: 7,
    t: "MESSAGE_CREATE",
    status: 422,
    error: "HTTP 422",
    body: "no",
    receivedAt: 1_700_000_000_007,
    deferred: true,
    data: { op: 0, t: "MESSAGE_CREATE", s: 7, d: { content: "" } },
  }]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("createFileDeadLetters() rotates to <path>.1 past maxBytes, replacing an older .1, counted and logged", async () => {
  const one = await lineBytes();
  // Room for two lines per file.
  const { dir, path, logs, counters, sink } = await setup(2 * one);
  for (let s = 1; s <= 5; s++) await sink.write(event(s), { status: 422, error: "HTTP 422" });
  // 1 2 | 3 4 | 5: two rotations; the file with 1 and 2 was replaced by the one with 3 and 4.
  assertEquals((await lines(`${path}.1`)).map((l) => l.s), [3, 4]);
  assertEquals((await lines(path)).map((l) => l.s), [5]);
  assertEquals(counters.deadLetterRotations, 2);
  assertEquals(logs.filter((l) => l.includes("dead-letter file reached its size bound")).length, 2);
  assertStringIncludes(logs[0], `previous=${path}.1`);
  assertEquals([...Deno.readDirSync(dir)].map((e) => e.name).sort(), [
    "dead-letters.jsonl",
    "dead-letters.jsonl.1",
  ]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("createFileDeadLetters() counts a file left by an earlier run towards maxBytes", async () => {
  const one = await lineBytes();
  const first = await setup(2 * one);
  await first.sink.write(event(1), { error: "x" });
  await first.sink.write(event(2), { error: "x" });
  // A new process over the same file: the next line does not fit.
  const again = createFileDeadLetters({ path: first.path, maxBytes: 2 * one });
  await again.write(event(3), { error: "x" });
  assertEquals((await lines(`${first.path}.1`)).map((l) => l.s), [1, 2]);
  assertEquals((await lines(first.path)).map((l) => l.s), [3]);
  await Deno.remove(first.dir, { recursive: true });
});

Deno.test("createFileDeadLetters() writes a line larger than maxBytes alone, never drops it", async () => {
  const { dir, path, sink } = await setup(100);
  await sink.write(event(1, 500), { error: "x" });
  await sink.write(event(2, 500), { error: "x" });
  assertEquals((await lines(`${path}.1`)).map((l) => l.s), [1]);
  assertEquals((await lines(path)).map((l) => l.s), [2]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("createFileDeadLetters() keeps concurrent writes whole and in order", async () => {
  const { dir, path, sink } = await setup(1e9);
  await Promise.all(
    Array.from({ length: 50 }, (_, i) => sink.write(event(i, 2000), { error: "x" })),
  );
  assertEquals((await lines(path)).map((l) => l.s), Array.from({ length: 50 }, (_, i) => i));
  await Deno.remove(dir, { recursive: true });
});

Deno.test({
  name: "createFileDeadLetters() creates its files with mode 0600 and tightens an older file",
  ignore: Deno.build.os === "windows",
  async fn() {
    const { dir, path, sink } = await setup(1e9);
    await sink.write(event(1), { error: "x" });
    assertEquals((await Deno.stat(path)).mode! & 0o777, 0o600);
    const older = `${dir}/older.jsonl`;
    await Deno.writeTextFile(older, "");
    await Deno.chmod(older, 0o644);
    await createFileDeadLetters(older).write(event(2), { error: "x" });
    assertEquals((await Deno.stat(older)).mode! & 0o777, 0o600);
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test("createFileDeadLetters().exclusive() holds writes until it ends, then measures the file again", async () => {
  const one = await lineBytes();
  const { dir, path, sink } = await setup(2 * one);
  await sink.write(event(1), { error: "x" });
  const gate = Promise.withResolvers<void>();
  const section = sink.exclusive(async () => {
    await gate.promise;
    // A tool empties the file meanwhile.
    await Deno.writeTextFile(path, "");
    return "done";
  });
  let written = false;
  const write = sink.write(event(2), { error: "x" }).then(() => written = true);
  await Promise.resolve();
  assert(!written, "the write waits for the exclusive section");
  gate.resolve();
  assertEquals(await section, "done");
  await write;
  await sink.write(event(3), { error: "x" });
  // Without a fresh measure the sink would have rotated at s=3 (it had counted s=1).
  assertEquals((await lines(path)).map((l) => l.s), [2, 3]);
  assertEquals(await lines(`${path}.1`), []);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("createFileDeadLetters() rejects a maxBytes that is not positive", () => {
  const error = assertThrows(
    () => createFileDeadLetters({ path: "x", maxBytes: 0 }),
    RangeError,
  );
  assertEquals(error.message, "maxBytes must be > 0, got 0");
});
