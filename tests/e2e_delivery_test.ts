import { assert, assertEquals } from "./helpers/assert.ts";
import { readyThenHandlerDown, seqsByShard, startE2E, withE2E } from "./helpers/rig.ts";
import { until } from "./helpers/wait.ts";

const sanitizers = { sanitizeOps: false, sanitizeResources: false };

Deno.test({
  name: "a handler outage during a steady stream on 3 shards loses nothing and keeps order",
  ...sanitizers,
  async fn() {
    const e2e = await startE2E({ sim: { shards: 3, maxConcurrency: 3, guilds: 6 } });
    try {
      await e2e.service.allReady;
      const last = new Map<number, number>();
      const emit = (rounds: number) => {
        for (let i = 0; i < rounds; i++) {
          for (const shard of [0, 1, 2]) last.set(shard, e2e.sim.emitMessageCreate(shard).s!);
        }
      };
      emit(10);
      await until(() => e2e.handler.events.length >= 3 * 10, "live events");
      await e2e.handler.down();
      emit(40);
      await until(() => e2e.service.queue.counters.retried >= 3, "failed attempts");
      emit(40);
      e2e.handler.up();
      emit(10);
      await until(
        () =>
          [0, 1, 2].every((s) => seqsByShard(e2e.handler.events).get(s)?.at(-1) === last.get(s)),
        "the backlog and the live tail",
      );
      for (const shard of [0, 1, 2]) {
        const got = seqsByShard(e2e.handler.events).get(shard)!;
        assertEquals(got, Array.from({ length: last.get(shard)! }, (_, i) => i + 1));
      }
      await until(() => e2e.logs.some((l) => l.includes("backlog drained")), "drain log");
    } finally {
      await e2e.close();
    }
  },
});

const CASES = [
  { name: "APPLICATION_COMMAND", type: 2 as const, withMessage: false, callback: 5 },
  { name: "MESSAGE_COMPONENT", type: 3 as const, withMessage: true, callback: 6 },
  { name: "MODAL_SUBMIT from a message", type: 5 as const, withMessage: true, callback: 6 },
  { name: "MODAL_SUBMIT from a command", type: 5 as const, withMessage: false, callback: 5 },
  { name: "APPLICATION_COMMAND_AUTOCOMPLETE", type: 4 as const, withMessage: false, callback: 8 },
];

Deno.test({
  name:
    "every interaction type is acknowledged within 3 s while the handler is down, then delivered as deferred",
  ...sanitizers,
  async fn() {
    await withE2E({ sim: { shards: 1, identifyIntervalMs: 500, guilds: 2 } }, async (e2e) => {
      await readyThenHandlerDown(e2e);
      const ids = CASES.map((c) =>
        e2e.sim.emitInteraction(0, { type: c.type, withMessage: c.withMessage }).d.id as string
      );
      await until(
        () => ids.every((id) => e2e.sim.callbacks.some((cb) => cb.interactionId === id)),
        "a callback per interaction",
      );
      CASES.forEach((c, i) => {
        const cbs = e2e.sim.callbacks.filter((cb) => cb.interactionId === ids[i]);
        assertEquals(cbs.length, 1, c.name);
        assertEquals([cbs[0].type, cbs[0].status], [c.callback, 204], c.name);
        assert(cbs[0].ageMs! < 3000, `${c.name} acknowledged after ${cbs[0].ageMs} ms`);
      });
      e2e.handler.up();
      await until(
        () => ids.every((id) => e2e.handler.events.some((e) => e.data.d.id === id)),
        "interactions delivered",
      );
      for (const id of ids) {
        const got = e2e.handler.events.filter((e) => e.data.d.id === id);
        assertEquals(got.length, 1);
        assertEquals(got[0].deferred, true);
      }
      assertEquals(e2e.service.queue.counters.deferred, 5);
    });
  },
});

Deno.test({
  name: "an interaction reaching a live handler is not deferred",
  ...sanitizers,
  async fn() {
    const e2e = await startE2E({ sim: { shards: 1, identifyIntervalMs: 500, guilds: 2 } });
    try {
      await e2e.service.allReady;
      const id = e2e.sim.emitInteraction(0, { type: 2 }).d.id as string;
      await until(() => e2e.handler.events.some((e) => e.data.d.id === id), "delivery");
      assertEquals(e2e.handler.events.find((e) => e.data.d.id === id)!.deferred, undefined);
      assertEquals(e2e.sim.callbacks.length, 0);
    } finally {
      await e2e.close();
    }
  },
});

Deno.test({
  name: "a deferral the REST proxy refuses is logged and the interaction still delivered",
  ...sanitizers,
  async fn() {
    await withE2E({ sim: { shards: 1, identifyIntervalMs: 500, guilds: 2 } }, async (e2e) => {
      await readyThenHandlerDown(e2e);
      e2e.sim.failRest("interactions", [503]);
      const id = e2e.sim.emitInteraction(0, { type: 2 }).d.id as string;
      await until(() => e2e.service.queue.counters.deferFailed === 1, "failed deferral");
      assert(e2e.logs.some((l) => l.includes("could not defer") && l.includes("503")));
      e2e.handler.up();
      await until(() => e2e.handler.events.some((e) => e.data.d.id === id), "delivery");
      assertEquals(e2e.handler.events.find((e) => e.data.d.id === id)!.deferred, undefined);
    });
  },
});

Deno.test({
  name: "with the REST proxy down, deferrals fail fast and nothing is lost",
  ...sanitizers,
  async fn() {
    await withE2E({ sim: { shards: 1, identifyIntervalMs: 500, guilds: 2 } }, async (e2e) => {
      await readyThenHandlerDown(e2e);
      await e2e.restProxy.down();
      const ids = [2, 3, 4].map((type) =>
        e2e.sim.emitInteraction(0, { type: type as 2 | 3 | 4 }).d.id as string
      );
      const msg = e2e.sim.emitMessageCreate(0).s!;
      await until(() => e2e.service.queue.counters.deferFailed === 3, "failed deferrals");
      assert(e2e.logs.some((l) => l.includes("could not defer")));
      assertEquals(e2e.sim.callbacks.length, 0);
      e2e.restProxy.up();
      e2e.handler.up();
      await until(() => e2e.handler.events.some((e) => e.data.s === msg), "everything delivered");
      for (const id of ids) {
        assertEquals(e2e.handler.events.filter((e) => e.data.d.id === id).length, 1);
      }
    });
  },
});

Deno.test({
  name: "DEFER_EPHEMERAL=true makes deferred command replies ephemeral",
  ...sanitizers,
  async fn() {
    const e2e = await startE2E({
      sim: { shards: 1, identifyIntervalMs: 500, guilds: 2 },
      env: { DEFER_EPHEMERAL: "true" },
    });
    try {
      await e2e.service.allReady;
      await until(() => e2e.handler.events.length >= 1, "READY delivered");
      await e2e.handler.down();
      const id = e2e.sim.emitInteraction(0, { type: 2 }).d.id as string;
      await until(() => e2e.sim.callbacks.some((cb) => cb.interactionId === id), "callback");
      const cb = e2e.sim.callbacks.find((cb) => cb.interactionId === id)!;
      assertEquals([cb.type, (cb.data as { flags?: number })?.flags], [5, 64]);
    } finally {
      await e2e.close();
    }
  },
});
