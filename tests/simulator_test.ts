/**
 * Tests of the Discord simulator, driven by raw WebSocket clients and fetch
 * (no Discordeno), one test per rule group. Every wait polls a condition with
 * a deadline; every socket and server is closed for the leak sanitizers.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import * as zlib from "node:zlib";
import {
  createSimulator,
  type Simulator,
  type SimulatorOptions,
  startMessageStream,
  waitFor,
} from "../src/simulator/mod.ts";
import { checkCallback } from "../src/simulator/callback_rules.ts";
import { clientCloseEndsSession, serverCloseKeepsSession } from "../src/simulator/close_codes.ts";
import { createReplayBuffer } from "../src/simulator/replay_buffer.ts";
import { shardForGuild } from "../src/simulator/snowflake.ts";

const TOKEN = btoa("123456789012345678") + ".sim.token";
const SECRET = "rest-proxy-secret";
const GUILDS = 1 << 0;
const GUILD_MESSAGES = 1 << 9;
const GUILD_VOICE_STATES = 1 << 7;
const MESSAGE_CONTENT = 1 << 15;
const GUILD_MEMBERS = 1 << 1;

/** A gateway payload as received. */
interface Payload {
  op: number;
  d: unknown;
  s: number | null;
  t: string | null;
}

type Compression = "zlib-stream" | "zstd-stream";

/** Raw gateway client: records every payload, decodes transport compression. */
class Client {
  readonly ws: WebSocket;
  readonly messages: Payload[] = [];
  /** Binary frames received (payload compression). */
  readonly binary: Uint8Array[] = [];
  closeEvent: { code: number; reason: string } | null = null;
  readonly opened: Promise<void>;
  readonly closed: Promise<void>;
  #decode = Promise.resolve();
  #inflater?: zlib.Inflate;

  constructor(url: string, compression?: Compression) {
    this.ws = new WebSocket(url);
    this.ws.binaryType = "arraybuffer";
    this.opened = new Promise((resolve) => {
      this.ws.addEventListener("open", () => resolve(), { once: true });
    });
    this.closed = new Promise((resolve) => {
      this.ws.addEventListener("close", (e) => {
        this.closeEvent = { code: e.code, reason: e.reason };
        this.#inflater?.destroy();
        resolve();
      }, { once: true });
    });
    if (compression) {
      const z = zlib as unknown as { createZstdDecompress(): zlib.Inflate };
      this.#inflater = compression === "zlib-stream"
        ? zlib.createInflate()
        : z.createZstdDecompress();
    }
    this.ws.onmessage = (event) => {
      if (typeof event.data === "string") {
        this.messages.push(JSON.parse(event.data));
        return;
      }
      const bytes = new Uint8Array(event.data as ArrayBuffer);
      if (!this.#inflater) {
        this.binary.push(bytes);
        this.messages.push(JSON.parse(zlib.inflateSync(bytes).toString()));
        return;
      }
      const inflater = this.#inflater;
      // Decode in arrival order: the inflater is one stream for the connection.
      this.#decode = this.#decode.then(() =>
        new Promise<void>((resolve, reject) => {
          const chunks: Buffer[] = [];
          const onData = (c: Buffer) => chunks.push(c);
          inflater.on("data", onData);
          inflater.write(Buffer.from(bytes), (err) => err && reject(err));
          inflater.flush(() => {
            inflater.off("data", onData);
            this.messages.push(JSON.parse(Buffer.concat(chunks).toString()));
            resolve();
          });
        })
      );
    };
  }

  send(payload: unknown): void {
    this.ws.send(typeof payload === "string" ? payload : JSON.stringify(payload));
  }

  /** First payload (from index `from`) matching `pred`. */
  async next(pred: (p: Payload) => boolean, from = 0, timeoutMs = 5000): Promise<Payload> {
    try {
      return await waitFor(() => this.messages.slice(from).find(pred), { timeoutMs });
    } catch (err) {
      const got = this.messages.map((m) => m.t ?? `op${m.op}`).join(",");
      throw new Error(`client never got the expected payload; got ${got}`, { cause: err });
    }
  }

  dispatches(t?: string): Payload[] {
    return this.messages.filter((m) => m.op === 0 && (t === undefined || m.t === t));
  }

  async waitClose(timeoutMs = 5000): Promise<{ code: number; reason: string }> {
    return await waitFor(() => this.closeEvent, { timeoutMs, message: "socket never closed" });
  }

  async close(code = 1000): Promise<void> {
    if (this.ws.readyState === WebSocket.CONNECTING) await this.opened.catch(() => {});
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close(code);
    await this.closed;
    await this.#decode.catch(() => {});
  }
}

function identify(
  shard: [number, number] | undefined,
  intents = GUILDS | GUILD_MESSAGES,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  const d: Record<string, unknown> = {
    token: `Bot ${TOKEN}`,
    intents,
    properties: { os: "linux", browser: "raw-test", device: "raw-test" },
    ...extra,
  };
  if (shard) d.shard = shard;
  return { op: 2, d };
}

interface Harness {
  sim: Simulator;
  /** Opens a client on `path` (default "/") with `query` (default v=10 json). */
  connect(opts?: { path?: string; query?: string; compression?: Compression }): Promise<Client>;
  /** Connects and identifies; resolves after READY. */
  ready(
    shard: [number, number],
    intents?: number,
    path?: string,
  ): Promise<{ client: Client; ready: Payload }>;
  rest(path: string, init?: RequestInit & { auth?: string | null }): Promise<Response>;
}

async function withSim(
  options: Partial<SimulatorOptions>,
  fn: (h: Harness) => Promise<void> | void,
): Promise<void> {
  const sim = await createSimulator({
    token: TOKEN,
    restAuthorization: SECRET,
    heartbeatIntervalMs: 5000,
    identifyIntervalMs: 300,
    ...options,
  });
  const clients: Client[] = [];
  const connect: Harness["connect"] = async (opts = {}) => {
    const query = opts.query ??
      `?v=10&encoding=json${opts.compression ? `&compress=${opts.compression}` : ""}`;
    const client = new Client(`${sim.gatewayUrl}${opts.path ?? "/"}${query}`, opts.compression);
    clients.push(client);
    await Promise.race([client.opened, client.closed]);
    return client;
  };
  const h: Harness = {
    sim,
    connect,
    async ready(shard, intents = GUILDS | GUILD_MESSAGES, path) {
      const client = await connect({ path });
      await client.next((p) => p.op === 10);
      client.send(identify(shard, intents));
      const ready = await client.next((p) => p.t === "READY");
      return { client, ready };
    },
    rest(path, init = {}) {
      const headers = new Headers(init.headers);
      const auth = init.auth === undefined ? SECRET : init.auth;
      if (auth !== null) headers.set("authorization", auth);
      return fetch(`${sim.restUrl}${path}`, { ...init, headers });
    },
  };
  try {
    await fn(h);
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await sim.shutdown();
  }
}

