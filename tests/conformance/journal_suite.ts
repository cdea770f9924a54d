/**
 * The contract of a {@linkcode Journal}, for any implementation: per-shard order and paging,
 * removal, flag updates, stats, sessions, where a replayed event is `place()`d, atomic appends,
 * and (for a durable journal) surviving a reopen.
 * @module
 */
import type { Journal, JournalRecord, QueuedEvent } from "../../src/delivery/mod.ts";
import { assert, assertEquals } from "../helpers/assert.ts";
import { type ConformanceCase, type ConformanceOptions, registerCases } from "./register.ts";

/** A journal under test. */
export interface JournalFixture {
  journal: Journal;
  /** Closes the journal and opens the same storage again (durable journals). */
  reopen?(): Promise<Journal>;
  /** Closes what is open and removes the storage. */
  cleanup(): Promise<void>;
}

/** Options of {@linkcode journalConformance}. */
export interface JournalConformanceOptions extends ConformanceOptions {
  /** Records survive a close and reopen (the fixture implements `reopen`). @default false */
  durable?: boolean;
}

/** Registers the journal suite for `name`; `make` returns a fresh, empty journal. */
export function journalConformance(
  name: string,
  make: () => Promise<JournalFixture>,
  options: JournalConformanceOptions = {},
): void {
  registerCases(
    "Journal",
    name,
    make,
    options.durable ? [...cases, durableCase] : cases,
    options,
  );
}

/** A journaled MESSAGE_CREATE of `shardId` at `pos`, sequence `s` of `session`. */
export function journaled(shardId: number, pos: number, s = pos, session = "sess-a"): QueuedEvent {
  return {
    shardId,
    pos,
    s,
    session,
    t: "MESSAGE_CREATE",
    totalShards: 4,
    receivedAt: 1_700_000_000_000 + pos,
    raw: JSON.stringify({ op: 0, t: "MESSAGE_CREATE", s, d: { content: `é ${pos}` } }),
  };
}

const posOf = (records: JournalRecord[]) => records.map((r) => r.pos);

