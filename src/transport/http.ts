/**
 * The last stage: one HTTP POST per event to the bot's event handler, in the
 * format existing Discordeno event handlers expect: `{"shardId": N, "data": {op, d, s, t}}`;
 * or, when batching is on (`EVENT_HANDLER_BATCH_MAX` > 1), several events of one shard in
 * one POST as a JSON array of the same objects, marked with {@linkcode BATCH_HEADER}.
 * @module
 */
import { BATCH_HEADER } from "../handler_types.ts";
import { createHttp1Client, Http1Error, type Http1Response } from "./http1.ts";
import type { DeliveryResult, OutboundEvent, Transport, Verdict } from "./types.ts";

export type { DeliveryResult, OutboundEvent, Transport, Verdict } from "./types.ts";

/**
 * Classifies a non-2xx status. Misconfiguration answers (a redirect, a rotated secret, a
 * route with no backend during a deploy) say nothing about the event, so they hold delivery
 * instead of dead-lettering the whole stream; only answers that refuse the event itself reject.
 */
export function verdictOf(status: number): Verdict {
  if (status === 408 || status === 429 || status >= 500 || status < 200) return "retry";
  if (status >= 300 && status < 400) return "unavailable";
  if (status === 401 || status === 403 || status === 404 || status === 405) return "unavailable";
  return "reject";
}

/** The request body for an event; `raw` is spliced in, never parsed again. */
export function encodeEvent(event: OutboundEvent): string {
  let body = `{"shardId":${event.shardId},"data":${event.raw}`;
  if (event.deferred) body += `,"deferred":true`;
  if (event.expired) body += `,"expired":true`;
  return body + "}";
}

/**
 * The header a batch request carries (`X-Gateway-Batch: 1`), so that one handler can take both
 * forms: with it the body is a JSON array of {@linkcode encodeEvent} objects, without it one
 * object. The handler's side reads both with `parseForwarded` (`src/handler_types.ts`).
 */
export { BATCH_HEADER };

/** The request body for a batch: `[` + each {@linkcode encodeEvent} joined by `,` + `]`. */
export function encodeBatch(events: readonly OutboundEvent[]): string {
  let body = "[";
  for (let i = 0; i < events.length; i++) body += (i === 0 ? "" : ",") + encodeEvent(events[i]);
  return body + "]";
}

/** Options of {@linkcode createHttpTransport}. */
export interface HttpTransportOptions {
  /** `EVENT_HANDLER_URL`. */
  url: string;
  /** `EVENT_HANDLER_AUTHORIZATION`. */
  authorization: string;
  /** Per request, ms. @default 10000 */
  timeoutMs?: number;
  /**
   * `EVENT_HANDLER_CLIENT`: `http1`, the built-in HTTP/1.1 client (a third of
   * fetch's CPU per event), or `fetch`, Deno's fetch (HTTP/2, `HTTP_PROXY`).
   * @default {"http1"}
   */
  client?: "http1" | "fetch";
  /** Extra root certificates (PEM) for an `https:` handler, besides `DENO_CERT`; `http1` only. */
  caCerts?: string[];
  /** For the `fetch` client. @default globalThis.fetch */
  fetch?: typeof fetch;
}

/**
 * Creates the HTTP {@linkcode Transport}, with {@linkcode Transport.sendBatch}. Both clients keep
 * connections alive between requests.
 */
export function createHttpTransport(options: HttpTransportOptions): Transport {
  const { timeoutMs = 10_000 } = options;
  if (!(timeoutMs > 0)) throw new RangeError(`timeoutMs must be > 0, got ${timeoutMs}`);
  return (options.client ?? "http1") === "http1"
    ? createHttp1Transport(options, timeoutMs)
    : createFetchTransport(options, timeoutMs);
}

const USER_AGENT = "discord-gateway-proxy (Deno 2; Discordeno 21)";

function createHttp1Transport(options: HttpTransportOptions, timeoutMs: number): Transport {
  const client = createHttp1Client({
    url: options.url,
    caCerts: options.caCerts,
    headers: {
      authorization: options.authorization,
      "content-type": "application/json",
      "user-agent": USER_AGENT,
    },
    maxBodyBytes: 2048,
  });
  const batchHeaders = { [BATCH_HEADER]: "1" };
  const post = async (
    body: string,
    signal: AbortSignal | undefined,
    headers?: Record<string, string>,
  ): Promise<DeliveryResult> => {
    let response: Http1Response;
    try {
      response = await client.post(body, { timeoutMs, signal, headers });
    } catch (error) {
      return {
        ok: false,
        verdict: "retry",
        timedOut: error instanceof Http1Error && error.kind === "timeout",
        error: error instanceof Http1Error && error.kind === "timeout"
          ? `no answer within ${timeoutMs} ms`
          : errorText(error),
      };
    }
    return toResult(response.status, response.body, (name) => response.headers.get(name) ?? null);
  };
  return {
    send: (event, signal) => post(encodeEvent(event), signal),
    sendBatch: (events, signal) => post(encodeBatch(events), signal, batchHeaders),
    close: () => client.close(),
  };
}

