/**
 * The shaping stage between the shards and the delivery queue: turns a
 * dispatch into the plain event the queue carries, pulling out the facts later
 * stages need (for now: what an interaction needs to be deferred).
 * @module
 */
import type { QueuedEvent } from "../delivery/types.ts";
import type { DispatchPayload, GatewayDispatch } from "../gateway/shards.ts";

/** Turns a dispatch into a queued event, or `undefined` to drop it. Replaceable by a controller. */
export type Shaper = (
  dispatch: GatewayDispatch,
  payload: DispatchPayload,
) => QueuedEvent | undefined;

/** The default {@linkcode Shaper}: forwards everything unchanged. */
export function createShaper(): Shaper {
  return (dispatch, payload) => {
    const event: QueuedEvent = {
      shardId: dispatch.shardId,
      raw: dispatch.raw,
      t: dispatch.t,
      s: dispatch.s,
      session: dispatch.sessionId,
      receivedAt: dispatch.receivedAt,
    };
    if (dispatch.t === "INTERACTION_CREATE") {
      const d = payload.d as { id?: unknown; token?: unknown; type?: unknown; message?: unknown };
      if (typeof d?.id === "string" && typeof d.token === "string" && typeof d.type === "number") {
        event.interaction = {
          id: d.id,
          token: d.token,
          type: d.type,
          hasMessage: d.message != null,
        };
      }
    }
    return event;
  };
}
