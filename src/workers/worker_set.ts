/**
 * A shard set whose shards run on worker threads: each worker holds a contiguous range of
 * the set (sockets, decoding, shaping) and sends shaped events to this thread, where the
 * delivery queue, the journal and the transport stay. Behind the same {@linkcode ShardSet}
 * the service uses for shards in this thread.
 * Over 400 lines: the main thread's side of the worker protocol (launch, crash, heartbeat, commands, leases) is one state machine per worker.
 * @module
 */
import { bump, type DeliveryCounters } from "../counters.ts";
import {
  classifyClose,
  FatalGatewayError,
  type GatewayCommand,
  type IdentifyTicket,
  type SessionRecord,
  type ShardGroup,
  type ShardReport,
  type ShardSession,
  ShardUnavailableError,
} from "../gateway/mod.ts";
import type { ShardGuildFacts } from "../shaping/guilds.ts";
import type { Shaper } from "../shaping/mod.ts";
import type { SetMode, ShardSet, ShardSetBaseOptions } from "../shard_set.ts";
import type { FromWorker, ToWorker, WorkerSnapshot } from "./protocol.ts";

/** One worker as status and metrics show it. */
export interface WorkerInfo {
  index: number;
  firstShardId: number;
  lastShardId: number;
  state: "starting" | "running" | "restarting";
  restarts: number;
  /** Epoch ms of the last crash or hang. */
  lastCrashAt: number | null;
  lastCrash: string | null;
  /** Dispatches it sent over, in all. */
  events: number;
  heapUsed: number;
}

/** Options of {@linkcode createWorkerShardSet}. */
export interface WorkerShardSetOptions extends ShardSetBaseOptions {
  /** Workers for this set; the shards are split evenly and contiguously. */
  workers: number;
  /** Decides which worker runs which shards (`tellWorkerToIdentify`'s job): ranges, in order. */
  assign?: (first: number, last: number, workers: number) => [number, number][];
  /** Where the workers' shaping drops are added up. */
  counters?: Pick<DeliveryCounters, "droppedByRule">;
  /** The sequence a restarted worker's shards resume from (never past what is delivered or journaled). */
  resumeSeq(shardId: number, session: string, lastSeq: number): number;
  /** Ping period between threads, ms. @default 1000 */
  heartbeatMs?: number;
  /** A worker that answers no ping for this long is restarted, ms. @default 10000 */
  heartbeatTimeoutMs?: number;
  /** @default the module next to this one */
  workerUrl?: URL;
}

/** Even, contiguous ranges: the first `n % k` workers get one shard more. */
export function assignContiguous(first: number, last: number, workers: number): [number, number][] {
  const n = last - first + 1;
  const k = Math.max(1, Math.min(workers, n));
  const out: [number, number][] = [];
  let at = first;
  for (let i = 0; i < k; i++) {
    const size = Math.floor(n / k) + (i < n % k ? 1 : 0);
    out.push([at, at + size - 1]);
    at += size;
  }
  return out;
}

interface Handle {
  index: number;
  first: number;
  last: number;
  worker?: Worker;
  snapshot?: WorkerSnapshot;
  state: WorkerInfo["state"];
  restarts: number;
  /** Crashes since it last ran a minute without one. */
  streak: number;
  startedAt: number;
  lastCrashAt: number | null;
  lastCrash: string | null;
  events: number;
  lastPong: number;
  pending: Map<number, { resolve(session?: ShardSession): void; reject(error: Error): void }>;
  /** The shards of its range it runs (all of them, unless a cluster's leases say otherwise). */
  owned: Set<number>;
  /** Sessions of shards added while it was (re)starting, for when it is ready. */
  added: Map<number, SessionRecord>;
  /** The shards its current worker was started with. */
  startedWith: Set<number>;
  tickets: Map<number, IdentifyTicket>;
  spawned: boolean;
  /** Drops by rule the current worker reported last (a restarted worker counts from 0). */
  dropped: Map<string, number>;
}

