/**
 * Files another shard range left in `DATA_DIR` (the range was changed) are taken over, not
 * abandoned: their journaled events are delivered from this process's journal, and their
 * sessions for shards of this range are resumed.
 * @module
 */
import type { Config } from "../configs.ts";
import type { DataDir } from "./data_dir.ts";
import { adoptJournal, createSqliteJournal, type Journal } from "./delivery/mod.ts";
import { createFileSessionStore, type SessionRecord, type SessionStore } from "./gateway/mod.ts";
import type { Logger } from "./log.ts";

/** Options of {@linkcode adoptOtherRanges}. */
export interface AdoptOptions {
  config: Config;
  dataDir: DataDir;
  logger: Logger;
  /** This process's journal and its file name. */
  journal: Journal;
  journalFile: string;
  /**
   * This process's session store, its file name and what it holds now; `undefined` = a user's
   * store (left alone).
   */
  sessions?: { store: SessionStore; file: string; own: SessionRecord[] };
  /** Last shard id of this process's range. */
  lastShardId: number;
}

/**
 * Moves other ranges' journals and sessions into this process's, then removes their files.
 * Returns this process's sessions after the move (`undefined` with a user's store).
 */
export async function adoptOtherRanges(
  options: AdoptOptions,
): Promise<SessionRecord[] | undefined> {
  const { config, dataDir, logger } = options;
  for (const name of await dataDir.list("journal-")) {
    if (name === options.journalFile || !name.endsWith(".sqlite")) continue;
    const path = `${config.dataDir}/${name}`;
    const other = createSqliteJournal({ path });
    const moved = adoptJournal(other, options.journal);
    other.close();
    for (const suffix of ["", "-wal", "-shm"]) await Deno.remove(path + suffix).catch(() => {});
    logger.warn("took over the journal of another shard range; its events are delivered", {
      file: name,
      events: moved,
    });
  }
  if (!options.sessions) return undefined;
  const { store, file, own } = options.sessions;
  const have = new Set(own.map((r) => r.shardId));
  const adopted: SessionRecord[] = [];
  const others = (await dataDir.list("sessions-")).filter((n) => n !== file && n.endsWith(".json"));
  for (const name of others) {
    const path = `${config.dataDir}/${name}`;
    const records = await createFileSessionStore({ path, token: config.discordToken, logger })
      .load();
    for (const r of records) {
      if (r.shardId < config.firstShardId || r.shardId > options.lastShardId) continue;
      if (have.has(r.shardId)) continue;
      have.add(r.shardId);
      adopted.push(r);
    }
  }
  const merged = [...own, ...adopted];
  if (adopted.length > 0) await store.save(merged);
  for (const name of others) {
    await Deno.remove(`${config.dataDir}/${name}`).catch(() => {});
    logger.warn("took over the sessions file of another shard range", {
      file: name,
      adopted: adopted.length,
    });
  }
  return merged;
}
