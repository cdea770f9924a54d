import { assertEquals } from "./helpers/assert.ts";
import { createControlHandler } from "../src/control/server.ts";

Deno.test("createControlHandler() answers GET /healthz with 200 while alive", async () => {
  let alive = true;
  const handle = createControlHandler({ alive: () => alive });
  const ok = handle(new Request("http://x/healthz"));
  assertEquals([ok.status, await ok.json()], [200, { status: "ok" }]);
  alive = false;
  const stopping = handle(new Request("http://x/healthz"));
  assertEquals(stopping.status, 503);
  await stopping.body?.cancel();
});

Deno.test("createControlHandler() gives 404 and 405 with a reason", async () => {
  const handle = createControlHandler({ alive: () => true });
  const missing = handle(new Request("http://x/nope"));
  assertEquals(missing.status, 404);
  assertEquals((await missing.json()).error, "no route for GET /nope");
  const wrong = handle(new Request("http://x/healthz", { method: "POST" }));
  assertEquals(wrong.status, 405);
  assertEquals(wrong.headers.get("allow"), "GET, HEAD");
  await wrong.body?.cancel();
});
