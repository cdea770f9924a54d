/**
 * The service's own HTTP API as a plain `(Request) => Promise<Response>`
 * handler built from a route table, so tests call it without a socket; only the
 * entry point calls `Deno.serve`.
 * @module
 */
import { constantTimeEqual, HttpError, isSnowflake, json, readJson } from "./http.ts";
import { renderMetrics } from "./metrics.ts";
import type { RedeliverResult } from "../delivery/redeliver.ts";
import type { ControlSource } from "./source.ts";
import { statusPageHtml, type StatusSnapshot } from "./status_page.ts";

/** Options of {@linkcode createControlHandler}. */
export interface ControlOptions {
  /** `GATEWAY_AUTHORIZATION`. */
  authorization: string;
  /** Serve the status page at `GET /`. @default true */
  statusPage?: boolean;
  /** Request bodies larger than this get 413. @default 65536 */
  maxBodyBytes?: number;
}

type Handler = (req: Request, params: Record<string, string>) => Promise<Response> | Response;
interface Route {
  method: string;
  pattern: URLPattern;
  auth: boolean;
  handler: Handler;
}

/** Discord's limit for one gateway command. */
const MAX_COMMAND_BYTES = 4096;
/** Commands that would break the session the proxy manages. */
const RESERVED_OPS: Record<number, string> = { 1: "heartbeat", 2: "identify", 6: "resume" };
const STATUSES = ["online", "idle", "dnd", "invisible"];