/** Connect, wait for Hello, send `payload`; resolves with the close. */
async function closeCodeFor(
  h: Harness,
  payloads: unknown[],
  opts?: { path?: string; query?: string },
): Promise<{ code: number; reason: string }> {
  const client = await h.connect(opts);
  await client.next((p) => p.op === 10);
  for (const payload of payloads) client.send(payload);
  return await client.waitClose();
}

// ---------------------------------------------------------------- options

Deno.test("createSimulator() rejects bad options with TypeError/RangeError naming them", async () => {
  const base = { token: TOKEN, restAuthorization: SECRET };
  await assert.rejects(
    createSimulator({ ...base, token: "test-token" }),
    (e: Error) => e instanceof TypeError && e.message.includes('"token"'),
  );
  await assert.rejects(
    createSimulator({ ...base, restAuthorization: "" }),
    (e: Error) => e instanceof TypeError && e.message.includes('"restAuthorization"'),
  );
  await assert.rejects(
    createSimulator({ ...base, heartbeatIntervalMs: 1000 }),
    (e: Error) =>
      e instanceof RangeError && e.message.includes('"heartbeatIntervalMs"') &&
      e.message.includes("1000"),
  );
  await assert.rejects(
    createSimulator({ ...base, allowedPrivilegedIntents: 1 << 9 }),
    (e: Error) => e instanceof RangeError && e.message.includes('"allowedPrivilegedIntents"'),
  );
  await assert.rejects(
    createSimulator({ ...base, sessionStartTotal: 5, sessionStartRemaining: 6 }),
    (e: Error) => e instanceof RangeError && e.message.includes('"sessionStartRemaining"'),
  );
  await assert.rejects(
    createSimulator({ ...base, shards: 1.5 }),
    (e: Error) => e instanceof TypeError && e.message.includes('"shards"'),
  );
  await assert.rejects(
    createSimulator({ ...base, heartbeatIntervalMs: 3000, heartbeatTimeoutMs: 2000 }),
    (e: Error) => e instanceof RangeError && e.message.includes('"heartbeatTimeoutMs"'),
  );
});

// ---------------------------------------------------------------- REST

Deno.test("createSimulator() serves /v10/gateway/bot behind the REST proxy secret", async () => {
  await withSim(
    { shards: 4, maxConcurrency: 2, sessionStartTotal: 50, sessionStartRemaining: 40 },
    async (h) => {
      const res = await h.rest("/v10/gateway/bot");
      assert.equal(res.status, 200);
      const body = await res.json();
      assert.equal(body.url, h.sim.gatewayUrl);
      assert.equal(body.shards, 4);
      assert.equal(body.session_start_limit.total, 50);
      assert.equal(body.session_start_limit.remaining, 40);
      assert.equal(body.session_start_limit.max_concurrency, 2);
      assert.ok(body.session_start_limit.reset_after > 0);

      for (const auth of [null, "wrong", `Bot ${TOKEN}`]) {
        const denied = await h.rest("/v10/gateway/bot", { auth });
        assert.equal(denied.status, 401);
        assert.deepEqual(await denied.json(), { message: "401: Unauthorized", code: 0 });
      }
      const missing = await h.rest("/v10/channels/1/messages");
      assert.equal(missing.status, 404);
      assert.equal((await missing.json()).code, 0);
      const wrongMethod = await h.rest("/v10/gateway/bot", { method: "POST", body: "{}" });
      assert.equal(wrongMethod.status, 405);
      await wrongMethod.body?.cancel();

      // An accepted identify consumes one session start.
      const { client } = await h.ready([0, 4]);
      const after = await (await h.rest("/v10/gateway/bot")).json();
      assert.equal(after.session_start_limit.remaining, 39);
      await client.close();
    },
  );
});

Deno.test("failRest() answers the next requests with the given statuses, then recovers", async () => {
  await withSim({}, async (h) => {
    h.sim.failRest("gateway/bot", [503, 429], { retryAfterSeconds: 0.25 });
    const first = await h.rest("/v10/gateway/bot");
    assert.equal(first.status, 503);
    assert.equal(typeof (await first.json()).message, "string");
    const second = await h.rest("/v10/gateway/bot");
    assert.equal(second.status, 429);
    assert.equal(second.headers.get("retry-after"), "1");
    const body = await second.json();
    assert.equal(body.retry_after, 0.25);
    assert.equal(body.global, false);
    const third = await h.rest("/v10/gateway/bot");
    assert.equal(third.status, 200);
    await third.body?.cancel();
    assert.throws(() => h.sim.failRest("gateway/bot", [200]), RangeError);
    assert.throws(() => h.sim.failRest("channels" as "interactions", [500]), TypeError);
  });
});

// ---------------------------------------------------------------- connection

Deno.test("gateway sends Hello, ACKs heartbeats, and honours pauseHeartbeatAcks/requestHeartbeat", async () => {
  await withSim({ heartbeatIntervalMs: 2000 }, async (h) => {
    const client = await h.connect();
    const hello = await client.next((p) => p.op === 10);
    assert.deepEqual((hello.d as { heartbeat_interval: number }).heartbeat_interval, 2000);
    assert.equal(hello.s, null);
    assert.equal(hello.t, null);

    // Heartbeat before identify is allowed and acknowledged.
    client.send({ op: 1, d: null });
    await client.next((p) => p.op === 11);
    client.send(identify([0, 1]));
    await client.next((p) => p.t === "READY");

    h.sim.requestHeartbeat(0);
    const request = await client.next((p) => p.op === 1);
    assert.deepEqual([request.s, request.t], [null, null]);

    h.sim.pauseHeartbeatAcks(0, true);
    const before = client.messages.length;
    client.send({ op: 1, d: 1 });
    await waitFor(() => h.sim.received.filter((r) => r.op === 1).length === 2);
    // Anything sent before this marker has arrived once the marker has.
    const marker = h.sim.dispatch(0, "TYPING_START", {});
    await client.next((p) => p.s === marker);
    assert.equal(client.messages.slice(before).filter((p) => p.op === 11).length, 0);

    h.sim.pauseHeartbeatAcks(0, false);
    client.send({ op: 1, d: 1 });
    await client.next((p) => p.op === 11, before);
    await client.close();
  });
});

