/**
 * What `JOURNAL_SYNC=full` costs against `normal`: appends batches of ~1 KB
 * events to {@linkcode createSqliteJournal} the way the queue spills (one
 * transaction per batch of 1, 64 or 512 events) and prints events/s and the
 * time one commit blocks the event loop (the journal is synchronous).
 *
 * ```sh
 * deno run --allow-read --allow-write bench/journal_sync_bench.ts [--dir=./.data] [--seconds=3]
 * ```
 *
 * `--dir` should be on the disk `DATA_DIR` uses: on a tmpfs an fsync is free
 * and the comparison means nothing. The default is `./.data`.
 * @module
 */
import { parseArgs } from "node:util";
import { createSqliteJournal } from "../src/delivery/journal.ts";
import type { QueuedEvent } from "../src/delivery/types.ts";

/** One measured level and batch size. */
export interface JournalSyncResult {
  synchronous: "normal" | "full";
  batch: number;
  events: number;
  seconds: number;
  eventsPerSecond: number;
  /** Milliseconds one `append` (one commit) took, median and 99th percentile. */
  commitP50Ms: number;
  commitP99Ms: number;
}

/** Options of {@linkcode benchJournalSync}. */
export interface JournalSyncBenchOptions {
  /** Folder the temporary journals are made in. */
  dir: string;
  synchronous: "normal" | "full";
  /** Events per `append` (one transaction). */
  batch: number;
  /** How long to append, ms. @default 3000 */
  durationMs?: number;
  /** Bytes of each event's `raw`. @default 1024 */
  eventBytes?: number;
}

/** A dispatch of about `bytes` characters, shaped like a MESSAGE_CREATE. */
export function eventRaw(s: number, bytes = 1024): string {
  const base = JSON.stringify({
    op: 0,
    t: "MESSAGE_CREATE",
    s,
    d: {
      id: String(1_200_000_000_000_000_000n + BigInt(s)),
      channel_id: "1100000000000000000",
      guild_id: "1000000000000000000",
      author: { id: "1300000000000000000", username: "someone", discriminator: "0" },
      content: "",
    },
  });
  return base.replace(
    '"content":""',
    `"content":"${"x".repeat(Math.max(0, bytes - base.length))}"`,
  );
}

/** Appends for `durationMs` to a fresh journal and measures it. */
export async function benchJournalSync(
  options: JournalSyncBenchOptions,
): Promise<JournalSyncResult> {
  const { dir, synchronous, batch, durationMs = 3000, eventBytes = 1024 } = options;
  if (!Number.isInteger(batch) || batch < 1) {
    throw new RangeError(`batch must be a whole number >= 1, got ${batch}`);
  }
  const folder = await Deno.makeTempDir({ dir, prefix: "journal-sync-bench-" });
  const journal = createSqliteJournal({ path: `${folder}/journal.sqlite`, synchronous });
  const raw = eventRaw(0, eventBytes);
  const commits: number[] = [];
  let pos = 0;
  const started = performance.now();
  try {
    while (performance.now() - started < durationMs) {
      const events: QueuedEvent[] = [];
      for (let i = 0; i < batch; i++) {
        pos++;
        events.push({
          shardId: pos % 16,
          s: pos,
          session: "bench",
          t: "MESSAGE_CREATE",
          receivedAt: Date.now(),
          raw,
          pos,
        });
      }
      const t0 = performance.now();
      journal.append(events);
      commits.push(performance.now() - t0);
    }
  } finally {
    journal.close();
  }
  const seconds = (performance.now() - started) / 1000;
  await Deno.remove(folder, { recursive: true });
  commits.sort((a, b) => a - b);
  const pct = (p: number) => commits[Math.min(commits.length - 1, Math.floor(commits.length * p))];
  return {
    synchronous,
    batch,
    events: pos,
    seconds,
    eventsPerSecond: Math.round(pos / seconds),
    commitP50Ms: round(pct(0.5)),
    commitP99Ms: round(pct(0.99)),
  };
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { dir: { type: "string", default: "./.data" }, seconds: { type: "string" } },
  });
  const durationMs = Number(values.seconds ?? 3) * 1000;
  if (!(durationMs > 0)) throw new RangeError(`--seconds must be > 0, got ${values.seconds}`);
  await Deno.mkdir(values.dir!, { recursive: true });
  console.log(`journal in ${values.dir}, ~1 KB events, ${durationMs / 1000} s per case`);
  console.log("batch  synchronous  events/s   commit p50 ms  commit p99 ms");
  const rows: JournalSyncResult[] = [];
  for (const batch of [1, 64, 512]) {
    for (const synchronous of ["normal", "full"] as const) {
      const r = await benchJournalSync({ dir: values.dir!, synchronous, batch, durationMs });
      rows.push(r);
      console.log(
        `${String(batch).padStart(5)}  ${synchronous.padEnd(11)}  ${
          String(r.eventsPerSecond).padStart(8)
        }   ${String(r.commitP50Ms).padStart(13)}  ${String(r.commitP99Ms).padStart(13)}`,
      );
    }
  }
  for (const batch of [1, 64, 512]) {
    const [normal, full] = ["normal", "full"].map((s) =>
      rows.find((r) => r.batch === batch && r.synchronous === s)!
    );
    console.log(
      `batch ${batch}: full is ${
        (full.eventsPerSecond / normal.eventsPerSecond * 100).toFixed(0)
      }%` +
        ` of normal's throughput`,
    );
  }
}
