/**
 * Tests of the simulator's resharding model: two shard sets of one bot side by
 * side, guilds joining at runtime, `/gateway/bot` following the guild count,
 * 4011 for over-full shards, shared identify limits, and the log of logical
 * events that exactly-once checks compare against. Raw WebSocket clients; every
 * wait polls a condition; no assertion depends on how long anything took.
 */
import assert from "node:assert/strict";
import {
  createSimulator,
  eventKey,
  recommendShards,
  type Simulator,
  type SimulatorOptions,
  waitFor,
} from "../src/simulator/mod.ts";
import { shardForGuild } from "../src/simulator/snowflake.ts";

const TOKEN = btoa("123456789012345678") + ".sim.token";
const SECRET = "rest-proxy-secret";
const GUILDS = 1 << 0;
const GUILD_MEMBERS = 1 << 1;
const GUILD_MESSAGES = 1 << 9;
const DIRECT_MESSAGES = 1 << 12;
const MESSAGE_CONTENT = 1 << 15;
const ALL = GUILDS | GUILD_MEMBERS | GUILD_MESSAGES | DIRECT_MESSAGES | MESSAGE_CONTENT;

/** A dispatch as received: parsed, plus the exact text of its `d`. */
interface Received {
  op: number;
  d: unknown;
  s: number | null;
  t: string | null;
  /** Raw JSON text of `d` (dispatches only). */
  rawD?: string;
}

/** The envelope the simulator writes: `{"op":0,"d":...,"s":N,"t":"T"}`. */
const DISPATCH = /^\{"op":0,"d":(.*),"s":\d+,"t":"[A-Z_]+"\}$/s;

/** Raw gateway client (plain JSON) that keeps the raw `d` of every dispatch. */
class Client {
  readonly ws: WebSocket;
  readonly messages: Received[] = [];
  closeEvent: { code: number; reason: string } | null = null;
  readonly opened: Promise<void>;
  readonly closed: Promise<void>;

  constructor(url: string) {
    this.ws = new WebSocket(url);
    this.opened = new Promise((resolve) => {
      this.ws.addEventListener("open", () => resolve(), { once: true });
    });
    this.closed = new Promise((resolve) => {
      this.ws.addEventListener("close", (e) => {
        this.closeEvent = { code: e.code, reason: e.reason };
        resolve();
      }, { once: true });
    });
    this.ws.onmessage = (event) => {
      const text = event.data as string;
      const payload: Received = JSON.parse(text);
      if (payload.op === 0) payload.rawD = DISPATCH.exec(text)![1];
      this.messages.push(payload);
    };
  }

  send(payload: unknown): void {
    this.ws.send(JSON.stringify(payload));
  }

  async next(pred: (p: Received) => boolean, from = 0): Promise<Received> {
    try {
      return await waitFor(() => this.messages.slice(from).find(pred));
    } catch (err) {
      const got = this.messages.map((m) => m.t ?? `op${m.op}`).join(",");
      throw new Error(`client never got the expected payload; got ${got}`, { cause: err });
    }
  }

  dispatches(t?: string): Received[] {
    return this.messages.filter((m) => m.op === 0 && (t === undefined || m.t === t));
  }

  /** The dispatch with sequence `s` (waits for it). */
  seq(s: number): Promise<Received> {
    return this.next((p) => p.op === 0 && p.s === s);
  }

  async waitClose(): Promise<{ code: number; reason: string }> {
    return await waitFor(() => this.closeEvent, { message: "socket never closed" });
  }

  async close(code = 1000): Promise<void> {
    if (this.ws.readyState === WebSocket.CONNECTING) await this.opened.catch(() => {});
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close(code);
    await this.closed;
  }
}

function identify(shard: [number, number], intents = ALL): Record<string, unknown> {
  return {
    op: 2,
    d: {
      token: `Bot ${TOKEN}`,
      intents,
      properties: { os: "linux", browser: "raw-test", device: "raw-test" },
      shard,
    },
  };
}

