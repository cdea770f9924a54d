/**
 * Batched delivery (`EVENT_HANDLER_BATCH_*`): the default stays byte for byte what it was;
 * above 1, batches keep each shard's order, are retried whole, are halved to find an event the
 * handler refuses or keeps failing on, never hold an interaction back, linger only when asked,
 * and stay within their byte cap. Conditions are waited for; nothing asserts on timing.
 */
import { assert, assertEquals, assertStringIncludes, assertThrows } from "./helpers/assert.ts";
import { until } from "./helpers/wait.ts";
import { AUTH, interaction, makeEvent, queueOn, readDeadLetters } from "./helpers/queue_rig.ts";
import {
  createDeliveryQueue,
  type DeferOutcome,
  type DeliveryQueueOptions,
  type InteractionInfo,
} from "../src/delivery/mod.ts";
import {
  createHttpTransport,
  type DeliveryResult,
  type OutboundEvent,
  type Transport,
} from "../src/transport/mod.ts";
import { type ForwardedEvent, parseForwarded } from "../src/handler_types.ts";
import { silentLogger } from "../src/log.ts";

/** One request the batch handler saw. */
interface Seen {
  events: ForwardedEvent[];
  /** Carried `X-Gateway-Batch: 1` (the body was an array). */
  batch: boolean;
  /** Body size in bytes. */
  bytes: number;
  status: number;
}

/** What to answer a request with; `wait` holds the answer until it resolves. */
interface Answer {
  status?: number;
  delayMs?: number;
  wait?: Promise<unknown>;
}

/** An event handler that reads both forms with `parseForwarded` and records every request. */
function startBatchHandler() {
  const requests: Seen[] = [];
  /** Events of 2xx requests, in arrival order (synthetic checks left out). */
  const accepted: ForwardedEvent[] = [];
  const state = {
    behave: (_events: ForwardedEvent[]): Answer | undefined => undefined,
  };
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (req) => {
      const body = new Uint8Array(await req.arrayBuffer());
      const events = parseForwarded(new TextDecoder().decode(body), req.headers);
      const answer = state.behave(events) ?? {};
      if (answer.wait) await answer.wait;
      if (answer.delayMs) await new Promise((r) => setTimeout(r, answer.delayMs));
      const status = answer.status ?? 200;
      requests.push({
        events,
        batch: req.headers.get("x-gateway-batch") === "1",
        bytes: body.length,
        status,
      });
      if (status < 300) accepted.push(...events.filter((e) => e.data.t !== "HANDLER_CHECK_DD"));
      return new Response(status < 300 ? null : "nope", { status });
    },
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}/events`,
    requests,
    accepted,
    state,
    /** Requests that carried real events (not only a HANDLER_CHECK_DD). */
    real: () => requests.filter((q) => q.events.some((e) => e.data.t !== "HANDLER_CHECK_DD")),
    close: () => server.shutdown(),
  };
}

type BatchHandler = ReturnType<typeof startBatchHandler>;

/** A queue with batching, the real HTTP transport, SQLite journal and dead-letter file. */
async function batchRig(options: Partial<DeliveryQueueOptions> = {}) {
  const handler = startBatchHandler();
  const q = await queueOn(handler.url, { retry: { baseMs: 5, maxMs: 20 }, ...options });
  return {
    handler,
    queue: q.queue,
    logs: q.logs,
    deadLetters: () => readDeadLetters(q.dir),
    async close() {
      await q.close();
      await handler.close();
      await Deno.remove(q.dir, { recursive: true });
    },
  };
}

const seqs = (events: ForwardedEvent[]) => events.map((e) => e.data.s);

/** Per shard, the `s` values accepted, in arrival order. */
function acceptedByShard(h: BatchHandler): Map<number, number[]> {
  const out = new Map<number, number[]>();
  for (const e of h.accepted) out.set(e.shardId, [...(out.get(e.shardId) ?? []), e.data.s!]);
  return out;
}

const range = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

function recordingDeferrer(
  outcome: () => DeferOutcome = () => ({ kind: "deferred", callbackType: 5 }),
) {
  const calls: InteractionInfo[] = [];
  return {
    calls,
    defer(info: InteractionInfo) {
      calls.push(info);
      return Promise.resolve(outcome());
    },
  };
}

/** A promise and its resolver. */
function gate() {
  let open!: () => void;
  const promise = new Promise<void>((r) => open = r);
  return { promise, open };
}

// --- The default is today's request, byte for byte ----------------------------------------

/** A raw TCP server answering 204 to each request and keeping every request's bytes. */
function captureServer() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const requests: string[] = [];
  const sockets = new Set<Deno.Conn>();
  const accepting = (async () => {
    for await (const socket of listener) {
      sockets.add(socket);
      (async () => {
        const buf = new Uint8Array(65536);
        let pending = new Uint8Array(0);
        try {
          for (;;) {
            const n = await socket.read(buf);
            if (n === null) return;
            const next = new Uint8Array(pending.length + n);
            next.set(pending);
            next.set(buf.subarray(0, n), pending.length);
            pending = next;
            const text = new TextDecoder("latin1").decode(pending);
            const end = text.indexOf("\r\n\r\n");
            if (end < 0) continue;
            const length = Number(/content-length: (\d+)/i.exec(text.slice(0, end))?.[1] ?? 0);
            if (pending.length < end + 4 + length) continue;
            requests.push(new TextDecoder().decode(pending.subarray(0, end + 4 + length)));
            pending = pending.slice(end + 4 + length);
            await socket.write(new TextEncoder().encode("HTTP/1.1 204 No Content\r\n\r\n"));
          }
        } catch {
          /* the client went away */
        } finally {
          sockets.delete(socket);
          try {
            socket.close();
          } catch { /* closed */ }
        }
      })();
    }
  })().catch(() => {});
  const port = (listener.addr as Deno.NetAddr).port;
  return {
    port,
    url: `http://127.0.0.1:${port}/events?v=1`,
    requests,
    async close() {
      listener.close();
      for (const s of sockets) {
        try {
          s.close();
        } catch { /* closed */ }
      }
      await accepting;
    },
  };
}

