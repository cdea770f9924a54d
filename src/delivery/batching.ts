/**
 * Batches: several events of one shard per request. A batch is what waits in the lane behind
 * its head, within a count and a byte bound, ending at an interaction; optionally the lane
 * lingers a little for a batch to fill.
 * @module
 */
import { encodeEvent } from "../transport/http.ts";
import type { Durable, Lane } from "./lane.ts";
import type { QueuedEvent } from "./types.ts";

/** Options of {@linkcode createBatcher}. */
export interface BatcherOptions {
  /** Events per request at most (1: every event alone). */
  maxEvents: number;
  /** Request body bytes a batch stays within. */
  maxBytes: number;
  /** How long a batch may wait for more events, from its first event's receipt, ms. */
  lingerMs: number;
  /**
   * Whether an interaction behind the head may go in the batch (its deferral's outcome
   * applied); `false` ends the batch before it.
   */
  readyInBatch: (event: QueuedEvent) => boolean;
  /** Ends a linger at once. */
  signal: AbortSignal;
  now: () => number;
}

/** Builds a lane's batches; see {@linkcode createBatcher}. */
export interface Batcher {
  /**
   * The batch starting at the lane's head: up to `maxEvents` events (half the suspect ones
   * while narrowing), within `maxBytes`, ending at an interaction.
   */
  take(l: Lane, head: Durable): Durable[];
  /**
   * Waits until the lane holds a full batch (by count or bytes), an interaction or events on
   * disk, or until its head has waited `lingerMs`; `push` wakes it through `l.wake`.
   */
  linger(l: Lane, head: Durable): Promise<void>;
}

/** Creates the {@linkcode Batcher}. */
export function createBatcher(options: BatcherOptions): Batcher {
  const { maxEvents: batchMax, maxBytes: batchMaxBytes, lingerMs, readyInBatch, signal, now } =
    options;
  return {
    take(l, head) {
      const max = l.suspect > 0 ? Math.min(batchMax, Math.ceil(l.suspect / 2)) : batchMax;
      const batch = [head];
      if (max === 1 || head.interaction) return batch;
      // Bytes are counted exactly only near the cap: up to then, 3 per UTF-16 unit is a bound.
      let bound = 2 + envelopeBytes(head) + head.raw.length * 3;
      let exact: number | undefined;
      for (let i = 1; i < l.mem.length && batch.length < max; i++) {
        const e = l.mem.at(i)!;
        // An interaction goes last, and only once its deferral (if any) has an outcome.
        if (e.interaction && !readyInBatch(e)) break;
        const envelope = 1 + envelopeBytes(e); // with its comma
        if (exact === undefined && bound + envelope + e.raw.length * 3 <= batchMaxBytes) {
          bound += envelope + e.raw.length * 3;
        } else {
          exact ??= batch.reduce((sum, x) => sum + 1 + envelopeBytes(x) + utf8Of(x), 1);
          const add = envelope + utf8Of(e);
          if (exact + add > batchMaxBytes) break;
          exact += add;
        }
        batch.push(e);
        if (e.interaction) break;
      }
      return batch;
    },
    async linger(l, head) {
      let scanned = 0;
      let bytes = 2;
      const full = () => {
        if (l.disk > 0 || l.mem.length >= batchMax) return true;
        for (; scanned < l.mem.length; scanned++) {
          const e = l.mem.at(scanned)!;
          if (e.interaction) return true;
          bytes += 1 + envelopeBytes(e) + e.raw.length;
          if (bytes >= batchMaxBytes) return true;
        }
        return false;
      };
      const left = head.receivedAt + lingerMs - now();
      if (left <= 0 || full()) return;
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          signal.removeEventListener("abort", done);
          l.wake = undefined;
          resolve();
        };
        const timer = setTimeout(done, left);
        signal.addEventListener("abort", done, { once: true });
        l.wake = () => {
          if (full()) done();
        };
      });
    },
  };
}

/** Bytes an event's envelope adds to its payload in a request body (`{"shardId":N,"data":...}`). */
function envelopeBytes(event: QueuedEvent): number {
  return encodeEvent({
    shardId: event.shardId,
    raw: "",
    deferred: event.deferred,
    expired: event.expired,
  }).length;
}

/** UTF-8 bytes of an event's payload, computed once. */
function utf8Of(event: Durable): number {
  return event.utf8 ??= utf8Length(event.raw);
}

/** UTF-8 length of a string, without encoding it. */
export function utf8Length(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) bytes += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      // A surrogate pair: 4 bytes for 2 units.
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 2;
        i++;
      } else bytes += 2;
    } else bytes += 2;
  }
  return bytes;
}