interface Harness {
  sim: Simulator;
  connect(path?: string): Promise<Client>;
  /** Connects and identifies; resolves after READY. */
  ready(shard: [number, number], intents?: number): Promise<{ client: Client; ready: Received }>;
  gatewayBot(): Promise<Record<string, unknown>>;
}

async function withSim(
  options: Partial<SimulatorOptions>,
  fn: (h: Harness) => Promise<void> | void,
): Promise<void> {
  const sim = await createSimulator({
    token: TOKEN,
    restAuthorization: SECRET,
    heartbeatIntervalMs: 5000,
    identifyIntervalMs: 0,
    allowedPrivilegedIntents: GUILD_MEMBERS | MESSAGE_CONTENT,
    ...options,
  });
  const clients: Client[] = [];
  const connect = async (path = "/") => {
    const client = new Client(`${sim.gatewayUrl}${path}?v=10&encoding=json`);
    clients.push(client);
    await Promise.race([client.opened, client.closed]);
    await client.next((p) => p.op === 10);
    return client;
  };
  const h: Harness = {
    sim,
    connect,
    async ready(shard, intents = ALL) {
      const client = await connect();
      client.send(identify(shard, intents));
      const ready = await client.next((p) => p.t === "READY");
      return { client, ready };
    },
    async gatewayBot() {
      const res = await fetch(`${sim.restUrl}/v10/gateway/bot`, {
        headers: { authorization: SECRET },
      });
      assert.equal(res.status, 200);
      return await res.json();
    },
  };
  try {
    await fn(h);
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await sim.shutdown();
  }
}

/** Waits until `client` has every dispatch up to its session's last `s`, then checks the order. */
async function settled(h: Harness, client: Client, sessionId: string): Promise<Received[]> {
  const last = () => h.sim.sessions().find((s) => s.sessionId === sessionId)!.seq;
  await waitFor(() => client.dispatches().at(-1)?.s === last(), {
    message: `session ${sessionId} never delivered up to s ${last()}`,
  });
  const all = client.dispatches();
  assert.deepEqual(all.map((p) => p.s), all.map((_, i) => i + 1), "s is 1, 2, 3... in order");
  return all;
}

const sessionOf = (ready: Received) => (ready.d as { session_id: string }).session_id;

// ---------------------------------------------------------------- guilds at runtime

Deno.test("addGuilds() announces each new guild as a GUILD_CREATE to every session covering it", async () => {
  await withSim({ guilds: 4 }, async (h) => {
    const old = [await h.ready([0, 2]), await h.ready([1, 2])];
    const fresh = [await h.ready([0, 3]), await h.ready([1, 3]), await h.ready([2, 3])];
    const before = h.sim.emitted.length;
    const added = h.sim.addGuilds(6);

    assert.equal(added.guildIds.length, 6);
    assert.equal(new Set(added.guildIds).size, 6);
    assert.deepEqual(added.closed, []);
    assert.equal(h.sim.guildCount(), 10);
    assert.deepEqual(h.sim.emitted.slice(before), added.events, "one logical event per guild");
    for (const [i, id] of added.guildIds.entries()) {
      const event = added.events[i];
      assert.equal(event.t, "GUILD_CREATE");
      assert.equal(event.guildId, id);
      // One copy per shard set, on the shard the guild routes to.
      assert.deepEqual(
        event.deliveries.map((d) => [d.shardId, d.numShards]).sort(),
        [[shardForGuild(id, 2), 2], [shardForGuild(id, 3), 3]].sort(),
      );
      const copies = await Promise.all(event.deliveries.map((d) => {
        const set = d.numShards === 2 ? old : fresh;
        return set[d.shardId].client.seq(d.s);
      }));
      for (const copy of copies) {
        assert.equal(copy.t, "GUILD_CREATE");
        assert.equal((copy.d as { id: string }).id, id);
        assert.equal((copy.d as { unavailable: boolean }).unavailable, false);
        assert.equal(eventKey("GUILD_CREATE", copy.rawD), event.key);
      }
      assert.equal(copies[0].rawD, copies[1].rawD, "byte-identical d in both sets");
    }
    // The new guilds spread over the shards and are part of a later READY.
    assert.deepEqual([0, 1, 2].map((s) => h.sim.guildIds(s, 3).length), [4, 3, 3]);
    const late = await h.ready([1, 4]);
    const listed = (late.ready.d as { guilds: { id: string }[] }).guilds.map((g) => g.id);
    assert.deepEqual(listed, h.sim.guildIds(1, 4));
    assert.ok(added.guildIds.some((id) => listed.includes(id)));
    for (const { client, ready } of [...old, ...fresh]) await settled(h, client, sessionOf(ready));
  });
});