const CAPTURED_PAYLOAD = (s: number) =>
  `{"op":0,"t":"MESSAGE_CREATE","s":${s},"d":{"content":"héllo ✓"}}`;

/**
 * The requests the service sent before batching existed, captured from a raw socket with the
 * code of the previous commit (e066e65): headers, their order and the body, byte for byte.
 */
const BEFORE_BATCHING: Record<"http1" | "fetch", (port: number, s: number) => string> = {
  http1: (port, s) =>
    `POST /events?v=1 HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\nauthorization: handler-secret\r\ncontent-type: application/json\r\nuser-agent: discord-gateway-proxy (Deno 2; Discordeno 21)\r\ncontent-length: 85\r\n\r\n{"shardId":3,"data":${
      CAPTURED_PAYLOAD(s)
    }}`,
  fetch: (port, s) =>
    `POST /events?v=1 HTTP/1.1\r\ncontent-length: 85\r\nauthorization: handler-secret\r\ncontent-type: application/json\r\nuser-agent: discord-gateway-proxy (Deno 2; Discordeno 21)\r\naccept: */*\r\naccept-language: *\r\naccept-encoding: gzip,br\r\nhost: 127.0.0.1:${port}\r\n\r\n{"shardId":3,"data":${
      CAPTURED_PAYLOAD(s)
    }}`,
};

for (const client of ["http1", "fetch"] as const) {
  for (const batch of [undefined, { maxEvents: 1, lingerMs: 0, maxBytes: 1024 ** 2 }]) {
    Deno.test(`createDeliveryQueue() with ${client} and ${batch ? "batch.maxEvents 1" : "the default batch settings"} sends the same bytes as before batching existed`, async () => {
      const server = captureServer();
      const transport = createHttpTransport({
        url: server.url,
        authorization: AUTH,
        client,
      });
      const queue = createDeliveryQueue({ transport, logger: silentLogger, batch });
      for (const s of [1, 2]) {
        queue.push({
          shardId: 3,
          s,
          t: "MESSAGE_CREATE",
          receivedAt: Date.now(),
          raw: CAPTURED_PAYLOAD(s),
        });
      }
      assert(await queue.idle(10_000), "delivered");
      assertEquals(server.requests, [1, 2].map((s) => BEFORE_BATCHING[client](server.port, s)));
      await queue.close();
      transport.close?.();
      await server.close();
    });
  }
}

