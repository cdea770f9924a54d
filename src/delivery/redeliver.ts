/**
 * Sends dead letters again, once the handler is fixed, and keeps only those that still fail.
 * Works on the file of a running service (through the sink's `exclusive`, so no dead letter
 * written meanwhile is lost) or, with the service stopped, on the file alone.
 * @module
 */
import { basename, dirname } from "node:path";
import type { Logger } from "../log.ts";
import type { OutboundEvent, Transport } from "../transport/types.ts";
import type { DeadLetter } from "./dead_letters.ts";

/** Options of {@linkcode redeliverDeadLetters}. */
export interface RedeliverOptions {
  /** The dead-letter file, e.g. `DATA_DIR/dead-letters.jsonl`; its rotated `<path>.1` is sent first. */
  path: string;
  /** Where the events go: the service's transport to `EVENT_HANDLER_URL`. */
  transport: Transport;
  /**
   * The running sink's `exclusive` (`FileDeadLetters.exclusive`): the files are moved aside
   * and merged back while no dead letter is being written. Without it (the service stopped)
   * the steps run directly.
   */
  exclusive?: <T>(fn: () => Promise<T>) => Promise<T>;
  /**
   * After this many failures in a row that say nothing about the event (the handler is
   * down or misconfigured: a `retry` or `unavailable` verdict), stop sending; the rest is kept.
   * @default {5}
   */
  maxConsecutiveFailures?: number;
  /** Stops sending; what is left is kept. */
  signal?: AbortSignal;
  logger?: Logger;
  /** @default Date.now */
  now?: () => number;
}

/** What {@linkcode redeliverDeadLetters} did. */
export interface RedeliverResult {
  /** Dead letters the handler accepted (removed from the file). */
  delivered: number;
  /** Dead letters sent and refused again, or unreadable lines; kept. */
  failed: number;
  /** Dead letters in the file(s) afterwards: the failed, the unsent, and those written meanwhile. */
  remaining: number;
  /** Why sending stopped before the end, if it did. */
  stoppedEarly?: string;
}

/** Discord's interaction tokens work for 15 minutes. */
const INTERACTION_TTL_MS = 15 * 60_000;

/**
 * Sends every dead letter (`<path>.1`, then `<path>`, oldest first) through `transport`, one
 * at a time, in file order, and rewrites the file with only the lines still failing, followed by
 * any written meanwhile.
 *
 * Steps: (1) under `exclusive`, the files are renamed to `<path>.redeliver-<time>-<n>`; the
 * sink starts a new file. (2) The moved lines are sent; the failing ones are written to
 * `<path>.redeliver-tmp`. (3) Under `exclusive`, whatever the sink wrote meanwhile is appended
 * to that, it is renamed to `<path>`, and the moved files are deleted. A crash leaves the moved
 * files behind; the next run sends them first (an event may then reach the handler twice,
 * as with any retry). Run one at a time per file; the control API makes sure of it.
 *
 * @throws {RangeError} when `maxConsecutiveFailures` is not a whole number >= 1.
 */