Deno.test("gateway closes 4012 for a bad version and 4002 for a bad encoding or compress", async () => {
  await withSim({}, async (h) => {
    for (
      const [query, code] of [
        ["?v=9&encoding=json", 4012],
        ["?encoding=json", 4012],
        ["?v=10&encoding=etf", 4002],
        ["?v=10", 4002],
        ["?v=10&encoding=json&compress=gzip", 4002],
      ] as const
    ) {
      const client = await h.connect({ query });
      const close = await client.waitClose();
      assert.equal(close.code, code, query);
    }
    assert.equal(h.sim.closes.length, 5);
    assert.ok(h.sim.closes.every((c) => c.by === "server" && c.shardId === null));
  });
});

Deno.test("gateway closes 4002 for oversized or invalid payloads, 4001 for unknown ops, 4003 before identify", async () => {
  await withSim({}, async (h) => {
    const big = JSON.stringify({ op: 1, d: null, pad: "x".repeat(4096) });
    assert.equal((await closeCodeFor(h, [big])).code, 4002);
    assert.equal((await closeCodeFor(h, ["{not json"])).code, 4002);
    assert.equal((await closeCodeFor(h, [{ op: 99, d: null }])).code, 4001);
    assert.equal((await closeCodeFor(h, [{ op: 7, d: null }])).code, 4001);
    assert.equal(
      (await closeCodeFor(h, [{
        op: 3,
        d: { since: null, activities: [], status: "online", afk: false },
      }])).code,
      4003,
    );
    assert.equal(
      (await closeCodeFor(h, [{ op: 8, d: { guild_id: "1", query: "", limit: 0 } }])).code,
      4003,
    );
    // Every payload is recorded, even the ones that were refused.
    assert.ok(h.sim.received.some((r) => r.op === null));
    assert.ok(h.sim.received.some((r) => r.op === 99));
  });
});

Deno.test("gateway closes 4005 on a second identify and 4008 above the command limit", async () => {
  await withSim({ commandLimit: 5 }, async (h) => {
    const { client } = await h.ready([0, 1]);
    client.send(identify([0, 1]));
    assert.equal((await client.waitClose()).code, 4005);
    assert.equal(h.sim.identifies.at(-1)?.accepted, false);
    // 4005 is resumable: the session survives.
    assert.equal(h.sim.sessions()[0].expired, false);

    const second = await h.connect();
    await second.next((p) => p.op === 10);
    for (let i = 0; i < 6; i++) second.send({ op: 1, d: null });
    assert.equal((await second.waitClose()).code, 4008);
    assert.equal(second.messages.filter((p) => p.op === 11).length, 5);
  });
});

Deno.test("gateway closes with 4009 when heartbeats stop, ending the session", async () => {
  await withSim({ heartbeatIntervalMs: 2000, heartbeatTimeoutMs: 2000 }, async (h) => {
    const { client } = await h.ready([0, 1]);
    const close = await client.waitClose(10_000);
    assert.equal(close.code, 4009);
    assert.equal(h.sim.sessions()[0].expired, true);
  });
});

// ---------------------------------------------------------------- identify

Deno.test("identify is refused with 4004, 4010, 4013, 4014 and 4011 like Discord", async () => {
  await withSim({ guilds: 6, maxGuildsPerShard: 2, identifyIntervalMs: 0 }, async (h) => {
    const bad = identify([0, 3]);
    (bad.d as Record<string, unknown>).token = "Bot nope";
    assert.equal((await closeCodeFor(h, [bad])).code, 4004);
    assert.equal((await closeCodeFor(h, [identify(undefined)])).code, 4010);
    assert.equal((await closeCodeFor(h, [identify([3, 3])])).code, 4010);
    assert.equal((await closeCodeFor(h, [identify([0, 0])])).code, 4010);
    assert.equal((await closeCodeFor(h, [identify([0, 3], 1 << 17)])).code, 4013);
    assert.equal((await closeCodeFor(h, [identify([0, 3], -1)])).code, 4013);
    assert.equal((await closeCodeFor(h, [identify([0, 3], GUILDS | MESSAGE_CONTENT)])).code, 4014);
    assert.equal((await closeCodeFor(h, [identify([0, 3], GUILDS | GUILD_MEMBERS)])).code, 4014);
    // 6 guilds over 2 shards = 3 per shard > 2.
    assert.equal((await closeCodeFor(h, [identify([0, 2])])).code, 4011);
    assert.ok(h.sim.identifies.every((i) => !i.accepted && i.closeCode !== undefined));
    assert.equal(h.sim.sessions().length, 0);

    // 6 guilds over 3 shards fits; the bare token is accepted too.
    const ok = identify([1, 3]);
    (ok.d as Record<string, unknown>).token = TOKEN;
    const client = await h.connect();
    client.send(ok);
    await client.next((p) => p.t === "READY");
    await client.close();
  });
});

Deno.test("identify accepts privileged intents granted by allowedPrivilegedIntents", async () => {
  await withSim({ allowedPrivilegedIntents: MESSAGE_CONTENT | GUILD_MEMBERS }, async (h) => {
    const { client, ready } = await h.ready([0, 1], GUILDS | MESSAGE_CONTENT | GUILD_MEMBERS);
    assert.equal(ready.s, 1);
    await client.close();
  });
});

Deno.test("READY lists exactly the shard's guilds, then one GUILD_CREATE each with consecutive s", async () => {
  await withSim({ guilds: 10, shards: 2, maxConcurrency: 2 }, async (h) => {
    const a = await h.ready([0, 2]);
    const b = await h.ready([1, 2]);
    const all = new Set<string>();
    for (const [shard, { client, ready }] of [[0, a], [1, b]] as const) {
      const d = ready.d as Record<string, unknown>;
      assert.equal(ready.s, 1);
      assert.equal(d.v, 10);
      assert.equal(typeof d.session_id, "string");
      assert.equal(d.resume_gateway_url, `${h.sim.gatewayUrl}/resume`);
      assert.deepEqual(d.shard, [shard, 2]);
      assert.deepEqual((d.user as Record<string, unknown>).id, "123456789012345678");
      assert.equal((d.user as Record<string, unknown>).bot, true);
      assert.equal((d.application as Record<string, unknown>).id, "123456789012345678");
      const guilds = d.guilds as { id: string; unavailable: boolean }[];
      assert.equal(guilds.length, 5, "ids spread evenly");
      for (const g of guilds) {
        assert.equal(g.unavailable, true);
        assert.equal(Number((BigInt(g.id) >> 22n) % 2n), shard);
        all.add(g.id);
      }
      await waitFor(() => client.dispatches("GUILD_CREATE").length === 5);
      const creates = client.dispatches("GUILD_CREATE");
      assert.deepEqual(creates.map((p) => p.s), [2, 3, 4, 5, 6]);
      assert.deepEqual(creates.map((p) => (p.d as { id: string }).id), guilds.map((g) => g.id));
      const guild = creates[0].d as Record<string, unknown>;
      for (const key of ["name", "member_count", "channels", "roles", "joined_at", "large"]) {
        assert.ok(key in guild, key);
      }
      assert.equal(guild.unavailable, false);
    }
    assert.equal(all.size, 10);
    assert.deepEqual(h.sim.connectedShards(), [0, 1]);
    await a.client.close();
    await b.client.close();
  });
});