Deno.test("createDeliveryQueue() sends one event per send() through a transport without sendBatch, whatever batch.maxEvents says", async () => {
  const sent: OutboundEvent[] = [];
  const transport: Transport = {
    send(event) {
      sent.push(event);
      return Promise.resolve<DeliveryResult>({ ok: true, status: 200 });
    },
  };
  const queue = createDeliveryQueue({
    transport,
    logger: silentLogger,
    batch: { maxEvents: 64, lingerMs: 50 },
  });
  for (let s = 1; s <= 20; s++) queue.push(makeEvent(0, s));
  assert(await queue.idle(10_000), "delivered");
  assertEquals(sent.map((e) => JSON.parse(e.raw).s), range(1, 20));
  assertEquals(queue.counters.batches, 0);
  await queue.close();
});

// --- The batch request --------------------------------------------------------------------

for (const client of ["http1", "fetch"] as const) {
  Deno.test(`createHttpTransport(${client}).sendBatch() posts a JSON array of the single-event objects with X-Gateway-Batch: 1`, async () => {
    const seen: { body: string; headers: Headers }[] = [];
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      async (req) => {
        seen.push({ body: await req.text(), headers: req.headers });
        return new Response(null, { status: 204 });
      },
    );
    const transport = createHttpTransport({
      url: `http://127.0.0.1:${server.addr.port}/events`,
      authorization: AUTH,
      client,
    });
    const a = `{"op":0,"t":"MESSAGE_CREATE","s":7,"d":{"content":"é ✓"}}`;
    const b = `{"op":0,"t":"INTERACTION_CREATE","s":8,"d":{"id":"1"}}`;
    assertEquals(
      await transport.sendBatch!([{ shardId: 2, raw: a }, { shardId: 2, raw: b, deferred: true }]),
      { ok: true, status: 204 },
    );
    // The single form still goes without the header, on the same connection pool.
    assertEquals(await transport.send({ shardId: 2, raw: a }), { ok: true, status: 204 });
    assertEquals(
      seen[0].body,
      `[{"shardId":2,"data":${a}},{"shardId":2,"data":${b},"deferred":true}]`,
    );
    assertEquals(seen[0].headers.get("x-gateway-batch"), "1");
    assertEquals(seen[0].headers.get("authorization"), AUTH);
    assertEquals(seen[0].headers.get("content-type"), "application/json");
    assertEquals([seen[1].body, seen[1].headers.get("x-gateway-batch")], [
      `{"shardId":2,"data":${a}}`,
      null,
    ]);
    transport.close?.();
    await server.shutdown();
  });
}

Deno.test("parseForwarded() reads one event, a batch, and refuses what is neither", () => {
  const one = { shardId: 1, data: { op: 0, t: "MESSAGE_CREATE", s: 3, d: {} } };
  const two = { ...one, data: { ...one.data, s: 4 }, deferred: true };
  assertEquals(parseForwarded(JSON.stringify(one), new Headers()), [one]);
  assertEquals(
    parseForwarded(JSON.stringify([one, two]), new Headers({ "X-Gateway-Batch": "1" })),
    [one, two],
  );
  // Parsed bodies, plain header records, and an array without the header are read too.
  assertEquals(parseForwarded([one], { "x-gateway-batch": "1" }), [one]);
  assertEquals(parseForwarded(JSON.stringify([one])), [one]);
  assertStringIncludes(
    assertThrows(() => parseForwarded(JSON.stringify(one), { "X-Gateway-Batch": "1" }), TypeError)
      .message,
    "not a JSON array",
  );
  assertStringIncludes(
    assertThrows(() => parseForwarded("{", undefined), TypeError).message,
    "JSON",
  );
  assertStringIncludes(
    assertThrows(() => parseForwarded(JSON.stringify([one, { shardId: 1 }])), TypeError).message,
    "element 1",
  );
});

