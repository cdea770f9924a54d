/**
 * A small world around the delivery queue for model tests: the Discord side of
 * `delivery_discord.ts`, the fake handler and deferrer of `delivery_fakes.ts`, the
 * "sessions file", and crash, graceful stop and restart of the queue over one SQLite journal
 * file. It records what the checks need; it decides nothing itself (the scenario or the
 * test does).
 * @module
 */
import {
  createDeliveryQueue,
  createSqliteJournal,
  type DeliveryQueue,
  type DeliveryQueueOptions,
  type Journal,
  type QueuedEvent,
} from "../../src/delivery/mod.ts";
import { createLogger, silentLogger } from "../../src/log.ts";
import {
  type Dispatch,
  lostAtCrash,
  newSession,
  nextDispatch,
  replayOf,
  type Shard,
  type ShardState,
} from "./delivery_discord.ts";
import {
  answerFor,
  type DeferKind,
  type Entry,
  type FakeContext,
  fakeDeadLetters,
  fakeDeferrer,
  fakeTransport,
  type HandlerMode,
  type Journaled,
  type Life,
  mortalJournal,
  readJournal,
  releaseDeferrals,
} from "./delivery_fakes.ts";
import { createRng } from "./prng.ts";
import type { DeliveryResult } from "../../src/transport/http.ts";

/** Queue options a scenario varies per instance. */
export type QueueKnobs =
  & Pick<DeliveryQueueOptions, "maxEvents" | "maxBytes" | "readBatch" | "deferAfterMs" | "batch">
  & { poisonAfterAttempts?: number };

/** Options of {@linkcode World}. */
export interface WorldOptions {
  /** Seeds the handler's coin flips (flaky mode). */
  seed: number;
  /** Adds the queue's debug log to the trace. @default false */
  verbose?: boolean;
  /**
   * Discord's replay of a resumed session includes its earlier READY and RESUMED dispatches
   * (they carry a seq; the project's simulator buffers and replays them). @default true
   */
  replayMarkers?: boolean;
}

interface Instance {
  life: Life;
  queue: DeliveryQueue;
  journal: Journal;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The world; see the module doc. */
export class World {
  readonly log: Entry[] = [];
  readonly trace: string[] = [];
  readonly dispatches = new Map<string, Dispatch>();
  /** Keys the proxy received at least once. */
  readonly received = new Set<string>();
  /** Keys answered 2xx at least once. */
  readonly delivered = new Set<string>();
  /** Keys legitimately lost in a crash, with why. */
  readonly exempt = new Map<string, string>();
  /** Problems seen while running (the checks add the rest). */
  readonly problems: string[] = [];
  /** Shards whose lane did not empty in {@linkcode drain}: their undelivered events are not "lost". */
  readonly undrained = new Set<number>();
  readonly shards = new Map<number, Shard>();
  /** The sessions file: shard -> the session and seq saved last. */
  readonly saved = new Map<number, { session: string; seq: number }>();
  /** Highest seq ever saved per `shard/session`: every dispatch up to it is durable. */
  readonly promised = new Map<string, number>();
  mode: HandlerMode = "accept";
  latencyMs = 0;
  /** Decides an answer before the mode does (fixed examples); `undefined` = use the mode. */
  override?: (d: Dispatch) => HandlerMode | undefined;
  op = 0;
  readonly #plans = new Map<string, { kind: DeferKind; atOp: number }>();
  readonly #flakyFailed = new Set<string>();
  readonly #coin: () => number;
  readonly #ctx: FakeContext;
  readonly #verbose: boolean;
  readonly #markers: boolean;
  #inst?: Instance;
  /** Events per request of the running instance (1: no batching). */
  #batchMax = 1;
  #restarts = 0;
  #answers = 0;

