/**
 * A delivery queue wired to a real test handler, HTTP transport and SQLite journal
 * in a temp dir, for the delivery tests.
 * @module
 */
import { startTestHandler, type TestHandler } from "./handler.ts";
import {
  createDeliveryQueue,
  createFileDeadLetters,
  createSqliteJournal,
  type DeliveryQueueOptions,
  type InteractionInfo,
  type QueuedEvent,
} from "../../src/delivery/mod.ts";
import { createHttpTransport } from "../../src/transport/mod.ts";
import { createLogger } from "../../src/log.ts";

export const AUTH = "handler-secret";

export function makeEvent(
  shardId: number,
  s: number,
  t = "MESSAGE_CREATE",
  d: unknown = {},
): QueuedEvent {
  return {
    shardId,
    s,
    t,
    receivedAt: Date.now(),
    raw: JSON.stringify({ op: 0, s, t, d: d ?? { n: s } }),
  };
}

export function interaction(shardId: number, s: number, type: number): QueuedEvent {
  const info: InteractionInfo = { id: `i${s}`, token: `tok${s}`, type, hasMessage: false };
  return {
    ...makeEvent(shardId, s, "INTERACTION_CREATE", { id: info.id, type }),
    interaction: info,
  };
}

/** A delivery queue posting to `url`, with the real HTTP transport, journal and dead letters. */
export interface QueueOn {
  logs: string[];
  dir: string;
  queue: ReturnType<typeof createDeliveryQueue>;
  /** Closes the queue, the transport and the journal (not whatever answers at `url`). */
  close(): Promise<void>;
}

/** Builds a {@linkcode QueueOn}; `dir` holds the journal and the dead letters (a new temp dir by default). */
export async function queueOn(
  url: string,
  options: Partial<DeliveryQueueOptions> = {},
  dir?: string,
): Promise<QueueOn> {
  const logs: string[] = [];
  dir ??= await Deno.makeTempDir();
  const journal = createSqliteJournal({ path: `${dir}/journal.sqlite` });
  const transport = createHttpTransport({ url, authorization: AUTH, timeoutMs: 5000 });
  const queue = createDeliveryQueue({
    transport,
    logger: createLogger({ level: "debug", write: (_l, line) => logs.push(line) }),
    journal,
    deadLetters: createFileDeadLetters(`${dir}/dead-letters.jsonl`),
    ...options,
  });
  return {
    logs,
    dir,
    queue,
    async close() {
      await queue.close();
      transport.close?.();
      journal.close();
    },
  };
}

/** The dead letters written in `dir`, parsed. */
export async function readDeadLetters(
  dir: string,
): Promise<{ shardId: number; s: number; status: number; error: string }[]> {
  const text = await Deno.readTextFile(`${dir}/dead-letters.jsonl`).catch(() => "");
  return text.split("\n").filter(Boolean).map((l) => JSON.parse(l));
}

export interface Rig extends QueueOn {
  handler: TestHandler;
}

/** {@linkcode queueOn} a {@linkcode TestHandler}, with a short retry backoff. */
export async function rig(options: Partial<DeliveryQueueOptions> = {}, dir?: string): Promise<Rig> {
  const handler = await startTestHandler();
  const q = await queueOn(handler.url, { retry: { baseMs: 20, maxMs: 100 }, ...options }, dir);
  return {
    ...q,
    handler,
    async close() {
      await q.close();
      await handler.close();
    },
  };
}

/** Per shard, the `s` values the handler accepted, in arrival order. */
export function seqsByShard(r: Rig): Map<number, number[]> {
  const out = new Map<number, number[]>();
  for (const e of r.handler.events) {
    // The queue's own check that the handler is up is not one of Discord's events.
    if (e.data.t === "HANDLER_CHECK_DD") continue;
    out.set(e.shardId, [...(out.get(e.shardId) ?? []), e.data.s]);
  }
  return out;
}

export const range = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);
