/**
 * Moving a journal left by another shard range (the range was changed) into this
 * process's journal, so its undelivered events are delivered instead of abandoned.
 * @module
 */
import type { Journal, JournalRecord } from "./journal.ts";

/**
 * Appends every record of `from` to `into`, per shard in order and in front of what
 * `into` already holds for that shard (the other file is the older one: it was left by an
 * earlier run). Returns the number of events moved; `from` is left as it was.
 */
export function adoptJournal(from: Journal, into: Journal, batch = 1024): number {
  const existing = into.stats();
  let moved = 0;
  for (const [shardId, stats] of from.stats()) {
    // Positions only order events within a shard: take room just below the shard's first.
    const first = existing.get(shardId)?.minPos;
    let pos = first === undefined ? 1 : Math.floor(first) - stats.events - 1;
    let after: number | undefined;
    for (;;) {
      const records: JournalRecord[] = from.read(shardId, batch, after);
      if (records.length === 0) break;
      after = records[records.length - 1].pos;
      into.append(records.map((r) => ({ ...r, pos: pos++ })));
      moved += records.length;
    }
  }
  return moved;
}