const cases: ConformanceCase<JournalFixture>[] = [
  {
    name:
      "read() gives a shard's records in pos order, every field kept, paged by limit and afterPos",
    fn({ journal }) {
      const interaction: QueuedEvent = {
        ...journaled(0, 4),
        t: "INTERACTION_CREATE",
        interaction: { id: "i1", token: "tok", type: 2, hasMessage: false },
        deferred: true,
      };
      // Appended out of order, interleaved with another shard.
      journal.append([journaled(0, 3), journaled(1, 1), journaled(0, 1), interaction]);
      journal.append([journaled(0, 2), journaled(1, 2)]);
      assertEquals(journal.read(0, 100), [
        journaled(0, 1),
        journaled(0, 2),
        journaled(0, 3),
        interaction,
      ]);
      assertEquals(posOf(journal.read(0, 2)), [1, 2]);
      assertEquals(posOf(journal.read(0, 2, 2)), [3, 4]);
      assertEquals(posOf(journal.read(0, 10, 4)), []);
      assertEquals(posOf(journal.read(1, 10)), [1, 2]);
      assertEquals(journal.read(7, 10), []);
    },
  },
  {
    name: "remove() drops a shard's records up to and including pos, and no other shard's",
    fn({ journal }) {
      journal.append([1, 2, 3, 4].flatMap((p) => [journaled(0, p), journaled(1, p)]));
      journal.remove(0, 2);
      assertEquals(posOf(journal.read(0, 10)), [3, 4]);
      assertEquals(posOf(journal.read(1, 10)), [1, 2, 3, 4]);
      journal.remove(0, 2.5); // between records: nothing more goes
      assertEquals(posOf(journal.read(0, 10)), [3, 4]);
      journal.remove(0, 4);
      assertEquals(journal.read(0, 10), []);
    },
  },
  {
    name: "update() rewrites a journaled event's delivery flags and ignores an absent one",
    fn({ journal }) {
      journal.append([journaled(0, 1), journaled(0, 2)]);
      journal.update({ ...journaled(0, 2), deferred: true, acknowledged: true });
      journal.update({ ...journaled(0, 9), deferred: true });
      const [first, second] = journal.read(0, 10);
      assertEquals(first, journaled(0, 1));
      assertEquals([second.deferred, second.acknowledged], [true, true]);
      assertEquals(posOf(journal.read(0, 10)), [1, 2]);
    },
  },
  {
    name: "stats() counts records, payload bytes and the pos range per shard with records",
    fn({ journal }) {
      assertEquals(journal.stats().size, 0);
      const events = [journaled(0, 5), journaled(0, 7), journaled(2, 1)];
      journal.append(events);
      const stats = journal.stats();
      assertEquals([...stats.keys()].sort(), [0, 2]);
      assertEquals(stats.get(0), {
        events: 2,
        bytes: events[0].raw.length + events[1].raw.length,
        minPos: 5,
        maxPos: 7,
      });
      assertEquals(stats.get(2), { events: 1, bytes: events[2].raw.length, minPos: 1, maxPos: 1 });
      journal.remove(2, 1);
      assertEquals([...journal.stats().keys()], [0]);
    },
  },
  {
    name: "sessions() lists each shard's sessions with journaled events, once each",
    fn({ journal }) {
      journal.append([
        journaled(0, 1, 1, "a"),
        journaled(0, 2, 2, "a"),
        journaled(0, 3, 1, "b"),
        journaled(1, 1, 1, "a"),
      ]);
      const key = (x: { shardId: number; session: string }) => `${x.shardId}/${x.session}`;
      assertEquals(journal.sessions().map(key).sort(), ["0/a", "0/b", "1/a"]);
    },
  },
  {
    name: "place(): a journaled s is a duplicate, a gap gets a pos between its neighbours " +
      "(later s later), and s past everything journaled of the session is appended",
    fn({ journal }) {
      // Session "a" journaled s 10 and 20 at pos 100 and 200; s 11-19 were only in memory.
      journal.append([
        journaled(0, 50, 5, "old"),
        journaled(0, 100, 10, "a"),
        journaled(0, 200, 20, "a"),
      ]);
      assertEquals(journal.place(0, "a", 10), "duplicate");
      assertEquals(journal.place(0, "a", 20), "duplicate");
      const p12 = journal.place(0, "a", 12);
      const p15 = journal.place(0, "a", 15);
      assert(typeof p12 === "number" && p12 > 100 && p12 < 200, `s 12 at ${p12}`);
      assert(typeof p15 === "number" && p15 > p12 && p15 < 200, `s 15 at ${p15} (s 12 at ${p12})`);
      assertEquals(journal.place(0, "a", 21), undefined);
      // Before the session's first journaled event, but after the older session's.
      const p3 = journal.place(0, "a", 3);
      assert(typeof p3 === "number" && p3 > 50 && p3 < 100, `s 3 at ${p3}`);
      // Another shard, another session: nothing journaled to place among.
      assertEquals(journal.place(1, "a", 12), undefined);
      assertEquals(journal.place(0, "unknown", 12), undefined);
    },
  },
  {
    name: "append() refuses an event without pos and stores nothing of that call",
    fn({ journal }) {
      const { pos: _, ...unplaced } = journaled(0, 2);
      let threw: unknown;
      try {
        journal.append([journaled(0, 1), unplaced]);
      } catch (error) {
        threw = error;
      }
      assert(threw instanceof TypeError, `expected a TypeError, got ${threw}`);
      assertEquals(journal.read(0, 10), []);
    },
  },
  {
    name: "sizeBytes() is a byte count that grows with what is journaled",
    fn({ journal }) {
      const before = journal.sizeBytes();
      assert(Number.isInteger(before) && before >= 0, `sizeBytes ${before}`);
      const big = Array.from({ length: 200 }, (_, i) => ({
        ...journaled(0, i + 1),
        raw: JSON.stringify({ op: 0, s: i + 1, t: "X", d: "x".repeat(1000) }),
      }));
      journal.append(big);
      const after = journal.sizeBytes();
      assert(after >= before + 100_000, `sizeBytes ${before} -> ${after} for 200 KB of events`);
    },
  },
];

const durableCase: ConformanceCase<JournalFixture> = {
  name: "records survive a close and reopen",
  async fn(fixture) {
    if (!fixture.reopen) throw new TypeError("options.durable needs fixture.reopen()");
    fixture.journal.append([journaled(0, 1), journaled(0, 2), journaled(3, 1)]);
    fixture.journal.remove(0, 1);
    const again = await fixture.reopen();
    assertEquals(again.read(0, 10), [journaled(0, 2)]);
    assertEquals(posOf(again.read(3, 10)), [1]);
  },
};
