/**
 * A plain HTTP relay in front of the simulator's REST side, standing in for
 * the bot's REST proxy process so tests can take "the REST proxy" down.
 * @module
 */

/** Handle on a relay. */
export interface Relay {
  readonly url: string;
  down(): Promise<void>;
  up(): void;
  close(): Promise<void>;
}

/** Starts a relay forwarding every request to `target`. */
export function startRelay(target: string): Relay {
  let server: Deno.HttpServer | undefined;
  let port = 0;
  const serve = (p: number) =>
    Deno.serve({ hostname: "127.0.0.1", port: p, onListen() {} }, async (req) => {
      const url = new URL(req.url);
      const res = await fetch(`${target}${url.pathname}${url.search}`, {
        method: req.method,
        headers: req.headers,
        body: req.body,
      });
      return new Response(res.body, { status: res.status, headers: res.headers });
    });
  server = serve(0);
  port = (server.addr as Deno.NetAddr).port;
  return {
    get url() {
      return `http://127.0.0.1:${port}`;
    },
    async down() {
      const s = server;
      server = undefined;
      await s?.shutdown();
    },
    up() {
      server ??= serve(port);
    },
    async close() {
      const s = server;
      server = undefined;
      await s?.shutdown();
    },
  };
}
