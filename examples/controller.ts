/**
 * An example controller: run the proxy with `GATEWAY_CONTROLLER=./examples/controller.ts`.
 * It shows each kind of override; copy what you need.
 * @module
 */
import { defineController } from "../src/controller.ts";

export default defineController({
  // The payload handler: drop typing indicators before they cost anything downstream.
  onDispatch(dispatch, payload, next) {
    if (dispatch.t === "TYPING_START") return;
    next(dispatch, payload);
  },

  // Any gateway manager method is a plain property (Discordeno's style).
  gateway(manager, { logger }) {
    const original = manager.tellWorkerToIdentify;
    manager.tellWorkerToIdentify = async (workerId, shardId, bucketId) => {
      logger.info("controller: shard identifying", { shard: shardId, bucket: bucketId });
      await original(workerId, shardId, bucketId);
    };
  },

  // Every shard's methods too, e.g. to see heartbeats start.
  shard(shard, { logger }) {
    const original = shard.startHeartbeating.bind(shard);
    shard.startHeartbeating = (interval: number) => {
      logger.debug("controller: heartbeating", { shard: shard.id, interval });
      original(interval);
    };
  },

  // The transport: here it wraps the default HTTP one to time each delivery. A wrapper without
  // sendBatch turns batching (EVENT_HANDLER_BATCH_MAX) off: wrap both.
  transport({ logger }, defaults) {
    const timed = async <T>(shard: number, events: number, send: () => Promise<T>) => {
      const started = performance.now();
      const result = await send();
      const ms = performance.now() - started;
      if (ms > 1000) logger.warn("controller: slow delivery", { shard, events, ms });
      return result;
    };
    return {
      send: (event, signal) => timed(event.shardId, 1, () => defaults.send(event, signal)),
      sendBatch: defaults.sendBatch &&
        ((events, signal) =>
          timed(events[0].shardId, events.length, () => defaults.sendBatch!(events, signal))),
    };
  },
});