// --- Batches in the queue -------------------------------------------------------------------

Deno.test("createDeliveryQueue() with batches keeps each shard's order across batches and counts events", async () => {
  const r = await batchRig({ batch: { maxEvents: 4 } });
  for (let s = 1; s <= 40; s++) for (const shard of [0, 1, 2]) r.queue.push(makeEvent(shard, s));
  await until(() => r.handler.accepted.length === 120, "120 deliveries");
  for (const shard of [0, 1, 2]) assertEquals(acceptedByShard(r.handler).get(shard), range(1, 40));
  for (const q of r.handler.requests) {
    assert(q.batch, "every request is a batch");
    assert(q.events.length >= 1 && q.events.length <= 4, `${q.events.length} events`);
    assertEquals(new Set(q.events.map((e) => e.shardId)).size, 1, "one shard per batch");
    const s = seqs(q.events);
    assertEquals(s, range(s[0]!, s[0]! + s.length - 1), "consecutive events of the shard");
  }
  assert(r.handler.requests.some((q) => q.events.length === 4), "full batches");
  assertEquals(r.queue.counters.delivered, 120);
  assertEquals(
    r.queue.counters.batches,
    r.handler.requests.filter((q) => q.events.length > 1).length,
  );
  await r.close();
});

Deno.test("createDeliveryQueue() retries a failing batch whole", async () => {
  const r = await batchRig({ batch: { maxEvents: 8 } });
  let failures = 2;
  r.handler.state.behave = (events) =>
    events.length > 1 && failures-- > 0 ? { status: 503 } : undefined;
  for (let s = 1; s <= 6; s++) r.queue.push(makeEvent(0, s));
  await until(() => r.handler.accepted.length === 6, "6 deliveries");
  // The first request took the head alone; the rest waited and went as one batch, three times.
  assertEquals(r.handler.requests.map((q) => [seqs(q.events), q.status]), [
    [[1], 200],
    [[2, 3, 4, 5, 6], 503],
    [[2, 3, 4, 5, 6], 503],
    [[2, 3, 4, 5, 6], 200],
  ]);
  assertEquals(acceptedByShard(r.handler).get(0), range(1, 6));
  assertEquals(r.queue.counters.retried, 10, "counted per event");
  assertEquals(r.queue.counters.deadLettered, 0);
  await r.close();
});

Deno.test("createDeliveryQueue() halves a batch answered 400 until the refused event stands alone, and delivers the rest in order", async () => {
  const r = await batchRig({ batch: { maxEvents: 8 } });
  r.handler.state.behave = (events) => seqs(events).includes(5) ? { status: 400 } : undefined;
  for (let s = 1; s <= 9; s++) r.queue.push(makeEvent(0, s));
  await until(() => r.handler.accepted.length === 8, "the accepted ones");
  assertEquals(acceptedByShard(r.handler).get(0), [1, 2, 3, 4, 6, 7, 8, 9]);
  await until(() => r.queue.counters.deadLettered === 1, "one dead letter");
  assertEquals((await r.deadLetters()).map((d) => [d.s, d.status]), [[5, 400]]);
  // Refused as a batch of 8, then 4; the 2 before it went through; then it alone.
  assertEquals(r.handler.requests.map((q) => [seqs(q.events), q.status]), [
    [[1], 200],
    [[2, 3, 4, 5, 6, 7, 8, 9], 400],
    [[2, 3, 4, 5], 400],
    [[2, 3], 200],
    [[4], 200],
    [[5], 400],
    [[6, 7, 8, 9], 200],
  ]);
  assertEquals(r.queue.counters.batchSplits, 2);
  await r.close();
});

