/**
 * Tests of the overlap dedupe (src/reshard/overlap.ts): while two shard sets both
 * deliver, each dispatch goes out once, through whichever set brought it first.
 * Time is injected; the interleaving test is seeded and replays exactly.
 * @module
 */
import { createOverlapDedupe } from "../src/reshard/overlap.ts";
import { assert, assertEquals } from "./helpers/assert.ts";
import { createRng } from "./helpers/prng.ts";

/** Set ids as the service uses them: the sets' shard counts. */
const OLD = 4;
const NEW = 8;

/** A clock the test moves by hand. */
function clock(start = 1_000_000) {
  let t = start;
  return {
    now: () => t,
    set: (ms: number) => {
      t = ms;
    },
    advance: (ms: number) => {
      t += ms;
    },
  };
}

Deno.test("createOverlapDedupe() rejects a window that is not positive with a RangeError", () => {
  for (const windowMs of [0, -1, -1000, NaN]) {
    let caught: unknown;
    try {
      createOverlapDedupe({ windowMs });
    } catch (error) {
      caught = error;
    }
    assert(caught instanceof RangeError, `windowMs ${windowMs} throws a RangeError`);
    assert(
      (caught as RangeError).message.includes(String(windowMs)),
      `the message names ${windowMs}: ${(caught as RangeError).message}`,
    );
  }
  // Any positive window is fine, and `now` defaults to Date.now.
  const d = createOverlapDedupe({ windowMs: 0.5 });
  assertEquals(d.admit(OLD, "READY", "{}"), true);
  assertEquals(createOverlapDedupe({ windowMs: 1000 }).size, 0);
});

Deno.test("createOverlapDedupe() delivers a dispatch once, whichever set sees it first", () => {
  const c = clock();
  for (const [first, second] of [[OLD, NEW], [NEW, OLD]]) {
    const d = createOverlapDedupe({ windowMs: 1000, now: c.now });
    const payload = JSON.stringify({ id: "1", guild_id: "2", content: "hi" });
    assertEquals(d.admit(first, "MESSAGE_CREATE", payload), true, `set ${first} first`);
    c.advance(5);
    assertEquals(d.admit(second, "MESSAGE_CREATE", payload), false, `set ${second} second`);
    assertEquals(d.deduped, 1);
    assertEquals(d.size, 1);
  }
});

Deno.test("createOverlapDedupe() delivers twice a dispatch Discord really sends twice (seen twice by each set)", () => {
  const c = clock();
  const payload = '{"id":"9","guild_id":"1"}';
  // Every order of two copies from each set delivers exactly two.
  const orders: number[][] = [
    [OLD, OLD, NEW, NEW],
    [OLD, NEW, OLD, NEW],
    [OLD, NEW, NEW, OLD],
    [NEW, OLD, OLD, NEW],
    [NEW, OLD, NEW, OLD],
    [NEW, NEW, OLD, OLD],
  ];
  for (const order of orders) {
    const d = createOverlapDedupe({ windowMs: 1000, now: c.now });
    const delivered = order.map((set) => {
      c.advance(1);
      return d.admit(set, "MESSAGE_REACTION_ADD", payload);
    });
    assertEquals(delivered.filter(Boolean).length, 2, `order ${order.join(",")}`);
    assertEquals(d.deduped, 2, `order ${order.join(",")}`);
    assertEquals(d.size, 1);
  }
  // One set alone sees both copies: both go out.
  const d = createOverlapDedupe({ windowMs: 1000, now: c.now });
  assertEquals(d.admit(NEW, "TYPING_START", payload), true);
  assertEquals(d.admit(NEW, "TYPING_START", payload), true);
  assertEquals(d.deduped, 0);
  // A set that saw it twice while the other saw it once: two go out.
  const e = createOverlapDedupe({ windowMs: 1000, now: c.now });
  assertEquals(
    [e.admit(OLD, "X", payload), e.admit(NEW, "X", payload), e.admit(OLD, "X", payload)],
    [true, false, true],
  );
  assertEquals(e.deduped, 1);
});

