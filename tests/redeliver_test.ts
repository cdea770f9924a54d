import { assert, assertEquals, assertStringIncludes } from "./helpers/assert.ts";
import { createFileDeadLetters, type DeadLetter } from "../src/delivery/dead_letters.ts";
import { redeliverDeadLetters } from "../src/delivery/redeliver.ts";
import type { QueuedEvent } from "../src/delivery/types.ts";
import type { DeliveryResult, OutboundEvent, Transport } from "../src/transport/http.ts";

const NOW = 1_700_000_000_000;

function letter(s: number, extra: Partial<DeadLetter> = {}): DeadLetter {
  return {
    at: new Date(NOW - 1000).toISOString(),
    shardId: s % 3,
    s,
    t: "MESSAGE_CREATE",
    status: 422,
    error: "HTTP 422",
    receivedAt: NOW - 2000,
    data: { op: 0, t: "MESSAGE_CREATE", s, d: { id: String(s) } },
    ...extra,
  };
}

const jsonl = (letters: DeadLetter[]) => letters.map((l) => JSON.stringify(l) + "\n").join("");

/** A transport answering each event with `answer(s)` (NaN when raw is not JSON); records what it was sent. */
function fakeTransport(answer: (s: number) => DeliveryResult) {
  const sent: OutboundEvent[] = [];
  const transport: Transport = {
    send(event) {
      sent.push(event);
      let s = NaN;
      try {
        s = JSON.parse(event.raw).s;
      } catch { /* not JSON */ }
      return Promise.resolve(answer(s));
    },
  };
  return { sent, transport };
}

const OK: DeliveryResult = { ok: true, status: 204 };
const REJECT: DeliveryResult = { ok: false, verdict: "reject", status: 422, error: "HTTP 422" };
const DOWN: DeliveryResult = { ok: false, verdict: "retry", error: "connection refused" };

async function sOf(path: string): Promise<number[]> {
  const text = await Deno.readTextFile(path);
  return text.split("\n").filter(Boolean).map((l) => JSON.parse(l).s);
}

function names(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
}