Deno.test("identify in a busy bucket gets op 9 false; buckets are shard_id % maxConcurrency", async () => {
  const windowMs = 400;
  await withSim({ maxConcurrency: 2, identifyIntervalMs: windowMs, shards: 4 }, async (h) => {
    // Shards 0 and 1 are in different buckets: both accepted at once.
    await h.ready([0, 4]);
    await h.ready([1, 4]);
    // Shard 2 shares bucket 0 with shard 0.
    const early = await h.connect();
    early.send(identify([2, 4]));
    const op9 = await early.next((p) => p.op === 9);
    assert.equal(op9.d, false);
    const rejected = h.sim.identifies.at(-1)!;
    assert.equal(rejected.accepted, false);
    assert.equal(rejected.shardId, 2);
    assert.match(rejected.reason ?? "", /bucket 0/);
    assert.equal(h.sim.sessions().length, 2, "no session for the rejected identify");

    // Retry on the same connection once the window has passed.
    await waitFor(() => Date.now() - h.sim.identifies[0].at >= windowMs);
    early.send(identify([2, 4]));
    await early.next((p) => p.t === "READY");
    const accepted = h.sim.identifies.filter((i) => i.accepted && i.shardId! % 2 === 0);
    assert.ok(accepted[1].at - accepted[0].at >= windowMs);
  });
});

Deno.test("identify defaults to Discord's 5000 ms bucket window", async () => {
  await withSim({ identifyIntervalMs: undefined }, async (h) => {
    await h.ready([0, 1]);
    const second = await h.connect();
    second.send(identify([0, 1]));
    assert.equal((await second.next((p) => p.op === 9)).d, false);
    assert.equal(h.sim.identifies[1].accepted, false);
  });
});

Deno.test("identify closes 4004 once the session start limit is used up", async () => {
  await withSim({ sessionStartTotal: 1, identifyIntervalMs: 0 }, async (h) => {
    await h.ready([0, 1]);
    assert.equal((await closeCodeFor(h, [identify([0, 1])])).code, 4004);
    assert.match(h.sim.identifies[1].reason ?? "", /session start limit/);
  });
});

// ---------------------------------------------------------------- resume

/** Identifies, closes with 4000 (resumable), returns the session id and last seq. */
async function identifyAndDrop(h: Harness, guilds = 0) {
  const { client, ready } = await h.ready([0, 1]);
  await waitFor(() => client.dispatches("GUILD_CREATE").length === guilds);
  const sessionId = (ready.d as { session_id: string }).session_id;
  const seq = client.dispatches().at(-1)!.s!;
  await client.close(4000);
  await waitFor(() => h.sim.sessions()[0].connected === false);
  return { sessionId, seq };
}

function resume(sessionId: string, seq: number, token = `Bot ${TOKEN}`) {
  return { op: 6, d: { token, session_id: sessionId, seq } };
}

Deno.test("resume replays buffered dispatches with their original s, then RESUMED", async () => {
  await withSim({ guilds: 2 }, async (h) => {
    const { sessionId, seq } = await identifyAndDrop(h, 2);
    assert.equal(seq, 3);
    // Emitted while disconnected: buffered with seq assigned.
    const s1 = h.sim.dispatch(0, "TYPING_START", { channel_id: "1", user_id: "2", timestamp: 0 });
    const { s: s2 } = h.sim.emitMessageCreate(0);
    assert.deepEqual([s1, s2], [4, 5]);
    assert.equal(h.sim.sessions()[0].seq, 5);

    const client = await h.connect({ path: "/resume" });
    await client.next((p) => p.op === 10);
    client.send(resume(sessionId, 2));
    const resumed = await client.next((p) => p.t === "RESUMED");
    assert.equal(resumed.s, 6);
    assert.deepEqual(client.dispatches().map((p) => [p.t, p.s]), [
      ["GUILD_CREATE", 3],
      ["TYPING_START", 4],
      ["MESSAGE_CREATE", 5],
      ["RESUMED", 6],
    ]);
    assert.deepEqual(
      h.sim.resumes.map((r) => [r.shardId, r.sessionId, r.seq, r.accepted, r.replayed]),
      [[0, sessionId, 2, true, 3]],
    );
    // Sequence continues on the resumed connection.
    assert.equal(h.sim.dispatch(0, "TYPING_START", {}), 7);
    await client.next((p) => p.s === 7);
    assert.deepEqual(h.sim.connectedShards(), [0]);
    await client.close();
  });
});

Deno.test("resume fails with op 9 false for unknown, expired, ended or too-old sessions", async () => {
  await withSim({ replayBufferSize: 3, identifyIntervalMs: 0 }, async (h) => {
    const expectOp9 = async (payload: unknown, path = "/resume") => {
      const client = await h.connect({ path });
      await client.next((p) => p.op === 10);
      client.send(payload);
      const p = await client.next((m) => m.op === 9);
      assert.equal(p.d, false);
      await client.close();
      return h.sim.resumes.at(-1)!;
    };
    assert.equal((await expectOp9(resume("nope", 0))).reason, "unknown session");

    const first = await identifyAndDrop(h);
    // Resuming must go to resume_gateway_url.
    assert.match(
      (await expectOp9(resume(first.sessionId, first.seq), "/")).reason!,
      /resume_gateway_url/,
    );
    // Overflow the buffer of 3, then resume from seq 1: s 2 was dropped.
    for (let i = 0; i < 4; i++) h.sim.dispatch(0, "TYPING_START", {});
    assert.match((await expectOp9(resume(first.sessionId, 1))).reason!, /replay buffer/);
    assert.equal((await expectOp9(resume(first.sessionId, 5))).reason, "session expired");

    // A client close with 1000 ends the session (1001 too, but Deno's
    // WebSocket cannot send it; see the close code unit test).
    const { client, ready } = await h.ready([0, 1]);
    const ended = (ready.d as { session_id: string }).session_id;
    await client.close(1000);
    await waitFor(() => h.sim.sessions().find((s) => s.sessionId === ended)?.expired);
    assert.equal((await expectOp9(resume(ended, 1))).reason, "session expired");

    // expireSessions() expires disconnected sessions at once.
    const third = await identifyAndDrop(h);
    h.sim.expireSessions(0);
    assert.equal((await expectOp9(resume(third.sessionId, third.seq))).reason, "session expired");
  });
});

