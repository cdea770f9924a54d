/** What a shard does after its socket closed with a code. */
export type CloseAction =
  /** Never reconnect: the configuration is wrong (token, intents, shard count). */
  | "fatal"
  /** Reconnect and resume the session. */
  | "resume"
  /** The session is gone: identify again (through the identify queue). */
  | "reidentify"
  /** We closed it ourselves on purpose; whoever closed it decides. */
  | "local";

/** Human-readable reasons for the fatal codes, with what the operator should do. */
const FATAL: Record<number, string> = {
  4004: "authentication failed: DISCORD_TOKEN is invalid or was reset",
  4010: "invalid shard: TOTAL_SHARDS / shard range does not fit the bot",
  4011: "sharding required: too many guilds per shard, raise TOTAL_SHARDS",
  4012: "invalid API version",
  4013: "invalid intents: GATEWAY_INTENTS contains an unknown bit",
  4014:
    "disallowed intents: GATEWAY_INTENTS asks for a privileged intent that is not enabled for this bot in the developer portal",
};

/** Maps a close code to the action (pure; table-tested). */
export function classifyClose(code: number): { action: CloseAction; reason: string } {
  if (code in FATAL) return { action: "fatal", reason: FATAL[code] };
  switch (code) {
    case 4003:
      return { action: "reidentify", reason: "not authenticated" };
    case 4007:
      return { action: "reidentify", reason: "invalid sequence on resume" };
    case 4009:
      return { action: "reidentify", reason: "session timed out" };
    // Discordeno's own close codes: the code path that closed the socket handles what follows.
    case 3000:
    case 3010:
    case 3024:
    case 3064:
    case 3065:
    case 3066:
      return { action: "local", reason: "closed by the proxy" };
    default:
      return {
        action: "resume",
        reason: code === 1006 ? "connection lost" : `closed with ${code}`,
      };
  }
}

/** A close code that must stop the process. */
export class FatalGatewayError extends Error {
  readonly shardId: number;
  readonly code: number;
  constructor(shardId: number, code: number, reason: string, discordReason?: string) {
    super(
      `Discord closed shard ${shardId} with ${code} (${reason})${
        discordReason ? `: "${discordReason}"` : ""
      }`,
    );
    this.name = "FatalGatewayError";
    this.shardId = shardId;
    this.code = code;
  }
}
