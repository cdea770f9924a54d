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
  attach(session: Session, sink: SessionSink): void;
  /** Connection gone: start the resume window (or expire at once if doomed). */
  detach(session: Session): void;
  expire(session: Session, why: string): void;
  /** Live session of a shard: connected first, then the newest. */
  primary(shardId: number): Session | undefined;
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

  const expire = (session: Session, why: string) => {
    if (session.expired) return;
    clearTimeout(session.ttlTimer);
    session.ttlTimer = undefined;
    session.expired = true;
    live.delete(session);
    session.buffer.clear(); // free memory; an expired session never replays
    log(`session ${session.id} (shard ${session.shardId}) expired: ${why}`);
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
      };
      sessions.set(session.id, session);
      live.add(session);
      return session;
    },
    get: (id) => sessions.get(id),
    all: () => [...sessions.values()],
    dispatch(session, t, d) {
      const s = session.seq + 1;
      // Serialize first: a body that cannot be serialized must not burn a seq.
      const text = JSON.stringify({ op: 0, d, s, t });
      session.seq = s;
      session.buffer.push({ s, text });
      session.connection?.deliver(text);
      return s;
    },
    attach(session, sink) {
      clearTimeout(session.ttlTimer);
      session.ttlTimer = undefined;
      session.connection = sink;
    },
    detach(session) {
      session.connection = null;
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
    primary(shardId) {
      let best: Session | undefined;
      for (const s of live) {
        if (s.shardId !== shardId) continue;
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
      }
    },
  };
}
