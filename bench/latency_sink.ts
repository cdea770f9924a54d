/**
 * The comparison benchmark's event handler (`bench/compare.ts`), in its own
 * process, identical for every contender. Like `bench/sink.ts` it answers every
 * POST with 204 and counts events (each event of a batch: `X-Gateway-Batch: 1`,
 * a JSON array), and besides:
 *
 * - checks `Authorization` (a contender that forgets it gets 401 and its
 *   events are not counted);
 * - records, while asked to, the delivery latency of each event carrying the
 *   harness's send time in `d.nonce` (see `bench/latency_recorder.ts`);
 * - counts events that arrive with a lower `s` than one already seen on their
 *   shard (reordered or duplicated deliveries).
 *
 * Routes: `POST /events` (any other POST path too), `GET /stats`,
 * `GET /clock`, `POST /latency/start`, `GET /latency` (stops recording and
 * returns percentiles).
 *
 * Usage: deno run --allow-net bench/latency_sink.ts PORT AUTHORIZATION
 * @module
 */
import { clockNow, createLatencyRecorder } from "./latency_recorder.ts";
import { eventStarts } from "./sink_format.ts";

const port = Number(Deno.args[0] ?? 0);
const authorization = Deno.args[1] ?? "";

let count = 0;
/** Requests that carried events (one per event, or one per batch). */
let requests = 0;
let bytes = 0;
let unauthorized = 0;
let outOfOrder = 0;
const highestSeq = new Map<number, number>();
const latency = createLatencyRecorder();
const NONCE = '"nonce":"';

/** `{"shardId":N,"data":{...,"s":S,"t":"..."}...}` at `from` (to `to`): per-shard order check. */
function checkOrder(text: string, from = 0, to = text.length): void {
  if (!text.startsWith('{"shardId":', from)) return;
  const shardId = parseInt(text.slice(from + 11, from + 20), 10);
  const at = text.lastIndexOf('"s":', to - 1);
  if (at < from || !Number.isInteger(shardId)) return;
  const s = parseInt(text.slice(at + 4, at + 24), 10);
  if (!Number.isInteger(s)) return;
  const highest = highestSeq.get(shardId) ?? 0;
  // s restarts at 1 with a new session (READY).
  if (s > highest || s === 1) highestSeq.set(shardId, s);
  else outOfOrder++;
}

const server = Deno.serve({
  hostname: "127.0.0.1",
  port,
  onListen: ({ port }) => console.log(`listening ${port}`),
}, async (req) => {
  if (req.method === "GET") {
    const path = new URL(req.url).pathname;
    if (path === "/clock") return new Response(String(clockNow()));
    if (path === "/latency") return Response.json(latency.summary());
    return Response.json({ count, requests, bytes, unauthorized, outOfOrder });
  }
  if (req.url.endsWith("/latency/start")) {
    await req.body?.cancel();
    latency.start();
    return new Response(null, { status: 204 });
  }
  if (req.headers.get("authorization") !== authorization) {
    await req.body?.cancel();
    unauthorized++;
    return new Response("bad authorization", { status: 401 });
  }
  const text = await req.text();
  const receivedAt = clockNow();
  requests++;
  bytes += text.length;
  // One event, or each event of a batch: its order, and (MESSAGE_CREATE) its send time.
  const starts = req.headers.get("x-gateway-batch") === "1" ? eventStarts(text) : [0];
  count += starts.length;
  for (let i = 0; i < starts.length; i++) {
    const from = starts[i];
    const to = starts[i + 1] ?? text.length;
    if (latency.recording) {
      const at = text.indexOf(NONCE, from);
      if (at >= 0 && at < to) {
        const start = at + NONCE.length;
        latency.add(text.slice(start, text.indexOf('"', start)), receivedAt);
      }
    }
    checkOrder(text, from, to);
  }
  return new Response(null, { status: 204 });
});
await server.finished;
