/**
 * The cluster's Redis parts against a real redis-server: the lease store behaves like the
 * in-memory one the lease model test uses (same script, both stores), the shared identify
 * limiter spaces identifies across processes and frees a dead holder's bucket by expiry, the
 * session-start budget is one for the cluster, and session writes are fenced by the lease.
 * @module
 */
import {
  connectRedis,
  createRedisClusterStore,
  createRedisIdentifyQueue,
  createRedisSessionStore,
} from "../src/cluster/mod.ts";
import type { ClusterStore } from "../src/cluster/store.ts";
import { silentLogger } from "../src/log.ts";
import { assert, assertEquals } from "./helpers/assert.ts";
import { createMemoryClusterStore } from "./helpers/memory_cluster_store.ts";
import { startRedis } from "./helpers/redis.ts";

type Client = Awaited<ReturnType<typeof connectRedis>>["client"];

async function withRedis(fn: (url: string, clients: () => Promise<Client>) => Promise<void>) {
  const redis = await startRedis();
  const open: { close(): Promise<void> }[] = [];
  try {
    await fn(redis.url, async () => {
      const c = await connectRedis({ url: redis.url, logger: silentLogger });
      open.push(c);
      return c.client;
    });
  } finally {
    for (const c of open) await c.close();
    await redis.stop();
  }
}

/** The same steps on any store; `wait(ms)` lets real or simulated time pass. */
async function leaseScript(store: ClusterStore, wait: (ms: number) => Promise<void>) {
  const log: string[] = [];
  const note = (what: string, v: unknown) => log.push(`${what}=${JSON.stringify(v)}`);
  note("a claims", await store.claim("k", "a", 300));
  note("b claims", await store.claim("k", "b", 300));
  note("a claims again", await store.claim("k", "a", 300));
  note("b renews", await store.renew(["k", "x"], "b", 300));
  note("a renews", await store.renew(["k", "x"], "a", 300));
  note("holder", (await store.holders(["k", "x"])).map((h) => h?.owner ?? null));
  await store.release("k", "b");
  note("after b's release", (await store.holders(["k"]))[0]?.owner ?? null);
  await store.release("k", "a");
  note("after a's release", (await store.holders(["k"]))[0]?.owner ?? null);
  note("b claims", await store.claim("k", "b", 300));
  await wait(450);
  note("after expiry", (await store.holders(["k"]))[0]?.owner ?? null);
  note("a claims after expiry", await store.claim("k", "a", 300));
  await store.announce({ id: "m1", owned: 2, startedAt: 1 }, 300);
  await store.announce({ id: "m0", owned: 1, startedAt: 1 }, 2000);
  note("members", (await store.members()).map((m) => `${m.id}:${m.owned}`));
  await wait(450);
  note("members after m1 expired", (await store.members()).map((m) => m.id));
  await store.leave("m0");
  note("members after m0 left", (await store.members()).map((m) => m.id));
  return log;
}

Deno.test("the Redis lease store behaves like the in-memory one the model test trusts", async () => {
  await withRedis(async (_url, clients) => {
    const redisLog = await leaseScript(
      createRedisClusterStore(await clients(), "t:"),
      (ms) => new Promise((r) => setTimeout(r, ms)),
    );
    let t = 0;
    const memoryLog = await leaseScript(createMemoryClusterStore(() => t), (ms) => {
      t += ms;
      return Promise.resolve();
    });
    assertEquals(redisLog, memoryLog);
    // And the script says what a lease must do.
    assertEquals(redisLog.slice(0, 5), [
      "a claims=true",
      "b claims=false",
      "a claims again=true",
      "b renews=[false,false]",
      "a renews=[true,false]",
    ]);
  });
});

