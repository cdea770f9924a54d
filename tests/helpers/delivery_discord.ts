/**
 * The Discord side of the delivery model: shards, their sessions and dispatches, what a
 * resume replays, and which events a crash legitimately loses. Plain data and functions;
 * `delivery_world.ts` drives them.
 * @module
 */
import type { InteractionInfo } from "../../src/delivery/mod.ts";
import { interactionId } from "./delivery_fakes.ts";

/** One dispatch Discord sent (its replays are copies with the same key). */
export interface Dispatch {
  /** `session#s`, also carried in the payload as `d.k`. */
  key: string;
  shardId: number;
  session: string;
  /** The session's place among the shard's sessions (0 = first). */
  sessionIdx: number;
  s: number;
  t: string;
  raw: string;
  interaction?: InteractionInfo;
  /** The handler always fails it with 500. */
  poison?: boolean;
  /** The handler rejects it with 400 (a legitimate dead letter). */
  bad?: boolean;
  /** Length of the world's log when Discord sent it. */
  sentAt: number;
}

/** A gateway session: its dispatches, in order. */
export interface Session {
  id: string;
  idx: number;
  events: Dispatch[];
  lastS: number;
}

/** `live`: connected; `resuming`/`identifying`: after a restart, until it connects. */
export type ShardState = "live" | "resuming" | "identifying";

/** One shard as Discord sees it. */
export interface Shard {
  id: number;
  sessions: Session[];
  current?: Session;
  state: ShardState;
  /** The seq a resuming shard resumes from. */
  resumeFrom: number;
  /** The next message sent on this shard is poisoned. */
  poisonNext: boolean;
}

/** READY and RESUMED: they carry a seq like any dispatch. */
export const isMarker = (d: Dispatch): boolean => d.t === "READY" || d.t === "RESUMED";

/** A new session on the shard (identify); READY is its first dispatch. */
export function newSession(shard: Shard): Session {
  const session: Session = {
    id: `${shard.id}.${shard.sessions.length + 1}`,
    idx: shard.sessions.length,
    events: [],
    lastS: 0,
  };
  shard.sessions.push(session);
  shard.current = session;
  return session;
}

/** The next dispatch of the shard's current session. */
export function nextDispatch(
  shard: Shard,
  t: string,
  flags: { poison?: boolean; bad?: boolean; sentAt: number },
): Dispatch {
  const session = shard.current!;
  const s = ++session.lastS;
  const key = `${session.id}#${s}`;
  let d: Record<string, unknown> = { k: key };
  let interaction: InteractionInfo | undefined;
  if (t === "INTERACTION_CREATE") {
    interaction = { id: interactionId(key), token: `tok-${key}`, type: 2, hasMessage: false };
    d = { ...d, id: interaction.id, token: interaction.token, type: 2 };
  }
  if (t === "READY") d = { ...d, session_id: session.id };
  const dispatch: Dispatch = {
    key,
    shardId: shard.id,
    session: session.id,
    sessionIdx: session.idx,
    s,
    t,
    raw: JSON.stringify({ op: 0, t, s, d }),
    interaction,
    poison: flags.poison || undefined,
    bad: flags.bad || undefined,
    sentAt: flags.sentAt,
  };
  session.events.push(dispatch);
  return dispatch;
}

/**
 * What Discord replays when the shard resumes: every dispatch of the session after the
 * resumed seq, in order (with `markers`, its earlier READY and RESUMED too).
 */
export function replayOf(shard: Shard, markers: boolean): Dispatch[] {
  return shard.current!.events.filter((d) => d.s > shard.resumeFrom && (markers || !isMarker(d)));
}

/**
 * The events a crash legitimately loses on a shard: received by the proxy, not `safe`
 * (delivered or journaled), past the seq last promised for their session, and in a session
 * Discord will not replay (not the resumed one; without `markers`, a resumed session's
 * READY/RESUMED past the resumed seq too).
 */
export function lostAtCrash(
  shard: Shard,
  resumes: boolean,
  markers: boolean,
  promised: (session: string) => number,
  safe: (d: Dispatch) => boolean,
): Dispatch[] {
  const lost: Dispatch[] = [];
  for (const session of shard.sessions) {
    const replayed = resumes && session === shard.current;
    if (replayed && markers) continue;
    for (const d of session.events) {
      if (d.s <= promised(session.id) || safe(d)) continue;
      if (replayed && (!isMarker(d) || d.s <= shard.resumeFrom)) continue;
      lost.push(d);
    }
  }
  return lost;
}
