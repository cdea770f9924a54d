import { createReplayBuffer, type ReplayBuffer } from "./replay_buffer.ts";
import { shardForGuild } from "./snowflake.ts";

/** Where a session's dispatches go while a connection is attached. */
export interface SessionSink {
  deliver(text: string): void;
}

/** A gateway session: identity, sequence and the replay buffer. */
export interface Session {
  readonly id: string;
  readonly shardId: number;
  readonly numShards: number;
  readonly intents: number;
  readonly largeThreshold: number;
  /** Creation order, to tell the newest session of a shard. */
  readonly serial: number;
  seq: number;
  expired: boolean;
  connection: SessionSink | null;
  /** Set by expireSessions() on a connected session: no resume window. */
  expireOnDetach: boolean;
  buffer: ReplayBuffer;
  ttlTimer?: ReturnType<typeof setTimeout>;
  /**
   * Dispatches assigned an `s` but held back by a fan-out delay, oldest first
   * (later ones queue behind them: one session's order is never changed).
   */
  outbox: { at: number; text: string }[];
  outboxTimer?: ReturnType<typeof setTimeout>;
}

/** Fields a new session needs. */
export interface SessionInit {
  shardId: number;
  numShards: number;
  intents: number;
  largeThreshold: number;
}

/** All sessions of the simulator and their lifecycle. */
export interface SessionStore {
  create(init: SessionInit): Session;
  get(id: string): Session | undefined;
  all(): Session[];
  /** Assigns the next `s`, buffers the dispatch and delivers it if connected. */
  dispatch(session: Session, t: string, d: unknown): number;
  /**
   * Like `dispatch`, with `d` already serialized (so copies of one event carry
   * the same text) and delivery held back `delayMs` (the `s` is assigned now;
   * anything dispatched later on the session waits behind it).
   */
  dispatchText(session: Session, t: string, dJson: string, delayMs?: number): number;
  attach(session: Session, sink: SessionSink): void;
  /** Connection gone: start the resume window (or expire at once if doomed). */
  detach(session: Session): void;
  expire(session: Session, why: string): void;
  /**
   * Live session of a shard: connected first, then the newest. `numShards`
   * narrows it to one shard count; `guildId` to sessions that serve the guild.
   */
  primary(shardId: number, numShards?: number, guildId?: string): Session | undefined;
  /** Live sessions whose `(shard, num_shards)` covers a guild (DMs: shard 0). */
  covering(guildId: string | null): Session[];
  /** Clears every timer. */
  close(): void;
}

/** Options of {@linkcode createSessionStore}. */
export interface SessionStoreOptions {
  ttlMs: number;
  bufferSize: number;
  log: (msg: string) => void;
}

/** Creates the session store. */
export function createSessionStore(
  { ttlMs, bufferSize, log }: SessionStoreOptions,
): SessionStore {
  const sessions = new Map<string, Session>();
  // Unexpired sessions, kept apart so that routing an event does not walk
  // every session a long run ever created.
  const live = new Set<Session>();
  let serial = 0;

  const flush = (session: Session) => {
    session.outboxTimer = undefined;
    const now = Date.now();
    while (session.outbox.length > 0 && session.outbox[0].at <= now) {
      session.connection?.deliver(session.outbox.shift()!.text);
    }
    if (session.outbox.length > 0) {
      session.outboxTimer = setTimeout(() => flush(session), session.outbox[0].at - now);
    }
  };

  const dropOutbox = (session: Session) => {
    clearTimeout(session.outboxTimer);
    session.outboxTimer = undefined;
    session.outbox = [];
  };

  const expire = (session: Session, why: string) => {
    if (session.expired) return;
    clearTimeout(session.ttlTimer);
    session.ttlTimer = undefined;
    session.expired = true;
    live.delete(session);
    dropOutbox(session);
    session.buffer.clear(); // free memory; an expired session never replays
    log(`session ${session.id} (shard ${session.shardId}) expired: ${why}`);
  };

  const dispatchText: SessionStore["dispatchText"] = (session, t, dJson, delayMs = 0) => {
    const s = session.seq + 1;
    // Same text as JSON.stringify({ op: 0, d, s, t }).
    const text = `{"op":0,"d":${dJson},"s":${s},"t":${JSON.stringify(t)}}`;
    session.seq = s;
    session.buffer.push({ s, text });
    if (session.connection === null) return s;
    if (delayMs <= 0 && session.outbox.length === 0) {
      session.connection.deliver(text);
      return s;
    }
    const at = Math.max(Date.now() + Math.max(0, delayMs), session.outbox.at(-1)?.at ?? 0);
    session.outbox.push({ at, text });
    if (session.outboxTimer === undefined) {
      session.outboxTimer = setTimeout(() => flush(session), at - Date.now());
    }
    return s;
  };

  return {
    create(init) {
      const session: Session = {
        ...init,
        id: crypto.randomUUID().replaceAll("-", ""),
        serial: serial++,
        seq: 0,
        expired: false,
        connection: null,
        expireOnDetach: false,
        buffer: createReplayBuffer(bufferSize),
        outbox: [],
      };
      sessions.set(session.id, session);
      live.add(session);
      return session;
    },
    get: (id) => sessions.get(id),
    all: () => [...sessions.values()],
    dispatchText,
    dispatch(session, t, d) {
      // Serialize first: a body that cannot be serialized must not burn a seq.
      return dispatchText(session, t, JSON.stringify(d) ?? "null");
    },
    attach(session, sink) {
      // A resume replays from the buffer, held-back dispatches included.
      dropOutbox(session);
      clearTimeout(session.ttlTimer);
      session.ttlTimer = undefined;
      session.connection = sink;
    },
    detach(session) {
      session.connection = null;
      // Held-back dispatches are in the replay buffer: a resume sends them.
      dropOutbox(session);
      if (session.expired) return;
      if (session.expireOnDetach || ttlMs === 0) {
        expire(session, "disconnected without resume window");
        return;
      }
      clearTimeout(session.ttlTimer);
      session.ttlTimer = setTimeout(
        () => expire(session, `not resumed within ${ttlMs} ms`),
        ttlMs,
      );
    },
    expire,
    primary(shardId, numShards, guildId) {
      let best: Session | undefined;
      for (const s of live) {
        if (s.shardId !== shardId) continue;
        if (numShards !== undefined && s.numShards !== numShards) continue;
        if (guildId !== undefined && shardForGuild(guildId, s.numShards) !== shardId) continue;
        if (!best) best = s;
        else if ((s.connection !== null) !== (best.connection !== null)) {
          if (s.connection !== null) best = s;
        } else if (s.serial > best.serial) best = s;
      }
      return best;
    },
    covering(guildId) {
      return [...live].filter((s) =>
        guildId === null ? s.shardId === 0 : shardForGuild(guildId, s.numShards) === s.shardId
      );
    },
    close() {
      for (const s of sessions.values()) {
        clearTimeout(s.ttlTimer);
        s.ttlTimer = undefined;
        dropOutbox(s);
      }
    },
  };
}
