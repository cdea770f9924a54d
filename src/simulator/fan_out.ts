/**
 * Routing of one logical event the way Discord does it: a guild event goes to
 * every live session whose `(shard_id, num_shards)` covers the guild, a DM to
 * shard 0 of every shard count, each copy with that session's own `s`. While
 * two shard sets run side by side (resharding) each gets its copy, with a
 * small random delay apart; every copy of the same body carries the same JSON
 * text. Each logical event is recorded once, however many copies it had.
 */
import type { Session, SessionStore } from "./session_store.ts";
import type { Delivery, EmittedEvent } from "./types.ts";

/** Options of {@linkcode createFanOut}. */
export interface FanOutOptions {
  sessions: SessionStore;
  /** Largest delay of a copy when two or more connected sessions get one; 0 disables. */
  skewMs: number;
  /** Uniform in [0, 1); seeded by the simulator. */
  random: () => number;
  /** Where logical events are recorded (oldest dropped beyond `logLimit`). */
  log: EmittedEvent[];
  logLimit: number;
}

/** Body of a copy for one session, or undefined when its intents filter the event out. */
export type BodyFor = (session: Session) => unknown | undefined;

/** Sends logical events to every session that should see them. */
export interface FanOut {
  /**
   * Sends `t` about `guildId` (null: not tied to a guild, e.g. a DM). `d` is the
   * full body (the one recorded); `build` narrows it per session (default: `d`).
   */
  send(guildId: string | null, t: string, d: unknown, build?: BodyFor): EmittedEvent;
}

/**
 * cyrb53: a fast 53-bit string hash (two 32-bit lanes), as 14 hex digits.
 * Enough to tell events apart in tests; not cryptographic.
 */
function cyrb53(text: string): string {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (4294967296 * (2097151 & h2) + (h1 >>> 0)).toString(16).padStart(14, "0");
}

/**
 * Key of a dispatch: `t`, a space and a hash of `d`'s JSON text. `d` may be the
 * raw text or the parsed value (`JSON.stringify` of a parsed dispatch gives
 * its text back). Two events with byte-identical bodies share a key, as they
 * share a hash in anything that dedupes on the raw `d`.
 */
export function eventKey(t: string, d: unknown): string {
  return `${t} ${cyrb53(typeof d === "string" ? d : JSON.stringify(d) ?? "null")}`;
}

/** Creates the fan-out. */
export function createFanOut(options: FanOutOptions): FanOut {
  const { sessions, skewMs, random, log, logLimit } = options;
  let nextEventId = 1;

  return {
    send(guildId, t, d, build = () => d) {
      const dJson = JSON.stringify(d) ?? "null";
      // One text per distinct body object: copies of one body are byte-identical.
      const texts = new Map<unknown, string>([[d, dJson]]);
      const copies: { session: Session; text: string }[] = [];
      for (const session of sessions.covering(guildId)) {
        const body = build(session);
        if (body === undefined) continue;
        let text = texts.get(body);
        if (text === undefined) {
          text = JSON.stringify(body) ?? "null";
          texts.set(body, text);
        }
        copies.push({ session, text });
      }
      // Skew only between copies that travel at once: a lone receiver (one
      // shard set, or others disconnected and buffering) is never delayed.
      const connected = copies.filter((c) => c.session.connection !== null).length;
      const skew = connected >= 2 ? skewMs : 0;
      const deliveries: Delivery[] = copies.map(({ session, text }) => {
        const delayMs = skew > 0 && session.connection !== null
          ? Math.floor(random() * (skew + 1))
          : 0;
        return {
          sessionId: session.id,
          shardId: session.shardId,
          numShards: session.numShards,
          s: sessions.dispatchText(session, t, text, delayMs),
          delayMs,
        };
      });
      const record: EmittedEvent = {
        id: nextEventId++,
        t,
        guildId,
        // The body the copies carry (the first one's if intents made them differ).
        key: eventKey(t, copies[0]?.text ?? dJson),
        at: Date.now(),
        deliveries,
      };
      log.push(record);
      // Trim in batches so that a long run does not shift the array per event.
      if (log.length > logLimit + Math.ceil(logLimit / 10)) log.splice(0, log.length - logLimit);
      return record;
    },
  };
}

/** mulberry32: a small seeded PRNG returning floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
