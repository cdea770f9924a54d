/**
 * The data directory (`DATA_DIR`): private to this process. It holds interaction tokens and
 * message content (journal, dead letters) and steers where the bot token is sent (sessions),
 * so it is created 0700, and an exclusive lock keeps a second process (a rolling deploy on a
 * shared volume) from resuming the same sessions and deleting the other's journal rows.
 * @module
 */

/** Thrown when another live process holds the directory. */
export class DataDirLockedError extends Error {
  constructor(
    /** The directory. */
    readonly path: string,
    /** What the holder wrote in the lock file (its pid), when readable. */
    readonly holderPid?: number,
  ) {
    super(
      `DATA_DIR=${path} is in use by another gateway proxy process${
        holderPid ? ` (pid ${holderPid})` : ""
      }; give each process its own DATA_DIR, or stop the other one first`,
    );
    this.name = "DataDirLockedError";
  }
}

/** A locked data directory; the lock ends with the process or with `release()`. */
export interface DataDir {
  readonly path: string;
  /** Files in the directory whose name starts with `prefix`. */
  list(prefix: string): Promise<string[]>;
  release(): void;
}

/**
 * Creates `path` (mode 0700) if needed and takes its lock (`path/lock`, holding the pid).
 * The lock is advisory (`flock`): a crashed holder's lock goes away with its process.
 * @throws {DataDirLockedError} when another process holds it.
 */
export async function openDataDir(path: string): Promise<DataDir> {
  await Deno.mkdir(path, { recursive: true, mode: 0o700 });
  // An existing directory keeps its mode unless we own it; a volume owned by root is left alone.
  await Deno.chmod(path, 0o700).catch(() => {});
  const lockPath = `${path}/lock`;
  const file = await Deno.open(lockPath, { read: true, write: true, create: true, mode: 0o600 });
  if (!(await file.tryLock(true))) {
    const text = await Deno.readTextFile(lockPath).catch(() => "");
    file.close();
    const pid = Number.parseInt(text, 10);
    throw new DataDirLockedError(path, Number.isSafeInteger(pid) && pid > 0 ? pid : undefined);
  }
  await file.truncate(0);
  await file.write(new TextEncoder().encode(`${Deno.pid}\n`));
  let released = false;
  return {
    path,
    async list(prefix) {
      const out: string[] = [];
      for await (const entry of Deno.readDir(path)) {
        if (entry.isFile && entry.name.startsWith(prefix)) out.push(entry.name);
      }
      return out.sort();
    },
    release() {
      if (released) return;
      released = true;
      try {
        file.unlockSync();
      } catch { /* closing releases it too */ }
      file.close();
    },
  };
}

/** Creates an empty private file if none exists, so what opens it later inherits mode 0600. */
export async function ensurePrivateFile(path: string): Promise<void> {
  try {
    await Deno.writeFile(path, new Uint8Array(), { createNew: true, mode: 0o600 });
  } catch (error) {
    if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    await Deno.chmod(path, 0o600).catch(() => {});
  }
}
