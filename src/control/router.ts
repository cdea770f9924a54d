/**
 * A small route table that becomes a `(Request) => Promise<Response>` handler:
 * URL patterns, methods (HEAD answered by GET), the API secret per route, and
 * every error as a JSON answer with a reason (`{"error": "..."}`).
 * @module
 */
import { constantTimeEqual, HttpError, json } from "./http.ts";

/** Answers one request; `params` are the pattern's named groups. Throw {@linkcode HttpError} to refuse. */
export type RouteHandler = (
  req: Request,
  params: Record<string, string>,
) => Promise<Response> | Response;

/** Routes added one by one, then served by `handle`. */
export interface Router {
  /** Adds a route; `auth`: the request must carry the secret as `Authorization`. */
  route(method: string, path: string, auth: boolean, handler: RouteHandler): void;
  /** 404 for no route, 405 (with `Allow`) for a wrong method, 401 without the secret. */
  handle(req: Request): Promise<Response>;
}

interface Route {
  method: string;
  pattern: URLPattern;
  auth: boolean;
  handler: RouteHandler;
}

/** Creates a {@linkcode Router} whose protected routes take `authorization`. */
export function createRouter(authorization: string): Router {
  const routes: Route[] = [];
  return {
    route(method, path, auth, handler) {
      routes.push({ method, pattern: new URLPattern({ pathname: path }), auth, handler });
    },
    async handle(req) {
      const url = new URL(req.url);
      const matches = routes.filter((r) => r.pattern.test(url));
      try {
        if (matches.length === 0) {
          throw new HttpError(404, `no route for ${req.method} ${url.pathname}`);
        }
        const r = matches.find((m) =>
          m.method === req.method || (m.method === "GET" && req.method === "HEAD")
        );
        if (!r) {
          const allow = [...new Set(matches.map((m) => m.method))].join(", ");
          throw new HttpError(405, `use ${allow} for ${url.pathname}`, { allow });
        }
        if (r.auth && !constantTimeEqual(req.headers.get("authorization") ?? "", authorization)) {
          throw new HttpError(401, "missing or wrong Authorization (GATEWAY_AUTHORIZATION)");
        }
        const params = r.pattern.exec(url)?.pathname.groups as Record<string, string>;
        return await r.handler(req, params ?? {});
      } catch (error) {
        if (error instanceof HttpError) {
          await req.body?.cancel().catch(() => {});
          return json({ error: error.message }, error.status, error.headers);
        }
        return json({ error: `internal error: ${(error as Error)?.message ?? error}` }, 500);
      }
    },
  };
}
