/**
 * The contract of a {@linkcode DeadLetterSink}, for any implementation: what a dead letter
 * keeps, order under concurrent writes, and (for a {@linkcode FileDeadLetters}) that writes wait
 * for an `exclusive()` section.
 * @module
 */
import type {
  DeadLetter,
  DeadLetterSink,
  FileDeadLetters,
  QueuedEvent,
} from "../../src/delivery/mod.ts";
import { assert, assertEquals } from "../helpers/assert.ts";
import { type ConformanceCase, type ConformanceOptions, registerCases } from "./register.ts";

/** A sink under test. */
export interface DeadLetterFixture {
  sink: DeadLetterSink;
  /** Every dead letter the sink holds, oldest first. */
  read(): Promise<DeadLetter[]>;
  cleanup(): Promise<void>;
}

/** Options of {@linkcode deadLetterConformance}. */
export interface DeadLetterConformanceOptions extends ConformanceOptions {
  /** The sink is a {@linkcode FileDeadLetters}: `exclusive()` holds writes back. @default false */
  exclusive?: boolean;
}

/** Registers the dead-letter suite for `name`; `make` returns a fresh, empty sink. */
export function deadLetterConformance(
  name: string,
  make: () => Promise<DeadLetterFixture>,
  options: DeadLetterConformanceOptions = {},
): void {
  registerCases(
    "DeadLetterSink",
    name,
    make,
    options.exclusive ? [...cases, exclusiveCase] : cases,
    options,
  );
}

function event(s: number, extra: Partial<QueuedEvent> = {}): QueuedEvent {
  return {
    shardId: 2,
    s,
    t: "MESSAGE_CREATE",
    receivedAt: 1_700_000_000_000 + s,
    raw: JSON.stringify({ op: 0, t: "MESSAGE_CREATE", s, d: { content: `héllo ${s}` } }),
    ...extra,
  };
}

const cases: ConformanceCase<DeadLetterFixture>[] = [
  {
    name: "a dead letter keeps the event, its parsed body and why it was refused",
    async fn({ sink, read }) {
      const before = Date.now();
      await sink.write(event(7), { status: 400, error: "HTTP 400", body: '{"message":"no"}' });
      await sink.write(event(8, { deferred: true }), { error: "failed 5 times" });
      const [refused, failed] = await read();
      assert(Date.parse(refused.at) >= before - 1000, `at ${refused.at}`);
      assertEquals({ ...refused, at: "" }, {
        at: "",
        shardId: 2,
        s: 7,
        t: "MESSAGE_CREATE",
        status: 400,
        error: "HTTP 400",
        body: '{"message":"no"}',
        receivedAt: event(7).receivedAt,
        data: JSON.parse(event(7).raw),
      });
      assertEquals([failed.s, failed.error, failed.status, failed.deferred], [
        8,
        "failed 5 times",
        undefined,
        true,
      ]);
    },
  },
  {
    name: "a body that is not JSON is kept as its text",
    async fn({ sink, read }) {
      await sink.write(event(1, { raw: "{not json" }), { status: 422, error: "HTTP 422" });
      assertEquals((await read()).map((d) => d.data), ["{not json"]);
    },
  },
  {
    name: "concurrent writes are kept whole, in call order",
    async fn({ sink, read }) {
      const seqs = Array.from({ length: 30 }, (_, i) => i + 1);
      await Promise.all(seqs.map((s) => sink.write(event(s), { status: 400, error: "HTTP 400" })));
      assertEquals((await read()).map((d) => d.s), seqs);
    },
  },
];

const exclusiveCase: ConformanceCase<DeadLetterFixture> = {
  name: "writes wait while an exclusive() section runs",
  async fn({ sink, read }) {
    const file = sink as FileDeadLetters;
    assert(typeof file.exclusive === "function", "options.exclusive needs a FileDeadLetters");
    await sink.write(event(1), { error: "x" });
    const seen = await file.exclusive(async () => {
      const writing = sink.write(event(2), { error: "x" });
      // Give a write that does not wait every chance to land inside the section.
      await new Promise((r) => setTimeout(r, 50));
      const inside = (await read()).map((d) => d.s);
      return { inside, writing };
    });
    await seen.writing;
    assertEquals(seen.inside, [1]);
    assertEquals((await read()).map((d) => d.s), [1, 2]);
  },
};