Deno.test("resume closes 4004 for a bad token and 4007 for a seq ahead of the session", async () => {
  await withSim({}, async (h) => {
    const { sessionId, seq } = await identifyAndDrop(h);
    assert.equal(
      (await closeCodeFor(h, [resume(sessionId, seq, "Bot wrong")], { path: "/resume" })).code,
      4004,
    );
    assert.equal(
      (await closeCodeFor(h, [resume(sessionId, seq + 5)], { path: "/resume" })).code,
      4007,
    );
    assert.equal(h.sim.sessions()[0].expired, true);
  });
});

Deno.test("sessions expire sessionTtlMs after their connection drops", async () => {
  await withSim({ sessionTtlMs: 150 }, async (h) => {
    const { client } = await h.ready([0, 1]);
    await client.close(4000);
    await waitFor(() => h.sim.sessions()[0].expired);
    assert.throws(() => h.sim.dispatch(0, "TYPING_START", {}), /no live or resumable session/);
  });
});

Deno.test("a resume on a new connection takes the session over and closes the old one", async () => {
  await withSim({}, async (h) => {
    const { client: old, ready } = await h.ready([0, 1], GUILDS, "/resume");
    const sessionId = (ready.d as { session_id: string }).session_id;
    const fresh = await h.connect({ path: "/resume" });
    fresh.send(resume(sessionId, 1));
    await fresh.next((p) => p.t === "RESUMED");
    const close = await old.waitClose();
    assert.equal(close.code, 4000);
    const s = h.sim.dispatch(0, "TYPING_START", {});
    await fresh.next((p) => p.s === s);
    assert.equal(old.messages.some((p) => p.s === s), false);
    // A resume on a connection that already carries the session: 4005.
    fresh.send(resume(sessionId, s));
    assert.equal((await fresh.waitClose()).code, 4005);
  });
});

// ---------------------------------------------------------------- control

Deno.test("dropConnection, sendReconnect, sendInvalidSession and closeShard drive the client", async () => {
  await withSim({ identifyIntervalMs: 0 }, async (h) => {
    const { client } = await h.ready([0, 1]);
    h.sim.sendReconnect(0);
    await client.next((p) => p.op === 7);
    h.sim.dropConnection(0);
    assert.equal((await client.waitClose()).code, 4000);
    const session = h.sim.sessions()[0];
    assert.deepEqual([session.connected, session.expired], [false, false]);
    assert.deepEqual(h.sim.closes.at(-1)!.by, "server");
    assert.throws(() => h.sim.dropConnection(0), /No open gateway connection/);

    const resumed = await h.connect({ path: "/resume" });
    resumed.send(resume(session.sessionId, session.seq));
    await resumed.next((p) => p.t === "RESUMED");
    h.sim.sendInvalidSession(0, true);
    assert.equal((await resumed.next((p) => p.op === 9)).d, true);
    assert.equal(h.sim.sessions()[0].expired, false);
    assert.deepEqual(h.sim.connectedShards(), []);
    // op 9 true: resumable, even on the same connection.
    resumed.send(resume(session.sessionId, h.sim.sessions()[0].seq));
    await waitFor(() => resumed.dispatches("RESUMED").length === 2);
    h.sim.sendInvalidSession(0, false);
    await waitFor(() => resumed.messages.filter((p) => p.op === 9).length === 2);
    assert.equal(h.sim.sessions()[0].expired, true);

    const { client: next } = await h.ready([0, 1]);
    h.sim.closeShard(0, 4009);
    assert.equal((await next.waitClose()).code, 4009);
    assert.equal(h.sim.sessions().at(-1)!.expired, true, "4009 ends the session");
    assert.throws(() => h.sim.closeShard(0, 1006), RangeError);
  });
});

Deno.test("expireSessions() on a connected session leaves no resume window after the drop", async () => {
  await withSim({}, async (h) => {
    const { client } = await h.ready([0, 1]);
    h.sim.expireSessions();
    assert.equal(h.sim.sessions()[0].expired, false);
    h.sim.dropConnection(0);
    await client.waitClose();
    assert.equal(h.sim.sessions()[0].expired, true);
  });
});

// ---------------------------------------------------------------- emit

Deno.test("dispatch() throws for a shard without a session", async () => {
  await withSim({}, (h) => {
    assert.throws(
      () => h.sim.dispatch(0, "TYPING_START", {}),
      /Shard 0 has no live or resumable session/,
    );
    assert.throws(() => h.sim.emitMessageCreate(1), /Shard 1/);
  });
});

Deno.test("emitMessageCreate() routes to the shard's guilds and honours intents", async () => {
  await withSim({
    guilds: 4,
    shards: 2,
    maxConcurrency: 2,
    allowedPrivilegedIntents: MESSAGE_CONTENT,
  }, async (h) => {
    const full = await h.ready([0, 2], GUILDS | GUILD_MESSAGES | MESSAGE_CONTENT);
    const bare = await h.ready([1, 2], GUILDS | GUILD_MESSAGES);
    const a = h.sim.emitMessageCreate(0);
    assert.equal(shardForGuild(a.d.guild_id as string, 2), 0);
    const received = await full.client.next((p) => p.s === a.s);
    const size = JSON.stringify(received.d).length;
    assert.ok(size >= 1000 && size <= 2500, `message is ${size} bytes`);
    const msg = received.d as Record<string, unknown>;
    for (
      const key of ["author", "member", "content", "embeds", "mentions", "channel_id", "timestamp"]
    ) {
      assert.ok(key in msg, key);
    }
    assert.ok((msg.content as string).length > 0);

    // Without MESSAGE_CONTENT: content and embeds are emptied...
    const b = h.sim.emitMessageCreate(1);
    const stripped = (await bare.client.next((p) => p.s === b.s)).d as Record<string, unknown>;
    assert.equal(stripped.content, "");
    assert.deepEqual(stripped.embeds, []);
    // ...unless the bot is mentioned.
    const c = h.sim.emitMessageCreate(1, { content: "hello", mentionBot: true });
    const kept = (await bare.client.next((p) => p.s === c.s)).d as Record<string, unknown>;
    assert.equal(kept.content, `<@${h.sim.botId}> hello`);

    assert.throws(
      () => h.sim.emitMessageCreate(1, { guildId: a.d.guild_id as string }),
      /routes to shard 0/,
    );
    assert.throws(() => h.sim.emitMessageCreate(1, { dm: true }), /shard 0/);
  });
});

