import { assert, assertEquals } from "./helpers/assert.ts";
import { chromiumAvailable, renderWithChromium } from "./helpers/chromium.ts";
import { startE2E } from "./helpers/rig.ts";
import { until } from "./helpers/wait.ts";
import { createControlHandler } from "../src/control/server.ts";
import { createControlSource } from "../src/control/source.ts";

const SECRET = "gateway-secret";

Deno.test({
  name: "the status page renders every shard of the running service in headless Chromium",
  // .ci/run installs Debian's chromium; a machine without it cannot run this test.
  ignore: !chromiumAvailable(),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const e2e = await startE2E({ sim: { shards: 3, maxConcurrency: 3, guilds: 6 } });
    const source = createControlSource(e2e.service, { alive: () => true });
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      createControlHandler(source, { authorization: SECRET }),
    );
    const url = `http://127.0.0.1:${(server.addr as Deno.NetAddr).port}`;
    try {
      await e2e.service.allReady;
      await until(() => e2e.service.readyShards.size === 3, "3 shards");
      const page = await fetch(url + "/");
      const html = await page.text();
      assert(!html.includes(SECRET) && !html.includes("sim.token"), "no secret in the page");
      const dom = await renderWithChromium(`${url}/#key=${SECRET}`, {
        screenshotPath: `${e2e.dataDir}/status.png`,
      });
      const tiles = [...dom.matchAll(/<[^>]*class="[^"]*\bshard\b[^"]*"[^>]*>/g)].map((m) => m[0]);
      assertEquals(tiles.length, 3, dom.slice(0, 3000));
      for (const id of [0, 1, 2]) assert(tiles.some((t) => t.includes(`data-shard-id="${id}"`)));
      assert(tiles.every((t) => t.includes('data-state="connected"')), tiles.join("\n"));
      // Without the secret the page shows no shard.
      const locked = await renderWithChromium(`${url}/`);
      assertEquals([...locked.matchAll(/class="[^"]*\bshard\b[^"]*"/g)].length, 0);
    } finally {
      source.close();
      await server.shutdown();
      await e2e.close();
    }
  },
});
