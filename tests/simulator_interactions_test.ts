/**
 * Tests of the Discord simulator's interaction callbacks over REST: once only,
 * deadlines, callback types against interaction types, multipart bodies and
 * `failRest()`, and the callback type table itself. Raw WebSocket clients and
 * fetch (no Discordeno); every wait polls a condition with a deadline.
 */
import assert from "node:assert/strict";
import { waitFor } from "../src/simulator/mod.ts";
import { checkCallback } from "../src/simulator/callback_rules.ts";
import { type Harness, withSim } from "./helpers/sim_harness.ts";

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