Deno.test("createDeliveryQueue() isolates a poisoned event from its batch before setting it aside", async () => {
  const r = await batchRig({ batch: { maxEvents: 8 }, poisonAfterAttempts: 2 });
  // A 500 on one payload, whatever else the request carries; every other request is taken.
  r.handler.state.behave = (events) => seqs(events).includes(4) ? { status: 500 } : undefined;
  for (let s = 1; s <= 8; s++) r.queue.push(makeEvent(0, s));
  await until(() => r.queue.counters.poisoned === 1, "set aside");
  await until(() => r.handler.accepted.length === 7, "the rest delivered");
  assertEquals(acceptedByShard(r.handler).get(0), [1, 2, 3, 5, 6, 7, 8]);
  const dead = await r.deadLetters();
  assertEquals(dead.map((d) => d.s), [4]);
  assertStringIncludes(dead[0].error, "2 of them while the handler accepted others");
  // Before it was set aside it failed alone, twice after the handler answered a check.
  const real = r.handler.real();
  const alone = real.filter((q) => seqs(q.events).join() === "4");
  assert(alone.length >= 2, `${alone.length} attempts alone`);
  const lastAlone = real.lastIndexOf(alone.at(-1)!);
  assertEquals(seqs(real[lastAlone + 1].events), [5, 6, 7, 8]);
  assert(r.queue.counters.batchSplits >= 1);
  assertEquals(r.queue.counters.deadLettered, 1);
  await r.close();
});

Deno.test("createDeliveryQueue() with batches sends an interaction behind a backlog in the next request, deferred as before", async () => {
  const deferrer = recordingDeferrer();
  const r = await batchRig({ batch: { maxEvents: 64 }, deferrer, deferAfterMs: 100 });
  const held = gate();
  // The first request is answered only once the interaction waiting behind it was deferred.
  r.handler.state.behave = (events) =>
    seqs(events).includes(1) ? { wait: held.promise } : undefined;
  r.queue.push(makeEvent(0, 1));
  r.queue.push(makeEvent(0, 2));
  r.queue.push(makeEvent(0, 3));
  r.queue.push(interaction(0, 4, 2));
  r.queue.push(makeEvent(0, 5));
  r.queue.push(makeEvent(0, 6));
  await until(() => deferrer.calls.length === 1, "the deferral of the waiting interaction");
  held.open();
  await until(() => r.handler.accepted.length === 6, "6 deliveries");
  // It ends the next batch (nothing after it rides along), flagged deferred.
  assertEquals(r.handler.requests.map((q) => seqs(q.events)), [[1], [2, 3, 4], [5, 6]]);
  assertEquals(r.handler.requests[1].events[2].deferred, true);
  assertEquals(r.queue.counters.deferred, 1);
  await r.close();
});

Deno.test("createDeliveryQueue() cuts a batch carrying an interaction at the deferral deadline, defers it and retries the batch", async () => {
  const deferrer = recordingDeferrer();
  const r = await batchRig({ batch: { maxEvents: 64 }, deferrer, deferAfterMs: 200 });
  let slow = true;
  // The handler chokes on the first batch with the interaction: the attempt is cut in time.
  r.handler.state.behave = (events) => {
    if (!slow || !events.some((e) => e.data.t === "INTERACTION_CREATE")) return undefined;
    slow = false;
    return { delayMs: 1500, status: 503 };
  };
  r.queue.push(makeEvent(0, 1));
  r.queue.push(makeEvent(0, 2));
  r.queue.push(interaction(0, 3, 2));
  await until(() => r.handler.accepted.length === 3, "3 deliveries");
  assertEquals(deferrer.calls.map((i) => i.id), ["i3"]);
  assertEquals(seqs(r.handler.accepted), [1, 2, 3]);
  assertEquals(r.handler.accepted[2].deferred, true);
  await r.close();
});

