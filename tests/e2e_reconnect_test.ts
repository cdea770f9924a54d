import { assert, assertEquals } from "./helpers/assert.ts";
import { startE2E } from "./helpers/rig.ts";
import { until } from "./helpers/wait.ts";

const sanitizers = { sanitizeOps: false, sanitizeResources: false };

function seqs(events: { shardId: number; data: { s: number; t: string } }[], shard: number) {
  return events.filter((e) => e.shardId === shard && e.data.s !== null).map((e) => e.data.s);
}

Deno.test({
  name:
    "a dropped connection resumes and Discord's replay fills the gap: nothing lost, nothing twice",
  ...sanitizers,
  async fn() {
    const e2e = await startE2E({ sim: { shards: 2, maxConcurrency: 2, guilds: 4 } });
    try {
      await e2e.service.allReady;
      const emitted: number[] = [];
      const emit = () => emitted.push(e2e.sim.emitMessageCreate(0).s!);
      for (let i = 0; i < 10; i++) emit();
      e2e.sim.dropConnection(0);
      // Emitted while the shard is away: Discord buffers them for the resume.
      for (let i = 0; i < 10; i++) emit();
      await until(() => e2e.sim.resumes.some((r) => r.accepted), "an accepted resume");
      for (let i = 0; i < 10; i++) emit();
      await until(() => seqs(e2e.handler.events, 0).includes(emitted.at(-1)!), "the last event");
      const got = seqs(e2e.handler.events, 0);
      for (const s of emitted) assert(got.includes(s), `event s=${s} delivered`);
      for (let i = 1; i < got.length; i++) assert(got[i] > got[i - 1], `in order, once: ${got}`);
      assertEquals(e2e.sim.identifies.filter((i) => i.shardId === 0).length, 1, "no re-identify");
    } finally {
      await e2e.close();
    }
  },
});

Deno.test({
  name: "re-identifies after op 9 go through the identify queue: spaced per bucket, none refused",
  ...sanitizers,
  async fn() {
    const e2e = await startE2E({
      sim: { shards: 4, maxConcurrency: 2, guilds: 4, identifyIntervalMs: 1500 },
    });
    try {
      await e2e.service.allReady;
      const before = e2e.sim.identifies.length;
      // Both shards of bucket 0 lose their sessions at once.
      e2e.sim.sendInvalidSession(0, false);
      e2e.sim.sendInvalidSession(2, false);
      await until(
        () => e2e.sim.identifies.slice(before).filter((i) => i.accepted).length === 2,
        "two new sessions",
        30_000,
      );
      const again = e2e.sim.identifies.slice(before);
      assertEquals(again.filter((i) => !i.accepted).length, 0, JSON.stringify(again));
      assert(Math.abs(again[1].at - again[0].at) >= 1500, `spacing ${again[1].at - again[0].at}`);
      await until(() => e2e.service.readyShards.size === 4, "all shards ready again");
      const s = e2e.sim.emitMessageCreate(2).s!;
      await until(() => e2e.handler.events.some((e) => e.shardId === 2 && e.data.s === s), "live");
    } finally {
      await e2e.close();
    }
  },
});

Deno.test({
  name:
    "a dead resume host: after two failed resumes the shard tries the main gateway URL and recovers",
  ...sanitizers,
  async fn() {
    // A port nobody listens on plays the resume host that went away.
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const deadPort = (listener.addr as Deno.NetAddr).port;
    listener.close();
    const e2e = await startE2E({
      sim: {
        shards: 1,
        guilds: 2,
        identifyIntervalMs: 500,
        resumeGatewayUrl: `ws://127.0.0.1:${deadPort}/resume`,
      },
    });
    try {
      await e2e.service.allReady;
      e2e.sim.dropConnection(0);
      await until(
        () => e2e.logs.some((l) => l.includes("falling back to the main gateway URL")),
        "the fallback",
        30_000,
      );
      // This simulator, like Discord's documentation, accepts a resume only on the resume URL:
      // on the main URL the shard is told to identify, and does.
      await until(
        () => e2e.sim.identifies.filter((i) => i.accepted).length === 2,
        "a new session",
        30_000,
      );
      await until(() => e2e.service.readyShards.size === 1, "the shard ready again");
      const s = e2e.sim.emitMessageCreate(0).s!;
      await until(() => seqs(e2e.handler.events, 0).includes(s), "an event after the recovery");
    } finally {
      await e2e.close();
    }
  },
});
