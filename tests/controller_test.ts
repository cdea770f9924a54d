import { assert, assertEquals, assertStringIncludes } from "./helpers/assert.ts";
import { startE2E } from "./helpers/rig.ts";
import { until } from "./helpers/wait.ts";
import { loadController } from "../src/controller.ts";
import { runProxyProcess } from "./helpers/process.ts";

const sanitizers = { sanitizeOps: false, sanitizeResources: false };

Deno.test({
  name: "the example controller's overrides take effect",
  ...sanitizers,
  async fn() {
    const controller = await loadController(
      new URL("../examples/controller.ts", import.meta.url).href,
    );
    const e2e = await startE2E({
      sim: { shards: 1, guilds: 1, identifyIntervalMs: 500 },
      service: { controller },
    });
    try {
      await e2e.service.allReady;
      const typing = e2e.sim.dispatch(0, "TYPING_START", {
        channel_id: "1",
        user_id: "2",
        timestamp: 1,
      });
      const marker = e2e.sim.emitMessageCreate(0).s!;
      await until(() => e2e.handler.events.some((e) => e.data.s === marker), "marker");
      assert(!e2e.handler.events.some((e) => e.data.s === typing), "TYPING_START swallowed");
      assert(
        e2e.logs.some((l) => l.includes("controller: shard identifying")),
        "manager method replaced",
      );
      assert(e2e.logs.some((l) => l.includes("controller: heartbeating")), "shard method replaced");
    } finally {
      await e2e.close();
    }
  },
});

Deno.test("loadController() names what is wrong with a controller module", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/bad.ts`, "export default { heartbeat() {} };");
  const error = await loadController(`file://${dir}/bad.ts`).then(() => undefined, (e) => e);
  assert(error instanceof TypeError);
  assertStringIncludes(error.message, 'unknown controller field "heartbeat"');
  const missing = await loadController(`file://${dir}/nope.ts`).then(() => undefined, (e) => e);
  assertStringIncludes(missing.message, "cannot import");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("GATEWAY_CONTROLLER pointing nowhere stops the process with exit 2 and an example", async () => {
  const { code, text } = await runProxyProcess({
    DISCORD_TOKEN: `${btoa("1")}.a.b`,
    REST_URL: "http://127.0.0.1:9",
    REST_AUTHORIZATION: "r",
    EVENT_HANDLER_URL: "http://127.0.0.1:9/e",
    EVENT_HANDLER_AUTHORIZATION: "h",
    GATEWAY_INTENTS: "Guilds",
    GATEWAY_AUTHORIZATION: "g",
    GATEWAY_CONTROLLER: "./does-not-exist.ts",
  });
  assertEquals(code, 2, text);
  assertStringIncludes(text, "GATEWAY_CONTROLLER");
  assertStringIncludes(text, "example: GATEWAY_CONTROLLER=./examples/controller.ts");
});
