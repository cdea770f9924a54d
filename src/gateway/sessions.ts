/**
 * Resumable Discord sessions, persisted so a restarted process resumes its
 * shards (op 6) instead of identifying them again. Plain data, like
 * twilight's `Session`: a Redis-backed store can replace the file one.
 * @module
 */
import { dirname } from "node:path";
import type { Logger } from "../log.ts";

/** What a shard needs to resume after a restart. */
export interface SessionRecord {
  shardId: number;
  sessionId: string;
  resumeGatewayUrl: string;
  /** Shard count the session was identified with; a resume needs the same. */
  totalShards: number;
  /** Every dispatch up to this `s` was delivered or journaled; Discord replays the rest. */
  seq: number;
  /** Epoch ms. */
  savedAt: number;
}

/** Where sessions live between runs. */
export interface SessionStore {
  /** The stored sessions; never throws (a corrupt or foreign store loads as empty, with a warning). */
  load(): Promise<SessionRecord[]>;
  /** Replaces the stored sessions atomically. */
  save(records: SessionRecord[]): Promise<void>;
}

/** Options of {@linkcode createFileSessionStore}. */
export interface FileSessionStoreOptions {
  /** JSON file, e.g. `DATA_DIR/sessions-0-15.json`. */
  path: string;
  /** The bot token; only a hash of it is stored, to recognize another bot's file. */
  token: string;
  logger: Logger;
}

interface FileShape {
  version: 1;
  tokenHash: string;
  sessions: SessionRecord[];
}

/**
 * Sessions in one JSON file (mode 0600: a session id lets anyone with the token's bot resume
 * it), replaced by write, fsync, rename, fsync of the folder, so neither a crash nor a power
 * loss leaves half a file or loses the rename.
 */
export function createFileSessionStore(options: FileSessionStoreOptions): SessionStore {
  const { path, token, logger } = options;
  const log = logger.with({ component: "sessions" });
  const hash = tokenHash(token);
  let tail: Promise<void> = Promise.resolve();
  return {
    async load() {
      let text: string;
      try {
        text = await Deno.readTextFile(path);
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) {
          log.warn("cannot read the session file; shards will identify", { path, error });
        }
        return [];
      }
      let data: FileShape;
      try {
        data = JSON.parse(text);
        if (data?.version !== 1 || !Array.isArray(data.sessions)) throw new Error("unknown format");
      } catch (error) {
        log.warn("session file is corrupt and is ignored; shards will identify", { path, error });
        return [];
      }
      if (data.tokenHash !== await hash) {
        log.warn("session file belongs to another bot token and is ignored; shards will identify", {
          path,
        });
        return [];
      }
      const good: SessionRecord[] = [];
      for (const r of data.sessions) {
        if (isSessionRecord(r)) good.push(r);
        else log.warn("ignoring a malformed session record", { record: JSON.stringify(r) });
      }
      return good;
    },
    save(records) {
      const write = async () => {
        const body: FileShape = { version: 1, tokenHash: await hash, sessions: records };
        const tmp = `${path}.tmp`;
        // A leftover temporary file would keep its old mode: start afresh.
        await Deno.remove(tmp).catch(() => {});
        const file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o600 });
        try {
          const bytes = new TextEncoder().encode(JSON.stringify(body));
          for (let at = 0; at < bytes.length;) at += await file.write(bytes.subarray(at));
          await file.sync();
        } finally {
          file.close();
        }
        await Deno.rename(tmp, path);
        await syncDirectory(dirname(path));
      };
      tail = tail.then(write, write);
      return tail;
    },
  };
}

/**
 * Makes a rename in `dir` durable (fsync of the folder). Where a folder cannot be opened or
 * synced (Windows, some network file systems), does nothing: the rename still happened.
 */
export async function syncDirectory(dir: string): Promise<void> {
  let handle: Deno.FsFile | undefined;
  try {
    handle = await Deno.open(dir, { read: true });
    await handle.sync();
  } catch { /* not supported here */ }
  handle?.close();
}

/** Whether `r` is a well-formed {@linkcode SessionRecord}. */
export function isSessionRecord(r: unknown): r is SessionRecord {
  const x = r as SessionRecord;
  return typeof x === "object" && x !== null && Number.isInteger(x.shardId) && x.shardId >= 0 &&
    typeof x.sessionId === "string" && x.sessionId.length > 0 &&
    typeof x.resumeGatewayUrl === "string" && Number.isInteger(x.totalShards) &&
    x.totalShards > 0 && Number.isInteger(x.seq) && x.seq >= 0;
}

async function tokenHash(token: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(token));
  return [...new Uint8Array(digest).slice(0, 12)].map((b) => b.toString(16).padStart(2, "0"))
    .join("");
}