Deno.test("addGuilds() rejects a count that is not an integer in [1, 1000000]", async () => {
  await withSim({}, (h) => {
    for (const bad of [0, -1, 1.5, NaN, 1_000_001]) {
      assert.throws(() => h.sim.addGuilds(bad), RangeError);
    }
    assert.equal(h.sim.guildCount(), 0);
  });
});

// ---------------------------------------------------------------- /gateway/bot

Deno.test("recommendShards() gives one shard per 1000 guilds, a multiple of 16 past 150k", () => {
  const cases: [number, number][] = [
    [0, 1],
    [1, 1],
    [1000, 1],
    [1001, 2],
    [2500, 3],
    [150_000, 150],
    [150_001, 160],
    [200_000, 208],
  ];
  for (const [guilds, shards] of cases) assert.equal(recommendShards(guilds), shards, `${guilds}`);
  // Scaled down for tests, and never below what maxGuildsPerShard allows.
  assert.equal(recommendShards(50, 10, 25), 5);
  assert.equal(recommendShards(100, 1000, 25), 4);
});

Deno.test('/gateway/bot with shards: "auto" follows the guild count as guilds are added', async () => {
  await withSim({ shards: "auto", guilds: 999 }, async (h) => {
    assert.equal((await h.gatewayBot()).shards, 1);
    h.sim.addGuilds(1);
    assert.equal((await h.gatewayBot()).shards, 1);
    h.sim.addGuilds(1);
    assert.equal((await h.gatewayBot()).shards, 2);
    h.sim.addGuilds(1500);
    assert.equal(h.sim.guildCount(), 2501);
    assert.equal(h.sim.recommendedShards(), 3);
    assert.equal((await h.gatewayBot()).shards, 3);
  });
  // A fixed number (and the default, 1) stays as it is whatever the guild count.
  await withSim({ guilds: 5000 }, async (h) => {
    assert.equal((await h.gatewayBot()).shards, 1);
  });
  await withSim({ shards: 4, guilds: 10 }, async (h) => {
    h.sim.addGuilds(9000);
    assert.equal((await h.gatewayBot()).shards, 4);
  });
  // recommendGuildsPerShard scales the rule down.
  await withSim({ shards: "auto", recommendGuildsPerShard: 10, guilds: 10 }, async (h) => {
    assert.equal((await h.gatewayBot()).shards, 1);
    h.sim.addGuilds(15);
    assert.equal((await h.gatewayBot()).shards, 3);
  });
});

Deno.test("createSimulator() validates the resharding options", async () => {
  const base = { token: TOKEN, restAuthorization: SECRET };
  const bad: [Partial<SimulatorOptions>, typeof TypeError | typeof RangeError][] = [
    [{ shards: "many" as unknown as number }, TypeError],
    [{ shards: 0 }, RangeError],
    [{ fanOutSkewMs: -1 }, RangeError],
    [{ fanOutSkewMs: 1.5 }, TypeError],
    [{ seed: -1 }, RangeError],
    [{ seed: 2 ** 32 }, RangeError],
    [{ emittedLogLimit: 0 }, RangeError],
    [{ recommendGuildsPerShard: 0 }, RangeError],
  ];
  for (const [options, error] of bad) {
    await assert.rejects(createSimulator({ ...base, ...options }), error, JSON.stringify(options));
  }
  const sim = await createSimulator({ ...base, seed: 7, shards: "auto" });
  assert.equal(sim.seed, 7);
  await sim.shutdown();
});

