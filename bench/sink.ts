/**
 * The benchmark's event handler, in its own process so it does not share the
 * proxy's event loop: answers every POST with 204 and counts events, one per
 * request, or each event of a batch (`X-Gateway-Batch: 1`, a JSON array);
 * `GET /count`.
 * Usage: deno run --allow-net bench/sink.ts PORT
 * @module
 */
import { countEvents } from "./sink_format.ts";

const port = Number(Deno.args[0] ?? 0);
let count = 0;
const server = Deno.serve({
  hostname: "127.0.0.1",
  port,
  onListen: ({ port }) => console.log(`listening ${port}`),
}, async (req) => {
  if (req.method === "GET") return new Response(String(count));
  if (req.headers.get("x-gateway-batch") === "1") count += countEvents(await req.text());
  else {
    await req.arrayBuffer();
    count++;
  }
  return new Response(null, { status: 204 });
});
await server.finished;
