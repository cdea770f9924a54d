/**
 * Events the handler rejected with a non-retryable 4xx, or that kept failing: kept as JSON
 * lines in `DATA_DIR`, so one poisoned event never blocks a shard and nothing vanishes. The
 * file is bounded: past `maxBytes` it rotates to `<path>.1` (one previous file kept).
 * `redeliverDeadLetters()` (`redeliver.ts`) sends them again.
 * @module
 */
import type { Logger } from "../log.ts";
import type { DeliveryCounters } from "../counters.ts";
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
  /** Epoch ms the proxy received it from Discord (absent in files of older versions). */
  receivedAt?: number;
  /** The proxy had acknowledged this interaction on the bot's behalf. */
  deferred?: boolean;
  /** The full event body the handler refused: the dispatch parsed, or its text if not JSON. */
  data: unknown;
}

/** Where dead letters go. */
export interface DeadLetterSink {
  write(
    event: QueuedEvent,
    reason: { status?: number; error: string; body?: string },
  ): Promise<void>;
}

/** The file sink: a {@linkcode DeadLetterSink} whose file other tools may rewrite safely. */
export interface FileDeadLetters extends DeadLetterSink {
  /** The current file; the previous one is `<path>.1`. */
  readonly path: string;
  /**
   * Runs `fn` while no dead letter is being written (writes wait for it), for tools that move
   * or rewrite the files, like `redeliverDeadLetters()`. Keep `fn` short: a waiting write
   * holds its delivery lane.
   */
  exclusive<T>(fn: () => Promise<T>): Promise<T>;
}

/** Options of {@linkcode createFileDeadLetters}. */
export interface FileDeadLettersOptions {
  /** JSON-lines file, e.g. `DATA_DIR/dead-letters.jsonl`; created on first write with mode 0600. */
  path: string;
  /**
   * `DEAD_LETTERS_MAX_BYTES`: a write that would take the file past this first renames it to
   * `<path>.1`, replacing an older `.1`. A single larger line is still written, alone.
   * @default {268435456} (256 MiB)
   */
  maxBytes?: number;
  /** Says when the file rotated. */
  logger?: Logger;
  /** `deadLetterRotations` is counted here. */
  counters?: Pick<DeliveryCounters, "deadLetterRotations">;
  /** @default Date.now */
  now?: () => number;
}

/**
 * Appends dead letters to a JSON-lines file, rotating it past `maxBytes`. The string form
 * (`createFileDeadLetters(path)`) is the object form with the defaults.
 *
 * @throws {RangeError} when `maxBytes` is not a positive number.
 */
export function createFileDeadLetters(options: FileDeadLettersOptions | string): FileDeadLetters {
  const {
    path,
    maxBytes = 256 * 1024 ** 2,
    logger,
    counters,
    now = Date.now,
  } = typeof options === "string" ? { path: options } : options;
  if (!(maxBytes > 0)) throw new RangeError(`maxBytes must be > 0, got ${maxBytes}`);
  const encoder = new TextEncoder();
  /** Bytes in the current file; `undefined` = ask the file system on the next write. */
  let size: number | undefined;
  let checkedMode = false;
  // Writes (and exclusive sections) are chained so lines never interleave.
  let tail: Promise<unknown> = Promise.resolve();
  const chain = <T>(fn: () => Promise<T>): Promise<T> => {
    // A failed step must not poison the chain for the steps after it.
    const next = tail.catch(() => {}).then(fn);
    tail = next;
    return next;
  };

  const fileSize = async () => {
    try {
      const info = await Deno.stat(path);
      if (!checkedMode && Deno.build.os !== "windows" && (info.mode ?? 0) & 0o077) {
        // A file from an older version: tighten it once.
        await Deno.chmod(path, 0o600).catch(() => {});
      }
      checkedMode = true;
      return info.size;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return 0;
      throw error;
    }
  };

  const append = async (bytes: Uint8Array) => {
    size ??= await fileSize();
    if (size > 0 && size + bytes.length > maxBytes) {
      await Deno.rename(path, `${path}.1`);
      const rotatedBytes = size;
      size = 0;
      if (counters) counters.deadLetterRotations++;
      logger?.warn(
        "dead-letter file reached its size bound and was rotated; an older rotated file is replaced",
        {
          path,
          previous: `${path}.1`,
          rotatedBytes,
          maxBytes,
        },
      );
    }
    await Deno.writeFile(path, bytes, { append: true, create: true, mode: 0o600 });
    size += bytes.length;
  };

  return {
    path,
    write(event, reason) {
      let data: unknown = event.raw;
      try {
        data = JSON.parse(event.raw);
      } catch { /* keep the text */ }
      const line: DeadLetter = {
        at: new Date(now()).toISOString(),
        shardId: event.shardId,
        s: event.s,
        t: event.t,
        status: reason.status,
        error: reason.error,
        body: reason.body,
        receivedAt: event.receivedAt,
        deferred: event.deferred || undefined,
        data,
      };
      const bytes = encoder.encode(JSON.stringify(line) + "\n");
      return chain(async () => {
        try {
          await append(bytes);
        } catch (error) {
          size = undefined; // a partial write may have happened: ask again next time
          throw error;
        }
      });
    },
    exclusive(fn) {
      return chain(async () => {
        try {
          return await fn();
        } finally {
          size = undefined;
        }
      });
    },
  };
}
