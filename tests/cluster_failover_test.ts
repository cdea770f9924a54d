/**
 * Failover between real gateway processes on one Redis: a member killed with a backlog that
 * never comes back (its journal is lost with it), and a member paused with SIGSTOP past its
 * lease, which must stop its shards at once when it wakes instead of fighting the new holder.
 * @module
 */
import { assert, assertEquals } from "./helpers/assert.ts";
import { type ClusterRig, type Member, shareOf, startClusterRig } from "./helpers/cluster_rig.ts";
import type { ProxyProcess } from "./helpers/process.ts";
import { freePort } from "./helpers/redis.ts";
import { until } from "./helpers/wait.ts";

const SHARDS = 4;

/** Shard ids a member process runs now, from its own `/shards`. */
async function shardsOf(
  port: number,
): Promise<{ id: number; member?: string; queue: { memory: number; disk: number } }[]> {
  const res = await fetch(`http://127.0.0.1:${port}/shards`, {
    headers: { authorization: "gateway-secret" },
  });
  const body = await res.json();
  return body.shards;
}

/** Starts process `a` alone on every shard, then member `b` in this process; waits for 2 and 2. */
async function twoMembers(
  rig: ClusterRig,
): Promise<{ a: ProxyProcess & { dataDir: string }; aPort: number; b: Member }> {
  const aPort = freePort();
  const a = await rig.startMemberProcess("a", { GATEWAY_PORT: String(aPort) });
  await until(() => rig.sim.connectedShards().length === SHARDS, "a runs every shard", 30_000)
    .catch((e) => {
      throw new Error(`${e.message}\n${a.output.slice(-3000)}`);
    });
  const b = await rig.startMember("b");
  await until(
    () => shareOf([b], SHARDS)[0] === 2 && rig.sim.connectedShards().length === SHARDS,
    "b takes 2 of the 4 shards",
    30_000,
  );
  return { a, aPort, b };
}

function messagesOf(rig: ClusterRig): Set<string> {
  return new Set(
    rig.handler.events.filter((e) => e.data.t === "MESSAGE_CREATE").map((e) =>
      `${e.shardId}:${e.data.s}`
    ),
  );
}

Deno.test("cluster: a member killed with a backlog that never returns loses nothing (the survivor resumes from the delivered sequence)", async () => {
  const rig = await startClusterRig({ sim: { shards: SHARDS, maxConcurrency: 1, guilds: 16 } });
  try {
    const { a, aPort, b } = await twoMembers(rig);
    const aShards = [0, 1, 2, 3].filter((id) => !b.service.runsShard(id));
    assertEquals(aShards.length, 2);
    // The bot is down: every member queues.
    await rig.handler.down();
    const sent: string[] = [];
    for (let i = 0; i < 10; i++) {
      for (let shard = 0; shard < SHARDS; shard++) {
        sent.push(`${shard}:${rig.sim.emitMessageCreate(shard).s}`);
      }
    }
    // a holds its shards' 10 messages each, undelivered, when it dies.
    await until(async () => {
      const mine = (await shardsOf(aPort)).filter((s) => aShards.includes(s.id));
      return mine.every((s) => s.queue.memory + s.queue.disk >= 10);
    }, "a's backlog of 10 per shard");
    const identifies = rig.sim.identifies.filter((i) => i.accepted).length;
    a.kill("SIGKILL");
    await a.exited;
    await Deno.remove(a.dataDir, { recursive: true }); // its journal is gone for good
    rig.handler.up();
    await until(
      () => shareOf([b], SHARDS)[0] === SHARDS && rig.sim.connectedShards().length === SHARDS,
      "b takes a's shards over",
      30_000,
    );
    // Taken over by resume, not identify: Discord replays what a never delivered.
    assertEquals(rig.sim.identifies.filter((i) => i.accepted).length, identifies);
    await until(
      () => sent.every((k) => messagesOf(rig).has(k)),
      "every message delivered",
      20_000,
    ).catch((e) => {
      const got = messagesOf(rig);
      throw new Error(`${e.message}: missing ${sent.filter((k) => !got.has(k))}`);
    });
  } finally {
    await rig.close();
  }
});

Deno.test("cluster: a member paused past its lease (SIGSTOP) stops its shards at once when it wakes, then gets its share back by hand-over", async () => {
  const rig = await startClusterRig({ sim: { shards: SHARDS, maxConcurrency: 1, guilds: 16 } });
  try {
    const { a, b } = await twoMembers(rig);
    a.kill("SIGSTOP");
    // (The paused member's sockets still look open to the simulator: ask b itself.)
    await until(
      () => b.service.group!.status().filter((r) => r.state === "connected").length === SHARDS,
      "b runs the paused member's shards, resumed",
      30_000,
    );
    const sent: string[] = [];
    for (let shard = 0; shard < SHARDS; shard++) {
      sent.push(`${shard}:${rig.sim.emitMessageCreate(shard).s}`);
    }
    const resumes = rig.sim.resumes.length;
    const identifies = rig.sim.identifies.length;
    const outputBefore = a.output.length;
    a.kill("SIGCONT");
    await until(
      () => (a.output.slice(outputBefore).match(/shard lease lost/g) ?? []).length >= 2,
      "the woken member stops both of its old shards",
      10_000,
    ).catch((e) => {
      throw new Error(`${e.message}\n${a.output.slice(outputBefore).slice(-3000)}`);
    });
    // Its first act on waking is to stop its old shards, before it takes anything again.
    const woke = a.output.slice(outputBefore);
    const firstTaken = woke.indexOf("shard lease taken");
    const lastLost = woke.lastIndexOf("shard lease lost");
    assert(firstTaken === -1 || lastLost < firstTaken, woke.slice(-3000));
    // Then the two rebalance gradually, by hand-over: 2 and 2 again, every move a resume that
    // follows the holder's hand-over of that shard (never two holders fighting over one).
    await until(
      () => shareOf([b], SHARDS)[0] === 2 && rig.sim.connectedShards().length === SHARDS,
      "the woken member gets 2 shards back by hand-over",
      30_000,
    );
    assertEquals(rig.sim.identifies.length, identifies, "moves are resumes, not identifies");
    const handedOver = new Set(
      b.logs.filter((l) => l.includes("handing a shard over")).map((l) =>
        Number(/ shard=(\d+)/.exec(l)![1])
      ),
    );
    for (const r of rig.sim.resumes.slice(resumes)) {
      assert(handedOver.has(r.shardId!), `shard ${r.shardId} resumed without a hand-over`);
    }
    await until(
      () => sent.every((k) => messagesOf(rig).has(k)),
      "messages sent meanwhile delivered",
    );
  } finally {
    await rig.close();
  }
});