// ---------------------------------------------------------------- 4011

Deno.test("a shard over maxGuildsPerShard is refused with 4011 at identify and resume, and closed when guilds grow", async () => {
  await withSim({ guilds: 4, maxGuildsPerShard: 3 }, async (h) => {
    const single = await h.connect();
    single.send(identify([0, 1]));
    assert.equal((await single.waitClose()).code, 4011);

    const a = await h.ready([0, 2]);
    const b = await h.ready([1, 2]);
    // Ids are consecutive: the three new guilds go to shards 0, 1, 0 of 2.
    const added = h.sim.addGuilds(3);
    assert.deepEqual(added.guildIds.map((id) => shardForGuild(id, 2)), [0, 1, 0]);
    assert.deepEqual(added.closed, [{ sessionId: sessionOf(a.ready), shardId: 0, numShards: 2 }]);
    const closed = await a.client.waitClose();
    assert.equal(closed.code, 4011);
    assert.match(closed.reason, /^Sharding required\. 4 guilds on shard 0 of 2/);
    const info = h.sim.sessions().find((s) => s.sessionId === sessionOf(a.ready))!;
    assert.equal(info.expired, true, "4011 ends the session");
    // The closed shard never sees its new guilds; shard 1 gets its own.
    assert.deepEqual(added.events.map((e) => e.deliveries.length), [0, 1, 0]);
    const join = await b.client.seq(added.events[1].deliveries[0].s);
    assert.equal((join.d as { id: string }).id, added.guildIds[1]);
    assert.equal(a.client.dispatches("GUILD_CREATE").length, 2, "backfill only");

    const again = await h.connect();
    again.send(identify([0, 2]));
    assert.equal((await again.waitClose()).code, 4011);
    assert.equal(h.sim.identifies.at(-1)!.closeCode, 4011);

    // Shard 1 drops (resumable), then grows past the limit while away.
    const seq = (await settled(h, b.client, sessionOf(b.ready))).length;
    h.sim.dropConnection([1, 2]);
    await b.client.waitClose();
    assert.deepEqual(h.sim.addGuilds(2).closed, [], "nothing connected to close");
    assert.equal(h.sim.guildIds(1, 2).length, 4);
    const resumer = await h.connect("/resume");
    resumer.send({ op: 6, d: { token: `Bot ${TOKEN}`, session_id: sessionOf(b.ready), seq } });
    assert.equal((await resumer.waitClose()).code, 4011);
    assert.equal(h.sim.resumes.at(-1)!.accepted, false);

    // Three shards hold 9 guilds at 3 each.
    for (const shard of [0, 1, 2]) await h.ready([shard, 3]);
  });
});

Deno.test("emitGuildCreate() joins also close a shard pushed over maxGuildsPerShard", async () => {
  await withSim({ guilds: 2, maxGuildsPerShard: 2 }, async (h) => {
    const whole = await h.ready([0, 1]);
    const half = await h.ready([0, 2]);
    const sent = h.sim.emitGuildCreate([0, 2]);
    assert.equal((await whole.client.waitClose()).code, 4011);
    assert.deepEqual(sent.deliveries.map((d) => d.numShards), [2]);
    assert.equal((await half.client.seq(sent.s!)).t, "GUILD_CREATE");
  });
});

// ---------------------------------------------------------------- two shard sets