Deno.test("events without the needed intent are not sent", async () => {
  await withSim({ guilds: 1 }, async (h) => {
    const { client } = await h.ready([0, 1], GUILDS);
    const { s, deliveries } = h.sim.emitMessageCreate(0);
    assert.equal(s, null);
    assert.deepEqual(deliveries, []);
    // GUILDS-less sessions get no GUILD_CREATE backfill.
    const other = await h.connect();
    await waitFor(() => Date.now() - h.sim.identifies[0].at >= 300);
    other.send(identify([0, 1], GUILD_MESSAGES));
    await other.next((p) => p.t === "READY");
    const marker = h.sim.dispatch(0, "TYPING_START", {});
    await other.next((p) => p.s === marker);
    assert.equal(other.dispatches("GUILD_CREATE").length, 0);
    assert.equal(client.dispatches("MESSAGE_CREATE").length, 0);
  });
});

Deno.test("emitMessageUpdate() sends full updates and legacy partial ones", async () => {
  await withSim({ guilds: 1, allowedPrivilegedIntents: MESSAGE_CONTENT }, async (h) => {
    const { client } = await h.ready([0, 1], GUILDS | GUILD_MESSAGES | MESSAGE_CONTENT);
    const created = h.sim.emitMessageCreate(0, { content: "see https://example.com" });
    const base = {
      id: created.d.id as string,
      channel_id: created.d.channel_id as string,
      guild_id: created.d.guild_id as string,
    };
    const unfurl = h.sim.emitMessageUpdate(0, { ...base, content: "see https://example.com" });
    const full = (await client.next((p) => p.s === unfurl.s)).d as Record<string, unknown>;
    assert.equal(full.edited_timestamp, null);
    assert.equal(full.content, "see https://example.com");
    assert.deepEqual(full.author, created.d.author);

    const edit = h.sim.emitMessageUpdate(0, {
      ...base,
      content: "edited",
      edited_timestamp: new Date().toISOString(),
    });
    assert.equal(
      ((await client.next((p) => p.s === edit.s)).d as Record<string, unknown>).content,
      "edited",
    );

    const partial = h.sim.emitMessageUpdate(0, { ...base, partial: true });
    const p = (await client.next((m) => m.s === partial.s)).d as Record<string, unknown>;
    assert.deepEqual(Object.keys(p).sort(), ["channel_id", "embeds", "guild_id", "id"]);
    assert.throws(
      () => h.sim.emitMessageUpdate(0, { id: "1", channel_id: "2", guild_id: "3" }),
      /not one of the bot's guilds/,
    );
  });
});

Deno.test("emitGuildCreate()/emitGuildDelete() model joins, outages and removals", async () => {
  await withSim({ guilds: 2, shards: 2 }, async (h) => {
    const { client } = await h.ready([1, 2]);
    await waitFor(() => client.dispatches("GUILD_CREATE").length === 1);
    const joined = h.sim.emitGuildCreate(1);
    const id = joined.d.id as string;
    assert.equal(shardForGuild(id, 2), 1);
    await client.next((p) => p.s === joined.s);
    assert.ok(h.sim.guildIds(1, 2).includes(id));
    assert.throws(() => h.sim.emitGuildCreate(1, id), /already available/);

    const outage = h.sim.emitGuildDelete(1, id, true);
    assert.deepEqual((await client.next((p) => p.s === outage.s)).d, { id, unavailable: true });
    assert.throws(() => h.sim.emitMessageCreate(1, { guildId: id }), /unavailable/);
    const back = h.sim.emitGuildCreate(1, id);
    await client.next((p) => p.s === back.s && p.t === "GUILD_CREATE");

    const removed = h.sim.emitGuildDelete(1, id, false);
    assert.deepEqual((await client.next((p) => p.s === removed.s)).d, { id });
    assert.equal(h.sim.guildIds(1, 2).includes(id), false);
  });
});

Deno.test("guild events reach every session covering the guild (resharding)", async () => {
  await withSim({ guilds: 4, identifyIntervalMs: 0 }, async (h) => {
    const old = await h.ready([0, 1]);
    const fresh = await h.ready([1, 2]);
    const guildOnNewShard = h.sim.guildIds(1, 2)[0];
    const sent = h.sim.emitMessageCreate(1, { guildId: guildOnNewShard });
    assert.equal(sent.deliveries.length, 2);
    const oldS = sent.deliveries.find((d) => d.numShards === 1)!.s;
    await old.client.next((p) => p.s === oldS && p.t === "MESSAGE_CREATE");
    await fresh.client.next((p) => p.s === sent.s && p.t === "MESSAGE_CREATE");
  });
});

// ---------------------------------------------------------------- commands

Deno.test("op 8 answers GUILD_MEMBERS_CHUNK; op 4 answers voice events; op 3 is recorded", async () => {
  await withSim({ guilds: 1, allowedPrivilegedIntents: GUILD_MEMBERS }, async (h) => {
    const { client } = await h.ready([0, 1], GUILDS | GUILD_MEMBERS | GUILD_VOICE_STATES);
    const guildId = h.sim.guildIds(0, 1)[0];
    client.send({ op: 8, d: { guild_id: guildId, query: "", limit: 0, nonce: "n1" } });
    const chunk = (await client.next((p) => p.t === "GUILD_MEMBERS_CHUNK")).d as Record<
      string,
      unknown
    >;
    assert.equal(chunk.guild_id, guildId);
    assert.equal(chunk.nonce, "n1");
    assert.deepEqual([chunk.chunk_index, chunk.chunk_count], [0, 1]);
    assert.ok((chunk.members as unknown[]).length >= 3);
    // A second full request within 30 s is rate limited.
    client.send({ op: 8, d: { guild_id: guildId, query: "", limit: 0, nonce: "n2" } });
    const limited = (await client.next((p) => p.t === "RATE_LIMITED")).d as Record<string, unknown>;
    assert.equal(limited.opcode, 8);

    client.send({
      op: 4,
      d: { guild_id: guildId, channel_id: "123", self_mute: false, self_deaf: true },
    });
    const state = (await client.next((p) => p.t === "VOICE_STATE_UPDATE")).d as Record<
      string,
      unknown
    >;
    assert.equal(state.user_id, h.sim.botId);
    assert.equal(state.self_deaf, true);
    await client.next((p) => p.t === "VOICE_SERVER_UPDATE");
    // Leaving (channel_id null): a voice state, no voice server.
    const beforeLeave = client.messages.length;
    client.send({
      op: 4,
      d: { guild_id: guildId, channel_id: null, self_mute: false, self_deaf: false },
    });
    const left = await client.next((p) => p.t === "VOICE_STATE_UPDATE", beforeLeave);
    assert.equal((left.d as Record<string, unknown>).channel_id, null);
    const marker = h.sim.dispatch(0, "TYPING_START", {});
    await client.next((p) => p.s === marker);
    assert.equal(
      client.messages.slice(beforeLeave).filter((p) => p.t === "VOICE_SERVER_UPDATE").length,
      0,
    );

    const presence = { since: null, activities: [], status: "idle", afk: false };
    client.send({ op: 3, d: presence });
    await waitFor(() => h.sim.received.find((r) => r.op === 3));
    assert.deepEqual(h.sim.received.find((r) => r.op === 3)!.d, presence);
    client.send({ op: 3, d: { status: "busy" } });
    assert.equal((await client.waitClose()).code, 4001);
  });
});

