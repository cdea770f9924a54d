/**
 * DATA_DIR belongs to one process, holds private files, and what another shard range
 * left there is delivered, not abandoned.
 */
import { assert, assertEquals, assertStringIncludes } from "./helpers/assert.ts";
import { runProxyProcess } from "./helpers/process.ts";
import { HANDLER_SECRET, REST_SECRET, TOKEN, withE2E } from "./helpers/rig.ts";
import { until } from "./helpers/wait.ts";
import { DataDirLockedError, ensurePrivateFile, openDataDir } from "../src/data_dir.ts";
import { createSqliteJournal, type QueuedEvent } from "../src/delivery/mod.ts";

const mode = async (path: string) => (await Deno.stat(path)).mode! & 0o777;

Deno.test("openDataDir() refuses a directory another holder has locked, naming it and the pid", async () => {
  const dir = await Deno.makeTempDir();
  const first = await openDataDir(`${dir}/data`);
  let error: unknown;
  try {
    await openDataDir(`${dir}/data`);
  } catch (e) {
    error = e;
  }
  assert(error instanceof DataDirLockedError, String(error));
  assertEquals(error.holderPid, Deno.pid);
  assertStringIncludes(error.message, `DATA_DIR=${dir}/data is in use`);
  first.release();
  // Released: the next process takes it.
  (await openDataDir(`${dir}/data`)).release();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a second proxy process on the same DATA_DIR exits at once with code 2 and the holder's pid", async () => {
  const dir = await Deno.makeTempDir();
  const held = await openDataDir(dir);
  const { code, text } = await runProxyProcess({
    DISCORD_TOKEN: TOKEN,
    REST_URL: "http://127.0.0.1:1",
    REST_AUTHORIZATION: REST_SECRET,
    EVENT_HANDLER_URL: "http://127.0.0.1:1/events",
    EVENT_HANDLER_AUTHORIZATION: HANDLER_SECRET,
    GATEWAY_INTENTS: "Guilds",
    GATEWAY_AUTHORIZATION: "gateway-secret",
    DATA_DIR: dir,
  });
  held.release();
  assertEquals(code, 2, text);
  assertStringIncludes(text, `DATA_DIR=${dir} is in use by another gateway proxy process`);
  assertStringIncludes(text, `pid ${Deno.pid}`);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("openDataDir() makes the directory private, and the journal's files stay private", async () => {
  const dir = await Deno.makeTempDir();
  const data = await openDataDir(`${dir}/data`);
  assertEquals(await mode(`${dir}/data`), 0o700);
  const path = `${dir}/data/journal.sqlite`;
  await ensurePrivateFile(path);
  const journal = createSqliteJournal({ path });
  journal.append([{ shardId: 0, s: 1, t: "X", receivedAt: 0, raw: "{}", pos: 1 }]);
  // SQLite gives its write-ahead log the database file's mode.
  assertEquals(await mode(path), 0o600);
  assertEquals(await mode(`${path}-wal`), 0o600);
  journal.close();
  data.release();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a journal left by another shard range is delivered at start, then removed", async () => {
  const event = (shardId: number, s: number, pos: number): QueuedEvent => ({
    shardId,
    s,
    pos,
    session: "old-session",
    t: "MESSAGE_CREATE",
    receivedAt: Date.now(),
    raw: JSON.stringify({ op: 0, t: "MESSAGE_CREATE", s, d: { left: "by range 0-3" } }),
  });
  await withE2E({
    sim: { shards: 2, identifyIntervalMs: 100 },
    noStart: true,
  }, async (e2e) => {
    // An earlier run with FIRST_SHARD_ID=0 LAST_SHARD_ID=3 crashed with a backlog.
    const other = createSqliteJournal({ path: `${e2e.dataDir}/journal-0-3.sqlite` });
    other.append([event(0, 7, 1), event(3, 9, 2), event(0, 8, 3)]);
    other.close();
    await e2e.service.start();
    await until(
      () => e2e.handler.events.filter((x) => x.data.d?.left).length === 3,
      "the other range's events",
    );
    const left = e2e.handler.events.filter((x) => x.data.d?.left);
    assertEquals(left.map((x) => `${x.shardId}/${x.data.s}`).sort(), ["0/7", "0/8", "3/9"]);
    // Per shard in order: 7 before 8 on shard 0.
    const shard0 = left.filter((x) => x.shardId === 0).map((x) => x.data.s);
    assertEquals(shard0, [7, 8]);
    const names = [...Deno.readDirSync(e2e.dataDir)].map((d) => d.name);
    assert(!names.includes("journal-0-3.sqlite"), names.join(","));
    assert(e2e.logs.some((l) => l.includes("took over the journal of another shard range")));
  });
});