/** Creates a {@linkcode ShardSet} on worker threads; its shards connect on `group.spawn()`. */
export function createWorkerShardSet(
  options: WorkerShardSetOptions,
): ShardSet & { workers(): WorkerInfo[] } {
  const { totalShards, firstShardId, lastShardId, logger } = options;
  const heartbeatMs = options.heartbeatMs ?? 1000;
  const heartbeatTimeoutMs = options.heartbeatTimeoutMs ?? 10_000;
  const url = options.workerUrl ?? new URL("./worker_main.ts", import.meta.url);
  const log = logger.with({ component: "workers", totalShards });
  const abort = new AbortController();
  const downSince = new Map<number, number>();
  const initial = new Set<number>();
  if (options.shardIds) {
    for (const id of options.shardIds) initial.add(id);
  } else {
    for (let id = firstShardId; id <= lastShardId; id++) initial.add(id);
  }
  for (const id of initial) downSince.set(id, Date.now());
  const ranges = (options.assign ?? assignContiguous)(firstShardId, lastShardId, options.workers);
  let mode = options.mode;
  let stopped = false;
  let nextId = 1;
  const handles: Handle[] = ranges.map(([first, last], index) => ({
    index,
    first,
    last,
    state: "starting",
    restarts: 0,
    streak: 0,
    startedAt: 0,
    lastCrashAt: null,
    lastCrash: null,
    events: 0,
    lastPong: Date.now(),
    pending: new Map(),
    tickets: new Map(),
    spawned: false,
    dropped: new Map(),
    owned: new Set([...initial].filter((id) => id >= first && id <= last)),
    added: new Map(),
    startedWith: new Set(),
  }));
  const handleOf = (shardId: number) =>
    handles.find((h) => shardId >= h.first && shardId <= h.last);

  const post = (h: Handle, message: ToWorker) => h.worker?.postMessage(message);

  const request = (
    h: Handle,
    message: ToWorker & { id: number },
  ): Promise<ShardSession | undefined> =>
    new Promise((resolve, reject) => {
      if (!h.worker || h.state !== "running") {
        reject(new ShardUnavailableError(-1, "not-connected", "its worker is restarting"));
        return;
      }
      h.pending.set(message.id, { resolve, reject });
      post(h, message);
    });

  const sessionsOf = (h: Handle, stored?: ReadonlyMap<number, SessionRecord>): SessionRecord[] => {
    if (stored) {
      return [...stored.values()].filter((r) => h.owned.has(r.shardId));
    }
    // After a crash: what the worker last reported, held back to what is safe to resume from.
    const reported = (h.snapshot?.sessions ?? []).filter((s) => h.owned.has(s.shardId));
    const later = [...h.added.values()].filter((r) => h.owned.has(r.shardId));
    return [
      ...later,
      ...reported.filter((s) => !h.added.has(s.shardId)).map((s: ShardSession) => ({
        shardId: s.shardId,
        sessionId: s.sessionId,
        resumeGatewayUrl: s.resumeGatewayUrl,
        totalShards: s.totalShards,
        seq: options.resumeSeq(s.shardId, s.sessionId, s.lastSeq),
        savedAt: Date.now(),
      })),
    ];
  };

  /** Tells a worker until when each of its shards' leases is trusted (a cluster on Redis). */
  const postFence = (h: Handle) => {
    if (!options.leaseUntil || h.state !== "running") return;
    post(h, {
      type: "fence",
      until: [...h.owned].map((id) => [id, options.leaseUntil!(id)] as [number, number]),
    });
  };
  // Every quarter second: a shard the main thread stopped trusting stops connecting in its worker.
  const fenceTimer = options.leaseUntil
    ? setInterval(() => handles.forEach(postFence), 250)
    : undefined;

  const onMessage = (h: Handle, m: FromWorker) => {
    switch (m.type) {
      case "ready":
        h.state = "running";
        h.startedAt = Date.now();
        h.lastPong = Date.now();
        postFence(h);
        if (h.spawned) post(h, { type: "spawn" });
        // Shards leased while the worker was starting: start them now.
        for (const id of h.owned) {
          if (!h.startedWith.has(id)) {
            post(h, { type: "add", id: nextId++, shardId: id, stored: h.added.get(id) });
          }
        }
        h.added.clear();
        return;
      case "events":
        h.events += m.events.length;
        for (const event of m.events) {
          const facts = event.facts;
          if (facts) {
            delete event.facts;
            if (!options.admit(set, facts, event)) continue;
          }
          options.push(event);
        }
        return;
      case "shard-event":
        if (m.event === "disconnected" && !downSince.has(m.shardId)) {
          downSince.set(m.shardId, Date.now());
        }
        if (m.event === "ready" || m.event === "resumed") downSince.delete(m.shardId);
        options.onShardEvent?.(m.shardId, m.event, m.detail);
        return;
      case "fatal":
        options.onFatal(new FatalGatewayError(m.shardId, m.code, classifyClose(m.code).reason));
        return;
      case "identify": {
        const asker = h.worker;
        options.identifyQueue.wait(m.shardId, abort.signal).then((ticket) => {
          // The worker that asked is gone: free the bucket rather than hold it for a dead ask.
          if (h.worker !== asker) return ticket.sent();
          h.tickets.set(m.id, ticket);
          post(h, { type: "granted", id: m.id });
        }, () => {});
        return;
      }
      case "identify-sent":
        h.tickets.get(m.id)?.sent();
        h.tickets.delete(m.id);
        return;
      case "snapshot": {
        // Drops are counted in the worker; add what is new since its last snapshot.
        for (const [rule, n] of m.snapshot.droppedByRule) {
          const delta = n - (h.dropped.get(rule) ?? 0);
          if (delta > 0 && options.counters) bump(options.counters.droppedByRule, rule, delta);
          h.dropped.set(rule, n);
        }
        h.snapshot = m.snapshot;
        return;
      }
      case "reply": {
        const p = h.pending.get(m.id);
        h.pending.delete(m.id);
        if (!p) return;
        if (!m.error) p.resolve(m.session);
        else if (m.error.kind === "other") p.reject(new Error(m.error.message));
        else p.reject(new ShardUnavailableError(-1, m.error.kind, m.error.message));
        return;
      }
      case "pong":
        h.lastPong = Date.now();
        return;
    }
  };

  const launch = (h: Handle, stored?: ReadonlyMap<number, SessionRecord>) => {
    const worker = new Worker(url, { type: "module" });
    h.worker = worker;
    h.dropped = new Map();
    h.state = "starting";
    h.lastPong = Date.now();
    worker.onmessage = (e: MessageEvent<FromWorker>) => {
      if (h.worker === worker) onMessage(h, e.data);
    };
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      if (h.worker === worker) crashed(h, e.message || "the worker threw");
    };
    worker.postMessage(
      {
        type: "start",
        config: options.config,
        info: options.info,
        totalShards,
        firstShardId: h.first,
        lastShardId: h.last,
        sessions: sessionsOf(h, stored),
        presence: options.presence?.(),
        mode,
        shardIds: [...(h.startedWith = new Set(h.owned))],
        fenced: options.leaseUntil !== undefined,
      } satisfies ToWorker,
    );
  };

  const crashed = (h: Handle, why: string) => {
    if (stopped) return;
    h.worker?.terminate();
    h.worker = undefined;
    h.state = "restarting";
    h.restarts++;
    h.lastCrash = why;
    h.lastCrashAt = Date.now();
    if (Date.now() - h.startedAt > 60_000) h.streak = 0;
    h.streak++;
    for (const p of h.pending.values()) {
      p.reject(new ShardUnavailableError(-1, "not-connected", "its worker is restarting"));
    }
    h.pending.clear();
    // Granted identifies it may or may not have sent: the bucket is spaced from now.
    for (const ticket of h.tickets.values()) ticket.sent();
    h.tickets.clear();
    for (const id of h.owned) {
      if (!downSince.has(id)) downSince.set(id, Date.now());
      options.onShardEvent?.(id, "disconnected", { code: 1006 });
    }
    // A worker that keeps crashing backs off, up to 30 s between tries.
    const wait = Math.min(30_000, 1000 * 2 ** (h.streak - 1));
    log.error("a shard worker crashed; restarting it, its shards resume", {
      worker: h.index,
      shards: `${h.first}-${h.last}`,
      reason: why,
      restarts: h.restarts,
      retryInMs: wait,
    });
    const timer = setTimeout(() => {
      if (!stopped) launch(h);
    }, wait);
    abort.signal.addEventListener("abort", () => clearTimeout(timer), { once: true });
  };

  const heartbeat = setInterval(() => {
    for (const h of handles) {
      if (h.state !== "running" || !h.worker) continue;
      if (Date.now() - h.lastPong > heartbeatTimeoutMs) {
        crashed(h, `no answer between threads for ${heartbeatTimeoutMs} ms`);
        continue;
      }
      post(h, { type: "ping", id: nextId++ });
    }
  }, heartbeatMs);

  const health = (): Map<number, ShardGuildFacts> => {
    const out = new Map<number, ShardGuildFacts>();
    for (const h of handles) for (const [id, f] of h.snapshot?.health ?? []) out.set(id, f);
    return out;
  };

  const group: ShardGroup = {
    totalShards,
    firstShardId,
    lastShardId,
    shardIds: () => handles.flatMap((h) => [...h.owned]).sort((a, b) => a - b),
    async add(shardId, stored) {
      const h = handleOf(shardId);
      if (!h) throw new RangeError(`shard ${shardId} is outside ${firstShardId}-${lastShardId}`);
      if (h.owned.has(shardId)) return;
      h.owned.add(shardId);
      downSince.set(shardId, Date.now());
      if (h.state !== "running") {
        // Started with the worker's next start.
        if (stored) h.added.set(shardId, stored);
        return;
      }
      postFence(h);
      await request(h, { type: "add", id: nextId++, shardId, stored });
    },
    async remove(shardId, code, reason) {
      const h = handleOf(shardId);
      if (!h || !h.owned.delete(shardId)) return undefined;
      downSince.delete(shardId);
      h.added.delete(shardId);
      if (h.state === "running") {
        return await request(h, { type: "remove", id: nextId++, shardId, code, reason })
          .catch(() => undefined);
      }
      const s = h.snapshot?.sessions.find((x) => x.shardId === shardId);
      return s && { ...s, lastSeq: options.resumeSeq(s.shardId, s.sessionId, s.lastSeq) };
    },
    spawn() {
      for (const h of handles) {
        h.spawned = true;
        if (h.state === "running") post(h, { type: "spawn" });
      }
      return Promise.resolve();
    },
    async stop(code, reason) {
      stopped = true;
      clearInterval(heartbeat);
      clearInterval(fenceTimer);
      abort.abort();
      await Promise.all(handles.map(async (h) => {
        if (h.worker && h.state === "running") {
          const done = request(h, { type: "stop", id: nextId++, code, reason }).catch(() => {});
          // Closing sockets takes a close frame's round trip; a hung worker gets 10 s.
          await Promise.race([done, new Promise((r) => setTimeout(r, 10_000))]);
        }
        h.worker?.terminate();
        h.worker = undefined;
      }));
    },
    status() {
      const out: ShardReport[] = [];
      for (const h of handles) {
        const reports = new Map(h.snapshot?.reports.map((r) => [r.shardId, r]));
        for (const id of [...h.owned].sort((a, b) => a - b)) {
          const r = reports.get(id);
          out.push(
            r && h.state === "running" ? r : {
              shardId: id,
              totalShards,
              state: h.state === "running" ? "identifying" : "disconnected",
              latencyMs: null,
              sessionId: r?.sessionId ?? null,
              commandLimit: 0,
            },
          );
        }
      }
      return out;
    },
    async send(shardId, payload: GatewayCommand) {
      const h = handleOf(shardId);
      if (!h) {
        throw new ShardUnavailableError(
          shardId,
          "not-owned",
          `shard ${shardId} is not in this set (${firstShardId}-${lastShardId} of ${totalShards})`,
        );
      }
      await request(h, { type: "send", id: nextId++, shardId, payload });
    },
    async restart(shardId) {
      const h = handleOf(shardId);
      if (!h) {
        throw new ShardUnavailableError(
          shardId,
          "not-owned",
          `shard ${shardId} is not in this set`,
        );
      }
      await request(h, { type: "restart", id: nextId++, shardId });
    },
    sessions() {
      return handles.flatMap((h) =>
        (h.snapshot?.sessions ?? []).filter((s) => h.owned.has(s.shardId))
      );
    },
  };

  const shaper: Shaper = {
    shape() {
      throw new Error("a worker set shapes its events in its workers");
    },
    health,
    stats() {
      let guilds = 0;
      let editedMessages = 0;
      for (const h of handles) {
        guilds += h.snapshot?.cache.guilds ?? 0;
        editedMessages += h.snapshot?.cache.editedMessages ?? 0;
      }
      return { guilds, editedMessages };
    },
    close() {},
  };

  const set: ShardSet & { workers(): WorkerInfo[] } = {
    totalShards,
    firstShardId,
    lastShardId,
    group,
    shaper,
    get mode() {
      return mode;
    },
    set mode(next: SetMode) {
      mode = next;
      for (const h of handles) post(h, { type: "mode", mode: next });
    },
    downSince,
    workers: () =>
      handles.map((h) => ({
        index: h.index,
        firstShardId: h.first,
        lastShardId: h.last,
        state: h.state,
        restarts: h.restarts,
        lastCrashAt: h.lastCrashAt,
        lastCrash: h.lastCrash,
        events: h.events,
        heapUsed: h.snapshot?.heapUsed ?? 0,
      })),
  };
  for (const h of handles) launch(h, options.sessions ?? new Map());
  return set;
}