Deno.test("every guild event reaches each shard set once, with its own s and byte-identical d", async () => {
  await withSim({ guilds: 6, seed: 1 }, async (h) => {
    const old = await h.ready([0, 1]);
    const fresh = [await h.ready([0, 2]), await h.ready([1, 2])];
    const clientFor = (numShards: number, shardId: number) =>
      numShards === 1 ? old.client : fresh[shardId].client;
    const guildOn1 = h.sim.guildIds(1, 2)[0];
    const message = h.sim.emitMessageCreate(1, { guildId: guildOn1 });
    const sent = [
      h.sim.emitMessageCreate(0),
      message,
      h.sim.emitMessageUpdate(1, {
        id: message.d.id as string,
        channel_id: message.d.channel_id as string,
        guild_id: guildOn1,
        content: "edited",
        edited_timestamp: new Date().toISOString(),
      }),
      h.sim.emitInteraction(1, { type: 2 }),
      h.sim.emitGuildMemberAdd(0),
      h.sim.emitGuildUpdate(1),
      h.sim.emitGuildDelete(1, guildOn1, true),
      h.sim.emitGuildCreate(1, guildOn1),
      h.sim.emitGuildCreate(0),
    ];
    const raw = h.sim.dispatchGuildEvent(guildOn1, "TYPING_START", {
      channel_id: "1234567890123456790",
      guild_id: guildOn1,
      user_id: "1234567890123456791",
      timestamp: 1_700_000_000,
    });
    const events = [...sent.map((e) => h.sim.emitted.find((x) => x.id === e.eventId)!), raw];
    assert.equal(h.sim.emitted.length, events.length, "one record per logical event");
    for (const event of events) {
      assert.equal(event.deliveries.length, 2, `${event.t}: one copy per set`);
      assert.deepEqual(event.deliveries.map((d) => d.numShards).sort(), [1, 2]);
      const copies = await Promise.all(
        event.deliveries.map((d) => clientFor(d.numShards, d.shardId).seq(d.s)),
      );
      for (const copy of copies) {
        assert.equal(copy.t, event.t);
        assert.equal(eventKey(copy.t!, copy.rawD), event.key);
        assert.equal(eventKey(copy.t!, copy.d), event.key, "the parsed d gives the same key");
      }
      assert.equal(copies[0].rawD, copies[1].rawD, `${event.t}: byte-identical d`);
    }
    for (const [i, e] of sent.entries()) {
      assert.equal(e.key, events[i].key);
      assert.ok(e.deliveries.some((d) => d.s === e.s), "s is one of the copies'");
    }
    // Each session got its copies in its own s order, nothing skipped.
    await settled(h, old.client, sessionOf(old.ready));
    for (const { client, ready } of fresh) await settled(h, client, sessionOf(ready));
  });
});

Deno.test("a DM goes to shard 0 of each shard count, and only there", async () => {
  await withSim({ guilds: 2 }, async (h) => {
    const old = await h.ready([0, 1]);
    const fresh0 = await h.ready([0, 2]);
    const fresh1 = await h.ready([1, 2]);
    const dm = h.sim.emitMessageCreate(0, { dm: true });
    assert.deepEqual(dm.deliveries.map((d) => [d.shardId, d.numShards]).sort(), [[0, 1], [0, 2]]);
    const event = h.sim.emitted.at(-1)!;
    assert.equal(event.guildId, null);
    const [a, b] = await Promise.all([
      old.client.seq(dm.deliveries.find((d) => d.numShards === 1)!.s),
      fresh0.client.seq(dm.deliveries.find((d) => d.numShards === 2)!.s),
    ]);
    assert.equal(a.rawD, b.rawD);
    assert.equal(fresh1.client.dispatches("MESSAGE_CREATE").length, 0);
    assert.throws(() => h.sim.emitMessageCreate(1, { dm: true }), /shard 0/);
  });
});