Deno.test("shared identify limiter: two processes never identify in one bucket within the window; a dead holder frees it by expiry", async () => {
  await withRedis(async (_url, clients) => {
    const make = async (owner: string, sendTimeoutMs = 30_000) =>
      createRedisIdentifyQueue({
        client: await clients(),
        base: "t:",
        owner,
        maxConcurrency: 2,
        intervalMs: 400,
        remaining: 1000,
        resetAfterMs: 60_000,
        sendTimeoutMs,
        logger: silentLogger,
        pollMs: 20,
      });
    const a = await make("a");
    const b = await make("b");
    const sentAt: { bucket: number; at: number }[] = [];
    // Three identifies per bucket from each process, interleaved.
    await Promise.all([a, b].flatMap((q) =>
      [0, 1, 2, 3, 4, 5].map(async (shard) => {
        const ticket = await q.wait(shard);
        sentAt.push({ bucket: shard % 2, at: Date.now() });
        ticket.sent();
      })
    ));
    for (const bucket of [0, 1]) {
      const times = sentAt.filter((s) => s.bucket === bucket).map((s) => s.at).sort((x, y) =>
        x - y
      );
      assertEquals(times.length, 6);
      for (let i = 1; i < times.length; i++) {
        assert(times[i] - times[i - 1] >= 390, `bucket ${bucket}: ${times.join(", ")}`);
      }
    }
    // A holder that dies before its identify reaches the wire holds the bucket only until
    // its hold expires (send timeout + window), then the others go on.
    const dying = await make("dying", 300);
    await dying.wait(10); // granted, never sent: the process "died"
    const started = Date.now();
    const ticket = await b.wait(10);
    ticket.sent();
    const waited = Date.now() - started;
    assert(waited >= 250, `waited ${waited} ms for the dead holder's bucket`);
  });
});

Deno.test("shared identify limiter: the session-start budget is one for the cluster and waits for the reset", async () => {
  await withRedis(async (_url, clients) => {
    const make = async (owner: string, remaining: number) =>
      createRedisIdentifyQueue({
        client: await clients(),
        base: "t:",
        owner,
        maxConcurrency: 16,
        intervalMs: 0,
        remaining,
        resetAfterMs: 1500,
        logger: silentLogger,
        pollMs: 20,
      });
    // The lowest reading (3 left) is the cluster's; the other process's 1000 is older news.
    const a = await make("a", 3);
    const b = await make("b", 1000);
    const granted: number[] = [];
    const started = Date.now();
    await Promise.all([0, 1, 2, 3, 4].map(async (shard) => {
      const q = shard % 2 === 0 ? a : b;
      (await q.wait(shard)).sent();
      granted.push(Date.now() - started);
    }));
    granted.sort((x, y) => x - y);
    assert(granted[2] < 1000, `three at once: ${granted}`);
    assert(granted[3] >= 1000, `the fourth waited for the reset: ${granted}`);
  });
});

Deno.test("sessions in Redis: one field per shard, any process reads them, writes fenced by the lease", async () => {
  await withRedis(async (_url, clients) => {
    const client = await clients();
    const leaseKey = (id: number, total: number) => `t:lease:${total}:${id}`;
    const store = (owner: string) =>
      createRedisSessionStore({ client, base: "t:", owner, leaseKey, logger: silentLogger });
    const record = (shardId: number, seq: number) => ({
      shardId,
      sessionId: `s${shardId}`,
      resumeGatewayUrl: "wss://gateway.example/resume",
      totalShards: 4,
      seq,
      savedAt: 1,
    });
    await client.set(leaseKey(0, 4), "a");
    await client.set(leaseKey(1, 4), "b");
    await store("a").save([record(0, 10), record(1, 99)]); // shard 1 is b's: refused
    await store("b").save([record(1, 20)]);
    assertEquals((await store("b").get(0, 4))?.seq, 10);
    assertEquals((await store("a").get(1, 4))?.seq, 20);
    assertEquals((await store("c").load()).map((r) => `${r.shardId}:${r.seq}`).sort(), [
      "0:10",
      "1:20",
    ]);
    // a loses shard 0 to c: a's later write is refused, c's lands.
    await client.set(leaseKey(0, 4), "c");
    await store("a").save([record(0, 11)]);
    await store("c").save([record(0, 12)]);
    assertEquals((await store("a").get(0, 4))?.seq, 12);
  });
});
