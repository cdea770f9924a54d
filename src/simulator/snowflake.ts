/**
 * Snowflake helpers: Discord ids are 64-bit integers whose top 42 bits are
 * milliseconds since the Discord epoch. Shard routing uses those top bits, so
 * the simulator builds ids from an explicit timestamp part to control routing.
 */

/** Milliseconds between the Unix epoch and the Discord epoch (2015-01-01). */
export const DISCORD_EPOCH = 1_420_070_400_000n;

/** Largest timestamp part a snowflake can carry (42 bits). */
const MAX_TIMESTAMP = (1n << 42n) - 1n;

/** Builds a snowflake from its timestamp part and its low 22 bits. */
export function makeSnowflake(timestamp: bigint, low = 0n): string {
  if (timestamp < 0n || timestamp > MAX_TIMESTAMP) {
    throw new RangeError(`Snowflake timestamp out of range: ${timestamp}`);
  }
  return ((timestamp << 22n) | (low & 0x3fffffn)).toString();
}

/** The timestamp part (ms since the Discord epoch) of a snowflake. */
export function snowflakeTimestamp(id: string): bigint {
  return BigInt(id) >> 22n;
}

/** Discord's guild routing: `(guild_id >> 22) % num_shards`. */
export function shardForGuild(guildId: string, numShards: number): number {
  return Number(snowflakeTimestamp(guildId) % BigInt(numShards));
}

/** Whether a string is a plausible snowflake (decimal, fits in 64 bits). */
export function isSnowflake(value: unknown): value is string {
  if (typeof value !== "string" || !/^\d{1,20}$/.test(value)) return false;
  return BigInt(value) < 1n << 64n;
}

/**
 * The bot user id encoded in a token's first segment (base64 of the id), as
 * Discord and Discordeno's `getBotIdFromToken` read it. Returns undefined when
 * the token does not have that shape.
 */
export function botIdFromToken(token: string): string | undefined {
  const first = token.split(".")[0];
  if (!first) return undefined;
  try {
    const padded = first.replaceAll("-", "+").replaceAll("_", "/");
    const decoded = atob(padded + "=".repeat((4 - padded.length % 4) % 4));
    return isSnowflake(decoded) ? decoded : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Creates a generator of snowflakes for "now", unique within one simulator
 * (the low bits carry a wrapping counter, like Discord's increment).
 */
export function createIdGenerator(): () => string {
  let increment = 0n;
  return () => {
    increment = (increment + 1n) & 0xfffn;
    const timestamp = BigInt(Date.now()) - DISCORD_EPOCH;
    // Worker 1, process 0: ids made here never collide with fixture ids,
    // whose low bits use worker 0.
    return makeSnowflake(timestamp, (1n << 17n) | increment);
  };
}