Deno.test("createDeliveryQueue() with batch.lingerMs waits for a batch to fill, and never for an interaction", async () => {
  // Full by count: goes as soon as the fifth event is there.
  const full = await batchRig({ batch: { maxEvents: 5, lingerMs: 60_000 } });
  for (let s = 1; s <= 5; s++) full.queue.push(makeEvent(0, s));
  await until(() => full.handler.accepted.length === 5, "5 deliveries");
  assertEquals(full.handler.requests.map((q) => seqs(q.events)), [[1, 2, 3, 4, 5]]);
  await full.close();

  // Not full: waits (here up to 1.5 s) for what comes after the first event.
  const partial = await batchRig({ batch: { maxEvents: 10, lingerMs: 1500 } });
  partial.queue.push(makeEvent(0, 1));
  setTimeout(() => {
    partial.queue.push(makeEvent(0, 2));
    partial.queue.push(makeEvent(0, 3));
  }, 10);
  await until(() => partial.handler.accepted.length === 3, "3 deliveries");
  assertEquals(partial.handler.requests.map((q) => seqs(q.events)), [[1, 2, 3]]);
  await partial.close();

  // An interaction ends the wait at once, for it and what waits before it.
  const urgent = await batchRig({ batch: { maxEvents: 10, lingerMs: 60_000 } });
  urgent.queue.push(makeEvent(0, 1));
  setTimeout(() => urgent.queue.push(interaction(0, 2, 2)), 10);
  await until(() => urgent.handler.accepted.length === 2, "2 deliveries, long before 60 s");
  assertEquals(urgent.handler.requests.map((q) => seqs(q.events)), [[1, 2]]);
  // An interaction alone does not wait either.
  urgent.queue.push(interaction(0, 3, 2));
  await until(() => urgent.handler.accepted.length === 3, "the lone interaction, at once");
  assertEquals(urgent.handler.requests.map((q) => seqs(q.events)), [[1, 2], [3]]);
  await urgent.close();
});

Deno.test("createDeliveryQueue() keeps each batch within batch.maxBytes, and sends a larger event alone", async () => {
  const maxBytes = 600;
  const r = await batchRig({ batch: { maxEvents: 100, maxBytes } });
  const held = gate();
  r.handler.state.behave = (events) =>
    seqs(events).includes(1) ? { wait: held.promise } : undefined;
  // ~150-byte events, half of them non-ASCII (3 bytes per "✓"), and one of 2 KB.
  r.queue.push(makeEvent(0, 1));
  for (let s = 2; s <= 30; s++) {
    const text = s === 17 ? "x".repeat(2000) : s % 2 ? "✓".repeat(30) : "y".repeat(90);
    r.queue.push(makeEvent(0, s, "MESSAGE_CREATE", { content: text }));
  }
  held.open();
  await until(() => r.handler.accepted.length === 30, "30 deliveries");
  assertEquals(acceptedByShard(r.handler).get(0), range(1, 30));
  for (const q of r.handler.requests) {
    if (q.events.length > 1) assert(q.bytes <= maxBytes, `${q.bytes} bytes in a batch`);
    else if (q.bytes > maxBytes) assertEquals(seqs(q.events), [17]);
  }
  assert(r.handler.requests.some((q) => seqs(q.events).join() === "17"), "the large one alone");
  // Each batch took as many of the waiting events as fit: the next one would not have.
  const [, ...batches] = r.handler.requests;
  for (let i = 0; i + 1 < batches.length; i++) {
    const next = JSON.stringify(batches[i + 1].events[0]);
    const nextBytes = new TextEncoder().encode(next).length;
    assert(batches[i].bytes + 1 + nextBytes > maxBytes, `batch ${i} could have taken one more`);
  }
  await r.close();
});

Deno.test("createDeliveryQueue() rejects batch options out of range", () => {
  const transport: Transport = { send: () => Promise.resolve({ ok: true, status: 200 }) };
  for (
    const batch of [{ maxEvents: 0 }, { maxEvents: 1.5 }, { lingerMs: -1 }, { maxBytes: 0 }]
  ) {
    assertThrows(() => createDeliveryQueue({ transport, logger: silentLogger, batch }), RangeError);
  }
});
