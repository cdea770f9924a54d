/**
 * A real HTTP event handler for tests: records what it receives and can be
 * taken down, slowed, or told to answer with any status.
 * @module
 */

/** One request the handler accepted. */
export interface ReceivedEvent {
  shardId: number;
  data: { op: number; t: string; s: number; d: Record<string, unknown> };
  deferred?: boolean;
  expired?: boolean;
  authorization: string | null;
  at: number;
}

/** What to answer one request with. */
export interface Behaviour {
  status?: number;
  delayMs?: number;
  headers?: Record<string, string>;
  body?: string;
}

/** Handle on a running test handler. */
export interface TestHandler {
  readonly url: string;
  readonly port: number;
  /** Accepted (2xx) events, in arrival order. */
  readonly events: ReceivedEvent[];
  /** Every request, whatever the answer. */
  readonly requests: { body: ReceivedEvent; status: number }[];
  /** Decides the answer per request; default 200 at once. */
  behave: (event: ReceivedEvent) => Behaviour | undefined;
  /** Stop listening: the port refuses connections. */
  down(): Promise<void>;
  /** Listen again on the same port. */
  up(): void;
  close(): Promise<void>;
}

/** Starts a {@linkcode TestHandler} on an ephemeral loopback port. */
export function startTestHandler(options: { path?: string } = {}): Promise<TestHandler> {
  const path = options.path ?? "/events";
  const events: ReceivedEvent[] = [];
  const requests: { body: ReceivedEvent; status: number }[] = [];
  let server: Deno.HttpServer | undefined;
  let port = 0;
  const handler: TestHandler = {
    get url() {
      return `http://127.0.0.1:${port}${path}`;
    },
    get port() {
      return port;
    },
    events,
    requests,
    behave: () => undefined,
    async down() {
      const s = server;
      server = undefined;
      await s?.shutdown();
    },
    up() {
      if (server) return;
      server = serve(port);
    },
    async close() {
      await handler.down();
    },
  };
  const serve = (p: number) =>
    Deno.serve({ hostname: "127.0.0.1", port: p, onListen: () => {} }, async (req) => {
      const body = await req.json() as ReceivedEvent;
      body.authorization = req.headers.get("authorization");
      body.at = Date.now();
      const b = handler.behave(body) ?? {};
      if (b.delayMs) await new Promise((r) => setTimeout(r, b.delayMs));
      const status = b.status ?? 200;
      requests.push({ body, status });
      if (status >= 200 && status < 300) events.push(body);
      return new Response(b.body ?? (status < 300 ? "ok" : "nope"), {
        status,
        headers: b.headers,
      });
    });
  server = serve(0);
  port = (server.addr as Deno.NetAddr).port;
  return Promise.resolve(handler);
}
