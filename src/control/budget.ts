/**
 * Discord closes a connection that sends more than 120 commands in 60 s (4008).
 * Commands from the HTTP API spend from this budget first, so the bot gets a 429
 * with `Retry-After` instead of the shard getting disconnected.
 * @module
 */

/** A sliding-window budget per shard. */
export interface CommandBudget {
  /** Takes one command for `shardId`; returns ms to wait instead when the window is full. */
  take(shardId: number, limit: number): { ok: true } | { ok: false; retryAfterMs: number };
}

/** Options of {@linkcode createCommandBudget}. */
export interface CommandBudgetOptions {
  /** @default 60000 */
  windowMs?: number;
  /** @default Date.now */
  now?: () => number;
}

/** Creates a {@linkcode CommandBudget}. */
export function createCommandBudget(options: CommandBudgetOptions = {}): CommandBudget {
  const { windowMs = 60_000, now = Date.now } = options;
  const sent = new Map<number, number[]>();
  return {
    take(shardId, limit) {
      const t = now();
      const times = (sent.get(shardId) ?? []).filter((x) => x > t - windowMs);
      if (times.length >= limit) {
        sent.set(shardId, times);
        return { ok: false, retryAfterMs: Math.max(1, times[0] + windowMs - t) };
      }
      times.push(t);
      sent.set(shardId, times);
      return { ok: true };
    },
  };
}
