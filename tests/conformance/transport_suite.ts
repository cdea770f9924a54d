/**
 * The contract of a {@linkcode Transport}, for any implementation: what a delivery carries,
 * order, batches, the verdict of every kind of failure (answers, refused, no answer, the caller's
 * abort), never throwing, and `close()`.
 * @module
 */
import type { DeliveryResult, OutboundEvent, Transport } from "../../src/transport/mod.ts";
import { assert, assertEquals } from "../helpers/assert.ts";
import { type ConformanceCase, type ConformanceOptions, registerCases } from "./register.ts";

/** One answer a scripted receiver gives (HTTP status, headers, body). */
export interface Answer {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

/** How the receiving end behaves in a case. */
export type Receiver =
  /** Takes every delivery. */
  | { kind: "accept" }
  /** Answers each delivery with the next of `answers`, then accepts (`statuses` option). */
  | { kind: "answers"; answers: Answer[] }
  /** Nobody listens: connecting is refused (or the backend is down). */
  | { kind: "refuse" }
  /** Takes the delivery and never answers, until cleanup. */
  | { kind: "stall" };

/** What reached the receiver in one delivery. */
export interface Delivery {
  /** Arrived marked as a batch (`X-Gateway-Batch: 1` for HTTP). */
  batch: boolean;
  /** Each event as the bot reads it: `{shardId, data, deferred?, expired?}`. */
  events: unknown[];
}

/** A transport under test and its receiver. */
export interface TransportFixture {
  transport: Transport;
  /** What reached the receiver so far, in arrival order (at least per shard). */
  received(): Promise<Delivery[]>;
  cleanup(): Promise<void>;
}

/** Options of {@linkcode transportConformance}. */
export interface TransportConformanceOptions extends ConformanceOptions {
  /** The receiver can answer with HTTP statuses (`answers` receivers). @default true */
  statuses?: boolean;
  /**
   * How a `sendBatch()` arrives: `"one-delivery"` (one request, marked as a batch),
   * `"per-event"` (one unmarked delivery per event, e.g. a stream entry each), or `"none"`
   * (the transport has no `sendBatch`). @default {"one-delivery"}
   */
  batches?: "one-delivery" | "per-event" | "none";
  /**
   * A receiver that takes a delivery and never answers is reported `timedOut: true` (the queue
   * then suspects the event). False where the receiver is a broker whose stall says nothing
   * about the event. @default true
   */
  stallIsTimeout?: boolean;
  /** The transport has `close()` (optional for transports that hold no connection). @default true */
  closes?: boolean;
}

/** Per-request timeout the suite asks for where a case waits it out, ms. */
export const SHORT_TIMEOUT_MS = 300;
/** Per-request timeout where only the caller's abort may end the attempt, ms. */
export const LONG_TIMEOUT_MS = 60_000;
/** How long an aborted attempt may take to end before the case calls it hung, ms. */
const HUNG_MS = 10_000;

/**
 * Registers the transport suite for `name`; `make(receiver, timeoutMs)` returns a fresh
 * transport with that per-request timeout, and the receiver it delivers to.
 */
export function transportConformance(
  name: string,
  make: (receiver: Receiver, timeoutMs: number) => Promise<TransportFixture>,
  options: TransportConformanceOptions = {},
): void {
  const { statuses = true, batches = "one-delivery", stallIsTimeout = true, closes = true } =
    options;
  const cases: {
    receiver: Receiver;
    timeoutMs: number;
    case: ConformanceCase<TransportFixture>;
  }[] = [
    ...deliveryCases(batches),
    ...(statuses ? [statusCase] : []),
    ...failureCases(stallIsTimeout),
    ...(closes ? [closeCase] : []),
  ];
  for (const c of cases) {
    registerCases("Transport", name, () => make(c.receiver, c.timeoutMs), [c.case], {
      knownGaps: Object.hasOwn(options.knownGaps ?? {}, c.case.name)
        ? { [c.case.name]: options.knownGaps![c.case.name] }
        : undefined,
    });
  }
  const names = new Set(cases.map((c) => c.case.name));
  for (const gap of Object.keys(options.knownGaps ?? {})) {
    if (!names.has(gap)) throw new TypeError(`knownGaps names no Transport case: ${gap}`);
  }
}

/** A MESSAGE_CREATE of shard `shardId` at sequence `s`, with non-ASCII text. */
export function outboundEvent(shardId: number, s: number): OutboundEvent {
  return {
    shardId,
    raw: JSON.stringify({ op: 0, t: "MESSAGE_CREATE", s, d: { content: `héllo ✓ ${s}` } }),
  };
}

/** The event as the bot reads it. */
function asRead(e: OutboundEvent): unknown {
  return {
    shardId: e.shardId,
    data: JSON.parse(e.raw),
    ...(e.deferred ? { deferred: true } : {}),
    ...(e.expired ? { expired: true } : {}),
  };
}

const accept: Receiver = { kind: "accept" };
const plain = (c: ConformanceCase<TransportFixture>) => ({
  receiver: accept,
  timeoutMs: 10_000,
  case: c,
});

function deliveryCases(batches: "one-delivery" | "per-event" | "none") {
  const out = [
    plain({
      name: "send() delivers {shardId, data, deferred?, expired?} and answers ok with a 2xx",
      async fn({ transport, received }) {
        const events = [outboundEvent(3, 1), {
          ...outboundEvent(3, 2),
          deferred: true,
          expired: true,
        }];
        for (const e of events) assertOk(await transport.send(e));
        assertEquals(await received(), events.map((e) => ({ batch: false, events: [asRead(e)] })));
      },
    }),
    plain({
      name: "sends arrive in the order they were made, per shard",
      async fn({ transport, received }) {
        const sent = Array.from({ length: 12 }, (_, i) => outboundEvent(i % 2, i + 1));
        for (const e of sent) assertOk(await transport.send(e));
        const got = (await received()).flatMap((d) => d.events);
        for (const shard of [0, 1]) {
          assertEquals(
            got.filter((e) => (e as OutboundEvent).shardId === shard),
            sent.filter((e) => e.shardId === shard).map(asRead),
          );
        }
      },
    }),
  ];
  if (batches === "none") return out;
  out.push(plain({
    name: batches === "one-delivery"
      ? "sendBatch() delivers one shard's events in order, as one delivery marked as a batch"
      : "sendBatch() delivers one shard's events in order, one delivery per event",
    async fn({ transport, received }) {
      assert(transport.sendBatch, 'the transport has no sendBatch (batches: "none")');
      const batch = [1, 2, 3, 4].map((s) => outboundEvent(5, s));
      batch[3] = { ...batch[3], deferred: true };
      assertOk(await transport.sendBatch(batch));
      assertOk(await transport.send(outboundEvent(5, 5)));
      const expected: Delivery[] = batches === "one-delivery"
        ? [{ batch: true, events: batch.map(asRead) }]
        : batch.map((e) => ({ batch: false, events: [asRead(e)] }));
      expected.push({ batch: false, events: [asRead(outboundEvent(5, 5))] });
      assertEquals(await received(), expected);
    },
  }));
  return out;
}

/** Status, and what a result must say about it. */
const STATUS_TABLE: [Answer, Partial<Extract<DeliveryResult, { ok: false }>>][] = [
  [{ status: 400, body: '{"message":"bad event"}' }, {
    verdict: "reject",
    body: '{"message":"bad event"}',
  }],
  [{ status: 413 }, { verdict: "reject" }],
  [{ status: 302, headers: { location: "http://elsewhere/" } }, { verdict: "unavailable" }],
  [{ status: 401 }, { verdict: "unavailable" }],
  [{ status: 403 }, { verdict: "unavailable" }],
  [{ status: 404 }, { verdict: "unavailable" }],
  [{ status: 405 }, { verdict: "unavailable" }],
  [{ status: 408 }, { verdict: "retry" }],
  [{ status: 429, headers: { "retry-after": "0.25" } }, { verdict: "retry", retryAfterMs: 250 }],
  [{ status: 500, body: "boom" }, { verdict: "retry", body: "boom" }],
  [{ status: 503, headers: { "retry-after": "2" } }, { verdict: "retry", retryAfterMs: 2000 }],
];

const statusCase = {
  receiver: {
    kind: "answers",
    // Each answer twice: once for send(), once for sendBatch().
    answers: STATUS_TABLE.flatMap(([a]) => [a, a]),
  } as Receiver,
  timeoutMs: 10_000,
  case: {
    name: "answers: other 4xx reject, 3xx/401/403/404/405 unavailable, 408/429/5xx retry, " +
      "with the status, Retry-After and the body's start",
    async fn({ transport }: TransportFixture) {
      for (const [answer, want] of STATUS_TABLE) {
        const results = [await transport.send(outboundEvent(0, 1))];
        if (transport.sendBatch) {
          results.push(await transport.sendBatch([outboundEvent(0, 1), outboundEvent(0, 2)]));
        }
        for (const result of results) {
          const failed = assertFailed(result, `HTTP ${answer.status}`);
          const seen = Object.fromEntries(
            Object.keys(want).map((k) => [k, failed[k as keyof typeof failed]]),
          );
          assertEquals({ status: failed.status, ...seen }, { status: answer.status, ...want });
          assert(failed.error.length > 0, "a failure says why");
        }
      }
    },
  },
};

function failureCases(stallIsTimeout: boolean) {
  return [
    {
      receiver: { kind: "refuse" } as Receiver,
      timeoutMs: 10_000,
      case: {
        name: "a refused connection is a retry, not a timeout, and nothing throws",
        async fn({ transport }: TransportFixture) {
          const results = [await transport.send(outboundEvent(0, 1))];
          if (transport.sendBatch) results.push(await transport.sendBatch([outboundEvent(0, 2)]));
          for (const r of results) {
            const failed = assertFailed(r, "refused");
            assertEquals([failed.verdict, failed.timedOut ?? false], ["retry", false]);
          }
        },
      },
    },
    {
      receiver: { kind: "stall" } as Receiver,
      timeoutMs: SHORT_TIMEOUT_MS,
      case: {
        name: stallIsTimeout
          ? "no answer within the timeout is a retry with timedOut: true"
          : "no answer within the timeout is a retry (timedOut is not claimed)",
        async fn({ transport }: TransportFixture) {
          const started = Date.now();
          const failed = assertFailed(await transport.send(outboundEvent(0, 1)), "stalled");
          const took = Date.now() - started;
          assertEquals([failed.verdict, failed.timedOut ?? false], ["retry", stallIsTimeout]);
          assert(took >= SHORT_TIMEOUT_MS - 5, `gave up after ${took} ms`);
        },
      },
    },
    {
      receiver: { kind: "stall" } as Receiver,
      timeoutMs: LONG_TIMEOUT_MS,
      case: {
        name: "the caller's signal ends an attempt the receiver does not answer, as a retry",
        async fn({ transport }: TransportFixture) {
          const stop = new AbortController();
          const sending = transport.send(outboundEvent(0, 1), stop.signal);
          // Let the attempt reach the receiver (or not): either way the abort must end it.
          await new Promise((r) => setTimeout(r, 50));
          stop.abort(new Error("deferral deadline"));
          const result = await hungAfter(sending, HUNG_MS);
          assertEquals(assertFailed(result, "aborted").verdict, "retry");
        },
      },
    },
    {
      receiver: accept,
      timeoutMs: 10_000,
      case: {
        name: "a send whose signal is already aborted fails as a retry",
        async fn({ transport }: TransportFixture) {
          const stop = new AbortController();
          stop.abort(new Error("stopping"));
          assertEquals(
            assertFailed(await transport.send(outboundEvent(0, 1), stop.signal), "pre-aborted")
              .verdict,
            "retry",
          );
        },
      },
    },
  ];
}

const closeCase = {
  receiver: accept,
  timeoutMs: 10_000,
  case: {
    name: "after close(), sends fail without throwing",
    async fn({ transport }: TransportFixture) {
      assert(transport.close, "the transport has no close() (closes: false)");
      assertOk(await transport.send(outboundEvent(0, 1)));
      transport.close();
      assertFailed(await transport.send(outboundEvent(0, 2)), "after close");
    },
  },
};

function assertOk(result: DeliveryResult): void {
  assert(result.ok && result.status >= 200 && result.status < 300, JSON.stringify(result));
}

function assertFailed(
  result: DeliveryResult,
  what: string,
): Extract<DeliveryResult, { ok: false }> {
  assert(!result.ok, `${what}: expected a failure, got ${JSON.stringify(result)}`);
  return result;
}

/** `p`, or a rejection saying it hung for `ms`: a liveness check, not a speed one. */
async function hungAfter<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`still running ${ms} ms after the abort`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
