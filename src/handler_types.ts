/**
 * The bot's side of delivery: what the proxy POSTs to `EVENT_HANDLER_URL`, as types, and
 * {@linkcode parseForwarded} to read a request in either form. Self-contained (no imports),
 * so a bot may copy it.
 *
 * - One event per request (the default, `EVENT_HANDLER_BATCH_MAX=1`): the body is one
 *   {@linkcode ForwardedEvent}, the format Discordeno event handlers expect.
 * - Batches (`EVENT_HANDLER_BATCH_MAX` > 1): the request carries `X-Gateway-Batch: 1` and the
 *   body is a JSON array of the same objects, all of one shard, in that shard's order. Answer
 *   2xx once every event of it is taken; any other answer applies to the whole batch.
 *
 * ```ts
 * import { parseForwarded } from "./src/handler_types.ts";
 * Deno.serve(async (req) => {
 *   for (const event of parseForwarded(await req.text(), req.headers)) {
 *     await handle(event.shardId, event.data, event.deferred === true);
 *   }
 *   return new Response(null, { status: 204 });
 * });
 * ```
 * @module
 */

/** The header that marks a batch request; its value is `1`. */
export const BATCH_HEADER = "x-gateway-batch";

/** Discord's dispatch as the shard received it (snake_case payload, byte for byte). */
export interface GatewayDispatch<D = unknown> {
  op: number;
  /** Dispatch name (`MESSAGE_CREATE`, or a synthetic one such as `HANDLER_CHECK_DD`). */
  t: string;
  /** Sequence number in the shard's session; `null` on synthetic checks. */
  s: number | null;
  d: D;
}

/** One forwarded event: `{"shardId": N, "data": {op, t, s, d}}` plus delivery flags. */
export interface ForwardedEvent<D = unknown> {
  shardId: number;
  data: GatewayDispatch<D>;
  /** The proxy acknowledged this interaction already: edit the response or follow up. */
  deferred?: true;
  /** The interaction is older than 15 minutes; its token no longer works. */
  expired?: true;
}

/** A request body in either form: one event, or a batch (`X-Gateway-Batch: 1`). */
export type ForwardedBody<D = unknown> = ForwardedEvent<D> | ForwardedEvent<D>[];

/** Anything that can look a header up: `Headers`, or a plain record with lower-case names. */
export type HeaderSource =
  | { get(name: string): string | null }
  | Record<string, string | undefined>;

/**
 * The events of one request, in order: one for a single-event body, every element of a batch.
 * `body` is the request text (or its parsed JSON). A body that is an array is read as a batch
 * even without the header.
 *
 * @throws {TypeError} when the body is not JSON, not an event or array of events, or the
 * header announces a batch and the body is not an array.
 */
export function parseForwarded(body: string | unknown, headers?: HeaderSource): ForwardedEvent[] {
  let value: unknown = body;
  if (typeof body === "string") {
    try {
      value = JSON.parse(body);
    } catch (error) {
      throw new TypeError(`the body is not JSON: ${(error as Error).message}`);
    }
  }
  const batch = headerOf(headers, BATCH_HEADER) === "1";
  if (batch && !Array.isArray(value)) {
    throw new TypeError(`${BATCH_HEADER}: 1 announces a batch, but the body is not a JSON array`);
  }
  const events = Array.isArray(value) ? value : [value];
  events.forEach((e, i) => {
    if (!isForwardedEvent(e)) {
      throw new TypeError(
        `${Array.isArray(value) ? `element ${i} of the batch` : "the body"} is not {shardId, data}`,
      );
    }
  });
  return events as ForwardedEvent[];
}

/** Whether a value has the shape of a {@linkcode ForwardedEvent}. */
export function isForwardedEvent(value: unknown): value is ForwardedEvent {
  if (typeof value !== "object" || value === null) return false;
  const { shardId, data } = value as { shardId?: unknown; data?: unknown };
  return typeof shardId === "number" && Number.isInteger(shardId) && shardId >= 0 &&
    typeof data === "object" && data !== null && typeof (data as { t?: unknown }).t === "string";
}

function headerOf(headers: HeaderSource | undefined, name: string): string | undefined {
  if (!headers) return undefined;
  if (typeof (headers as { get?: unknown }).get === "function") {
    return (headers as { get(name: string): string | null }).get(name)?.trim() ?? undefined;
  }
  const record = headers as Record<string, string | undefined>;
  const key = Object.keys(record).find((k) => k.toLowerCase() === name);
  return key === undefined ? undefined : record[key]?.trim();
}
