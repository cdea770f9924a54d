/**
 * Several gateway processes on one Redis (`REDIS_URL`, `SHARD_ASSIGNMENT=auto`): shards spread
 * over the members, move by graceful hand-over when one joins, are taken over by resume when one
 * leaves, commands reach the holder, and nothing the simulator sent is lost on the way.
 * @module
 */
import { assert, assertEquals } from "./helpers/assert.ts";
import { type Member, shareOf, startClusterRig } from "./helpers/cluster_rig.ts";
import { until } from "./helpers/wait.ts";
import { createControlSource } from "../src/control/source.ts";
import { consume } from "../src/consumer.ts";
import { renderMetrics } from "../src/control/metrics.ts";

const SHARDS = 4;

/** Message sequence numbers the simulator sent per shard, and whether the handler got each. */
function missing(
  sent: Map<number, number[]>,
  received: { shardId: number; data: { t: string; s: number } }[],
): string[] {
  const got = new Set(
    received.filter((e) => e.data.t === "MESSAGE_CREATE").map((e) => `${e.shardId}:${e.data.s}`),
  );
  const out: string[] = [];
  for (const [shard, seqs] of sent) {
    for (const s of seqs) if (!got.has(`${shard}:${s}`)) out.push(`${shard}:${s}`);
  }
  return out;
}

Deno.test("cluster: two members share the shards, hand over on join and take over on leave, losing nothing", async () => {
  const rig = await startClusterRig({ sim: { shards: SHARDS, maxConcurrency: 1, guilds: 16 } });
  const members: Member[] = [];
  const sent = new Map<number, number[]>();
  const emit = () => {
    for (let shard = 0; shard < SHARDS; shard++) {
      const s = rig.sim.emitMessageCreate(shard, {}).s;
      if (s !== null && s !== undefined) sent.set(shard, [...(sent.get(shard) ?? []), s]);
    }
  };
  let emitting = true;
  try {
    members.push(await rig.startMember("m0"));
    await until(() => rig.sim.connectedShards().length === SHARDS, "m0 runs every shard");
    assertEquals(shareOf(members, SHARDS), [SHARDS]);
    // Traffic all along: the moves below must not lose any of it.
    const traffic = (async () => {
      while (emitting) {
        if (rig.sim.connectedShards().length === SHARDS) emit();
        await new Promise((r) => setTimeout(r, 20));
      }
    })();

    members.push(await rig.startMember("m1"));
    await until(
      () =>
        shareOf(members, SHARDS).join() === "2,2" &&
        rig.sim.connectedShards().length === SHARDS,
      "the shards spread 2 and 2",
      30_000,
    );
    // Moved by resume: the shards identified once, at the start.
    assertEquals(rig.sim.identifies.filter((i) => i.accepted).length, SHARDS);
    assert(rig.sim.resumes.filter((r) => r.accepted).length >= 2, "the moved shards resumed");

    // A command for a shard the other member holds reaches it.
    const onM1 = [0, 1, 2, 3].find((id) => members[1].service.runsShard(id))!;
    const source = createControlSource(members[0].service, { alive: () => true });
    try {
      const before = rig.sim.received.filter((r) => r.op === 3 && r.shardId === onM1).length;
      await source.send(onM1, {
        op: 3,
        d: { since: null, activities: [], status: "idle", afk: false },
      });
      await until(
        () => rig.sim.received.filter((r) => r.op === 3 && r.shardId === onM1).length > before,
        "the presence reached the shard on the other member",
      );
      // /shards on either member shows the whole cluster, as of the last lease round.
      await until(
        () =>
          source.shards().filter((v) => v.member === "m1" && v.state === "connected").length === 2,
        "m0's /shards shows m1's two shards",
      );
      assertEquals(source.shards().filter((v) => v.member === "m0").length, 2);
    } finally {
      source.close();
    }

    // m0 leaves cleanly: m1 takes its shards over by resume.
    await members[0].service.stop(2000);
    members.shift();
    await until(
      () =>
        shareOf(members, SHARDS).join() === String(SHARDS) &&
        rig.sim.connectedShards().length === SHARDS,
      "m1 runs every shard",
      30_000,
    );
    assertEquals(rig.sim.identifies.filter((i) => i.accepted).length, SHARDS);
    emitting = false;
    await traffic;
    emit();
    const total = [...sent.values()].reduce((n, v) => n + v.length, 0);
    assert(total >= SHARDS * 10, `traffic flowed during the moves (${total} messages)`);
    await until(
      () => missing(sent, rig.handler.events as never).length === 0,
      "every message delivered",
      20_000,
    ).catch((error) => {
      throw new Error(`${error.message}: missing ${missing(sent, rig.handler.events as never)}`);
    });
  } finally {
    emitting = false;
    await rig.close();
  }
});

