/**
 * The service's own HTTP API as a plain `(Request) => Response` handler, so
 * tests call it without a socket; only the entry point calls `Deno.serve`.
 * @module
 */

/** What the control API reads from the running service. */
export interface ControlSource {
  /** Whether the process is running (it is, if it answers). */
  alive(): boolean;
}

/** Builds the control API handler. Today: `GET /healthz`. */
export function createControlHandler(source: ControlSource): (req: Request) => Response {
  return (req) => {
    const url = new URL(req.url);
    if (url.pathname === "/healthz") {
      if (req.method !== "GET" && req.method !== "HEAD") {
        return json({ error: `method ${req.method} not allowed on /healthz; use GET` }, 405, {
          allow: "GET, HEAD",
        });
      }
      return json({ status: source.alive() ? "ok" : "stopping" }, source.alive() ? 200 : 503);
    }
    return json({ error: `no route for ${req.method} ${url.pathname}` }, 404);
  };
}

function json(body: unknown, status: number, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}
