/**
 * The delivery queue's surroundings as fakes that record into one ordered log: an event
 * handler whose behaviour the test sets, an interaction deferrer whose outcomes the test
 * releases, a dead-letter sink, and a journal wrapper. Each fake belongs to one queue
 * instance (one "process"); once the instance is dead (crashed or stopped) its transport,
 * deferrer and sink never answer again and its journal refuses every call.
 * @module
 */
import type {
  DeadLetterSink,
  DeferOutcome,
  InteractionDeferrer,
  Journal,
} from "../../src/delivery/mod.ts";
import type { DeliveryResult, OutboundEvent, Transport } from "../../src/transport/http.ts";

/** How the fake event handler answers. */
export type HandlerMode = "accept" | "flaky" | "fail500" | "refused" | "503" | "401" | "404";

/** Modes in which the handler takes no event at all (down, or unavailable). */
export const DOWN_MODES: ReadonlySet<string> = new Set<HandlerMode>([
  "fail500",
  "refused",
  "503",
  "401",
  "404",
]);

/** A deferral outcome the test chooses. */
export type DeferKind = DeferOutcome["kind"];

/** What a journal held at an instance's start, by key. */
export type Journaled = Map<
  string,
  { deferred: boolean; acknowledged: boolean; session?: string; s: number }
>;

/** One observation, in the order it happened. */
export type Entry =
  | { type: "send"; inst: number; key: string; deferred: boolean }
  | {
    type: "answer";
    inst: number;
    key: string;
    ok: boolean;
    mode: HandlerMode | "aborted";
    status?: number;
  }
  /** The queue asked to defer an interaction. */
  | { type: "defer"; inst: number; key: string }
  /** The fake deferrer resolved a deferral. */
  | { type: "outcome"; inst: number; key: string; kind: DeferKind }
  /** The queue's own reaction to that outcome has run (it knows the outcome from here on). */
  | { type: "seen"; inst: number; key: string; kind: DeferKind }
  | { type: "dead"; inst: number; key: string }
  /** A queue instance started; `journaled` is what the journal held then, by key. */
  | {
    type: "start";
    inst: number;
    journaled: Journaled;
    /** Shards that resume their session here: shard -> {session, seq}. */
    resumed: Map<number, { session: string; seq: number }>;
  };

/** One queue instance's liveness and its deferrals waiting for release. */
export interface Life {
  readonly id: number;
  alive: boolean;
  /** Deferrals resolve as soon as they are asked for (shutdown, final drain). */
  resolveAll: boolean;
  pending: { key: string; settle(): void }[];
}

/** Where the fakes look things up and write to. */
export interface FakeContext {
  log: Entry[];
  /** The handler's answer to one attempt at the event with this key. */
  answer(key: string): { result: DeliveryResult; mode: HandlerMode };
  /** The handler's one answer to a batch request holding these events, in order. */
  answerBatch(keys: string[]): { result: DeliveryResult; mode: HandlerMode };
  /** The handler's answer to the queue's HANDLER_CHECK_DD (any event that is neither poisoned nor bad). */
  check(): DeliveryResult;
  /** The handler's mode now. */
  mode(): HandlerMode;
  /** Answer delay, ms; 0 answers at once. */
  latencyMs(): number;
  /** The deferral outcome planned for an interaction, and the op after which it is released. */
  plan(key: string): { kind: DeferKind; atOp: number };
  /** The current op number (deferrals planned at or before it are released). */
  op(): number;
}

/**
 * The handler's answer in `mode` to an event that may be poisoned (always 500 while the
 * handler is up) or bad (400); `flakyFails` says whether a flaky handler fails this time.
 */
