/**
 * The service's own HTTP API as a plain `(Request) => Promise<Response>`
 * handler built from a route table, so tests call it without a socket; only the
 * entry point calls `Deno.serve`. The read routes and the operations live here,
 * the gateway commands in `command_routes.ts`, the JSON shapes in `wire.ts`.
 * @module
 */
import { HttpError, json, readJson } from "./http.ts";
import { renderMetrics } from "./metrics.ts";
import type { RedeliverResult } from "../delivery/redeliver.ts";
import { addCommandRoutes } from "./command_routes.ts";
import { guildParam } from "./params.ts";
import { createRouter } from "./router.ts";
import type { ControlSource } from "./source.ts";
import { statusPageHtml } from "./status_page/mod.ts";
import type {
  GuildShardAnswer,
  HealthAnswer,
  ReadinessAnswer,
  ShardsAnswer,
  StatusSnapshot,
} from "./wire.ts";

/** Options of {@linkcode createControlHandler}. */
export interface ControlOptions {
  /** `GATEWAY_AUTHORIZATION`. */
  authorization: string;
  /** Serve the status page at `GET /`. @default true */
  statusPage?: boolean;
  /** Request bodies larger than this get 413. @default 65536 */
  maxBodyBytes?: number;
}

const STATUS_PAGE_HEADERS = {
  "content-type": "text/html; charset=utf-8",
  "cache-control": "no-store",
  "content-security-policy":
    "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
};

/** Builds the control API handler. */
export function createControlHandler(
  source: ControlSource,
  options: ControlOptions,
): (req: Request) => Promise<Response> {
  const { authorization, statusPage = true, maxBodyBytes = 65_536 } = options;
  const router = createRouter(authorization);
  const { route } = router;

  route("GET", "/healthz", false, () => {
    const health: HealthAnswer = { status: source.alive() ? "ok" : "stopping" };
    return json(health, source.alive() ? 200 : 503);
  });
  route("GET", "/readyz", false, () => {
    const r = source.readiness();
    const answer: ReadinessAnswer = { ready: r.ready, reasons: r.reasons };
    return json(answer, r.ready ? 200 : 503);
  });
  route("GET", "/metrics", false, () =>
    new Response(renderMetrics(source), {
      headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
    }));
  if (statusPage) {
    route(
      "GET",
      "/",
      false,
      () => new Response(statusPageHtml(), { headers: STATUS_PAGE_HEADERS }),
    );
  }
  route("GET", "/status", true, () => json(snapshot(source)));
  route("GET", "/shards", true, () => {
    const answer: ShardsAnswer = { range: source.range() ?? null, shards: source.shards() };
    return json(answer);
  });
  route("GET", "/guilds/:guildId/shard", true, (_req, params) => {
    const { shardId } = guildParam(source, params);
    const view = source.shards().find((s) => s.id === shardId);
    const answer: GuildShardAnswer = {
      guildId: params.guildId,
      shardId,
      latencyMs: view?.latencyMs ?? null,
      inThisProcess: !!view,
    };
    return json(answer);
  });
  addCommandRoutes(router, source, { maxBodyBytes });

  route("GET", "/reshard", true, () => {
    if (!source.reshardStatus) {
      throw new HttpError(501, "resharding is not available in this process");
    }
    return json(source.reshardStatus());
  });
  route("POST", "/reshard", true, async (req) => {
    if (!source.reshard) throw new HttpError(501, "resharding is not available in this process");
    const { totalShards, ...rest } = await readJson(req, maxBodyBytes);
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
  // One re-delivery at a time: a second request while one runs gets the same answer.
  let redelivery: Promise<RedeliverResult> | undefined;
  route("POST", "/dead-letters/redeliver", true, async () => {
    if (!source.redeliverDeadLetters) {
      throw new HttpError(501, "re-delivering dead letters is not available in this process");
    }
    redelivery ??= source.redeliverDeadLetters().finally(() => redelivery = undefined);
    return json(await redelivery);
  });

  return router.handle;
}

/** The body of `GET /status`: everything the status page draws, in one answer. */
function snapshot(source: ControlSource): StatusSnapshot {
  const c = source.counters();
  return {
    generatedAt: Date.now(),
    range: source.range() ?? { first: 0, last: -1, total: 0 },
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
}
