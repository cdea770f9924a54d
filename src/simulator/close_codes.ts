/** Discord gateway close codes with the reason text Discord sends. */
export const CloseCodes = {
  UnknownError: 4000,
  UnknownOpcode: 4001,
  DecodeError: 4002,
  NotAuthenticated: 4003,
  AuthenticationFailed: 4004,
  AlreadyAuthenticated: 4005,
  InvalidSeq: 4007,
  RateLimited: 4008,
  SessionTimedOut: 4009,
  InvalidShard: 4010,
  ShardingRequired: 4011,
  InvalidApiVersion: 4012,
  InvalidIntents: 4013,
  DisallowedIntents: 4014,
} as const;

const REASONS: Record<number, string> = {
  4000: "Unknown error.",
  4001: "Unknown opcode.",
  4002: "Decode error.",
  4003: "Not authenticated.",
  4004: "Authentication failed.",
  4005: "Already authenticated.",
  4007: "Invalid seq.",
  4008: "Rate limited.",
  4009: "Session timed out.",
  4010: "Invalid shard.",
  4011: "Sharding required.",
  4012: "Invalid API version.",
  4013: "Invalid intent(s).",
  4014: "Disallowed intent(s).",
};

/**
 * Close reason for `code`: Discord's text, plus a detail saying what the
 * simulator objected to (Discord is terser; the detail helps debugging).
 * Trimmed to the 123-byte limit of a WebSocket close reason.
 */
export function closeReason(code: number, detail?: string): string {
  const base = REASONS[code] ?? "";
  return fitReason(detail ? (base ? `${base} ${detail}` : detail) : base);
}

/** Trims a close reason to the 123 UTF-8 bytes a close frame can carry. */
export function fitReason(text: string): string {
  const bytes = new TextEncoder().encode(text);
  if (bytes.length <= 123) return text;
  return new TextDecoder().decode(bytes.slice(0, 120)).replace(/\uFFFD$/, "") +
    "...";
}

/**
 * Whether a session survives a close sent by the server with `code`.
 * 4003 has no session; 4004, 4007, 4009 and 4010-4014 end it; everything
 * else (4000-4002, 4005, 4008, 1000/1001 "please reconnect") leaves it
 * resumable, as in Discord's close code table.
 */
export function serverCloseKeepsSession(code: number): boolean {
  return ![4003, 4004, 4007, 4009, 4010, 4011, 4012, 4013, 4014].includes(code);
}

/** Whether a close sent by the client ends its session (1000 and 1001 do). */
export function clientCloseEndsSession(code: number): boolean {
  return code === 1000 || code === 1001;
}