export function answerFor(
  mode: HandlerMode,
  event: { poison?: boolean; bad?: boolean },
  flakyFails: () => boolean,
): DeliveryResult {
  const fail = (verdict: "retry" | "unavailable", status?: number): DeliveryResult => ({
    ok: false,
    verdict,
    status,
    error: status === undefined ? "connection refused" : `HTTP ${status}`,
  });
  if (mode === "refused") return fail("retry");
  if (mode === "503") return fail("retry", 503);
  if (mode === "fail500") return fail("retry", 500);
  if (mode === "401") return fail("unavailable", 401);
  if (mode === "404") return fail("unavailable", 404);
  if (event.poison) return fail("retry", 500);
  if (event.bad) return { ok: false, verdict: "reject", status: 400, error: "HTTP 400" };
  if (mode === "flaky" && flakyFails()) return fail("retry", 500);
  return { ok: true, status: 200 };
}

/** Everything a journal holds, by key (read through its public interface), and keys held twice. */
export function readJournal(journal: Journal): { journaled: Journaled; twice: string[] } {
  const journaled: Journaled = new Map();
  const twice: string[] = [];
  for (const shardId of journal.stats().keys()) {
    for (const r of journal.read(shardId, 1_000_000)) {
      const key = keyOf(r.raw);
      if (journaled.has(key)) twice.push(key);
      journaled.set(key, {
        deferred: r.deferred === true,
        acknowledged: r.acknowledged === true,
        session: r.session,
        s: r.s,
      });
    }
  }
  return { journaled, twice };
}

/** The key a raw dispatch carries in `d.k`. */
export function keyOf(raw: string): string {
  return String(JSON.parse(raw).d.k);
}

/** Interaction ids are the dispatch key with a prefix, so replays keep the id. */
export const interactionId = (key: string) => `i:${key}`;
const keyOfInteraction = (id: string) => id.slice(2);

const never = <T>() => new Promise<T>(() => {});

/**
 * The fake handler behind a {@linkcode Transport}: `send` for one event, `sendBatch` for a
 * batch (one answer for all of it, logged for each of its events).
 */
