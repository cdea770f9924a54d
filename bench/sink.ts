/**
 * The benchmark's event handler, in its own process so it does not share the
 * proxy's event loop: answers every POST with 204 and counts; `GET /count`.
 * Usage: deno run --allow-net bench/sink.ts PORT
 * @module
 */
const port = Number(Deno.args[0] ?? 0);
let count = 0;
const server = Deno.serve({
  hostname: "127.0.0.1",
  port,
  onListen: ({ port }) => console.log(`listening ${port}`),
}, async (req) => {
  if (req.method === "GET") return new Response(String(count));
  await req.arrayBuffer();
  count++;
  return new Response(null, { status: 204 });
});
await server.finished;
