/**
 * The transport's interface: what every way of reaching the bot (HTTP, Redis Streams, a
 * test double) implements, and the data that crosses it.
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
    /**
     * What the queue does next (see `verdictOf` in `http.ts`): `retry` the event (network error,
     * timeout, 408, 429, 5xx), hold the stream because the handler is `unavailable` (3xx, 401,
     * 403, 404, 405: a setting is wrong, not the event), or `reject` the event (other 4xx).
     */
    verdict: Verdict;
    status?: number;
    /** No answer within the request timeout (a hung handler, or an event it chokes on). */
    timedOut?: boolean;
    /** From `Retry-After`, when the handler sent one. */
    retryAfterMs?: number;
    error: string;
    /** First 500 characters of the answer. */
    body?: string;
  };

/** A failed attempt's meaning; see {@linkcode DeliveryResult}. */
export type Verdict = "retry" | "unavailable" | "reject";

/** Sends one event to the bot. A different transport (WebSocket, a message broker) implements this. */
export interface Transport {
  /** Never throws: every failure is a {@linkcode DeliveryResult}. */
  send(event: OutboundEvent, signal?: AbortSignal): Promise<DeliveryResult>;
  /**
   * Sends several events of one shard, in order, as one delivery: the result acknowledges
   * (2xx) or fails all of them. Never throws. Optional: without it the queue sends each event
   * with {@linkcode Transport.send}, whatever `EVENT_HANDLER_BATCH_MAX` says.
   */
  sendBatch?(events: readonly OutboundEvent[], signal?: AbortSignal): Promise<DeliveryResult>;
  /** Releases connections; sends after it fail. Optional for transports that hold none. */
  close?(): void;
}
