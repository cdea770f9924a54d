/**
 * What the service makes of stored sessions at start: which of them this process may resume,
 * and which shard count to run.
 * @module
 */
import type { Config } from "../configs.ts";
import { checkResumeGatewayUrl } from "./gateway/resume_url.ts";
import type { SessionRecord } from "./gateway/sessions.ts";
import type { Logger } from "./log.ts";
import type { GatewayBotInfo } from "./rest/gateway_bot.ts";

/** Stored sessions this process can resume (in `first..last`, for `total`); the rest are reported and dropped. */
export function usableSessions(
  logger: Logger,
  stored: SessionRecord[],
  total: number,
  first: number,
  last: number,
  gatewayUrl: string,
): Map<number, SessionRecord> {
  const usable = new Map<number, SessionRecord>();
  for (const r of stored) {
    if (r.shardId < first || r.shardId > last) continue;
    // Anyone who can write the file could otherwise collect the token from the resume.
    const url = checkResumeGatewayUrl(r.resumeGatewayUrl, { gatewayUrl });
    if (!url.ok) {
      logger.warn("stored session has an untrusted resume URL; identifying instead", {
        shard: r.shardId,
        reason: url.reason,
      });
      continue;
    }
    if (r.totalShards !== total) {
      logger.warn("stored session was made for another shard count; identifying instead", {
        shard: r.shardId,
        stored: r.totalShards,
        now: total,
      });
      continue;
    }
    usable.set(r.shardId, r);
  }
  return usable;
}

/** The shard count to run: TOTAL_SHARDS, else the last reshard's (stored sessions), else Discord's. */
export function chooseTotal(
  config: Config,
  logger: Logger,
  info: GatewayBotInfo,
  records: SessionRecord[],
): number {
  if (config.totalShards !== undefined) return config.totalShards;
  const totals = new Set(records.map((r) => r.totalShards));
  const stored = totals.size === 1 ? [...totals][0] : undefined;
  if (stored !== undefined && stored !== info.shards && config.resharding.enabled) {
    logger.info("running the shard count of the last reshard, not Discord's recommendation", {
      stored,
      recommended: info.shards,
    });
    return stored;
  }
  return info.shards;
}