export function fakeTransport(ctx: FakeContext, life: Life): Transport {
  /** Logs one answer per key and hands the result on. */
  const logged = (keys: string[], result: DeliveryResult, mode: HandlerMode): DeliveryResult => {
    for (const key of keys) {
      ctx.log.push({
        type: "answer",
        inst: life.id,
        key,
        ok: result.ok,
        mode,
        status: result.status,
      });
    }
    return result;
  };
  const respond = (key: string): DeliveryResult => {
    const { result, mode } = ctx.answer(key);
    return logged([key], result, mode);
  };
  const respondBatch = (keys: string[]): DeliveryResult => {
    const { result, mode } = ctx.answerBatch(keys);
    return logged(keys, result, mode);
  };
  const aborted = (keys: string[]): DeliveryResult => {
    for (const key of keys) {
      ctx.log.push({ type: "answer", inst: life.id, key, ok: false, mode: "aborted" });
    }
    return { ok: false, verdict: "retry", error: "aborted" };
  };
  const isCheck = (event: OutboundEvent) => event.raw.includes('"t":"HANDLER_CHECK_DD"');
  /** Not one of Discord's events: answered by the handler's mode, logged as an answer to
   * the key "check" (no dispatch has it), never counted as a delivery. */
  const check = (): Promise<DeliveryResult> => {
    const answer = () => logged(["check"], ctx.check(), ctx.mode());
    const latency = ctx.latencyMs();
    return latency === 0 ? Promise.resolve(answer()) : new Promise((resolve) =>
      setTimeout(() => {
        if (life.alive) resolve(answer());
      }, latency)
    );
  };
  /** Logs the sends, then answers after the handler's latency unless `signal` aborts first. */
  const deliver = (
    events: readonly OutboundEvent[],
    signal: AbortSignal | undefined,
    respondTo: (keys: string[]) => DeliveryResult,
  ): Promise<DeliveryResult> => {
    const keys = events.map((e) => keyOf(e.raw));
    events.forEach((e, i) =>
      ctx.log.push({ type: "send", inst: life.id, key: keys[i], deferred: e.deferred === true })
    );
    if (signal?.aborted) return Promise.resolve(aborted(keys));
    const latency = ctx.latencyMs();
    if (latency === 0) return Promise.resolve(respondTo(keys));
    return new Promise((resolve) => {
      const onAbort = () => {
        clearTimeout(timer);
        if (life.alive) resolve(aborted(keys));
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener("abort", onAbort);
        if (life.alive) resolve(respondTo(keys));
      }, latency);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  };
  return {
    send(event: OutboundEvent, signal?: AbortSignal): Promise<DeliveryResult> {
      if (!life.alive) return never();
      if (isCheck(event)) return check();
      return deliver([event], signal, ([key]) => respond(key));
    },
    sendBatch(events: readonly OutboundEvent[], signal?: AbortSignal): Promise<DeliveryResult> {
      if (!life.alive) return never();
      // The queue's check goes alone (in a batch of one while batching).
      if (events.some(isCheck)) return check();
      return deliver(events, signal, respondBatch);
    },
  };
}

/**
 * A promise that notes when a reaction attached to it has run: the queue reacts to a
 * deferral's outcome with `.then` (or `await`), and from then on it knows the outcome.
 */
class Observed<T> extends Promise<T> {
  onReaction?: () => void;
  static override get [Symbol.species](): PromiseConstructor {
    return Promise;
  }
  override then<A = T, B = never>(
    onFulfilled?: ((value: T) => A | PromiseLike<A>) | null,
    onRejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    const hook = this.onReaction;
    if (!onFulfilled || !hook) return super.then(onFulfilled, onRejected);
    return super.then((value) => {
      try {
        return onFulfilled(value);
      } finally {
        hook();
      }
    }, onRejected);
  }
}

/** The fake deferrer: outcomes as planned, released at the planned op. */
export function fakeDeferrer(ctx: FakeContext, life: Life): InteractionDeferrer {
  return {
    defer(info) {
      if (!life.alive) return never();
      const key = keyOfInteraction(info.id);
      ctx.log.push({ type: "defer", inst: life.id, key });
      const plan = ctx.plan(key);
      let resolve!: (outcome: DeferOutcome) => void;
      const promise = new Observed<DeferOutcome>((r) => resolve = r);
      let seen = false;
      const markSeen = () => {
        if (seen || !life.alive) return;
        seen = true;
        ctx.log.push({ type: "seen", inst: life.id, key, kind: plan.kind });
      };
      promise.onReaction = markSeen;
      const settle = () => {
        if (!life.alive) return;
        ctx.log.push({ type: "outcome", inst: life.id, key, kind: plan.kind });
        resolve(
          plan.kind === "deferred"
            ? { kind: "deferred", callbackType: 5 }
            : plan.kind === "already-acknowledged"
            ? { kind: "already-acknowledged" }
            : { kind: "failed", reason: "HTTP 503 (planned)" },
        );
        // Should the queue not react through `then`, a macrotask later it surely has.
        setTimeout(markSeen, 0);
      };
      if (life.resolveAll || plan.atOp <= ctx.op()) settle();
      else life.pending.push({ key, settle });
      return promise;
    },
  };
}

/** Releases the deferrals planned up to the current op (all of them with `resolveAll`). */
export function releaseDeferrals(ctx: FakeContext, life: Life): void {
  const due = life.pending.filter((p) => life.resolveAll || ctx.plan(p.key).atOp <= ctx.op());
  life.pending = life.pending.filter((p) => !due.includes(p));
  for (const p of due) p.settle();
}

/** The fake dead-letter sink. */
export function fakeDeadLetters(ctx: FakeContext, life: Life): DeadLetterSink {
  return {
    write(event) {
      if (!life.alive) return never();
      ctx.log.push({ type: "dead", inst: life.id, key: keyOf(event.raw) });
      return Promise.resolve();
    },
  };
}

/** The real journal, refusing every call once its instance is dead (the process is gone). */
export function mortalJournal(real: Journal, life: Life): Journal {
  return new Proxy(real, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        if (!life.alive) throw new Error("the process is gone");
        return value.apply(target, args);
      };
    },
  });
}