  constructor(readonly path: string, options: WorldOptions) {
    this.#verbose = options.verbose ?? false;
    this.#markers = options.replayMarkers ?? true;
    // The handler's coin flips use their own generator: how many there are depends on timing.
    this.#coin = createRng(options.seed ^ 0x5bd1e995).next;
    this.#ctx = {
      log: this.log,
      answer: (key) => this.#answer(key),
      answerBatch: (keys) => this.#answerBatch(keys),
      check: () => answerFor(this.override ? "accept" : this.mode, {}, () => this.#coin() < 0.3),
      mode: () => this.override ? "accept" : this.mode,
      latencyMs: () => this.latencyMs,
      plan: (key) => this.#plans.get(key) ?? { kind: "failed", atOp: 0 },
      op: () => this.op,
    };
  }

  get queue(): DeliveryQueue {
    if (!this.#inst) throw new Error("no queue started");
    return this.#inst.queue;
  }

  /** Ids of shards in a state. */
  shardsIn(...states: ShardState[]): number[] {
    return [...this.shards.values()].filter((s) => states.includes(s.state)).map((s) => s.id);
  }

  note(line: string): void {
    this.trace.push(`#${this.op} ${line}`);
  }

  /** Starts the first queue instance (an empty journal file). */
  start(knobs: QueueKnobs): void {
    this.#inst = this.#open(knobs, new Map(), this.#openJournal());
  }

  /** A new session on the shard (first connect or re-identify): READY comes first. */
  identify(shardId: number): void {
    let shard = this.shards.get(shardId);
    if (!shard) {
      shard = { id: shardId, sessions: [], state: "live", resumeFrom: 0, poisonNext: false };
      this.shards.set(shardId, shard);
    }
    const session = newSession(shard);
    shard.state = "live";
    this.note(`identify shard ${shardId}: session ${session.id}`);
    this.#send(shard, "READY");
  }

  /**
   * Discord sends one dispatch on the shard's session: to the queue when the shard is live,
   * into the session's replay while it is resuming, nowhere while it identifies afresh.
   */
  push(
    shardId: number,
    kind: "message" | "interaction" | "bad",
    plan?: { kind: DeferKind; atOp: number },
  ): Dispatch | undefined {
    const shard = this.shards.get(shardId);
    if (!shard?.current || shard.state === "identifying") return undefined;
    if (kind === "interaction") return this.#send(shard, "INTERACTION_CREATE", { plan });
    const poison = kind === "message" && shard.poisonNext;
    if (poison) shard.poisonNext = false;
    return this.#send(shard, "MESSAGE_CREATE", { poison, bad: kind === "bad" });
  }

  /** Writes the sessions file as the service does: live shards, seq from `resumeSeq`. */
  save(): void {
    const parts: string[] = [];
    for (const shard of this.shards.values()) {
      const session = shard.current;
      // A shard still reconnecting keeps the record it has.
      if (shard.state !== "live" || !session) continue;
      const seq = this.queue.resumeSeq(shard.id, session.id, session.lastS);
      if (!(Number.isInteger(seq) && seq >= 0 && seq <= session.lastS)) {
        this.problems.push(
          `[resumeSeq] resumeSeq(${shard.id}, ${session.id}, ${session.lastS}) = ${seq}`,
        );
        continue;
      }
      this.saved.set(shard.id, { session: session.id, seq });
      const promiseKey = `${shard.id}/${session.id}`;
      this.promised.set(promiseKey, Math.max(seq, this.promised.get(promiseKey) ?? 0));
      parts.push(`${session.id}@${seq}/${session.lastS}`);
    }
    this.note(`save sessions: ${parts.join(" ") || "(none)"}`);
  }

  /**
   * Ends the running instance and starts the next over the same journal file. `crash`: the
   * old one stops dead (nothing more reaches the journal, the handler or the deferrer);
   * `stop`: idle(small), close(), then the sessions are saved, as the service stops.
   * Shards then reconnect (see {@linkcode connect}): a shard whose saved session is its
   * current one resumes it, the others identify afresh.
   */
  async restart(kind: "crash" | "stop", knobs: QueueKnobs): Promise<void> {
    const old = this.#inst!;
    this.#restarts++;
    if (kind === "stop") {
      await old.queue.idle(2);
      const closing = old.queue.close().then(() => true, () => true);
      old.life.resolveAll = true;
      releaseDeferrals(this.#ctx, old.life);
      const closed = await Promise.race([closing, sleep(2000).then(() => false)]);
      if (!closed) this.problems.push(`[close] close() did not finish within 2 s`);
      this.save();
    }
    this.#kill(old, kind === "crash");
    const opened = this.#openJournal();
    const resumed = new Map<number, { session: string; seq: number }>();
    for (const shard of this.shards.values()) {
      const stored = this.saved.get(shard.id);
      const resumes = stored !== undefined && stored.session === shard.current?.id;
      if (resumes) resumed.set(shard.id, stored);
      shard.state = resumes ? "resuming" : "identifying";
      shard.resumeFrom = stored?.seq ?? 0;
      if (kind === "stop") continue;
      const lost = lostAtCrash(
        shard,
        resumes,
        this.#markers,
        (session) => this.promised.get(`${shard.id}/${session}`) ?? 0,
        (d) =>
          !this.received.has(d.key) || this.delivered.has(d.key) ||
          opened.journaled.has(d.key) || this.exempt.has(d.key),
      );
      for (const d of lost) {
        this.exempt.set(
          d.key,
          `crash ${this.#restarts}: session not resumed; neither delivered nor journaled`,
        );
      }
    }
    this.#inst = this.#open(knobs, resumed, opened);
    this.note(
      `${kind} -> instance ${this.#inst.life.id}, journal held ${opened.journaled.size}, resuming ${
        [...this.saved].map(([id, r]) => `${id}:${r.session}`).join(" ") || "(none)"
      }`,
    );
  }

  /** A reconnecting shard connects: the replay and RESUMED, or a new session and READY. */
  connect(shardId: number): void {
    const shard = this.shards.get(shardId)!;
    if (shard.state === "identifying") return this.identify(shardId);
    if (shard.state !== "resuming") return;
    shard.state = "live";
    const replay = replayOf(shard, this.#markers);
    this.note(
      `resume shard ${shardId} ${shard.current!.id} from ${shard.resumeFrom}: replay ${
        replay.map((d) => d.s).join(",") || "(none)"
      }`,
    );
    for (const d of replay) this.#toQueue(d);
    this.#send(shard, "RESUMED");
  }

  /** Releases the deferrals planned up to the current op. */
  releaseDue(): void {
    if (this.#inst) releaseDeferrals(this.#ctx, this.#inst.life);
  }

  /** Releases one interaction's deferral now (fixed examples). */
  releaseDeferral(key: string): void {
    const plan = this.#plans.get(key);
    if (plan) plan.atOp = -1;
    this.releaseDue();
  }

  /** Waits until `answers` more answers came, the queue is empty, or `boundMs` passed. */
  async settle(answers: number, boundMs: number): Promise<void> {
    const target = this.#answers + answers;
    await this.until(() => this.#answers >= target || this.#empty(), boundMs);
  }

  /** Waits (bounded) until `predicate` holds; false if it never did. */
  async until(predicate: () => boolean, boundMs = 2000): Promise<boolean> {
    const deadline = Date.now() + boundMs;
    while (!predicate()) {
      if (Date.now() > deadline) return false;
      await sleep(1);
    }
    return true;
  }

  /**
   * The end: every shard connects, the handler heals (a poisoned event stays poisoned),
   * every deferral is released, and every lane must empty within `boundMs`. A lane that
   * keeps failing a poisoned head instead is reported as soon as that is plain (after
   * `stuckAttempts` attempts at it; if nothing is behind it, once more after Discord sent
   * one more event there), and the other lanes still must empty.
   */
  async drain(boundMs: number, stuckAttempts = 25): Promise<void> {
    // A poisoned event in a batch fails as part of it until the batch is found poisoned, then
    // about twice per halving, before the one-event rules count its own failures.
    if (this.#batchMax > 1) stuckAttempts += 25 + 2 * Math.ceil(Math.log2(this.#batchMax));
    this.op = Number.MAX_SAFE_INTEGER;
    for (const id of this.shardsIn("resuming", "identifying")) this.connect(id);
    this.mode = "accept";
    this.latencyMs = 0;
    this.override = undefined;
    const life = this.#inst!.life;
    life.resolveAll = true;
    releaseDeferrals(this.#ctx, life);
    this.note("drain: handler healed, deferrals released");
    const deadline = Date.now() + boundMs;
    const attempts = new Map<string, number>();
    const nudged = new Set<string>();
    for (let seen = this.log.length;; await sleep(2)) {
      for (; seen < this.log.length; seen++) {
        const e = this.log[seen];
        if (e.type !== "answer" || !this.dispatches.get(e.key)?.poison) continue;
        const n = (attempts.get(e.key) ?? 0) + 1;
        attempts.set(e.key, n);
        const shardId = this.dispatches.get(e.key)!.shardId;
        if (n < stuckAttempts || this.undrained.has(shardId)) continue;
        const depth = this.queue.depth(shardId);
        if (depth.memory + depth.disk === 1 && !nudged.has(e.key)) {
          // Nothing behind it and nothing else flowing proves the handler up: Discord sends on.
          nudged.add(e.key);
          attempts.set(e.key, 0);
          this.push(shardId, "message");
          continue;
        }
        this.undrained.add(shardId);
        this.problems.push(
          `[poison-blocks] poisoned ${e.key} failed ${n} attempts after the handler healed and still blocks shard ${shardId} (${
            depth.memory + depth.disk - 1
          } events behind it)`,
        );
      }
      const waiting = [...this.shards.keys()].filter((id) => {
        const depth = this.queue.depth(id);
        return !this.undrained.has(id) && depth.memory + depth.disk > 0;
      });
      if (waiting.length === 0) break;
      if (Date.now() > deadline) {
        for (const id of waiting) this.undrained.add(id);
        const d = this.queue.depth();
        this.problems.push(
          `[stuck] shard ${
            waiting.join(", ")
          } did not empty within ${boundMs} ms of healing: memory ${d.memory}, disk ${d.disk}`,
        );
        break;
      }
    }
    // Dead-letter writes and deferral reactions finish on the next turns.
    await sleep(1);
  }

  /** Closes the last instance (bounded) and its journal. */
  async close(): Promise<void> {
    const inst = this.#inst;
    if (!inst?.life.alive) return;
    inst.life.resolveAll = true;
    releaseDeferrals(this.#ctx, inst.life);
    await Promise.race([inst.queue.close().catch(() => {}), sleep(500)]);
    this.#kill(inst, false);
  }

  #empty(): boolean {
    const d = this.queue.depth();
    return d.memory + d.disk === 0;
  }

  /** Discord sends the shard's next dispatch: to the queue if the shard is live. */
  #send(
    shard: Shard,
    t: string,
    extra: { plan?: { kind: DeferKind; atOp: number }; poison?: boolean; bad?: boolean } = {},
  ): Dispatch {
    const d = nextDispatch(shard, t, { ...extra, sentAt: this.log.length });
    this.dispatches.set(d.key, d);
    if (d.interaction) this.#plans.set(d.key, extra.plan ?? { kind: "failed", atOp: 0 });
    const flags = [
      d.poison && "poison",
      d.bad && "bad",
      extra.plan && `defer:${extra.plan.kind}@${extra.plan.atOp}`,
    ].filter(Boolean).join(" ");
    this.note(
      `${shard.state === "live" ? "push" : "discord buffers"} ${d.key} ${t}${
        flags ? ` (${flags})` : ""
      }`,
    );
    if (shard.state === "live") this.#toQueue(d);
    return d;
  }

  #toQueue(d: Dispatch): void {
    const event: QueuedEvent = {
      shardId: d.shardId,
      raw: d.raw,
      t: d.t,
      s: d.s,
      session: d.session,
      receivedAt: Date.now(),
    };
    if (d.interaction) event.interaction = { ...d.interaction };
    this.received.add(d.key);
    try {
      // What the service does: it tells the queue about sessions, the queue does not read `t`.
      if (d.t === "READY" || d.t === "RESUMED") {
        this.queue.sessionStarted(d.shardId, d.session, d.t === "READY" ? "ready" : "resumed", d.s);
      }
      this.queue.push(event);
    } catch (error) {
      this.problems.push(`[push] push(${d.key}) threw: ${error}`);
    }
  }

  #answer(key: string) {
    const d = this.dispatches.get(key)!;
    const mode = this.override?.(d) ?? this.mode;
    // Flaky, but never twice in a row for one event: that would look like poison.
    const result = answerFor(mode, d, () => !this.#flakyFailed.has(key) && this.#coin() < 0.3);
    if (result.ok) this.delivered.add(key);
    if (mode === "flaky" && !result.ok && !d.poison && !d.bad) this.#flakyFailed.add(key);
    else this.#flakyFailed.delete(key);
    this.#answers++;
    return { result, mode };
  }

  /**
   * One answer to a batch: the first of its events that the handler's mode (or the poison
   * or bad flag) fails decides it; a flaky handler flips one coin per request, and never fails
   * a request holding an event that failed so just before. 2xx delivers all of them.
   */
  #answerBatch(keys: string[]) {
    const ds = keys.map((key) => this.dispatches.get(key)!);
    const modes = ds.map((d) => this.override?.(d) ?? this.mode);
    let result: DeliveryResult = { ok: true, status: 200 };
    let mode = modes[0];
    for (let i = 0; i < ds.length && result.ok; i++) {
      result = answerFor(modes[i], ds[i], () => false);
      mode = modes[i];
    }
    const flaky = result.ok && modes.includes("flaky") &&
      !keys.some((key) => this.#flakyFailed.has(key)) && this.#coin() < 0.3;
    if (flaky) {
      result = { ok: false, verdict: "retry", status: 500, error: "HTTP 500" };
      mode = "flaky";
    }
    for (const key of keys) {
      if (result.ok) this.delivered.add(key);
      if (flaky) this.#flakyFailed.add(key);
      else this.#flakyFailed.delete(key);
    }
    this.#answers += keys.length;
    return { result, mode };
  }

  #openJournal(): { journal: Journal; journaled: Journaled } {
    const journal = createSqliteJournal({ path: this.path });
    const { journaled, twice } = readJournal(journal);
    if (twice.length > 0) this.note(`the journal holds ${twice.join(", ")} twice`);
    return { journal, journaled };
  }

  #open(
    knobs: QueueKnobs,
    resumed: Map<number, { session: string; seq: number }>,
    { journal, journaled }: { journal: Journal; journaled: Journaled },
  ): Instance {
    const life: Life = { id: this.#restarts + 1, alive: true, resolveAll: false, pending: [] };
    this.log.push({ type: "start", inst: life.id, journaled, resumed });
    const options: DeliveryQueueOptions & { poisonAfterAttempts?: number } = {
      transport: fakeTransport(this.#ctx, life),
      logger: this.#verbose
        ? createLogger({
          level: "debug",
          write: (_level, line) => this.trace.push(`    [queue ${life.id}] ${line}`),
        })
        : silentLogger,
      journal: mortalJournal(journal, life),
      deadLetters: fakeDeadLetters(this.#ctx, life),
      deferrer: fakeDeferrer(this.#ctx, life),
      retry: { baseMs: 1, maxMs: 2 },
      replayHoldMs: 10_000,
      resuming: new Map([...this.saved].map(([id, r]) => [id, r.session])),
      ...knobs,
    };
    this.#batchMax = knobs.batch?.maxEvents ?? 1;
    this.note(`start instance ${life.id}: ${JSON.stringify(knobs)}`);
    return { life, queue: createDeliveryQueue(options), journal };
  }

  #kill(inst: Instance, crashed: boolean): void {
    inst.life.alive = false;
    inst.life.pending = [];
    try {
      inst.journal.close();
    } catch { /* already closed */ }
    // The dead queue's timers would fire into the void; closing clears most of them. Its
    // calls reach nothing now (see delivery_fakes.ts), so this changes nothing observable.
    if (crashed) inst.queue.close().catch(() => {});
  }
}
