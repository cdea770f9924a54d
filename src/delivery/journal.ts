/**
 * The on-disk journal events spill to when the memory bound is reached, and
 * that survives a restart. Embedded SQLite through `node:sqlite`: no server.
 * @module
 */
import { DatabaseSync, type StatementSync } from "node:sqlite";
import type { QueuedEvent } from "./types.ts";

/** A journaled event; `pos` orders it within its shard (unique per shard). */
export interface JournalRecord extends QueuedEvent {
  pos: number;
}

/** Ordered per-shard storage for events that do not fit in memory. */
export interface Journal {
  /** Appends events (each must carry `pos`). */
  append(events: QueuedEvent[]): void;
  /** The oldest `limit` records of a shard after `afterPos`, in order. */
  read(shardId: number, limit: number, afterPos?: number): JournalRecord[];
  /** Removes a shard's records up to and including `pos`. */
  remove(shardId: number, uptoPos: number): void;
  /** Rewrites the delivery flags (`deferred`, `acknowledged`, ...) of a journaled event, if it is there. */
  update(event: QueuedEvent): void;
  /** Records and payload bytes per shard. */
  stats(): Map<number, { events: number; bytes: number; minPos: number; maxPos: number }>;
  /** Per shard and session, the range of `s` journaled (a restart dedupes Discord's replay with it). */
  ranges(): JournalRange[];
  close(): void;
}

/** The journaled sequence numbers of one shard's session. */
export interface JournalRange {
  shardId: number;
  session: string;
  minS: number;
  maxS: number;
  /** Where the session's first journaled event sits in the shard's order. */
  minPos: number;
}

/** Options of {@linkcode createSqliteJournal}. */
export interface SqliteJournalOptions {
  /** File path, or `":memory:"` for tests. */
  path: string;
  /**
   * SQLite's `synchronous` level (`JOURNAL_SYNC`): `normal` survives a process crash but may
   * lose the last transactions on a power loss; `full` fsyncs every commit. @default "normal"
   */
  synchronous?: "normal" | "full";
}

/** Creates the SQLite {@linkcode Journal}. */
export function createSqliteJournal(options: SqliteJournalOptions): Journal {
  const { synchronous = "normal" } = options;
  if (synchronous !== "normal" && synchronous !== "full") {
    throw new TypeError(`synchronous must be "normal" or "full", got ${synchronous}`);
  }
  const db = new DatabaseSync(options.path);
  // auto_vacuum must be chosen before the first table exists.
  db.exec("PRAGMA auto_vacuum = INCREMENTAL");
  db.exec(`
    PRAGMA journal_mode = WAL;
    PRAGMA synchronous = ${synchronous.toUpperCase()};
    PRAGMA journal_size_limit = 67108864;
    CREATE TABLE IF NOT EXISTS events (
      pos INTEGER NOT NULL,
      shard INTEGER NOT NULL,
      s INTEGER NOT NULL,
      session TEXT,
      t TEXT NOT NULL,
      received_at INTEGER NOT NULL,
      meta TEXT,
      bytes INTEGER NOT NULL,
      raw TEXT NOT NULL
    );
    CREATE UNIQUE INDEX IF NOT EXISTS events_by_shard ON events (shard, pos);
  `);
  const insert: StatementSync = db.prepare(
    "INSERT OR REPLACE INTO events (shard, pos, s, session, t, received_at, meta, bytes, raw) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
  );
  const select = db.prepare(
    "SELECT shard, pos, s, session, t, received_at, meta, raw FROM events WHERE shard = ? AND pos > ? ORDER BY pos LIMIT ?",
  );
  const del = db.prepare("DELETE FROM events WHERE shard = ? AND pos <= ?");
  const any = db.prepare("SELECT 1 FROM events LIMIT 1");
  const setMeta = db.prepare("UPDATE events SET meta = ? WHERE shard = ? AND pos = ?");
  const rangeQuery = db.prepare(
    "SELECT shard, session, MIN(s) AS minS, MAX(s) AS maxS, MIN(pos) AS minPos FROM events WHERE session IS NOT NULL GROUP BY shard, session",
  );
  const summary = db.prepare(
    "SELECT shard, COUNT(*) AS n, SUM(bytes) AS bytes, MIN(pos) AS minPos, MAX(pos) AS maxPos FROM events GROUP BY shard",
  );
  return {
    append(events) {
      db.exec("BEGIN");
      try {
        for (const e of events) {
          if (e.pos === undefined) throw new TypeError("journaled events need a pos");
          insert.run(
            e.shardId,
            e.pos,
            e.s,
            e.session ?? null,
            e.t,
            e.receivedAt,
            metaOf(e),
            e.raw.length,
            e.raw,
          );
        }
        db.exec("COMMIT");
      } catch (error) {
        db.exec("ROLLBACK");
        throw error;
      }
    },
    read(shardId, limit, afterPos = Number.MIN_SAFE_INTEGER) {
      return select.all(shardId, afterPos, limit).map((row) => {
        const r = row as Record<string, unknown>;
        const meta = r.meta ? JSON.parse(String(r.meta)) : {};
        return {
          shardId: Number(r.shard),
          pos: Number(r.pos),
          s: Number(r.s),
          session: r.session == null ? undefined : String(r.session),
          t: String(r.t),
          receivedAt: Number(r.received_at),
          raw: String(r.raw),
          ...meta,
        } as JournalRecord;
      });
    },
    remove(shardId, uptoPos) {
      del.run(shardId, uptoPos);
      // Once empty, hand the space back to the disk instead of keeping the peak size.
      if (any.get() === undefined) {
        db.exec("PRAGMA incremental_vacuum");
        db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
      }
    },
    stats() {
      const out = new Map<
        number,
        { events: number; bytes: number; minPos: number; maxPos: number }
      >();
      for (const row of summary.all()) {
        const r = row as Record<string, unknown>;
        out.set(Number(r.shard), {
          events: Number(r.n),
          bytes: Number(r.bytes ?? 0),
          minPos: Number(r.minPos ?? 0),
          maxPos: Number(r.maxPos ?? 0),
        });
      }
      return out;
    },
    update(event) {
      if (event.pos !== undefined) setMeta.run(metaOf(event), event.shardId, event.pos);
    },
    ranges() {
      return rangeQuery.all().map((row) => {
        const r = row as Record<string, unknown>;
        return {
          shardId: Number(r.shard),
          session: String(r.session),
          minS: Number(r.minS),
          maxS: Number(r.maxS),
          minPos: Number(r.minPos),
        };
      });
    },
    close() {
      db.close();
    },
  };
}

/** Delivery flags kept beside the payload (counted in `raw.length` units, like the queue). */
function metaOf(e: QueuedEvent): string | null {
  if (!e.interaction && !e.deferred && !e.expired && !e.acknowledged) return null;
  return JSON.stringify({
    interaction: e.interaction,
    deferred: e.deferred,
    expired: e.expired,
    acknowledged: e.acknowledged,
  });
}
