/**
 * The on-disk journal events spill to when the memory bound is reached, and
 * that survives a restart. Embedded SQLite through `node:sqlite`: no server.
 * @module
 */
import { DatabaseSync, type StatementSync } from "node:sqlite";
import type { QueuedEvent } from "./types.ts";

/**
 * A journaled event; `pos` orders it within its shard (unique per shard). Positions are
 * numbers, not only integers: a replayed event that fills a gap between journaled ones is
 * placed at a fraction between its neighbours (see {@linkcode Journal.place}).
 */
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
  /** The sessions with journaled events, per shard (a restart holds those lanes for the replay). */
  sessions(): { shardId: number; session: string }[];
  /**
   * Where an event Discord replays on a resume belongs among the shard's journaled events:
   * `"duplicate"` when that exact `s` of that session is journaled, a position between its
   * journaled neighbours when it fills a gap (events that were only in memory at a crash),
   * `undefined` when it comes after everything journaled of that session (append as usual).
   */
  place(shardId: number, session: string, s: number): "duplicate" | number | undefined;
  /** Bytes the journal occupies on disk: its live pages plus its write-ahead log (free pages are reused). */
  sizeBytes(): number;
  close(): void;
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
    CREATE INDEX IF NOT EXISTS events_by_session ON events (shard, session, s);
  `);
  // The shard set (its total shard count) an event came from; journals from before it lack it.
  const columns = db.prepare("PRAGMA table_info(events)").all() as { name: string }[];
  if (!columns.some((c) => c.name === "total")) {
    db.exec("ALTER TABLE events ADD COLUMN total INTEGER");
  }
  const walPath = options.path === ":memory:" ? undefined : `${options.path}-wal`;
  const insert: StatementSync = db.prepare(
    "INSERT OR REPLACE INTO events (shard, pos, s, session, t, received_at, meta, bytes, raw, total) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
  );
  const select = db.prepare(
    "SELECT shard, pos, s, session, t, received_at, meta, raw, total FROM events WHERE shard = ? AND pos > ? ORDER BY pos LIMIT ?",
  );
  const del = db.prepare("DELETE FROM events WHERE shard = ? AND pos <= ?");
  const any = db.prepare("SELECT 1 FROM events LIMIT 1");
  const setMeta = db.prepare("UPDATE events SET meta = ? WHERE shard = ? AND pos = ?");
  const sessionQuery = db.prepare(
    "SELECT DISTINCT shard, session FROM events WHERE session IS NOT NULL",
  );
  const exact = db.prepare(
    "SELECT 1 FROM events WHERE shard = ? AND session = ? AND s = ? LIMIT 1",
  );
  const after = db.prepare(
    "SELECT pos, s FROM events WHERE shard = ? AND session = ? AND s > ? ORDER BY s LIMIT 1",
  );
  const before = db.prepare(
    "SELECT pos, s FROM events WHERE shard = ? AND session = ? AND s < ? ORDER BY s DESC LIMIT 1",
  );
  const below = db.prepare(
    "SELECT pos FROM events WHERE shard = ? AND pos < ? ORDER BY pos DESC LIMIT 1",
  );
  const pageSize = Number(
    (db.prepare("PRAGMA page_size").get() as Record<string, unknown>).page_size,
  );
  const pages = db.prepare("PRAGMA page_count");
  const freePages = db.prepare("PRAGMA freelist_count");
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
            e.totalShards ?? null,
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
          ...(r.total == null ? {} : { totalShards: Number(r.total) }),
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
    sessions() {
      return sessionQuery.all().map((row) => {
        const r = row as Record<string, unknown>;
        return { shardId: Number(r.shard), session: String(r.session) };
      });
    },
    place(shardId, session, s) {
      if (exact.get(shardId, session, s) !== undefined) return "duplicate";
      const next = after.get(shardId, session, s) as { pos: number; s: number } | undefined;
      if (!next) return undefined;
      const prev = before.get(shardId, session, s) as { pos: number; s: number } | undefined;
      let pos: number;
      if (prev) {
        // Proportional to `s`, so later fillers of the same gap land after earlier ones.
        pos = prev.pos + (next.pos - prev.pos) * (s - prev.s) / (next.s - prev.s);
      } else {
        // In front of the session's first journaled event, after anything older.
        const older = below.get(shardId, next.pos) as { pos: number } | undefined;
        const low = older?.pos ?? next.pos - 1;
        pos = low + (next.pos - low) * (s / next.s);
      }
      // Out of floating-point room between the neighbours: the caller appends instead.
      return pos > (prev?.pos ?? -Infinity) && pos < next.pos ? pos : undefined;
    },
    sizeBytes() {
      const total = Number((pages.get() as Record<string, unknown>).page_count);
      const free = Number((freePages.get() as Record<string, unknown>).freelist_count);
      let wal = 0;
      if (walPath) {
        try {
          wal = Deno.statSync(walPath).size;
        } catch { /* no WAL yet */ }
      }
      return (total - free) * pageSize + wal;
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
