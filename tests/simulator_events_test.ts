/**
 * Tests of the Discord simulator's events: the emitters (`dispatch()`,
 * messages, guilds, intents, resharding) and the commands a client sends (op 8
 * member requests, op 4 voice, op 3 presence). Raw WebSocket clients (no
 * Discordeno); every wait polls a condition with a deadline.
 */
import assert from "node:assert/strict";
import { waitFor } from "../src/simulator/mod.ts";
import { shardForGuild } from "../src/simulator/snowflake.ts";
import {
  GUILD_MEMBERS,
  GUILD_MESSAGES,
  GUILD_VOICE_STATES,
  GUILDS,
  identify,
  MESSAGE_CONTENT,
  withSim,
} from "./helpers/sim_harness.ts";

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