/** 2xx = delivered; anything else as {@linkcode verdictOf} says. */
function toResult(
  status: number,
  body: string,
  header: (name: string) => string | null,
): DeliveryResult {
  if (status >= 200 && status < 300) return { ok: true, status };
  const location = header("location");
  return {
    ok: false,
    verdict: verdictOf(status),
    status,
    retryAfterMs: parseRetryAfter(header("retry-after")),
    // Following a redirect would turn the POST into a GET (301/302) or hide a wrong URL.
    error: status >= 300 && status < 400 && location
      ? `HTTP ${status}: redirected to ${
        location.slice(0, 200)
      }; set EVENT_HANDLER_URL to the handler itself`
      : `HTTP ${status}`,
    body: body.slice(0, 500),
  };
}

function createFetchTransport(options: HttpTransportOptions, timeoutMs: number): Transport {
  const { url, authorization, fetch: doFetch = fetch } = options;
  const headers = { authorization, "content-type": "application/json", "user-agent": USER_AGENT };
  const batchHeaders = { ...headers, [BATCH_HEADER]: "1" };
  const post = async (
    body: string,
    signal: AbortSignal | undefined,
    requestHeaders: Record<string, string>,
  ): Promise<DeliveryResult> => {
    // One controller and one timer per request: AbortSignal.timeout + AbortSignal.any cost
    // ~16 µs per request and keep a timer alive for the whole timeout after the answer.
    const ctrl = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      ctrl.abort();
    }, timeoutMs);
    const onAbort = () => ctrl.abort(signal?.reason);
    // A listener added to a signal that already fired never runs: check first.
    if (signal?.aborted) onAbort();
    else signal?.addEventListener("abort", onAbort, { once: true });
    let response: Response;
    try {
      response = await doFetch(url, {
        method: "POST",
        redirect: "manual",
        headers: requestHeaders,
        body,
        signal: ctrl.signal,
      });
    } catch (error) {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      return {
        ok: false,
        verdict: "retry",
        timedOut,
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
    const text = await readBodyStart(response.body);
    done();
    return toResult(response.status, text, (name) => response.headers.get(name));
  };
  return {
    send: (event, signal) => post(encodeEvent(event), signal, headers),
    sendBatch: (events, signal) => post(encodeBatch(events), signal, batchHeaders),
  };
}

/** Options of {@linkcode readBodyStart}. */
export interface ReadBodyStartOptions {
  /** Bytes kept from the start of the body. @default 4096 */
  maxBytes?: number;
  /**
   * Bytes read in all, the rest dropped as it comes, before the stream is cancelled: enough
   * for an ordinary error page to end, so that its kept-alive connection serves the next
   * request; a longer body closes the connection instead. @default 65536
   */
  drainBytes?: number;
}

/**
 * The start of a response body as UTF-8 text, for an error message: what an answer's body
 * holds in memory is `maxBytes`, however long the body (`response.text()` would keep all of
 * it). Never throws: a body cut midway (the timeout, the caller's abort) gives what came.
 */
export async function readBodyStart(
  body: ReadableStream<Uint8Array> | null,
  options: ReadBodyStartOptions = {},
): Promise<string> {
  const { maxBytes = 4096, drainBytes = 65_536 } = options;
  if (body === null) return "";
  const kept = new Uint8Array(maxBytes);
  let keptBytes = 0;
  let readBytes = 0;
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const part = value.subarray(0, maxBytes - keptBytes);
      kept.set(part, keptBytes);
      keptBytes += part.length;
      readBytes += value.length;
      if (readBytes > drainBytes) {
        await reader.cancel().catch(() => {});
        break;
      }
    }
  } catch {
    // The stream failed: what came is all there is.
  }
  return new TextDecoder().decode(kept.subarray(0, keptBytes));
}

/** `Retry-After` as seconds (possibly fractional) or an HTTP date, in ms. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === "") return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.ceil(seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function errorText(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).slice(0, 300);
}

function describeFetchError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : "";
  return `${error.message}${cause}`.slice(0, 300);
}