Deno.test("op 8 for the whole member list needs GUILD_MEMBERS (closes 4001)", async () => {
  await withSim({ guilds: 1 }, async (h) => {
    const { client } = await h.ready([0, 1], GUILDS);
    const guildId = h.sim.guildIds(0, 1)[0];
    client.send({ op: 8, d: { guild_id: guildId, user_ids: ["1"], query: "", limit: 0 } });
    const chunk = (await client.next((p) => p.t === "GUILD_MEMBERS_CHUNK")).d as Record<
      string,
      unknown
    >;
    assert.deepEqual(chunk.not_found, ["1"]);
    client.send({ op: 8, d: { guild_id: guildId, query: "", limit: 0 } });
    assert.equal((await client.waitClose()).code, 4001);
  });
});

// ---------------------------------------------------------------- interactions

async function callback(
  h: Harness,
  interaction: Record<string, unknown>,
  body: unknown,
  query = "",
): Promise<{ status: number; body: Record<string, unknown> | null }> {
  const res = await h.rest(
    `/v10/interactions/${interaction.id}/${interaction.token}/callback${query}`,
    {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    },
  );
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

Deno.test("interaction callbacks: 204 once, then 40060; unknown or mismatched token 10062", async () => {
  await withSim({ guilds: 1 }, async (h) => {
    const { client } = await h.ready([0, 1]);
    const { d: interaction, s } = h.sim.emitInteraction(0, { type: 2 });
    const sent = (await client.next((p) => p.s === s && p.t === "INTERACTION_CREATE")).d as Record<
      string,
      unknown
    >;
    for (
      const key of [
        "id",
        "token",
        "application_id",
        "type",
        "data",
        "guild_id",
        "channel_id",
        "member",
      ]
    ) {
      assert.ok(key in sent, key);
    }
    assert.equal(sent.application_id, h.sim.botId);

    assert.equal(
      (await callback(
        h,
        interaction,
        { type: 4, data: { content: "pong" } },
        "?with_response=false",
      )).status,
      204,
    );
    const again = await callback(h, interaction, { type: 4, data: { content: "pong" } });
    assert.deepEqual(again, {
      status: 400,
      body: { message: "Interaction has already been acknowledged.", code: 40060 },
    });
    const unknown = await callback(h, { id: "1", token: "x" }, { type: 4 });
    assert.deepEqual(unknown, {
      status: 404,
      body: { message: "Unknown interaction", code: 10062 },
    });
    const { d: other } = h.sim.emitInteraction(0, { type: 2 });
    const mismatch = await callback(h, { id: other.id, token: "forged" }, { type: 5 });
    assert.equal(mismatch.body?.code, 10062);

    const denied = await h.rest(`/v10/interactions/${other.id}/${other.token}/callback`, {
      method: "POST",
      auth: null,
      body: "{}",
    });
    assert.equal(denied.status, 401);
    await denied.body?.cancel();

    assert.deepEqual(
      h.sim.callbacks.map((c) => [c.status, c.code, c.interactionType, c.type]),
      [[204, null, 2, 4], [400, 40060, 2, 4], [404, 10062, null, 4], [404, 10062, null, 5]],
    );
    assert.ok(h.sim.callbacks[0].ageMs! >= 0);
  });
});

Deno.test("interaction callbacks after interactionDeadlineMs get 10062", async () => {
  await withSim({ guilds: 1, interactionDeadlineMs: 50 }, async (h) => {
    await h.ready([0, 1]);
    const { d: interaction } = h.sim.emitInteraction(0, { type: 3 });
    const createdAt = Date.now();
    await waitFor(() => Date.now() - createdAt > 100);
    const late = await callback(h, interaction, { type: 6 });
    assert.deepEqual(late, { status: 404, body: { message: "Unknown interaction", code: 10062 } });
    assert.ok(h.sim.callbacks[0].ageMs! > 50);
  });
});

Deno.test("interaction callback types are checked against the interaction type", async () => {
  await withSim({ guilds: 1 }, async (h) => {
    await h.ready([0, 1]);
    const expectInvalid = async (type: 2 | 3 | 4 | 5, body: unknown, withMessage = false) => {
      const { d } = h.sim.emitInteraction(0, { type, withMessage });
      const res = await callback(h, d, body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(res.body?.code, 50035);
      assert.equal(res.body?.message, "Invalid Form Body");
      // A rejected body does not acknowledge: a valid one still works.
      return d;
    };
    await expectInvalid(2, { type: 6 });
    await expectInvalid(2, { type: 7, data: { content: "x" } });
    await expectInvalid(2, { type: 1 });
    await expectInvalid(2, { type: 8, data: { choices: [] } });
    await expectInvalid(4, { type: 5 });
    await expectInvalid(4, { type: 4, data: { content: "x" } });
    const tooMany = Array.from({ length: 26 }, (_, i) => ({ name: `c${i}`, value: `${i}` }));
    const auto = await expectInvalid(4, { type: 8, data: { choices: tooMany } });
    assert.equal(
      (await callback(h, auto, { type: 8, data: { choices: tooMany.slice(0, 25) } })).status,
      204,
    );
    await expectInvalid(5, { type: 9, data: { custom_id: "m", title: "t", components: [{}] } });
    await expectInvalid(5, { type: 7, data: { content: "x" } }, false);
    const { d: modalWithMessage } = h.sim.emitInteraction(0, { type: 5, withMessage: true });
    assert.ok("message" in modalWithMessage);
    assert.equal(
      (await callback(h, modalWithMessage, { type: 7, data: { content: "x" } })).status,
      204,
    );

    const { d: command } = h.sim.emitInteraction(0, { type: 2 });
    const empty = await callback(h, command, { type: 4, data: {} });
    assert.deepEqual(empty.body, { message: "Cannot send an empty message", code: 50006 });
    const modal = await callback(h, command, {
      type: 9,
      data: { custom_id: "m", title: "t", components: [{ type: 1 }] },
    });
    assert.equal(modal.status, 204);

    const { d: component } = h.sim.emitInteraction(0, { type: 3 });
    assert.ok("message" in component);
    const withResponse = await callback(
      h,
      component,
      { type: 7, data: { content: "updated" } },
      "?with_response=true",
    );
    assert.equal(withResponse.status, 200);
    assert.equal((withResponse.body?.resource as Record<string, unknown>).type, 7);
  });
});

Deno.test("interaction callbacks accept multipart payload_json and honour failRest", async () => {
  await withSim({ guilds: 1 }, async (h) => {
    await h.ready([0, 1]);
    const { d } = h.sim.emitInteraction(0, { type: 2 });
    h.sim.failRest("interactions", [500]);
    const failed = await callback(h, d, { type: 5 });
    assert.equal(failed.status, 500);
    const form = new FormData();
    form.append("files[0]", new Blob(["hello"]), "hello.txt");
    form.append(
      "payload_json",
      JSON.stringify({ type: 4, data: { content: "file", attachments: [{ id: 0 }] } }),
    );
    const res = await h.rest(`/v10/interactions/${d.id}/${d.token}/callback`, {
      method: "POST",
      body: form,
    });
    assert.equal(res.status, 204);
    await res.body?.cancel();
    assert.deepEqual(h.sim.callbacks.map((c) => c.status), [500, 204]);
  });
});

// ---------------------------------------------------------------- compression

for (const compression of ["zlib-stream", "zstd-stream"] as const) {
  Deno.test(`gateway speaks ${compression} with one context per connection`, async () => {
    await withSim({ guilds: 3 }, async (h) => {
      const client = await h.connect({ compression });
      await client.next((p) => p.op === 10);
      client.send(identify([0, 1]));
      await client.next((p) => p.t === "READY");
      await waitFor(() => client.dispatches("GUILD_CREATE").length === 3);
      // A burst: frames arrive back to back and must decode in order.
      for (let i = 0; i < 100; i++) h.sim.emitMessageCreate(0);
      await waitFor(() => client.dispatches("MESSAGE_CREATE").length === 100);
      assert.deepEqual(
        client.dispatches().map((p) => p.s),
        Array.from({ length: 104 }, (_, i) => i + 1),
      );
      await client.close();
    });
  });
}

Deno.test("identify compress:true sends dispatches as zlib payloads", async () => {
  await withSim({ guilds: 1 }, async (h) => {
    const client = await h.connect();
    await client.next((p) => p.op === 10);
    client.send(identify([0, 1], GUILDS, { compress: true }));
    await waitFor(() => client.dispatches("GUILD_CREATE").length === 1);
    assert.equal(client.binary.length, 2);
  });
});

// ---------------------------------------------------------------- lifecycle

Deno.test("startMessageStream() emits MESSAGE_CREATE over connected shards until stopped", async () => {
  await withSim({ guilds: 2, shards: 2, maxConcurrency: 2 }, async (h) => {
    const a = await h.ready([0, 2]);
    const b = await h.ready([1, 2]);
    const stream = startMessageStream(h.sim, { ratePerSecond: 200 });
    try {
      await waitFor(() =>
        a.client.dispatches("MESSAGE_CREATE").length >= 3 &&
        b.client.dispatches("MESSAGE_CREATE").length >= 3
      );
    } finally {
      stream.stop();
    }
    assert.equal(stream.failed, 0);
    assert.ok(stream.emitted >= 6);
    assert.throws(() => startMessageStream(h.sim, { ratePerSecond: 0 }), RangeError);
  });
});

Deno.test("shutdown() closes clients with 1001 and is idempotent", async () => {
  const sim = await createSimulator({
    token: TOKEN,
    restAuthorization: SECRET,
    heartbeatIntervalMs: 5000,
  });
  const client = new Client(`${sim.gatewayUrl}/?v=10&encoding=json`);
  await client.next((p) => p.op === 10);
  await Promise.all([sim.shutdown(), sim.shutdown()]);
  assert.equal((await client.waitClose()).code, 1001);
  await client.close();
});

// ---------------------------------------------------------------- units

Deno.test("checkCallback() follows the callback type table", () => {
  const table: Record<number, number[]> = {
    4: [2, 3, 5],
    5: [2, 3, 5],
    6: [3, 5],
    7: [3, 5],
    8: [4],
    9: [2, 3],
    1: [1],
  };
  const bodies: Record<number, unknown> = {
    1: {},
    4: { content: "x" },
    5: {},
    6: {},
    7: {},
    8: { choices: [] },
    9: { custom_id: "a", title: "b", components: [{}] },
  };
  for (const [callbackType, valid] of Object.entries(table)) {
    for (const interactionType of [1, 2, 3, 4, 5]) {
      const result = checkCallback(
        { type: interactionType, hasMessage: true },
        { type: Number(callbackType), data: bodies[Number(callbackType)] },
      );
      assert.equal(
        result === undefined,
        valid.includes(interactionType),
        `${callbackType} for ${interactionType}`,
      );
    }
  }
  assert.equal(checkCallback({ type: 2, hasMessage: false }, { type: 12 })?.body.code, 50035);
});

Deno.test("close code rules: which closes keep the session resumable", () => {
  for (const code of [1000, 1001]) assert.equal(clientCloseEndsSession(code), true);
  for (const code of [1005, 1006, 3000, 3010, 4000, 4999]) {
    assert.equal(clientCloseEndsSession(code), false, String(code));
  }
  for (const code of [1000, 1001, 4000, 4001, 4002, 4005, 4008]) {
    assert.equal(serverCloseKeepsSession(code), true, String(code));
  }
  for (const code of [4003, 4004, 4007, 4009, 4010, 4011, 4012, 4013, 4014]) {
    assert.equal(serverCloseKeepsSession(code), false, String(code));
  }
});

Deno.test("createReplayBuffer() keeps the newest entries and knows what it covers", () => {
  const buffer = createReplayBuffer(3);
  for (let s = 1; s <= 5; s++) buffer.push({ s, text: String(s) });
  assert.equal(buffer.size, 3);
  assert.equal(buffer.covers(1), false);
  assert.equal(buffer.covers(2), true);
  assert.deepEqual(buffer.after(2).map((e) => e.s), [3, 4, 5]);
  assert.deepEqual(buffer.after(5), []);
});
