import { PRIVILEGED_INTENTS } from "./intents.ts";
import { botIdFromToken } from "./snowflake.ts";
import type { SimulatorOptions } from "./types.ts";

/** Options with every default applied and the bot id derived from the token. */
export type ResolvedOptions =
  & Required<Omit<SimulatorOptions, "logger" | "resumeGatewayUrl">>
  & { logger: (msg: string) => void; botId: string; resumeGatewayUrl?: string };

/** Lowest heartbeat interval Discordeno survives (its send limiter spins below ~1016 ms). */
const MIN_HEARTBEAT_INTERVAL_MS = 2000;

function integer(
  name: string,
  value: number,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value)) {
    throw new TypeError(
      `Simulator option "${name}" must be an integer, got ${String(value)}`,
    );
  }
  if (value < min || value > max) {
    throw new RangeError(
      `Simulator option "${name}" must be in [${min}, ${max}], got ${value}`,
    );
  }
  return value;
}

function nonEmptyString(name: string, value: unknown): string {
  if (typeof value !== "string" || value.length === 0) {
    throw new TypeError(
      `Simulator option "${name}" must be a non-empty string, got ${
        typeof value === "string" ? '""' : String(value)
      }`,
    );
  }
  return value;
}

/**
 * Validates options and applies defaults once. Throws TypeError for wrong
 * types and RangeError for out-of-range values, naming the option and value.
 */
export function resolveOptions(options: SimulatorOptions): ResolvedOptions {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(
      `Simulator options must be an object, got ${String(options)}`,
    );
  }
  const {
    token,
    restAuthorization,
    hostname = "127.0.0.1",
    port = 0,
    shards = 1,
    maxConcurrency = 1,
    sessionStartTotal = 1000,
    sessionStartRemaining = sessionStartTotal,
    resetAfterMs = 86_400_000,
    heartbeatIntervalMs = 41_250,
    heartbeatTimeoutMs = 2 * heartbeatIntervalMs,
    identifyIntervalMs = 5000,
    guilds = 0,
    maxGuildsPerShard = 2500,
    recommendGuildsPerShard = 1000,
    fanOutSkewMs = 20,
    seed = Math.floor(Math.random() * 2 ** 32),
    emittedLogLimit = 100_000,
    allowedPrivilegedIntents = 0,
    sessionTtlMs = 180_000,
    replayBufferSize = 10_000,
    interactionDeadlineMs = 3000,
    commandLimit = 120,
    commandWindowMs = 60_000,
    logger = () => {},
    resumeGatewayUrl,
  } = options;

  nonEmptyString("token", token);
  const botId = botIdFromToken(token);
  if (botId === undefined) {
    throw new TypeError(
      `Simulator option "token" must start with base64 of the bot's user id (e.g. btoa("123456789012345678") + ".x.y"), got a token whose first segment is "${
        token.split(".")[0]
      }"`,
    );
  }
  nonEmptyString("restAuthorization", restAuthorization);
  nonEmptyString("hostname", hostname);
  if (typeof logger !== "function") {
    throw new TypeError(
      `Simulator option "logger" must be a function, got ${String(logger)}`,
    );
  }
  integer("port", port, 0, 65_535);
  if (shards !== "auto" && !(typeof shards === "number" && Number.isSafeInteger(shards))) {
    throw new TypeError(
      `Simulator option "shards" must be an integer or "auto", got ${
        typeof shards === "string" ? JSON.stringify(shards) : String(shards)
      }`,
    );
  }
  if (shards !== "auto") integer("shards", shards, 1);
  integer("maxConcurrency", maxConcurrency, 1);
  integer("sessionStartTotal", sessionStartTotal, 1);
  integer("sessionStartRemaining", sessionStartRemaining, 0, sessionStartTotal);
  integer("resetAfterMs", resetAfterMs, 0);
  integer("heartbeatIntervalMs", heartbeatIntervalMs, MIN_HEARTBEAT_INTERVAL_MS);
  integer("heartbeatTimeoutMs", heartbeatTimeoutMs, 0);
  if (heartbeatTimeoutMs !== 0 && heartbeatTimeoutMs < heartbeatIntervalMs) {
    throw new RangeError(
      `Simulator option "heartbeatTimeoutMs" must be 0 or >= heartbeatIntervalMs (${heartbeatIntervalMs}), got ${heartbeatTimeoutMs}`,
    );
  }
  integer("identifyIntervalMs", identifyIntervalMs, 0);
  integer("guilds", guilds, 0, 10_000_000);
  integer("maxGuildsPerShard", maxGuildsPerShard, 1);
  integer("recommendGuildsPerShard", recommendGuildsPerShard, 1);
  integer("fanOutSkewMs", fanOutSkewMs, 0, 10_000);
  integer("seed", seed, 0, 2 ** 32 - 1);
  integer("emittedLogLimit", emittedLogLimit, 1);
  integer("allowedPrivilegedIntents", allowedPrivilegedIntents, 0);
  if ((allowedPrivilegedIntents & ~PRIVILEGED_INTENTS) !== 0) {
    throw new RangeError(
      `Simulator option "allowedPrivilegedIntents" may only hold privileged bits (${PRIVILEGED_INTENTS}), got ${allowedPrivilegedIntents}`,
    );
  }
  integer("sessionTtlMs", sessionTtlMs, 0);
  integer("replayBufferSize", replayBufferSize, 1);
  integer("interactionDeadlineMs", interactionDeadlineMs, 0);
  integer("commandLimit", commandLimit, 1);
  integer("commandWindowMs", commandWindowMs, 1);
  if (resumeGatewayUrl !== undefined && !/^wss?:\/\/./.test(resumeGatewayUrl)) {
    throw new TypeError(
      `Simulator option "resumeGatewayUrl" must be a ws:// or wss:// URL, got ${
        JSON.stringify(resumeGatewayUrl)
      }`,
    );
  }

  return {
    token,
    restAuthorization,
    hostname,
    port,
    shards,
    maxConcurrency,
    sessionStartTotal,
    sessionStartRemaining,
    resetAfterMs,
    heartbeatIntervalMs,
    heartbeatTimeoutMs,
    identifyIntervalMs,
    guilds,
    maxGuildsPerShard,
    recommendGuildsPerShard,
    fanOutSkewMs,
    seed,
    emittedLogLimit,
    allowedPrivilegedIntents,
    sessionTtlMs,
    replayBufferSize,
    interactionDeadlineMs,
    commandLimit,
    commandWindowMs,
    logger,
    botId,
    resumeGatewayUrl,
  };
}
