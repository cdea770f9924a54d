/**
 * Tests of the Discord simulator's sessions: identify (refusals, privileged
 * intents, READY and the guild backfill, identify buckets, the session start
 * limit), resume (replay, refusals, expiry, take-over) and the control methods
 * that end or drop a session, with the close-code and replay-buffer rules they
 * rest on. Raw WebSocket clients (no Discordeno);
 * every wait polls a condition with a deadline.
 */
import assert from "node:assert/strict";
import { waitFor } from "../src/simulator/mod.ts";
import { clientCloseEndsSession, serverCloseKeepsSession } from "../src/simulator/close_codes.ts";
import { createReplayBuffer } from "../src/simulator/replay_buffer.ts";
import {
  closeCodeFor,
  GUILD_MEMBERS,
  GUILDS,
  type Harness,
  identify,
  MESSAGE_CONTENT,
  TOKEN,
  withSim,
} from "./helpers/sim_harness.ts";

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

// ---------------------------------------------------------------- units

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