export async function redeliverDeadLetters(options: RedeliverOptions): Promise<RedeliverResult> {
  const {
    path,
    transport,
    exclusive = (fn) => fn(),
    maxConsecutiveFailures = 5,
    signal,
    logger,
    now = Date.now,
  } = options;
  if (!Number.isInteger(maxConsecutiveFailures) || maxConsecutiveFailures < 1) {
    throw new RangeError(
      `maxConsecutiveFailures must be a whole number >= 1, got ${maxConsecutiveFailures}`,
    );
  }
  const log = logger?.with({ component: "redeliver" });
  const dir = dirname(path);
  const asidePrefix = `${basename(path)}.redeliver-`;
  const tmp = `${path}.redeliver-tmp`;

  // (1) Take the files away from the sink.
  const work = await exclusive(async () => {
    const leftovers: string[] = [];
    for await (const entry of Deno.readDir(dir)) {
      const rest = entry.name.startsWith(asidePrefix) ? entry.name.slice(asidePrefix.length) : "";
      if (entry.isFile && /^\d+-\d$/.test(rest)) leftovers.push(entry.name);
    }
    leftovers.sort();
    if (leftovers.length > 0) {
      log?.warn("sending dead letters a crashed re-delivery left behind first", {
        files: leftovers.length,
      });
    }
    const lastStamp = Number(leftovers.at(-1)?.slice(asidePrefix.length).split("-")[0] ?? 0);
    const stamp = String(Math.max(now(), lastStamp + 1)).padStart(15, "0");
    const moved: string[] = [];
    for (const [n, from] of [`${path}.1`, path].entries()) {
      const to = `${asidePrefix}${stamp}-${n}`;
      if (await renameIfExists(from, `${dir}/${to}`)) moved.push(to);
    }
    return [...leftovers, ...moved].map((name) => `${dir}/${name}`);
  });

  // (2) Send; keep what fails.
  let delivered = 0;
  let failed = 0;
  let kept = 0;
  let inARow = 0;
  let stoppedEarly: string | undefined;
  const out = await Deno.open(tmp, { write: true, create: true, truncate: true, mode: 0o600 });
  const writer = lineWriter(out);
  const keep = async (line: string) => {
    kept++;
    await writer.write(line);
  };
  try {
    for (const file of work) {
      for await (const line of readLines(file)) {
        if (line.trim() === "") continue;
        if (!stoppedEarly && signal?.aborted) stoppedEarly = "stopped by the caller";
        if (stoppedEarly) {
          await keep(line);
          continue;
        }
        let letter: DeadLetter;
        let event: OutboundEvent;
        try {
          letter = JSON.parse(line);
          event = outboundOf(letter, now());
        } catch (error) {
          failed++;
          log?.warn("unreadable dead-letter line kept as it is", { file, error });
          await keep(line);
          continue;
        }
        const result = await transport.send(event, signal);
        if (result.ok) {
          delivered++;
          inARow = 0;
          continue;
        }
        failed++;
        await keep(line);
        if (result.verdict === "reject") {
          inARow = 0;
          continue;
        }
        if (++inARow >= maxConsecutiveFailures) {
          stoppedEarly =
            `${inARow} failures in a row say the handler is down or misconfigured (last: ${result.error})`;
        }
      }
    }
    await writer.flush();
    await out.sync();
  } finally {
    out.close();
  }

  // (3) Put the failing lines back in front of what the sink wrote meanwhile.
  const meanwhile = await exclusive(async () => {
    const dest = await Deno.open(tmp, { write: true, append: true });
    let lines = 0;
    try {
      for (const file of [`${path}.1`, path]) lines += await appendFile(dest, file);
      await dest.sync();
    } finally {
      dest.close();
    }
    await Deno.rename(tmp, path);
    await removeIfExists(`${path}.1`);
    for (const file of work) await removeIfExists(file);
    return lines;
  });

  const result: RedeliverResult = { delivered, failed, remaining: kept + meanwhile };
  if (stoppedEarly) {
    result.stoppedEarly = stoppedEarly;
    log?.warn("re-delivery of dead letters stopped early; the rest stays", { ...result });
  } else {
    log?.info("dead letters re-delivered", { ...result });
  }
  return result;
}

/** The event as the handler would have received it the first time. */
function outboundOf(letter: DeadLetter, now: number): OutboundEvent {
  if (typeof letter !== "object" || letter === null || !Number.isInteger(letter.shardId)) {
    throw new TypeError("not a dead letter (no shardId)");
  }
  if (letter.data === undefined) throw new TypeError("not a dead letter (no data)");
  // `data` holds the dispatch parsed, or its text when it was not JSON.
  const raw = typeof letter.data === "string" ? letter.data : JSON.stringify(letter.data);
  const event: OutboundEvent = { shardId: letter.shardId, raw };
  if (letter.deferred) event.deferred = true;
  const since = letter.receivedAt ?? Date.parse(letter.at);
  if (letter.t === "INTERACTION_CREATE" && !(now - since < INTERACTION_TTL_MS)) {
    event.expired = true;
  }
  return event;
}

async function renameIfExists(from: string, to: string): Promise<boolean> {
  try {
    await Deno.rename(from, to);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

async function removeIfExists(path: string): Promise<void> {
  await Deno.remove(path).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
}

/** Lines of a file without their line breaks, read in chunks. */
async function* readLines(path: string): AsyncGenerator<string> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw error;
  }
  let rest = "";
  for await (const chunk of file.readable.pipeThrough(new TextDecoderStream())) {
    rest += chunk;
    let at: number;
    while ((at = rest.indexOf("\n")) >= 0) {
      yield rest.slice(0, at);
      rest = rest.slice(at + 1);
    }
  }
  if (rest !== "") yield rest;
}

/** Appends `path` (if it exists) to `dest`; returns its lines. */
async function appendFile(dest: Deno.FsFile, path: string): Promise<number> {
  let lines = 0;
  const writer = lineWriter(dest);
  for await (const line of readLines(path)) {
    if (line.trim() === "") continue;
    lines++;
    await writer.write(line);
  }
  await writer.flush();
  return lines;
}

/** Buffers lines (a newline added to each) into writes of about 64 KiB. */
function lineWriter(file: Deno.FsFile) {
  const encoder = new TextEncoder();
  let buffer: string[] = [];
  let buffered = 0;
  const flush = async () => {
    if (buffer.length === 0) return;
    const bytes = encoder.encode(buffer.join(""));
    buffer = [];
    buffered = 0;
    for (let at = 0; at < bytes.length;) at += await file.write(bytes.subarray(at));
  };
  return {
    async write(line: string) {
      buffer.push(line, "\n");
      buffered += line.length + 1;
      if (buffered >= 65_536) await flush();
    },
    flush,
  };
}
