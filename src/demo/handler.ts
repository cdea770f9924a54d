/**
 * A minimal event handler, the shape a bot's receiving side takes: check the
 * secret, read `{shardId, data, deferred?, expired?}` (or a batch of them, with
 * `X-Gateway-Batch: 1`), answer 2xx once every event is safely taken, dedupe by
 * `shardId` + `data.s` (delivery is at least once).
 * @module
 */
import { type ForwardedEvent, parseForwarded } from "../handler_types.ts";

export type { ForwardedEvent };

/** Options of {@linkcode createEventHandler}. */
export interface EventHandlerOptions {
  /** `EVENT_HANDLER_AUTHORIZATION`. */
  authorization: string;
  /** Called once per new event. */
  onEvent(event: ForwardedEvent): void | Promise<void>;
  /** Remembered `shardId:s` pairs for dedupe. @default 10000 */
  dedupeWindow?: number;
}

/** Builds the `(Request) => Response` handler; serve it with `Deno.serve`. */
export function createEventHandler(
  options: EventHandlerOptions,
): (req: Request) => Promise<Response> {
  const { authorization, onEvent, dedupeWindow = 10_000 } = options;
  const seen = new Set<string>();
  return async (req) => {
    if (req.method !== "POST") return new Response("use POST", { status: 405 });
    if (req.headers.get("authorization") !== authorization) {
      return new Response("bad authorization", { status: 401 });
    }
    let events: ForwardedEvent[];
    try {
      events = parseForwarded(await req.text(), req.headers);
    } catch (error) {
      return new Response((error as Error).message, { status: 400 });
    }
    for (const event of events) {
      // A session restart (new READY) starts `s` at 1 again, so key on the session too in real bots.
      const key = `${event.shardId}:${event.data.s}:${event.data.t}`;
      if (seen.has(key)) continue;
      seen.add(key);
      if (seen.size > dedupeWindow) seen.delete(seen.values().next().value!);
      await onEvent(event);
    }
    return new Response(null, { status: 204 });
  };
}
