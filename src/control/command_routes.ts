/**
 * The control API's gateway commands: presence (op 3), voice state (op 4),
 * member requests (op 8), any other command, and shard restarts. Bodies are
 * checked against Discord's rules here (fields, 4096 bytes, the ops the proxy
 * manages itself); the shard's state and command budget are the source's checks.
 * @module
 */
import { HttpError, isSnowflake, json, readJson } from "./http.ts";
import { guildParam, shardIdParam } from "./params.ts";
import type { Router } from "./router.ts";
import type { ControlSource } from "./source.ts";
import type {
  CommandAnswer,
  MembersAnswer,
  PresenceAnswer,
  PresenceRequest,
  RestartAnswer,
} from "./wire.ts";

/** Discord's limit for one gateway command. */
const MAX_COMMAND_BYTES = 4096;
/** Commands that would break the session the proxy manages. */
const RESERVED_OPS: Record<number, string> = { 1: "heartbeat", 2: "identify", 6: "resume" };
const STATUSES: PresenceRequest["status"][] = ["online", "idle", "dnd", "invisible"];

/** Adds the command routes (all behind the secret) to `router`. */
export function addCommandRoutes(
  router: Router,
  source: ControlSource,
  options: { maxBodyBytes: number },
): void {
  const body = (req: Request) => readJson(req, options.maxBodyBytes);
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

  router.route("POST", "/shards/presence", true, async (req) => {
    const b = await body(req);
    if (!STATUSES.includes(b.status as PresenceRequest["status"])) {
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
    const answer: PresenceAnswer = { updated: targets.length - failed.length, failed };
    return json(answer, failed.length ? 207 : 200);
  });

  router.route("POST", "/guilds/:guildId/members", true, async (req, params) => {
    const { guildId, shardId } = guildParam(source, params);
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
    const answer: MembersAnswer = { shardId, nonce };
    return json(answer, 202);
  });

  router.route("POST", "/guilds/:guildId/voice", true, async (req, params) => {
    const { guildId, shardId } = guildParam(source, params);
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
    const answer: CommandAnswer = { shardId };
    return json(answer, 202);
  });

  router.route("POST", "/shards/:shardId/payload", true, async (req, params) => {
    const shardId = shardIdParam(params);
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
    const answer: CommandAnswer = { shardId };
    return json(answer, 202);
  });

  router.route("POST", "/shards/:shardId/restart", true, async (_req, params) => {
    const shardId = shardIdParam(params);
    await source.restart(shardId);
    const answer: RestartAnswer = { shardId, restarting: true };
    return json(answer, 202);
  });
}