Deno.test("a [shardId, numShards] ref picks one shard set for emits and controls", async () => {
  await withSim({ guilds: 4 }, async (h) => {
    const old = await h.ready([0, 1]);
    const fresh = await h.ready([0, 2]);
    await h.ready([1, 2]);
    // A bare id means the newest connected session: the new set's shard 0.
    const plain = h.sim.emitMessageCreate(0);
    assert.equal(plain.s, plain.deliveries.find((d) => d.numShards === 2)!.s);
    const pinned = h.sim.emitMessageCreate([0, 1]);
    assert.equal(pinned.s, pinned.deliveries.find((d) => d.numShards === 1)!.s);
    // A guild on shard 1 of 2 is on shard 0 of 1: a bare 0 finds the old set.
    const guildOn1 = h.sim.guildIds(1, 2)[0];
    const viaOld = h.sim.emitMessageCreate(0, { guildId: guildOn1 });
    assert.equal(viaOld.s, viaOld.deliveries.find((d) => d.numShards === 1)!.s);
    assert.throws(
      () => h.sim.emitMessageCreate([0, 2], { guildId: guildOn1 }),
      /routes to shard 1 of 2, not 0/,
    );
    assert.throws(() => h.sim.emitMessageCreate([0, 3]), /no live or resumable session/);
    assert.throws(() => h.sim.dropConnection([2, 2]), RangeError);

    h.sim.dropConnection([0, 1]);
    assert.equal((await old.client.waitClose()).code, 4000);
    assert.equal(fresh.client.closeEvent, null);
    h.sim.closeShard([0, 2], 4000);
    assert.equal((await fresh.client.waitClose()).code, 4000);
  });
});

Deno.test("copies to two connected sets are held back 0..fanOutSkewMs, seeded, never reordering a session", async () => {
  const delaysFor = async (seed: number, fanOutSkewMs?: number) => {
    const delays: number[][] = [];
    await withSim({ guilds: 4, seed, fanOutSkewMs }, async (h) => {
      const old = await h.ready([0, 1]);
      const fresh = [await h.ready([0, 2]), await h.ready([1, 2])];
      for (let i = 0; i < 40; i++) {
        const sent = h.sim.emitMessageCreate(i % 2);
        const byCount = [1, 2].map((n) => sent.deliveries.find((d) => d.numShards === n)!.delayMs);
        delays.push(byCount);
      }
      await settled(h, old.client, sessionOf(old.ready));
      for (const { client, ready } of fresh) await settled(h, client, sessionOf(ready));
    });
    return delays;
  };
  const first = await delaysFor(42);
  assert.ok(first.flat().every((ms) => Number.isInteger(ms) && ms >= 0 && ms <= 20));
  assert.ok(first.some(([a, b]) => a !== b), "the sets get copies at different times");
  assert.ok(new Set(first.flat()).size > 5, "delays spread over the range");
  assert.deepEqual(await delaysFor(42), first, "same seed, same delays");
  assert.notDeepEqual(await delaysFor(43), first);
  assert.ok((await delaysFor(42, 0)).flat().every((ms) => ms === 0), "fanOutSkewMs: 0");
});

Deno.test("a single connected copy is never held back, even with other sessions buffering", async () => {
  await withSim({ guilds: 2, fanOutSkewMs: 1000 }, async (h) => {
    const { client, ready } = await h.ready([0, 1]);
    const other = await h.ready([0, 2]);
    await h.ready([1, 2]);
    h.sim.dropConnection([0, 2]); // stays resumable: still gets (buffers) copies
    await other.client.waitClose();
    for (let i = 0; i < 5; i++) {
      const sent = h.sim.emitMessageCreate([0, 1], { guildId: h.sim.guildIds(0, 2)[0] });
      assert.equal(sent.deliveries.length, 2);
      assert.ok(sent.deliveries.every((d) => d.delayMs === 0));
    }
    await settled(h, client, sessionOf(ready));
  });
});

