/**
 * The delivery queue's disk side: events that do not fit in memory spill to the journal
 * (written in batches, retried while the disk refuses), are read back in order, and are
 * removed once delivered; the journal's size is kept within its budget.
 * @module
 */
import { backoffDelay, type BackoffOptions } from "../backoff.ts";
import type { DeliveryCounters } from "../counters.ts";
import type { Logger } from "../log.ts";
import type { Journal } from "./journal.ts";
import type { Durable, Lane } from "./lane.ts";
import type { QueuedEvent } from "./types.ts";

/** How often delivered journal rows are deleted. */
const PRUNE_INTERVAL_MS = 50;
/** Disk bytes counted per journaled row besides its payload, until the next measurement. */
const ROW_OVERHEAD_BYTES = 100;

/** Options of {@linkcode createSpill}. */
export interface SpillOptions {
  /** Without one, spilled events are dropped. */
  journal?: Journal;
  counters: DeliveryCounters;
  logger: Logger;
  /** The queue's memory bounds: events and payload bytes. */
  maxEvents: number;
  maxBytes: number;
  /** Bytes the journal may occupy on disk. */
  maxDiskBytes: number;
  /** Journal records read back per batch. */
  readBatch: number;
  /** Backoff between retries of a refused journal write (the queue's `retry`). */
  retry: BackoffOptions;
}

/** The queue's disk side; see {@linkcode createSpill}. */
export interface Spill {
  /** Counts what an earlier run left in the journal into its lanes; returns the next free `pos`. */
  restore(lane: (shardId: number) => Lane): number;
  /** Puts an event behind the lane's memory: in the journal, or dropped past the budgets. */
  spill(l: Lane, event: Durable): void;
  /** Writes pending spilled events; on failure they stay in memory and the write is retried. */
  flush(): boolean;
  /** Loads the lane's next events from the journal (or its unwritten spills) into memory. */
  refill(l: Lane): void;
  /**
   * Puts an event Discord replayed at its place among the lane's journaled events of its
   * session: `"duplicate"` when the journal holds it, `"append"` when it comes after them.
   */
  placeReplayed(l: Lane, event: Durable): "placed" | "duplicate" | "append";
  /** Whether an event of `session` at `s` would come after all its journaled events. */
  comesAfterJournal(l: Lane, session: string | undefined, s: number): boolean;
  /** Notes the lane's delivered head: its journal row is removed soon (see `prune`). */
  delivered(l: Lane, event: Durable): void;
  /** Removes delivered rows from the journal now. */
  prune(): void;
  /** Spilled events of a shard not written yet, oldest first. */
  unwritten(shardId: number): Durable[];
  /** Journals the unwritten spills and `rest` in one write; returns how many could not be. */
  persist(rest: Durable[]): number;
  /** Stops the retry of a refused write. */
  stop(): void;
}

