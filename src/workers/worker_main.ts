/**
 * A shard worker: runs one contiguous range of a shard set (its sockets, decoding and
 * shaping) in a Deno `Worker`, and talks to the main thread only through the messages of
 * `protocol.ts`. Delivery stays in the main thread (see docs/workers.md).
 * @module
 */
/// <reference lib="deno.worker" />
import { secretsOf } from "../../configs.ts";
import { type Controller, loadController } from "../controller.ts";
import { createCounters } from "../counters.ts";
import type { IdentifyQueue } from "../gateway/identify_queue.ts";
import { ShardUnavailableError } from "../gateway/group.ts";
import { createLogger } from "../log.ts";
import { createShardSet, type ShardSet } from "../shard_set.ts";
import type { FromWorker, ToWorker, WorkerEvent, WorkerStart } from "./protocol.ts";

const post = (message: FromWorker) => self.postMessage(message);
let set: ShardSet | undefined;
const counters = createCounters();
let outbox: WorkerEvent[] = [];
let flushing = false;
const grants = new Map<number, () => void>();
let nextId = 1;
/** Lease deadlines from the main thread (a cluster); undefined: no leases, always connect. */
let fence: Map<number, number> | undefined;

/** Events leave in batches: one message per turn of the event loop, not one per event. */
function queueEvent(event: WorkerEvent) {
  outbox.push(event);
  if (flushing) return;
  flushing = true;
  queueMicrotask(() => {
    flushing = false;
    const events = outbox;
    outbox = [];
    post({ type: "events", events });
  });
}

/** Identifies wait for the main thread's limiter: one per bucket for every worker. */
const identifyQueue: IdentifyQueue = {
  wait(shardId, signal) {
    const id = nextId++;
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        grants.delete(id);
        reject(signal?.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      grants.set(id, () => {
        signal?.removeEventListener("abort", onAbort);
        let sent = false;
        resolve({
          sent() {
            if (sent) return;
            sent = true;
            post({ type: "identify-sent", id });
          },
        });
      });
      post({ type: "identify", id, shardId });
    });
  },
};

function snapshot() {
  if (!set) return;
  const health = set.shaper.health();
  post({
    type: "snapshot",
    snapshot: {
      reports: set.group.status(),
      sessions: set.group.sessions(),
      health: [...health],
      cache: set.shaper.stats(),
      heapUsed: Deno.memoryUsage().heapUsed,
      droppedByRule: [...counters.droppedByRule],
    },
  });
}

async function start(message: WorkerStart) {
  const { config } = message;
  if (message.fenced) fence = new Map();
  const logger = createLogger({
    level: config.log.level,
    format: config.log.format,
    secrets: secretsOf(config),
  }).with({ worker: `${message.firstShardId}-${message.lastShardId}` });
  let controller: Controller = {};
  if (config.controller) {
    controller = await loadController(new URL(config.controller, `file://${Deno.cwd()}/`).href);
  }
  const sessions = new Map(message.sessions.map((r) => [r.shardId, r]));
  set = createShardSet({
    config,
    logger,
    controller,
    counters,
    info: message.info,
    totalShards: message.totalShards,
    firstShardId: message.firstShardId,
    lastShardId: message.lastShardId,
    identifyQueue,
    sessions,
    shardIds: message.shardIds,
    mayConnect: message.fenced ? (id) => Date.now() < (fence?.get(id) ?? 0) : undefined,
    presence: message.presence === undefined ? undefined : () => message.presence,
    mode: message.mode,
    push: queueEvent,
    // The main thread decides a reshard's switch: the event travels with its facts.
    admit(_set, facts, event) {
      (event as WorkerEvent).facts = facts;
      return true;
    },
    onFatal: (error) =>
      post({ type: "fatal", shardId: error.shardId, code: error.code, message: error.message }),
    onShardEvent(shardId, event, detail) {
      post({ type: "shard-event", shardId, event, detail });
      snapshot();
    },
  });
  setInterval(snapshot, 500);
  post({ type: "ready" });
}

self.onmessage = async (e: MessageEvent<ToWorker>) => {
  const m = e.data;
  switch (m.type) {
    case "start":
      await start(m).catch((error) => {
        // Reported as the worker's error: the main thread restarts or gives up.
        throw error;
      });
      return;
    case "spawn":
      set?.group.spawn().catch(() => {});
      return;
    case "granted":
      grants.get(m.id)?.();
      grants.delete(m.id);
      return;
    case "mode":
      if (set) set.mode = m.mode;
      return;
    case "send":
    case "restart": {
      try {
        if (!set) throw new Error("the worker has not started");
        if (m.type === "send") await set.group.send(m.shardId, m.payload);
        else await set.group.restart(m.shardId);
        post({ type: "reply", id: m.id });
      } catch (error) {
        post({
          type: "reply",
          id: m.id,
          error: {
            kind: error instanceof ShardUnavailableError ? error.kind : "other",
            message: (error as Error).message,
          },
        });
      }
      return;
    }
    case "stop":
      await set?.group.stop(m.code, m.reason).catch(() => {});
      set?.shaper.close();
      snapshot();
      post({ type: "reply", id: m.id });
      return;
    case "ping":
      post({ type: "pong", id: m.id });
      return;
    case "fence":
      fence = new Map(m.until);
      return;
    case "add":
    case "remove": {
      try {
        if (!set) throw new Error("the worker has not started");
        if (m.type === "add") {
          // Started in the background: a resume or an identify wait must not hold the answer.
          set.downSince.set(m.shardId, Date.now());
          set.group.add(m.shardId, m.stored).catch(() => {});
          post({ type: "reply", id: m.id });
        } else {
          const session = await set.group.remove(m.shardId, m.code, m.reason);
          set.downSince.delete(m.shardId);
          post({ type: "reply", id: m.id, session });
        }
        snapshot();
      } catch (error) {
        post({
          type: "reply",
          id: m.id,
          error: { kind: "other", message: (error as Error).message },
        });
      }
      return;
    }
  }
};