Deno.test("TRANSPORT=redis-streams: the service appends every event to its shard's stream; a bot reads them with consume() and acks", async () => {
  const rig = await startClusterRig({
    sim: { shards: 2, maxConcurrency: 2, guilds: 6 },
    env: { TRANSPORT: "redis-streams", SHARD_ASSIGNMENT: "range" },
  });
  const stop = new AbortController();
  try {
    const m = await rig.startMember("s0");
    await until(() => rig.sim.connectedShards().length === 2, "both shards up");
    const sent = [0, 1, 0, 1].map((shard) => `${shard}:${rig.sim.emitMessageCreate(shard).s}`);
    const got: { shardId: number; t: string; s: number }[] = [];
    const reading = (async () => {
      for await (
        const event of consume({
          redisUrl: rig.redis.url,
          botId: "123456789012345678",
          consumer: "bot-1",
          signal: stop.signal,
        })
      ) {
        const d = event.data as { t: string; s: number };
        got.push({ shardId: event.shardId, t: d.t, s: d.s });
        await event.ack();
      }
    })();
    await until(
      () =>
        sent.every((k) => got.some((e) => `${e.shardId}:${e.s}` === k && e.t === "MESSAGE_CREATE")),
      "every message read from the streams",
    );
    // Per shard, in Discord's order; nothing went to the HTTP handler.
    for (const shard of [0, 1]) {
      const seqs = got.filter((e) => e.shardId === shard && e.s !== null).map((e) => e.s);
      assertEquals(seqs, [...seqs].sort((a, b) => a - b));
    }
    assertEquals(rig.handler.events.length, 0);
    assert(got.some((e) => e.t === "READY"));
    const source = createControlSource(m.service, { alive: () => true });
    try {
      const text = renderMetrics(source);
      const appended = Number(/gateway_stream_appended_total (\d+)/.exec(text)?.[1]);
      assert(appended >= got.length, text.slice(0, 200));
    } finally {
      source.close();
    }
    stop.abort();
    await reading.catch(() => {});
  } finally {
    stop.abort();
    await rig.close();
  }
});

Deno.test("cluster with worker threads: a member with TOTAL_WORKERS=2 takes its share, then every shard when the other leaves", async () => {
  const rig = await startClusterRig({ sim: { shards: SHARDS, maxConcurrency: 2, guilds: 16 } });
  try {
    const w = await rig.startMember("w0", { TOTAL_WORKERS: "2" });
    await until(() => rig.sim.connectedShards().length === SHARDS, "w0 runs every shard", 30_000);
    const m = await rig.startMember("m1");
    await until(
      () =>
        shareOf([w, m], SHARDS).join() === "2,2" &&
        w.service.group!.status().filter((r) => r.state === "connected").length === 2 &&
        m.service.group!.status().filter((r) => r.state === "connected").length === 2,
      "2 and 2, every shard connected",
      30_000,
    );
    // The shards on w0 run on its workers.
    assertEquals(w.service.workers().length, 2);
    await m.service.stop(2000);
    await until(
      () => w.service.group!.status().filter((r) => r.state === "connected").length === SHARDS,
      "w0's workers run every shard again",
      30_000,
    );
    assertEquals(rig.sim.identifies.filter((i) => i.accepted).length, SHARDS, "moves are resumes");
    const sent = [0, 1, 2, 3].map((shard) => `${shard}:${rig.sim.emitMessageCreate(shard).s}`);
    await until(
      () => sent.every((k) => rig.handler.events.some((e) => `${e.shardId}:${e.data.s}` === k)),
      "messages on every shard delivered",
    );
  } finally {
    await rig.close();
  }
});