Deno.test("a resume while copies are held back replays each of them once", async () => {
  await withSim({ guilds: 2, fanOutSkewMs: 10_000, seed: 3 }, async (h) => {
    const old = await h.ready([0, 1]);
    await h.ready([0, 2]);
    await h.ready([1, 2]);
    const seen = (await settled(h, old.client, sessionOf(old.ready))).length;
    const sent = Array.from({ length: 5 }, () => h.sim.emitMessageCreate([0, 1]));
    assert.ok(sent.some((e) => e.deliveries.some((d) => d.numShards === 1 && d.delayMs > 0)));
    h.sim.dropConnection([0, 1]);
    await old.client.waitClose();
    const resumed = await h.connect("/resume");
    resumed.send({
      op: 6,
      d: { token: `Bot ${TOKEN}`, session_id: sessionOf(old.ready), seq: seen },
    });
    await resumed.next((p) => p.t === "RESUMED");
    const got = resumed.dispatches("MESSAGE_CREATE");
    assert.deepEqual(got.map((p) => p.s), sent.map((e) => e.s));
    const early = old.client.dispatches("MESSAGE_CREATE").map((p) => p.s);
    assert.ok(early.every((s) => s! <= seen || sent.some((e) => e.s === s)));
    assert.equal(h.sim.resumes.at(-1)!.replayed, 5);
  });
});

// ---------------------------------------------------------------- identify limits

Deno.test("identifies of both shard counts share the buckets (shard_id % max_concurrency)", async () => {
  // A window no test outlasts: a second identify in a bucket is refused for sure.
  await withSim({ maxConcurrency: 2, identifyIntervalMs: 600_000 }, async (h) => {
    const limit = async () =>
      (await h.gatewayBot()).session_start_limit as { remaining: number; max_concurrency: number };
    assert.equal((await limit()).remaining, 1000);
    await h.ready([0, 2]);
    await h.ready([1, 2]);
    for (const shard of [[0, 4], [2, 4], [1, 4], [3, 4], [1, 3]] as [number, number][]) {
      const client = await h.connect();
      client.send(identify(shard));
      assert.equal((await client.next((p) => p.op === 9)).d, false, `${shard} waits`);
      assert.match(h.sim.identifies.at(-1)!.reason!, new RegExp(`bucket ${shard[0] % 2} busy`));
    }
    assert.equal((await limit()).remaining, 998, "refused identifies consume nothing");
    assert.equal(h.sim.sessions().length, 2);
  });
  // Bucket spacing holds across shard counts: accepted identifies of one bucket
  // are a window apart whichever set they belong to.
  const windowMs = 200;
  await withSim({ maxConcurrency: 2, identifyIntervalMs: windowMs }, async (h) => {
    const order: [number, number][] = [[0, 2], [0, 4], [2, 4], [1, 2], [1, 4], [3, 4]];
    for (const shard of order) {
      const client = await h.connect();
      await waitFor(async () => {
        client.send(identify(shard));
        const got = await client.next((p) => p.t === "READY" || p.op === 9, client.messages.length);
        return got.t === "READY";
      }, { timeoutMs: 10_000 });
    }
    for (const bucket of [0, 1]) {
      const at = h.sim.identifies.filter((i) => i.accepted && i.shardId! % 2 === bucket)
        .map((i) => i.at);
      assert.equal(at.length, 3);
      for (let i = 1; i < at.length; i++) assert.ok(at[i] - at[i - 1] >= windowMs);
    }
  });
});

Deno.test("identifies of both shard counts draw on one session_start_limit", async () => {
  await withSim({ sessionStartTotal: 3, maxConcurrency: 16 }, async (h) => {
    await h.ready([0, 2]);
    await h.ready([1, 2]);
    await h.ready([0, 4]);
    const limit = (await h.gatewayBot()).session_start_limit as Record<string, number>;
    assert.equal(limit.remaining, 0);
    const client = await h.connect();
    client.send(identify([1, 4]));
    assert.equal((await client.waitClose()).code, 4004);
    assert.match(h.sim.identifies.at(-1)!.reason!, /session start limit/);
  });
});

