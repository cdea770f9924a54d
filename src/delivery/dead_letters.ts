/**
 * Events the handler rejected with a non-retryable 4xx: kept as JSON lines in
 * `DATA_DIR`, so one poisoned event never blocks a shard and nothing vanishes.
 * @module
 */
import type { QueuedEvent } from "./types.ts";

/** One rejected event with why. */
export interface DeadLetter {
  at: string;
  shardId: number;
  s: number;
  t: string;
  status?: number;
  error: string;
  body?: string;
  /** The full event body the handler refused. */
  data: unknown;
}

/** Where dead letters go. */
export interface DeadLetterSink {
  write(
    event: QueuedEvent,
    reason: { status?: number; error: string; body?: string },
  ): Promise<void>;
}

/** Appends dead letters to a JSON-lines file (created on first write). */
export function createFileDeadLetters(path: string): DeadLetterSink {
  // Writes are chained so lines never interleave.
  let tail: Promise<void> = Promise.resolve();
  return {
    write(event, reason) {
      let data: unknown = event.raw;
      try {
        data = JSON.parse(event.raw);
      } catch { /* keep the text */ }
      const line: DeadLetter = {
        at: new Date().toISOString(),
        shardId: event.shardId,
        s: event.s,
        t: event.t,
        status: reason.status,
        error: reason.error,
        body: reason.body,
        data,
      };
      // A failed write must not poison the chain for the writes after it.
      tail = tail.catch(() => {}).then(() =>
        Deno.writeTextFile(path, JSON.stringify(line) + "\n", { append: true, create: true })
      );
      return tail;
    },
  };
}