Deno.test("redeliverDeadLetters() sends <path>.1 then <path> in order and keeps only the refused lines", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/dead-letters.jsonl`;
  await Deno.writeTextFile(`${path}.1`, jsonl([letter(1), letter(2), letter(3)]));
  await Deno.writeTextFile(path, jsonl([letter(4), letter(5), letter(6)]));
  const { sent, transport } = fakeTransport((s) => s === 2 || s === 5 ? REJECT : OK);
  const result = await redeliverDeadLetters({ path, transport, now: () => NOW });
  assertEquals(result, { delivered: 4, failed: 2, remaining: 2 });
  assertEquals(sent.map((e) => JSON.parse(e.raw).s), [1, 2, 3, 4, 5, 6]);
  assertEquals(sent[0], { shardId: 1, raw: JSON.stringify(letter(1).data) });
  assertEquals(await sOf(path), [2, 5]);
  assertEquals(names(dir), ["dead-letters.jsonl"], "nothing else left behind");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("redeliverDeadLetters() keeps dead letters the running sink writes meanwhile, after the failing ones", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/dead-letters.jsonl`;
  const sink = createFileDeadLetters({ path, maxBytes: 1e9 });
  const queued = (s: number): QueuedEvent => ({
    shardId: 0,
    s,
    t: "MESSAGE_CREATE",
    receivedAt: NOW,
    raw: JSON.stringify({ op: 0, t: "MESSAGE_CREATE", s, d: {} }),
  });
  for (const s of [1, 2, 3]) await sink.write(queued(s), { error: "x" });
  let wroteMeanwhile = false;
  const transport: Transport = {
    async send(event) {
      if (!wroteMeanwhile) {
        wroteMeanwhile = true;
        // A lane dead-letters an event while the re-delivery runs.
        await sink.write(queued(10), { error: "new" });
      }
      return JSON.parse(event.raw).s === 3 ? REJECT : OK;
    },
  };
  const result = await redeliverDeadLetters({ path, transport, exclusive: sink.exclusive });
  assertEquals(result, { delivered: 2, failed: 1, remaining: 2 });
  assertEquals(await sOf(path), [3, 10]);
  // The sink goes on appending to the rewritten file.
  await sink.write(queued(11), { error: "later" });
  assertEquals(await sOf(path), [3, 10, 11]);
  assertEquals(names(dir), ["dead-letters.jsonl"]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("redeliverDeadLetters() stops after maxConsecutiveFailures failures that say the handler is down", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/dead-letters.jsonl`;
  await Deno.writeTextFile(path, jsonl([1, 2, 3, 4, 5, 6].map((s) => letter(s))));
  // A rejection in between does not count: it is about the event, not the handler.
  const { sent, transport } = fakeTransport((s) => s === 2 ? REJECT : DOWN);
  const result = await redeliverDeadLetters({ path, transport, maxConsecutiveFailures: 2 });
  assertEquals(sent.map((e) => JSON.parse(e.raw).s), [1, 2, 3, 4]);
  assertEquals([result.delivered, result.failed, result.remaining], [0, 4, 6]);
  assertStringIncludes(result.stoppedEarly!, "2 failures in a row");
  assertStringIncludes(result.stoppedEarly!, "connection refused");
  assertEquals(await sOf(path), [1, 2, 3, 4, 5, 6], "everything kept, in order");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("redeliverDeadLetters() sends nothing once the signal is aborted and keeps every line", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/dead-letters.jsonl`;
  await Deno.writeTextFile(path, jsonl([letter(1), letter(2)]));
  const { sent, transport } = fakeTransport(() => OK);
  const result = await redeliverDeadLetters({ path, transport, signal: AbortSignal.abort() });
  assertEquals(sent, []);
  assertEquals(result, {
    delivered: 0,
    failed: 0,
    remaining: 2,
    stoppedEarly: "stopped by the caller",
  });
  assertEquals(await sOf(path), [1, 2]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("redeliverDeadLetters() first sends the files a crashed run left behind", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/dead-letters.jsonl`;
  await Deno.writeTextFile(`${path}.redeliver-000000000000005-1`, jsonl([letter(2)]));
  await Deno.writeTextFile(`${path}.redeliver-000000000000005-0`, jsonl([letter(1)]));
  await Deno.writeTextFile(`${path}.redeliver-tmp`, "half a line");
  await Deno.writeTextFile(path, jsonl([letter(3)]));
  const { sent, transport } = fakeTransport(() => OK);
  const result = await redeliverDeadLetters({ path, transport, now: () => 1 });
  assertEquals(sent.map((e) => JSON.parse(e.raw).s), [1, 2, 3]);
  assertEquals(result, { delivered: 3, failed: 0, remaining: 0 });
  assertEquals(names(dir), ["dead-letters.jsonl"]);
  assertEquals(await Deno.readTextFile(path), "");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("redeliverDeadLetters() keeps an unreadable line as it is, counted as failed", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/dead-letters.jsonl`;
  await Deno.writeTextFile(path, `${JSON.stringify(letter(1))}\n{not json\n{"s":2}\n`);
  const { sent, transport } = fakeTransport(() => OK);
  const result = await redeliverDeadLetters({ path, transport });
  assertEquals(sent.length, 1);
  assertEquals(result, { delivered: 1, failed: 2, remaining: 2 });
  assertEquals(await Deno.readTextFile(path), `{not json\n{"s":2}\n`);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("redeliverDeadLetters() rebuilds the event: text data as is, deferred kept, an old interaction expired", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/dead-letters.jsonl`;
  const interaction = (s: number, ageMs: number): DeadLetter =>
    letter(s, {
      t: "INTERACTION_CREATE",
      receivedAt: NOW - ageMs,
      deferred: true,
      data: { op: 0, t: "INTERACTION_CREATE", s, d: { id: "1", token: "t" } },
    });
  await Deno.writeTextFile(
    path,
    jsonl([
      interaction(1, 60_000),
      interaction(2, 20 * 60_000),
      letter(3, { data: "not json {" }),
    ]),
  );
  const { sent, transport } = fakeTransport(() => OK);
  await redeliverDeadLetters({ path, transport, now: () => NOW });
  assertEquals(sent.map((e) => [e.deferred, e.expired]), [
    [true, undefined],
    [true, true],
    [undefined, undefined],
  ]);
  assertEquals(sent[2].raw, "not json {");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("redeliverDeadLetters() with no dead letters leaves an empty file", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/dead-letters.jsonl`;
  const { sent, transport } = fakeTransport(() => OK);
  assertEquals(await redeliverDeadLetters({ path, transport }), {
    delivered: 0,
    failed: 0,
    remaining: 0,
  });
  assertEquals(sent, []);
  assert((await Deno.stat(path)).size === 0);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("redeliverDeadLetters() rejects a maxConsecutiveFailures below 1", async () => {
  const { transport } = fakeTransport(() => OK);
  const error = await redeliverDeadLetters({ path: "x", transport, maxConsecutiveFailures: 0 })
    .then(() => undefined, (e) => e);
  assert(error instanceof RangeError, String(error));
  assertEquals(error.message, "maxConsecutiveFailures must be a whole number >= 1, got 0");
});