/** Creates the queue's {@linkcode Spill}. */
export function createSpill(options: SpillOptions): Spill {
  const { journal, counters, logger: log, maxEvents, maxBytes, maxDiskBytes, readBatch, retry } =
    options;
  /** Spilled events not written yet (the write is batched, or the disk refused it). */
  let pending: Durable[] = [];
  let pendingBytes = 0;
  let spillTimer: ReturnType<typeof setTimeout> | undefined;
  let failures = 0;
  /** The journal's size on disk at the last measurement, plus what was written since. */
  let diskUse = 0;
  let pruneTimer: ReturnType<typeof setTimeout> | undefined;
  /** Lanes with delivered journal rows to remove. */
  const toPrune = new Set<Lane>();

  const measure = () => {
    if (!journal) return;
    try {
      diskUse = journal.sizeBytes();
    } catch (error) {
      log.warn("could not measure the journal's size", { error });
    }
  };

  function drop(event: QueuedEvent, why: string) {
    counters.dropped++;
    log.error(`event DROPPED: ${why}`, {
      shardId: event.shardId,
      s: event.s,
      t: event.t,
      queuedMemory: counters.queuedMemory,
      journalBytes: diskUse,
      maxDiskBytes,
    });
  }

  /** Counts an event as behind the lane's memory. */
  function countOnDisk(l: Lane, size: number) {
    l.disk++;
    diskUse += size + ROW_OVERHEAD_BYTES;
    counters.queuedDisk++;
    counters.queuedDiskBytes += size;
  }

  /** Moves an event counted as "behind memory" into the lane's memory. */
  function load(l: Lane, e: Durable) {
    const size = e.raw.length;
    l.mem.push(e);
    l.disk--;
    counters.queuedDisk--;
    counters.queuedDiskBytes -= size;
    counters.queuedMemory++;
    counters.queuedMemoryBytes += size;
  }

  /** Where a replayed event belongs: `"duplicate"`, a journal position, or `"append"`. */
  function locate(
    l: Lane,
    session: string | undefined,
    s: number,
  ): "duplicate" | number | "append" {
    if (!journal || session === undefined) return "append";
    try {
      const pos = journal.place(l.id, session, s);
      if (pos === undefined) return "append";
      if (pos !== "duplicate" && l.loadedPos !== undefined && pos <= l.loadedPos) {
        log.warn("a replayed event arrived after its place was delivered; appending it", {
          shardId: l.id,
          s,
        });
        return "append";
      }
      return pos;
    } catch (error) {
      log.warn("could not place a replayed event in the journal; appending it", { error });
      return "append";
    }
  }

  const spill: Spill = {
    restore(lane) {
      let nextPos = 1;
      if (!journal) return nextPos;
      for (const [shardId, s] of journal.stats()) {
        lane(shardId).disk = s.events;
        counters.queuedDisk += s.events;
        counters.queuedDiskBytes += s.bytes;
        nextPos = Math.max(nextPos, Math.floor(s.maxPos) + 1);
      }
      measure();
      return nextPos;
    },
    spill(l, event) {
      const size = event.raw.length;
      if (!journal) return drop(event, "memory is full and there is no journal");
      if (diskUse + size + ROW_OVERHEAD_BYTES > maxDiskBytes) {
        return drop(event, "memory and disk budgets are exhausted");
      }
      // While the disk refuses writes, unwritten events may take up to the memory budget again.
      if (failures > 0 && (pending.length >= maxEvents || pendingBytes + size > maxBytes)) {
        return drop(event, "the journal refuses writes and memory is full");
      }
      if (l.disk === 0 && counters.spilled === 0) {
        log.warn("memory bound reached; events spill to the disk journal", { maxEvents, maxBytes });
      }
      countOnDisk(l, size);
      counters.spilled++;
      pending.push(event);
      pendingBytes += size;
      spillTimer ??= setTimeout(spill.flush, 0);
    },
    flush() {
      clearTimeout(spillTimer);
      spillTimer = undefined;
      if (pending.length === 0 || !journal) return true;
      try {
        journal.append(pending);
      } catch (error) {
        counters.journalWriteFailures++;
        if (failures++ === 0 || failures % 100 === 0) {
          log.error("journal write failed; the events stay in memory and the write is retried", {
            error,
            events: pending.length,
            failures,
          });
        }
        spillTimer = setTimeout(spill.flush, backoffDelay(Math.min(failures, 10), retry));
        return false;
      }
      if (failures > 0) log.info("journal writes work again", { failures });
      failures = 0;
      for (const e of pending) e.durable = true;
      pending = [];
      pendingBytes = 0;
      measure();
      return true;
    },
    refill(l) {
      spill.flush();
      if (!journal) {
        l.disk = 0;
        return;
      }
      const room = Math.max(1, Math.min(readBatch, maxEvents - counters.queuedMemory));
      const records = journal.read(l.id, room, l.loadedPos);
      if (records.length > 0) {
        l.loadedPos = records[records.length - 1].pos;
        for (const r of records as Durable[]) {
          r.durable = true;
          load(l, r);
        }
        return;
      }
      // Nothing on disk: what the journal has not taken yet comes next, in order.
      const mine = pending.filter((e) => e.shardId === l.id);
      if (mine.length === 0) {
        log.error("journal lost track of a shard's events", { shardId: l.id, expected: l.disk });
        l.disk = 0;
        return;
      }
      pending = pending.filter((e) => e.shardId !== l.id);
      for (const e of mine) {
        pendingBytes -= e.raw.length;
        load(l, e);
      }
    },
    placeReplayed(l, event) {
      const pos = locate(l, event.session, event.s);
      if (pos === "duplicate" || pos === "append") return pos;
      try {
        event.pos = pos;
        journal!.append([event]);
      } catch (error) {
        log.warn("could not place a replayed event in the journal; appending it", { error });
        return "append";
      }
      countOnDisk(l, event.raw.length);
      return "placed";
    },
    comesAfterJournal(l, session, s) {
      return locate(l, session, s) === "append";
    },
    delivered(l, event) {
      if (!event.durable || event.pos === undefined) return;
      // Removed from the journal in small batches (see `prune`), not one write per event.
      l.deliveredDiskPos = event.pos;
      toPrune.add(l);
      pruneTimer ??= setTimeout(spill.prune, PRUNE_INTERVAL_MS);
    },
    prune() {
      clearTimeout(pruneTimer);
      pruneTimer = undefined;
      let removed = false;
      for (const l of toPrune) {
        if (l.deliveredDiskPos === undefined) continue;
        try {
          journal?.remove(l.id, l.deliveredDiskPos);
          removed = true;
        } catch (error) {
          log.warn("could not remove delivered events from the journal", {
            shardId: l.id,
            error,
          });
        }
        l.deliveredDiskPos = undefined;
      }
      toPrune.clear();
      if (removed) measure();
    },
    unwritten(shardId) {
      return pending.filter((e) => e.shardId === shardId);
    },
    persist(rest) {
      if (!journal) {
        if (rest.length > 0) {
          log.error("closing with undelivered events and no journal: they are lost", {
            events: rest.length,
          });
        }
        return rest.length;
      }
      // Unwritten spills and memory go in one transaction; positions keep their order.
      const all = [...pending, ...rest];
      if (all.length === 0) return 0;
      try {
        journal.append(all);
      } catch (error) {
        log.error("could not journal the undelivered events; they are at risk", {
          error,
          events: all.length,
        });
        return all.length;
      }
      for (const e of all) e.durable = true;
      pending = [];
      pendingBytes = 0;
      log.info("undelivered events written to the journal for the next start", {
        events: all.length,
      });
      return 0;
    },
    stop() {
      clearTimeout(spillTimer);
    },
  };
  return spill;
}