Deno.test("createOverlapDedupe() does not confuse dispatches with another t or d", () => {
  const c = clock();
  const d = createOverlapDedupe({ windowMs: 1000, now: c.now });
  const base = '{"id":"1","guild_id":"2","content":"hello"}';
  const admits: [string, string][] = [
    ["MESSAGE_CREATE", base],
    ["MESSAGE_UPDATE", base], // same d, other t
    ["MESSAGE_CREATE", base.replace("hello", "hellp")], // one character differs
    ["MESSAGE_CREATE", base.replace("hello", "hello ")], // one character longer
    ["MESSAGE_CREATE", '{"guild_id":"2","id":"1","content":"hello"}'], // same data, other text
    ["MESSAGE_CREATE", ""],
    ["MESSAGE_CREATE", "{}"],
    ["", "{}"],
    ["MESSAGE_CREATE\u0000", "{}"], // a separator-like character in t
  ];
  for (const [t, text] of admits) {
    assertEquals(d.admit(OLD, t, text), true, `${t} ${JSON.stringify(text)} from OLD`);
  }
  assertEquals(d.size, admits.length);
  for (const [t, text] of admits) {
    assertEquals(d.admit(NEW, t, text), false, `${t} ${JSON.stringify(text)} from NEW`);
  }
  assertEquals(d.deduped, admits.length);
  assertEquals(d.size, admits.length);
});

Deno.test("createOverlapDedupe() does not confuse many similar dispatches", () => {
  const c = clock();
  const d = createOverlapDedupe({ windowMs: 1000, now: c.now });
  const n = 5000;
  for (let i = 0; i < n; i++) {
    assertEquals(d.admit(OLD, "PRESENCE_UPDATE", `{"user":{"id":"${i}"}}`), true, `#${i}`);
  }
  assertEquals(d.size, n);
  for (let i = 0; i < n; i++) {
    assertEquals(d.admit(NEW, "PRESENCE_UPDATE", `{"user":{"id":"${i}"}}`), false, `#${i}`);
  }
  assertEquals(d.deduped, n);
});

Deno.test("createOverlapDedupe() forgets an identity once windowMs has passed", () => {
  const c = clock(0);
  const d = createOverlapDedupe({ windowMs: 100, now: c.now });
  assertEquals(d.admit(OLD, "A", "1"), true);
  c.set(100); // exactly the window: still remembered
  assertEquals(d.admit(NEW, "A", "1"), false);
  assertEquals(d.size, 1);
  c.set(101); // past the window: forgotten, so a late copy goes out again
  assertEquals(d.admit(NEW, "A", "1"), true);
  assertEquals(d.size, 1, "the old identity went, the new copy's came");
  assertEquals(d.deduped, 1);
});

Deno.test("createOverlapDedupe() evicts expired identities in first-seen order and keeps fresh ones", () => {
  const c = clock(0);
  const d = createOverlapDedupe({ windowMs: 100, now: c.now });
  for (let i = 0; i < 10; i++) {
    c.set(i * 10);
    d.admit(OLD, "E", String(i)); // seen at 0, 10, ..., 90
  }
  assertEquals(d.size, 10);
  c.set(145); // 0..40 are older than 100 ms now
  assertEquals(d.admit(NEW, "E", "9"), false, "a fresh one is still remembered");
  assertEquals(d.size, 5);
  assertEquals(d.admit(NEW, "E", "5"), false, "seen at 50, 95 ms ago");
  assertEquals(d.admit(NEW, "E", "4"), true, "seen at 40, forgotten");
  c.set(1000);
  d.admit(NEW, "other", "x");
  assertEquals(d.size, 1, "everything older than the window is gone");
});

Deno.test("createOverlapDedupe() counts only held-back copies in deduped", () => {
  const c = clock();
  const d = createOverlapDedupe({ windowMs: 1000, now: c.now });
  assertEquals(d.deduped, 0);
  d.admit(OLD, "A", "1");
  d.admit(OLD, "B", "1");
  assertEquals(d.deduped, 0);
  d.admit(NEW, "A", "1");
  assertEquals(d.deduped, 1);
  d.admit(NEW, "B", "1");
  d.admit(NEW, "C", "1");
  assertEquals(d.deduped, 2);
  d.admit(OLD, "C", "1");
  assertEquals(d.deduped, 3);
  assertEquals(d.size, 3);
});