// ---------------------------------------------------------------- logical events

Deno.test("emitted lists each logical event once with every copy: an exactly-once oracle", async () => {
  await withSim({ guilds: 8, seed: 9 }, async (h) => {
    const sets = [[[0, 2], [1, 2]], [[0, 4], [1, 4], [2, 4], [3, 4]]] as [number, number][][];
    const clients: { client: Client; sessionId: string; from: number }[][] = [];
    for (const set of sets) {
      const ready = [];
      for (const shard of set) {
        const r = await h.ready(shard);
        ready.push({ client: r.client, sessionId: sessionOf(r.ready), from: 0 });
      }
      clients.push(ready);
    }
    // READY and its GUILD_CREATE backfill are per session, not logical events.
    for (const c of clients.flat()) c.from = (await settled(h, c.client, c.sessionId)).length;
    assert.equal(h.sim.emitted.length, 0);

    for (let i = 0; i < 30; i++) {
      if (i % 5 === 4) h.sim.emitGuildMemberAdd(i % 4);
      else h.sim.emitMessageCreate(i % 4);
    }
    h.sim.addGuilds(2);
    const truth = h.sim.emitted.map((e) => e.key);
    assert.equal(truth.length, 32);
    assert.equal(new Set(truth).size, 32, "every body here is unique");
    for (const event of h.sim.emitted) {
      assert.deepEqual(event.deliveries.map((d) => d.numShards).sort(), [2, 4]);
    }
    // Each set, taken whole, carries every logical event exactly once.
    for (const set of clients) {
      const keys: string[] = [];
      for (const c of set) {
        const got = (await settled(h, c.client, c.sessionId)).slice(c.from);
        keys.push(...got.map((p) => eventKey(p.t!, p.rawD)));
      }
      assert.deepEqual(keys.toSorted(), truth.toSorted());
    }
  });
});

Deno.test("emitted keeps the newest emittedLogLimit events and keeps counting ids", async () => {
  await withSim({ guilds: 1, emittedLogLimit: 10 }, async (h) => {
    await h.ready([0, 1]);
    for (let i = 0; i < 50; i++) h.sim.emitMessageCreate(0);
    assert.ok(h.sim.emitted.length >= 10 && h.sim.emitted.length <= 11);
    assert.equal(h.sim.emitted.at(-1)!.id, 50);
  });
});

Deno.test("emitGuildUpdate() renames the guild for later GUILD_CREATEs; GUILD_MEMBER_ADD needs GUILD_MEMBERS", async () => {
  await withSim({ guilds: 1 }, async (h) => {
    const plain = await h.ready([0, 1], GUILDS | GUILD_MESSAGES);
    const guildId = h.sim.guildIds(0, 1)[0];
    const update = h.sim.emitGuildUpdate(0, { name: "Renamed" });
    const got = await plain.client.seq(update.s!);
    assert.equal((got.d as { name: string }).name, "Renamed");
    assert.equal((got.d as { id: string }).id, guildId);
    assert.equal("members" in (got.d as object), false, "GUILD_CREATE-only fields left out");
    const member = h.sim.emitGuildMemberAdd(0);
    assert.equal(member.s, null, "filtered without GUILD_MEMBERS");
    assert.equal(member.deliveries.length, 0);
    assert.equal(h.sim.emitted.at(-1)!.id, member.eventId, "still a logical event");

    const later = await h.ready([0, 1]);
    const create = await later.client.next((p) => p.t === "GUILD_CREATE");
    assert.equal((create.d as { name: string }).name, "Renamed");
    const added = h.sim.emitGuildMemberAdd(0);
    const d = (await later.client.seq(added.s!)).d as Record<string, unknown>;
    assert.equal(d.guild_id, guildId);
    assert.equal(typeof (d.user as { id: string }).id, "string");
    assert.throws(() => h.sim.emitGuildUpdate(0, { name: "x" }), RangeError);
  });
});
