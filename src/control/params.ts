/**
 * Path parameters of the control API, checked: a shard id, and a guild id with
 * the shard its events and commands belong to.
 * @module
 */
import { HttpError, isSnowflake } from "./http.ts";
import type { ControlSource } from "./source.ts";

/** `:shardId` as a non-negative integer; 400 otherwise. */
export function shardIdParam(params: Record<string, string>): number {
  const id = Number(params.shardId);
  if (!Number.isInteger(id) || id < 0) {
    throw new HttpError(400, `"${params.shardId}" is not a shard id`);
  }
  return id;
}

/** `:guildId` as a snowflake and its shard; 400 for a bad id, 503 before start. */
export function guildParam(
  source: ControlSource,
  params: Record<string, string>,
): { guildId: string; shardId: number } {
  if (!isSnowflake(params.guildId)) {
    throw new HttpError(400, `"${params.guildId}" is not a guild id (a snowflake)`);
  }
  const shardId = source.shardForGuild(params.guildId);
  if (shardId === undefined) {
    throw new HttpError(503, "the gateway has not started yet", { "retry-after": "1" });
  }
  return { guildId: params.guildId, shardId };
}
