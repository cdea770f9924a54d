/**
 * The contract of an {@linkcode IdentifyQueue}, for any implementation: per-bucket order,
 * spacing counted from `sent()`, independent buckets, abort through the signal.
 * @module
 */
import type { IdentifyQueue, IdentifyTicket } from "../../src/gateway/mod.ts";
import { assert, assertEquals } from "../helpers/assert.ts";
import { type ConformanceCase, type ConformanceOptions, registerCases } from "./register.ts";

/** What the suite asks the factory for. */
export interface IdentifyQueueConfig {
  /** Discord's `max_concurrency`: the suite uses 2 (buckets 0 and 1). */
  maxConcurrency: number;
  /** The spacing the queue must keep within a bucket, ms. */
  intervalMs: number;
}

/** A queue under test and how to dispose of it. */
export interface IdentifyQueueFixture {
  queue: IdentifyQueue;
  cleanup(): Promise<void>;
}

/** Options of {@linkcode identifyQueueConformance}. */
export interface IdentifyQueueConformanceOptions extends ConformanceOptions {
  /** The spacing asked for; checks are lower bounds only. @default 200 */
  intervalMs?: number;
}

/** Lateness a timer may show below its nominal time (clock granularity). */
const SLACK_MS = 5;

/** Registers the identify queue suite for `name`; `make` returns a fresh queue with `config`. */
export function identifyQueueConformance(
  name: string,
  make: (config: IdentifyQueueConfig) => Promise<IdentifyQueueFixture>,
  options: IdentifyQueueConformanceOptions = {},
): void {
  const { intervalMs = 200 } = options;
  if (!(intervalMs >= 100)) throw new RangeError(`intervalMs must be >= 100, got ${intervalMs}`);
  const config = { maxConcurrency: 2, intervalMs };
  registerCases("IdentifyQueue", name, () => make(config), identifyQueueCases(intervalMs), options);
}

function identifyQueueCases(intervalMs: number): ConformanceCase<IdentifyQueueFixture>[] {
  return [
    {
      name: "grants a bucket's shards one at a time, in call order",
      async fn({ queue }) {
        const granted: number[] = [];
        // Shards 0, 2, 4 share bucket 0; each sends at once.
        await Promise.all([0, 2, 4].map(async (shard) => {
          const ticket = await queue.wait(shard);
          granted.push(shard);
          ticket.sent();
        }));
        assertEquals(granted, [0, 2, 4]);
      },
    },
    {
      name: "holds the bucket until the granted shard calls sent()",
      async fn({ queue }) {
        const log: string[] = [];
        const first = await queue.wait(0);
        log.push("granted 0");
        const second = queue.wait(2).then((t) => (log.push("granted 2"), t));
        // Give a queue that does not wait for sent() every chance to grant shard 2 now.
        await new Promise((r) => setTimeout(r, intervalMs));
        log.push("sent 0");
        first.sent();
        (await second).sent();
        assertEquals(log, ["granted 0", "sent 0", "granted 2"]);
      },
    },
    {
      name: "spaces a bucket's identifies by intervalMs, counted from sent() (idempotent)",
      async fn({ queue }) {
        const first = await queue.wait(0);
        // A slow connect: the payload reaches the wire well after the grant.
        await new Promise((r) => setTimeout(r, intervalMs / 2));
        const sentAt = Date.now();
        first.sent();
        first.sent();
        const times: number[] = [];
        for (const shard of [2, 4]) {
          const ticket = await queue.wait(shard);
          times.push(Date.now());
          ticket.sent();
        }
        const gaps = [times[0] - sentAt, times[1] - times[0]];
        for (const gap of gaps) {
          assert(gap >= intervalMs - SLACK_MS, `identifies ${gaps.join(", ")} ms apart`);
        }
      },
    },
    {
      name: "keeps buckets independent: another bucket does not wait for this one's window",
      async fn({ queue }) {
        (await queue.wait(0)).sent();
        const order: number[] = [];
        // Shard 2 (bucket 0) asks first but must wait out bucket 0's window; shard 1 (bucket 1)
        // need not, so a queue with one global line grants them the other way round.
        const waits = [2, 1].map(async (shard) => {
          const ticket: IdentifyTicket = await queue.wait(shard);
          order.push(shard);
          ticket.sent();
        });
        await Promise.all(waits);
        assertEquals(order, [1, 2]);
      },
    },
    {
      name: "rejects a wait whose signal aborts, and the bucket goes on with the next shard",
      async fn({ queue }) {
        const before = new AbortController();
        before.abort(new Error("stopped before"));
        assertEquals(await outcome(queue.wait(1, before.signal)), "rejected");

        const held = await queue.wait(0);
        const stop = new AbortController();
        const queued = outcome(queue.wait(2, stop.signal));
        const next = queue.wait(4);
        stop.abort(new Error("shard stopped"));
        held.sent();
        assertEquals(await queued, "rejected");
        (await next).sent();

        // Aborted while waiting out the window (shard 4 just sent).
        const late = new AbortController();
        const waiting = outcome(queue.wait(6, late.signal));
        late.abort(new Error("shard stopped"));
        assertEquals(await waiting, "rejected");
        // The bucket still serves.
        (await queue.wait(8)).sent();
      },
    },
  ];
}

/** Whether a wait resolved or rejected (a granted ticket is sent at once). */
async function outcome(wait: Promise<IdentifyTicket>): Promise<"granted" | "rejected"> {
  try {
    (await wait).sent();
    return "granted";
  } catch {
    return "rejected";
  }
}
