/**
 * Controllers: change the proxy's behaviour without forking it. A controller
 * is a module named by `GATEWAY_CONTROLLER` whose default export is a
 * {@linkcode Controller}; every field is optional and typed.
 *
 * ```ts
 * // my-controller.ts
 * import { defineController } from "./src/controller.ts";
 * export default defineController({
 *   gateway(manager) {
 *     const original = manager.tellWorkerToIdentify;
 *     manager.tellWorkerToIdentify = async (workerId, shardId, bucketId) => {
 *       console.log(`shard ${shardId} is about to identify`);
 *       await original(workerId, shardId, bucketId);
 *     };
 *   },
 * });
 * ```
 * @module
 */
import type { Config } from "../configs.ts";
import type { DiscordenoShard, GatewayManager } from "../deps.ts";
import type { DeadLetterSink } from "./delivery/dead_letters.ts";
import type { Journal } from "./delivery/journal.ts";
import type { QueuedEvent } from "./delivery/types.ts";
import type { IdentifyQueue } from "./gateway/identify_queue.ts";
import type { SessionStore } from "./gateway/sessions.ts";
import type { DispatchPayload, GatewayDispatch } from "./gateway/shards.ts";
import type { Logger } from "./log.ts";
import type { GatewayBotInfo } from "./rest/gateway_bot.ts";
import type { Shaper } from "./shaping/mod.ts";
import type { Transport } from "./transport/http.ts";

/** What a controller's factories receive. */
export interface ControllerContext {
  config: Config;
  logger: Logger;
}

/**
 * Every behaviour a controller may replace: the one extension mechanism. Each replaceable part
 * has a conformance suite in `tests/conformance/` a replacement can run.
 */
export interface Controller {
  /** Replaces how events reach the bot (default: one HTTP POST per event). */
  transport?(ctx: ControllerContext, defaults: Transport): Transport;
  /** Replaces or wraps the shaping stage; `emit` queues events created later. */
  shaper?(ctx: ControllerContext, defaults: Shaper, emit: (event: QueuedEvent) => void): Shaper;
  /**
   * The payload handler: sees every dispatch first. Call `next` to let it continue
   * (possibly changed), or don't, to swallow it.
   */
  onDispatch?(
    dispatch: GatewayDispatch,
    payload: DispatchPayload,
    next: (dispatch: GatewayDispatch, payload: DispatchPayload) => void,
  ): void;
  /** Replaces the identify queue (e.g. one shared by several processes). */
  identifyQueue?(
    ctx: ControllerContext,
    info: GatewayBotInfo,
    defaults: IdentifyQueue,
  ): IdentifyQueue;
  /**
   * Replaces where resumable sessions are kept between runs (default: a file in `DATA_DIR`, or
   * Redis with `REDIS_URL`).
   */
  sessionStore?(ctx: ControllerContext, defaults: SessionStore): SessionStore;
  /** Replaces the spill journal of undelivered events (default: SQLite in `DATA_DIR`). */
  journal?(ctx: ControllerContext, defaults: Journal): Journal;
  /**
   * Replaces where poisoned events go (default: `DATA_DIR/dead-letters.jsonl`). A replacement
   * that is not the file one turns `POST /dead-letters/redeliver` off (501).
   */
  deadLetters?(ctx: ControllerContext, defaults: DeadLetterSink): DeadLetterSink;
  /** Gets Discordeno's gateway manager before shards spawn: replace any of its methods. */
  gateway?(manager: GatewayManager, ctx: ControllerContext): void;
  /** Gets every shard when it is created: replace any of its methods (e.g. `startHeartbeating`). */
  shard?(shard: DiscordenoShard, ctx: ControllerContext): void;
  /**
   * With `TOTAL_WORKERS`: which worker runs which shards, as `[first, last]` ranges in worker
   * order (the part of Discordeno's `tellWorkerToIdentify` that picks a worker). Default: even,
   * contiguous ranges. With workers, `gateway`, `shard`, `onDispatch` and `shaper` run inside
   * each worker (the module is loaded there too); `transport` and `identifyQueue` here.
   */
  workers?(
    ctx: ControllerContext,
    firstShardId: number,
    lastShardId: number,
    workers: number,
  ): [number, number][];
}

/** Identity function that gives a controller module its types. */
export function defineController(controller: Controller): Controller {
  return controller;
}

const KEYS = new Set([
  "transport",
  "shaper",
  "onDispatch",
  "identifyQueue",
  "sessionStore",
  "journal",
  "deadLetters",
  "gateway",
  "shard",
  "workers",
]);

/** Loads and checks a controller module; throws a `TypeError` naming what is wrong. */
export async function loadController(specifier: string): Promise<Controller> {
  let module: Record<string, unknown>;
  try {
    module = await import(specifier);
  } catch (error) {
    throw new TypeError(`cannot import ${specifier}: ${(error as Error).message}`);
  }
  const controller = (module.default ?? module.controller) as Record<string, unknown> | undefined;
  if (typeof controller !== "object" || controller === null) {
    throw new TypeError(`${specifier} must export default defineController({...})`);
  }
  for (const [key, value] of Object.entries(controller)) {
    if (!KEYS.has(key)) {
      throw new TypeError(
        `${specifier}: unknown controller field "${key}"; valid fields: ${[...KEYS].join(", ")}`,
      );
    }
    if (typeof value !== "function") {
      throw new TypeError(`${specifier}: "${key}" must be a function`);
    }
  }
  return controller as Controller;
}