Deno.test("createOverlapDedupe() delivers each logical event once in any seeded interleaving of two sets", () => {
  const windowMs = 50;
  for (let seed = 1; seed <= 200; seed++) {
    const r = createRng(seed);
    const c = clock(0);
    const d = createOverlapDedupe({ windowMs, now: c.now });
    const n = r.int(1, 60);
    const types = ["MESSAGE_CREATE", "GUILD_MEMBER_ADD", "PRESENCE_UPDATE", "TYPING_START"];
    type Copy = { at: number; order: number; set: number; t: string; d: string; event: number };
    const copies: Copy[] = [];
    const seenBy = new Set<number>();
    for (let event = 0; event < n; event++) {
      const t = types[r.int(0, types.length - 1)];
      const text = JSON.stringify({ n: event, guild_id: String(r.int(1, 3)) });
      const base = event * r.int(0, 3); // events may share a millisecond
      // 0: nobody, 1: OLD only, 2: NEW only, 3: both (the usual case)
      const who = r.int(0, 9) < 1 ? r.int(0, 2) : 3;
      for (const set of [OLD, NEW]) {
        if (!(who === 3 || (who === 1 && set === OLD) || (who === 2 && set === NEW))) continue;
        seenBy.add(event);
        // Skew below the window, so every copy of an event falls within it.
        copies.push({ at: base + r.int(0, windowMs - 1), order: r.next(), set, t, d: text, event });
      }
    }
    copies.sort((a, b) => a.at - b.at || a.order - b.order);
    const delivered: number[] = [];
    const firstCopy = new Map<number, Copy>();
    for (const copy of copies) {
      c.set(copy.at);
      if (!firstCopy.has(copy.event)) firstCopy.set(copy.event, copy);
      if (d.admit(copy.set, copy.t, copy.d)) {
        delivered.push(copy.event);
        assertEquals(
          firstCopy.get(copy.event),
          copy,
          `seed ${seed}: event ${copy.event} goes out with its first copy`,
        );
      }
    }
    assertEquals(
      [...delivered].sort((a, b) => a - b),
      [...seenBy].sort((a, b) => a - b),
      `seed ${seed}: every event seen by a set is delivered exactly once`,
    );
    assertEquals(d.deduped, copies.length - delivered.length, `seed ${seed}: deduped`);
  }
});

Deno.test("createOverlapDedupe() delivers each Discord send of an event once in seeded interleavings with real repeats", () => {
  const windowMs = 50;
  for (let seed = 1; seed <= 200; seed++) {
    const r = createRng(seed * 7919);
    const c = clock(0);
    const d = createOverlapDedupe({ windowMs, now: c.now });
    const n = r.int(1, 30);
    type Copy = { at: number; order: number; set: number; t: string; d: string; event: number };
    const copies: Copy[] = [];
    const expected = new Map<number, number>();
    for (let event = 0; event < n; event++) {
      const text = `{"id":"${event}"}`;
      const sends = r.int(1, 3); // Discord may really send the same dispatch again
      const who = r.int(1, 3); // 1: OLD only, 2: NEW only, 3: both; a set that sees it sees every send
      const seenA = who !== 2 ? sends : 0;
      const seenB = who !== 1 ? sends : 0;
      expected.set(event, Math.max(seenA, seenB));
      for (const [set, count] of [[OLD, seenA], [NEW, seenB]]) {
        for (let i = 0; i < count; i++) {
          copies.push({
            at: event * 2 + r.int(0, windowMs - 1),
            order: r.next(),
            set,
            t: "MESSAGE_REACTION_ADD",
            d: text,
            event,
          });
        }
      }
    }
    copies.sort((a, b) => a.at - b.at || a.order - b.order);
    const got = new Map<number, number>();
    for (const copy of copies) {
      c.set(copy.at);
      if (d.admit(copy.set, copy.t, copy.d)) got.set(copy.event, (got.get(copy.event) ?? 0) + 1);
    }
    assertEquals(got, expected, `seed ${seed}: each send delivered once`);
    const total = [...expected.values()].reduce((a, b) => a + b, 0);
    assertEquals(d.deduped, copies.length - total, `seed ${seed}: deduped`);
  }
});

Deno.test("createOverlapDedupe() delivers as many copies as the set that saw the most", () => {
  // A documented limit: a dispatch sent twice, where each set lost one copy, looks exactly
  // like one dispatch seen by both sets, and goes out once.
  const c = clock();
  const d = createOverlapDedupe({ windowMs: 1000, now: c.now });
  assertEquals(d.admit(OLD, "X", "{}"), true);
  assertEquals(d.admit(NEW, "X", "{}"), false);
  // Three copies via NEW, one via OLD: three go out.
  const e = createOverlapDedupe({ windowMs: 1000, now: c.now });
  const got = [OLD, NEW, NEW, NEW].map((set) => e.admit(set, "X", "{}"));
  assertEquals(got, [true, false, true, true]);
});

Deno.test("createOverlapDedupe() handles a third set like the other two", () => {
  const c = clock();
  const d = createOverlapDedupe({ windowMs: 1000, now: c.now });
  assertEquals(d.admit(2, "X", "{}"), true);
  assertEquals(d.admit(4, "X", "{}"), false);
  assertEquals(d.admit(8, "X", "{}"), false);
  assertEquals(d.deduped, 2);
});
