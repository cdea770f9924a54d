/**
 * The replay hold through `sessionStarted()`: the queue learns about sessions from the
 * service, not from the dispatches it carries.
 */
import { assertEquals } from "./helpers/assert.ts";
import { startTestHandler } from "./helpers/handler.ts";
import { until } from "./helpers/wait.ts";
import { createDeliveryQueue, createSqliteJournal, type QueuedEvent } from "../src/delivery/mod.ts";
import { createHttpTransport } from "../src/transport/mod.ts";
import { createLogger } from "../src/log.ts";

function ev(s: number, session: string): QueuedEvent {
  return {
    shardId: 0,
    s,
    session,
    t: "MESSAGE_CREATE",
    receivedAt: Date.now(),
    raw: JSON.stringify({ op: 0, t: "MESSAGE_CREATE", s, d: {} }),
  };
}

/** A queue resuming session `A` on shard 0 over a journal holding A's s=10..12. */
async function resumingQueue() {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/j.sqlite`;
  const earlier = createSqliteJournal({ path });
  earlier.append([10, 11, 12].map((s, i) => ({ ...ev(s, "A"), pos: 100 + i })));
  earlier.close();
  const handler = await startTestHandler();
  const journal = createSqliteJournal({ path });
  const transport = createHttpTransport({ url: handler.url, authorization: "x" });
  const queue = createDeliveryQueue({
    transport,
    logger: createLogger({ write: () => {} }),
    journal,
    resuming: new Map([[0, "A"]]),
  });
  const delivered = () => handler.events.map((e) => e.data.s);
  return {
    queue,
    delivered,
    async close() {
      await queue.close();
      transport.close?.();
      journal.close();
      await handler.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("createDeliveryQueue() delivers a resuming shard's journaled events once sessionStarted() reports another session", async () => {
  const { queue, delivered, close } = await resumingQueue();
  // The resume failed: a new session B starts; the hold (60 s by default) ends at once.
  queue.sessionStarted(0, "B", "ready", 1);
  queue.push(ev(1, "B"));
  await until(() => delivered().length === 4, "4 deliveries");
  assertEquals(delivered(), [10, 11, 12, 1]);
  await close();
});

Deno.test("createDeliveryQueue() keeps holding after sessionStarted() reports a RESUMED the journal holds events after", async () => {
  const { queue, delivered, close } = await resumingQueue();
  // An earlier RESUMED of A (s 5), repeated by Discord's replay: the replay goes on. Had it
  // ended the hold, s 10-12 would be on their way before s 9 arrives.
  queue.sessionStarted(0, "A", "resumed", 5);
  queue.push(ev(9, "A"));
  queue.push(ev(10, "A")); // journaled already: skipped
  queue.sessionStarted(0, "A", "resumed", 13);
  queue.push(ev(13, "A"));
  await until(() => delivered().length === 5, "5 deliveries");
  assertEquals(delivered(), [9, 10, 11, 12, 13]);
  assertEquals(queue.counters.replayDuplicates, 1);
  await close();
});
