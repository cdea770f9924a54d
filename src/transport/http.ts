/**
 * The last stage: one HTTP POST per event to the bot's event handler, in the
 * format existing Discordeno event handlers expect: `{"shardId": N, "data": {op, d, s, t}}`.
 * @module
 */

/** An event on its way to the handler; plain data so it can cross a thread or a network. */
export interface OutboundEvent {
  shardId: number;
  /** Discord's dispatch `{op, d, s, t}` as JSON text. */
  raw: string;
  /** The proxy already acknowledged this interaction; the bot must edit or follow up. */
  deferred?: boolean;
  /** The interaction is older than 15 minutes; its token no longer works. */
  expired?: boolean;
}

/** Outcome of one delivery attempt. */
export type DeliveryResult =
  | { ok: true; status: number }
  | {
    ok: false;
    /** Network error, timeout, 408, 429, 5xx: try again later. Other 4xx: the handler rejected the event. */
    retryable: boolean;
    status?: number;
    /** From `Retry-After`, when the handler sent one. */
    retryAfterMs?: number;
    error: string;
    /** First 500 characters of the answer. */
    body?: string;
  };

/** Sends one event to the bot. A different transport (WebSocket, a message broker) implements this. */
export interface Transport {
  /** Never throws: every failure is a {@linkcode DeliveryResult}. */
  send(event: OutboundEvent, signal?: AbortSignal): Promise<DeliveryResult>;
}

/** The request body for an event; `raw` is spliced in, never parsed again. */
export function encodeEvent(event: OutboundEvent): string {
  let body = `{"shardId":${event.shardId},"data":${event.raw}`;
  if (event.deferred) body += `,"deferred":true`;
  if (event.expired) body += `,"expired":true`;
  return body + "}";
}

/** Options of {@linkcode createHttpTransport}. */
export interface HttpTransportOptions {
  /** `EVENT_HANDLER_URL`. */
  url: string;
  /** `EVENT_HANDLER_AUTHORIZATION`. */
  authorization: string;
  /** Per request, ms. @default 10000 */
  timeoutMs?: number;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
}

/** Creates the HTTP {@linkcode Transport}. Deno's fetch keeps connections alive between requests. */
export function createHttpTransport(options: HttpTransportOptions): Transport {
  const { url, authorization, timeoutMs = 10_000, fetch: doFetch = fetch } = options;
  if (!(timeoutMs > 0)) throw new RangeError(`timeoutMs must be > 0, got ${timeoutMs}`);
  const headers = { authorization, "content-type": "application/json" };
  return {
    async send(event, signal) {
      // One controller and one timer per request: AbortSignal.timeout + AbortSignal.any cost
      // ~16 µs per request and keep a timer alive for the whole timeout after the answer.
      const ctrl = new AbortController();
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        ctrl.abort();
      }, timeoutMs);
      const onAbort = () => ctrl.abort(signal?.reason);
      signal?.addEventListener("abort", onAbort, { once: true });
      let response: Response;
      try {
        response = await doFetch(url, {
          method: "POST",
          headers,
          body: encodeEvent(event),
          signal: ctrl.signal,
        });
      } catch (error) {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        return {
          ok: false,
          retryable: true,
          error: timedOut ? `no answer within ${timeoutMs} ms` : describeFetchError(error),
        };
      }
      // The timer keeps running while the body is read: a handler that stalls its body is cut too.
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
      };
      if (response.ok) {
        // Always consume the body, or Deno keeps the connection and its buffers.
        await response.body?.cancel().catch(() => {});
        done();
        return { ok: true, status: response.status };
      }
      const body = await response.text().then((t) => t.slice(0, 500)).catch(() => "");
      done();
      const status = response.status;
      return {
        ok: false,
        retryable: status === 408 || status === 429 || status >= 500,
        status,
        retryAfterMs: parseRetryAfter(response.headers.get("retry-after")),
        error: `HTTP ${status}`,
        body,
      };
    },
  };
}

/** `Retry-After` as seconds (possibly fractional) or an HTTP date, in ms. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === "") return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.ceil(seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function describeFetchError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : "";
  return `${error.message}${cause}`.slice(0, 300);
}