/** Builds the control API handler. */
export function createControlHandler(
  source: ControlSource,
  options: ControlOptions,
): (req: Request) => Promise<Response> {
  const { authorization, statusPage = true, maxBodyBytes = 65_536 } = options;
  const body = (req: Request) => readJson(req, maxBodyBytes);
  const shardParam = (params: Record<string, string>) => {
    const id = Number(params.shardId);
    if (!Number.isInteger(id) || id < 0) {
      throw new HttpError(400, `"${params.shardId}" is not a shard id`);
    }
    return id;
  };
  const guildParam = (params: Record<string, string>) => {
    if (!isSnowflake(params.guildId)) {
      throw new HttpError(400, `"${params.guildId}" is not a guild id (a snowflake)`);
    }
    const shardId = source.shardForGuild(params.guildId);
    if (shardId === undefined) {
      throw new HttpError(503, "the gateway has not started yet", { "retry-after": "1" });
    }
    return { guildId: params.guildId, shardId };
  };
  const send = async (shardId: number, op: number, d: unknown) => {
    const size = new TextEncoder().encode(JSON.stringify({ op, d })).byteLength;
    if (size > MAX_COMMAND_BYTES) {
      throw new HttpError(
        413,
        `the command is ${size} bytes; Discord closes the connection above ${MAX_COMMAND_BYTES}`,
      );
    }
    await source.send(shardId, { op, d });
  };

  const routes: Route[] = [];
  const route = (method: string, path: string, auth: boolean, handler: Handler) =>
    routes.push({ method, pattern: new URLPattern({ pathname: path }), auth, handler });

  route(
    "GET",
    "/healthz",
    false,
    () => json({ status: source.alive() ? "ok" : "stopping" }, source.alive() ? 200 : 503),
  );
  route("GET", "/readyz", false, () => {
    const r = source.readiness();
    return json({ ready: r.ready, reasons: r.reasons }, r.ready ? 200 : 503);
  });
  route("GET", "/metrics", false, () =>
    new Response(renderMetrics(source), {
      headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
    }));
  if (statusPage) {
    route("GET", "/", false, () =>
      new Response(statusPageHtml(), {
        headers: {
          "content-type": "text/html; charset=utf-8",
          "cache-control": "no-store",
          "content-security-policy":
            "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'",
          "x-frame-options": "DENY",
          "referrer-policy": "no-referrer",
        },
      }));
  }
  route("GET", "/status", true, () => {
    const c = source.counters();
    const range = source.range();
    const snapshot: StatusSnapshot = {
      generatedAt: Date.now(),
      range: range ?? { first: 0, last: -1, total: 0 },
      shards: source.shards(),
      totals: {
        received: c.received,
        delivered: c.delivered,
        dropped: c.dropped,
        deferred: c.deferred,
        deadLettered: c.deadLettered,
        queuedMemory: c.queuedMemory,
        queuedDisk: c.queuedDisk,
        backlogAgeMs: source.backlogAgeMs(),
      },
      history: source.history(),
      handler: source.handlerProblem?.(),
      reshard: source.reshardStatus?.(),
      workers: source.workers?.(),
    };
    return json(snapshot);
  });
  route(
    "GET",
    "/shards",
    true,
    () => json({ range: source.range() ?? null, shards: source.shards() }),
  );
  route("GET", "/guilds/:guildId/shard", true, (_req, params) => {
    const { shardId } = guildParam(params);
    const view = source.shards().find((s) => s.id === shardId);
    return json({
      guildId: params.guildId,
      shardId,
      latencyMs: view?.latencyMs ?? null,
      inThisProcess: !!view,
    });
  });
  route("POST", "/shards/presence", true, async (req) => {
    const b = await body(req);
    if (!STATUSES.includes(b.status as string)) {
      throw new HttpError(400, `"status" must be one of ${STATUSES.join(", ")}`);
    }
    if (b.activities !== undefined && !Array.isArray(b.activities)) {
      throw new HttpError(400, `"activities" must be an array of {name, type}`);
    }
    for (const a of (b.activities ?? []) as Record<string, unknown>[]) {
      if (typeof a?.name !== "string" || !Number.isInteger(a.type)) {
        throw new HttpError(400, `each activity needs a string "name" and an integer "type"`);
      }
    }
    const d = {
      since: typeof b.since === "number" ? b.since : null,
      activities: b.activities ?? [],
      status: b.status,
      afk: b.afk === true,
    };
    const range = source.range();
    const targets = b.shardId !== undefined
      ? [Number(b.shardId)]
      : range
      ? Array.from({ length: range.last - range.first + 1 }, (_, i) => range.first + i)
      : [];
    if (b.shardId !== undefined && !Number.isInteger(b.shardId)) {
      throw new HttpError(400, `"shardId" must be an integer`);
    }
    const results = await Promise.allSettled(targets.map((id) => send(id, 3, d)));
    const failed = results.flatMap((r, i) =>
      r.status === "rejected" ? [{ shardId: targets[i], error: (r.reason as Error).message }] : []
    );
    if (b.shardId !== undefined && failed.length) {
      throw results.find((r) => r.status === "rejected")!.reason;
    }
    return json({ updated: targets.length - failed.length, failed }, failed.length ? 207 : 200);
  });
  route("POST", "/guilds/:guildId/members", true, async (req, params) => {
    const { guildId, shardId } = guildParam(params);
    const b = await body(req);
    const userIds = b.userIds ?? b.user_ids;
    if (
      userIds !== undefined &&
      (!Array.isArray(userIds) || !userIds.every(isSnowflake) || userIds.length > 100)
    ) {
      throw new HttpError(400, `"userIds" must be up to 100 snowflakes`);
    }
    if (b.query !== undefined && typeof b.query !== "string") {
      throw new HttpError(400, `"query" must be a string`);
    }
    if (userIds === undefined && b.query === undefined) {
      throw new HttpError(400, `give "query" (use "" for all members) or "userIds"`);
    }
    const limit = b.limit ?? 0;
    if (!Number.isInteger(limit) || (limit as number) < 0 || (limit as number) > 100) {
      throw new HttpError(400, `"limit" must be an integer from 0 to 100`);
    }
    const nonce = b.nonce ?? crypto.randomUUID().replaceAll("-", "");
    if (typeof nonce !== "string" || nonce.length > 32) {
      throw new HttpError(400, `"nonce" must be a string of at most 32 characters`);
    }
    const d: Record<string, unknown> = {
      guild_id: guildId,
      limit,
      nonce,
      presences: b.presences === true,
    };
    if (userIds !== undefined) d.user_ids = userIds;
    else d.query = b.query;
    await send(shardId, 8, d);
    return json({ shardId, nonce }, 202);
  });
  route("POST", "/guilds/:guildId/voice", true, async (req, params) => {
    const { guildId, shardId } = guildParam(params);
    const b = await body(req);
    const channelId = b.channelId !== undefined ? b.channelId : b.channel_id;
    if (channelId !== null && !isSnowflake(channelId)) {
      throw new HttpError(400, `"channelId" must be a channel snowflake, or null to leave`);
    }
    await send(shardId, 4, {
      guild_id: guildId,
      channel_id: channelId,
      self_mute: (b.selfMute ?? b.self_mute) === true,
      self_deaf: (b.selfDeaf ?? b.self_deaf) === true,
    });
    return json({ shardId }, 202);
  });
  route("POST", "/shards/:shardId/payload", true, async (req, params) => {
    const shardId = shardParam(params);
    const b = await body(req);
    if (!Number.isInteger(b.op)) throw new HttpError(400, `"op" must be an integer gateway opcode`);
    const op = b.op as number;
    if (RESERVED_OPS[op]) {
      throw new HttpError(
        400,
        `op ${op} (${RESERVED_OPS[op]}) is managed by the proxy and cannot be sent`,
      );
    }
    if (!("d" in b)) throw new HttpError(400, `"d" is required (use null for none)`);
    await send(shardId, op, b.d);
    return json({ shardId }, 202);
  });
  route("POST", "/shards/:shardId/restart", true, async (_req, params) => {
    const shardId = shardParam(params);
    await source.restart(shardId);
    return json({ shardId, restarting: true }, 202);
  });
  // One re-delivery at a time: a second request while one runs gets the same answer.
  let redelivery: Promise<RedeliverResult> | undefined;
  route("GET", "/reshard", true, () => {
    if (!source.reshardStatus) {
      throw new HttpError(501, "resharding is not available in this process");
    }
    return json(source.reshardStatus());
  });
  route("POST", "/reshard", true, async (req) => {
    if (!source.reshard) throw new HttpError(501, "resharding is not available in this process");
    const { totalShards, ...rest } = await body(req);
    const unknown = Object.keys(rest);
    if (unknown.length > 0) {
      throw new HttpError(
        400,
        `unknown field(s) ${unknown.join(", ")}; the body is {"totalShards": N} or empty`,
      );
    }
    if (
      totalShards !== undefined &&
      (typeof totalShards !== "number" || !Number.isSafeInteger(totalShards) || totalShards < 1)
    ) {
      throw new HttpError(
        400,
        `totalShards must be a positive integer, got ${JSON.stringify(totalShards)}`,
      );
    }
    const answer = await source.reshard({ totalShards: totalShards as number | undefined });
    if (answer.status === 202) return json(answer.plan, 202);
    throw new HttpError(answer.status, answer.reason);
  });
  route("POST", "/dead-letters/redeliver", true, async () => {
    if (!source.redeliverDeadLetters) {
      throw new HttpError(501, "re-delivering dead letters is not available in this process");
    }
    redelivery ??= source.redeliverDeadLetters().finally(() => redelivery = undefined);
    return json(await redelivery);
  });

  return async (req) => {
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
  };
}
