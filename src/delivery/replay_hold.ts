/**
 * The replay hold: after a restart, a shard that resumes a stored session keeps its journaled
 * events back until Discord's replay has arrived, so that replayed events take their place
 * among them (those already journaled are skipped) instead of coming after newer ones.
 * @module
 */
import type { Journal } from "./journal.ts";
import type { Logger } from "../log.ts";
import type { Durable, Lane } from "./lane.ts";
import type { DeliveryQueue } from "./queue_types.ts";
import type { Spill } from "./spill.ts";

/** Options of {@linkcode createReplayHold}. */
export interface ReplayHoldOptions {
  journal?: Journal;
  /** Shards about to resume a stored session (shard id -> session id). */
  resuming: ReadonlyMap<number, string>;
  /** Longest a lane is held, ms. */
  holdMs: number;
  logger: Logger;
  spill: Spill;
  /** The queue's lanes, created on first use. */
  lane: (shardId: number) => Lane;
  /** Starts a released lane. */
  start: (l: Lane) => void;
}

/** The replay hold; see {@linkcode createReplayHold}. */
export interface ReplayHold {
  /** Holds the lanes whose journaled session is being resumed; returns how many. */
  hold(): number;
  /** Starts the clock: lanes still held after `holdMs` are released. */
  arm(): void;
  /** Where an event of a held shard goes: placed in the journal, skipped, or appended. */
  admit(l: Lane, event: Durable): "placed" | "duplicate" | "append";
  /** See {@linkcode DeliveryQueue.sessionStarted}. */
  sessionStarted: DeliveryQueue["sessionStarted"];
  /** Stops the clock. */
  stop(): void;
}

/** Creates the {@linkcode ReplayHold}. */
export function createReplayHold(options: ReplayHoldOptions): ReplayHold {
  const { journal, resuming, holdMs, logger: log, spill, lane, start } = options;
  /** Shard id -> the resumed session whose journaled events wait for its replay. */
  const replay = new Map<number, string>();
  let holdTimer: ReturnType<typeof setTimeout> | undefined;

  function release(shardId: number) {
    replay.delete(shardId);
    const l = lane(shardId);
    if (l.held) {
      l.held = false;
      start(l);
    }
  }

  return {
    hold() {
      if (!journal) return 0;
      for (const r of journal.sessions()) {
        if (resuming.get(r.shardId) !== r.session) continue;
        replay.set(r.shardId, r.session);
        lane(r.shardId).held = true;
      }
      return replay.size;
    },
    arm() {
      if (replay.size === 0) return;
      holdTimer = setTimeout(() => {
        if (replay.size > 0) {
          log.warn("resumes did not finish in time; delivering journaled events now", {
            shards: [...replay.keys()].join(","),
          });
        }
        for (const id of [...replay.keys()]) release(id);
      }, holdMs);
    },
    admit(l, event) {
      const held = replay.get(event.shardId);
      // Of the held session: its place among the journaled events, unless it comes after
      // all of them. A READY or an earlier RESUMED can be part of the replay itself.
      if (held === undefined || event.session !== held) return "append";
      return spill.placeReplayed(l, event);
    },
    sessionStarted(shardId, session, kind, s) {
      const held = replay.get(shardId);
      if (held === undefined) return;
      if (kind === "ready") {
        // Another session: the resume failed, nothing more will be replayed.
        if (session !== held) release(shardId);
        return;
      }
      // Discord's replay can repeat an earlier RESUMED of the session: only the one after
      // everything journaled ends this replay.
      if (session === held && spill.comesAfterJournal(lane(shardId), session, s)) {
        release(shardId);
      }
    },
    stop() {
      clearTimeout(holdTimer);
    },
  };
}
