/**
 * A shard's lane in the delivery queue: its events in order (memory, then the journal) and
 * the state of its head's delivery.
 * @module
 */
import { Deque } from "./deque.ts";
import type { QueuedEvent } from "./types.ts";

/** A queued event; `durable` once its copy is in the journal (so a crash cannot lose it). */
export type Durable = QueuedEvent & {
  durable?: boolean;
  /** Failed attempts that can be the event's own fault (see `ownFailure` in `poison.ts`). */
  failures?: number;
  /** UTF-8 bytes of `raw`, once a batch needed them. */
  utf8?: number;
};

/** One shard's events and delivery state. */
export interface Lane {
  id: number;
  /** The last event of the lane that reached the bot or was dead-lettered (its session and `s`). */
  done?: { session: string; s: number };
  mem: Deque<Durable>;
  /** Events of this lane behind `mem`: journaled and not loaded yet, or waiting to be written. */
  disk: number;
  /** Highest journaled `pos` delivered but not yet removed from the journal. */
  deliveredDiskPos?: number;
  /** Highest journaled `pos` loaded into memory (rows stay on disk until delivered). */
  loadedPos?: number;
  running: boolean;
  /** Waiting for a resume's replay before delivering journaled events. */
  held: boolean;
  failing: boolean;
  attempt: number;
  /** Failed attempts of the head while the handler was proven up. */
  strikes: number;
  /** The head's last failure was its own and nothing proved the handler up: witness first. */
  needsWitness: boolean;
  /** Attempts started up to here cannot prove the handler up for the head (see `poison.ts`). */
  evidenceMark: number;
  /**
   * The first `suspect` events hold one the handler refused or keeps failing on as part of a
   * batch: batches are halved within them until that event goes alone. 0: no suspicion.
   */
  suspect: number;
  /** Set while the lane lingers for a batch to fill; `push` calls it. */
  wake?: () => void;
}

/** An empty lane; `evidenceMark` is the attempt count when it is created. */
export function createLane(id: number, evidenceMark: number): Lane {
  return {
    id,
    mem: new Deque(),
    disk: 0,
    running: false,
    held: false,
    failing: false,
    attempt: 0,
    strikes: 0,
    needsWitness: false,
    evidenceMark,
    suspect: 0,
  };
}
