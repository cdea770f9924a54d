/**
 * REST side of the simulator, answering as a Discordeno REST proxy in front of
 * Discord would: `GET /v10/gateway/bot` and interaction callbacks. A plain
 * `(Request) => Promise<Response>` so tests can call it without a socket.
 */
import { checkCallback } from "./callback_rules.ts";
import type { IdentifyLimiter } from "./identify_limiter.ts";
import type { InteractionRegistry } from "./interaction_registry.ts";
import type { Fault, FaultQueue } from "./rest_faults.ts";
import type { CallbackRecord } from "./types.ts";

/** What the REST handler reads and writes. */
export interface RestContext {
  restAuthorization: string;
  gatewayUrl: () => string;
  /** The recommended shard count now. */
  shards: () => number;
  limiter: IdentifyLimiter;
  interactions: InteractionRegistry;
  interactionDeadlineMs: number;
  callbacks: CallbackRecord[];
  faults: FaultQueue;
  botId: string;
  nextId: () => string;
  log: (msg: string) => void;
}

const STATUS_TEXT: Record<number, string> = {
  400: "400: Bad Request",
  401: "401: Unauthorized",
  403: "403: Forbidden",
  404: "404: Not Found",
  405: "405: Method Not Allowed",
  500: "500: Internal Server Error",
  502: "502: Bad Gateway",
  503: "503: Service Unavailable",
  504: "504: Gateway Timeout",
};

function json(status: number, body: unknown, headers?: HeadersInit): Response {
  const h = new Headers(headers);
  h.set("content-type", "application/json");
  return new Response(JSON.stringify(body), { status, headers: h });
}

function error(status: number, code: number, message?: string): Response {
  return json(status, { message: message ?? STATUS_TEXT[status] ?? `${status}`, code });
}

/** The response of an injected fault (429s carry Discord's rate limit shape). */
function faultResponse(fault: Fault): Response {
  if (fault.status === 429) {
    return json(429, {
      message: "You are being rate limited.",
      retry_after: fault.retryAfterSeconds,
      global: false,
    }, {
      "retry-after": String(Math.ceil(fault.retryAfterSeconds)),
      "x-ratelimit-limit": "1",
      "x-ratelimit-remaining": "0",
      "x-ratelimit-reset-after": String(fault.retryAfterSeconds),
      "x-ratelimit-scope": "user",
    });
  }
  return json(fault.status, {
    message: STATUS_TEXT[fault.status] ?? `${fault.status}: Simulated failure`,
    code: 0,
  });
}

/** Reads a callback body: JSON, or multipart with `payload_json` (file uploads). */
async function readBody(req: Request): Promise<{ ok: true; body: unknown } | { ok: false }> {
  const type = req.headers.get("content-type") ?? "";
  try {
    if (type.startsWith("multipart/form-data")) {
      const form = await req.formData();
      const payload = form.get("payload_json");
      if (typeof payload !== "string") return { ok: false };
      return { ok: true, body: JSON.parse(payload) };
    }
    return { ok: true, body: JSON.parse(await req.text()) };
  } catch {
    return { ok: false };
  }
}

/** Builds the REST handler. */
export function createRestHandler(
  ctx: RestContext,
): (req: Request) => Promise<Response> {
  const gatewayBot = (req: Request): Response => {
    if (req.method !== "GET") return error(405, 0);
    const fault = ctx.faults.take("gateway/bot");
    if (fault) return faultResponse(fault);
    return json(200, {
      url: ctx.gatewayUrl(),
      shards: ctx.shards(),
      session_start_limit: ctx.limiter.limit(Date.now()),
    });
  };

  const callback = async (
    req: Request,
    url: URL,
    interactionId: string,
    token: string,
  ): Promise<Response> => {
    if (req.method !== "POST") return error(405, 0);
    const now = Date.now();
    const entry = ctx.interactions.get(interactionId);
    const known = entry !== undefined && entry.token === token;
    const parsed = await readBody(req);
    const body = parsed.ok ? parsed.body as Record<string, unknown> | null : null;
    const record = (status: number, code: number | null): void => {
      ctx.callbacks.push({
        interactionId,
        interactionType: known ? entry.type : null,
        type: typeof body?.type === "number" ? body.type : null,
        data: body?.data,
        ageMs: known ? now - entry.createdAt : null,
        status,
        code,
        at: now,
      });
      ctx.log(
        `callback ${interactionId} type ${String(body?.type)} -> ${status}${
          code ? ` (${code})` : ""
        }`,
      );
    };

    const fault = ctx.faults.take("interactions");
    if (fault) {
      record(fault.status, null);
      return faultResponse(fault);
    }
    if (!known) {
      record(404, 10062);
      return error(404, 10062, "Unknown interaction");
    }
    if (entry.acknowledged) {
      record(400, 40060);
      return error(400, 40060, "Interaction has already been acknowledged.");
    }
    if (now - entry.createdAt > ctx.interactionDeadlineMs) {
      record(404, 10062);
      return error(404, 10062, "Unknown interaction");
    }
    if (!parsed.ok) {
      record(400, 50109);
      return error(400, 50109, "The request body contains invalid JSON.");
    }
    const rejection = checkCallback(entry, body);
    if (rejection) {
      record(rejection.status, rejection.body.code);
      return json(rejection.status, rejection.body);
    }
    entry.acknowledged = true;
    if (url.searchParams.get("with_response") !== "true") {
      record(204, null);
      return new Response(null, { status: 204 });
    }
    // with_response=true: Discord answers 200 with the callback resource.
    record(200, null);
    const type = body!.type as number;
    const data = (body!.data ?? {}) as Record<string, unknown>;
    const resource: Record<string, unknown> = { type };
    if (type === 4 || type === 7) {
      resource.message = {
        id: ctx.nextId(),
        type: 20,
        content: data.content ?? "",
        embeds: data.embeds ?? [],
        components: data.components ?? [],
        flags: data.flags ?? 0,
        author: { id: ctx.botId, username: "SimBot", discriminator: "0", bot: true },
        timestamp: new Date(now).toISOString(),
      };
    }
    return json(200, {
      interaction: {
        id: interactionId,
        type: entry.type,
        response_message_loading: type === 5,
        response_message_ephemeral: (((data.flags as number | undefined) ?? 0) & 64) !== 0,
      },
      resource,
    });
  };

  return async (req) => {
    const url = new URL(req.url);
    if (!url.pathname.startsWith("/v10/")) return error(404, 0);
    if (req.headers.get("authorization") !== ctx.restAuthorization) {
      // Drain the body so the connection can be reused.
      await req.body?.cancel();
      return error(401, 0);
    }
    const parts = url.pathname.slice("/v10/".length).split("/");
    if (parts.length === 2 && parts[0] === "gateway" && parts[1] === "bot") {
      return gatewayBot(req);
    }
    if (parts.length === 4 && parts[0] === "interactions" && parts[3] === "callback") {
      return await callback(req, url, decodeURIComponent(parts[1]), decodeURIComponent(parts[2]));
    }
    await req.body?.cancel();
    return error(404, 0);
  };
}
