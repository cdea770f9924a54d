/**
 * Stopping the real process while a reshard prepares its new shard set: the old set
 * stays the one to resume, and nothing is lost.
 */
import { assert, assertEquals } from "./helpers/assert.ts";
import { allDelivered, guildStream } from "./helpers/guild_stream.ts";
import { startProxyProcess } from "./helpers/process.ts";
import { stage } from "./helpers/stage.ts";
import { until } from "./helpers/wait.ts";

const sanitizers = { sanitizeOps: false, sanitizeResources: false };

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

async function storedTotals(dataDir: string): Promise<number[]> {
  const text = await Deno.readTextFile(`${dataDir}/sessions-0-last.json`).catch(() => "");
  if (!text) return [];
  return (JSON.parse(text).sessions as { totalShards: number }[]).map((s) => s.totalShards);
}

for (const signal of ["SIGTERM", "SIGKILL"] as const) {
  Deno.test({
    name:
      `${signal} while a reshard prepares: the next start resumes the old shard set and loses nothing`,
    ...sanitizers,
    async fn() {
      // One identify per second per bucket: the new set of 4 takes a few seconds to prepare.
      const st = await stage({ shards: 2, guilds: 8, maxConcurrency: 1, identifyIntervalMs: 1000 });
      const port = freePort();
      const env = {
        ...st.env,
        GATEWAY_PORT: String(port),
        RESHARD_CHECK_INTERVAL_MS: "0",
        RESHARD_OVERLAP_MS: "1000",
      };
      const stream = guildStream(st.sim, 20);
      try {
        const first = startProxyProcess(env);
        await until(() => st.sim.connectedShards().length === 2, "2 shards", 30_000);
        await until(async () => (await storedTotals(st.dataDir)).length === 2, "sessions saved");
        const res = await fetch(`http://127.0.0.1:${port}/reshard`, {
          method: "POST",
          headers: { authorization: "gw" },
          body: JSON.stringify({ totalShards: 4 }),
        });
        assertEquals(res.status, 202, await res.text());
        // Preparing: a first shard of the new set is connected, the set is not complete.
        await until(
          () => st.sim.sessions().some((s) => s.numShards === 4 && s.connected),
          "a new shard connected",
          30_000,
        );
        assert(st.sim.sessions().filter((s) => s.numShards === 4).length < 4, "still preparing");
        first.kill(signal);
        const code = await first.exited;
        if (signal === "SIGTERM") {
          assertEquals(code, 0, first.output);
          // The new set was closed for good; the old one stays resumable.
          await until(
            () => st.sim.sessions().filter((s) => s.numShards === 4).every((s) => !s.connected),
            "new set closed",
          );
          assert(
            st.sim.sessions().filter((s) => s.numShards === 4).every((s) => s.expired),
            "new sessions ended",
          );
        }
        assertEquals(await storedTotals(st.dataDir), [2, 2]);
        const identifiesBefore = st.sim.identifies.filter((i) => i.accepted).length;
        const second = startProxyProcess(env);
        await until(
          () => st.sim.resumes.filter((r) => r.accepted).length >= 2,
          "the old set resumed",
          30_000,
        );
        await until(() => stream.markers.length > 0, "stream");
        const after = stream.markers.length;
        await until(() => stream.markers.length > after + 20, "events after the restart");
        await stream.stop();
        await until(
          () => allDelivered(st.handler.events, stream.markers),
          "every message delivered",
          30_000,
        );
        // Resumed, not identified: the old set's sessions were still the stored ones.
        assertEquals(
          st.sim.identifies.filter((i) => i.accepted && i.numShards === 2).length,
          2,
          "only the first start identified the old set",
        );
        assert(st.sim.identifies.filter((i) => i.accepted).length >= identifiesBefore);
        second.kill("SIGTERM");
        assertEquals(await second.exited, 0, second.output);
      } finally {
        await stream.stop();
        await st.close();
      }
    },
  });
}
