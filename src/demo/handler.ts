/**
 * A minimal event handler, the shape a bot's receiving side takes: check the
 * secret, parse `{shardId, data, deferred?, expired?}`, answer 2xx once the
 * event is safely taken, dedupe by `shardId` + `data.s` (delivery is at least once).
 * @module
 */

/** What the proxy POSTs. */
export interface ForwardedEvent {
  shardId: number;
  data: { op: 0; t: string; s: number; d: unknown };
  /** The proxy acknowledged this interaction already: edit the original response or follow up. */
  deferred?: boolean;
  /** The interaction is older than 15 minutes; its token is dead. */
  expired?: boolean;
}

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
    let event: ForwardedEvent;
    try {
      event = await req.json();
    } catch {
      return new Response("body is not JSON", { status: 400 });
    }
    if (typeof event?.shardId !== "number" || typeof event.data?.t !== "string") {
      return new Response("expected {shardId, data}", { status: 400 });
    }
    // A session restart (new READY) starts `s` at 1 again, so key on the session too in real bots.
    const key = `${event.shardId}:${event.data.s}:${event.data.t}`;
    if (seen.has(key)) return new Response(null, { status: 204 });
    seen.add(key);
    if (seen.size > dedupeWindow) seen.delete(seen.values().next().value!);
    await onEvent(event);
    return new Response(null, { status: 204 });
  };
}
