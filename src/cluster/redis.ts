/**
 * The one Redis connection helper: `@redis/client` (node-redis 5, Redis Inc.'s maintained client;
 * 1.7x the pipelined XADD rate of ioredis under Deno 2.9 here, same round trip: see
 * docs/cluster.md), with reconnects that back off and never give up, errors logged once per
 * outage, and a health flag for `/readyz`.
 * @module
 */
import { createClient } from "@redis/client";
import { backoffDelay, withTimeout } from "../backoff.ts";
import { redactUrl } from "../../configs.ts";
import type { Logger } from "../log.ts";

/** The first connection to Redis failed (a wrong `REDIS_URL`, Redis down at start). */
export class RedisUnreachableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "RedisUnreachableError";
  }
}

/** The client type `connectRedis` returns (plain RESP2 commands, no modules). */
export type RedisClient = ReturnType<typeof createClient>;

/** A Redis connection and whether it works now. */
export interface RedisConnection {
  readonly client: RedisClient;
  /** Connected and answering (false while reconnecting). */
  readonly healthy: boolean;
  /** Why it is not healthy, for `/readyz`. */
  readonly problem: string | undefined;
  /** A second connection for SUBSCRIBE (a subscribed connection takes no other commands). */
  subscriber(): Promise<RedisClient>;
  close(): Promise<void>;
}

/** Options of {@linkcode connectRedis}. */
export interface RedisConnectOptions {
  url: string;
  logger: Logger;
  /** Reconnect backoff. @default {baseMs: 100, maxMs: 5000} */
  reconnect?: { baseMs?: number; maxMs?: number };
  /** How long the first connection may take before `connectRedis` rejects, ms. @default 10000 */
  connectTimeoutMs?: number;
  /** Name shown by `CLIENT LIST`. */
  name?: string;
}

/**
 * Connects to Redis. The first connection must succeed (a wrong `REDIS_URL` should stop the
 * start with a clear message); later outages reconnect forever with backoff, and commands made
 * meanwhile fail fast (no offline queue: callers decide what to do without Redis).
 */
export async function connectRedis(options: RedisConnectOptions): Promise<RedisConnection> {
  const { url, logger, name } = options;
  const log = logger.with({ component: "redis" });
  const shown = redactUrl(url);
  let healthy = false;
  let problem: string | undefined = "connecting";
  let down = false;
  const extra: RedisClient[] = [];
  const make = (role: string) => {
    const client = createClient({
      url,
      name: name ? `${name}:${role}` : undefined,
      disableOfflineQueue: true,
      socket: {
        connectTimeout: options.connectTimeoutMs ?? 10_000,
        reconnectStrategy: (retries: number) =>
          backoffDelay(retries, options.reconnect ?? { baseMs: 100, maxMs: 5000 }),
      },
    });
    return client;
  };
  const client = make("main");
  client.on("error", (error: Error) => {
    problem = `Redis at ${shown}: ${error.message}`;
    healthy = false;
    if (!down) {
      down = true;
      log.error("Redis connection failed; reconnecting with backoff", {
        url: shown,
        error: error.message,
      });
    }
  });
  client.on("ready", () => {
    if (down) log.info("Redis connection back", { url: shown });
    down = false;
    healthy = true;
    problem = undefined;
  });
  client.on("end", () => {
    healthy = false;
    problem = "closed";
  });
  try {
    await withTimeout(
      client.connect(),
      options.connectTimeoutMs ?? 10_000,
      "no connection",
    );
  } catch (error) {
    client.destroy();
    throw new RedisUnreachableError(
      `cannot connect to Redis at ${shown}: ${
        (error as Error).message
      }; check REDIS_URL and that Redis runs`,
      { cause: error },
    );
  }
  return {
    client: client as unknown as RedisClient,
    get healthy() {
      return healthy;
    },
    get problem() {
      return problem;
    },
    async subscriber() {
      const sub = make(`sub${extra.length}`);
      sub.on("error", () => {/* the main connection reports outages */});
      extra.push(sub as unknown as RedisClient);
      await sub.connect();
      return sub as unknown as RedisClient;
    },
    async close() {
      for (const c of [...extra, client]) {
        try {
          if (c.isOpen) await c.close();
        } catch {
          c.destroy();
        }
      }
    },
  };
}

/** The bot's id, from the token's first part (every key of a bot starts with it). */
export function botIdOf(token: string): string {
  const first = token.split(".")[0] ?? "";
  try {
    const padded = first.replaceAll("-", "+").replaceAll("_", "/");
    const id = atob(padded + "=".repeat((4 - padded.length % 4) % 4));
    if (/^\d+$/.test(id)) return id;
  } catch { /* not base64: fall back to a hash-free label */ }
  return "bot";
}

/** `prefix:botId:` — where one bot's keys live. */
export function keyBase(prefix: string, token: string): string {
  return `${prefix}:${botIdOf(token)}:`;
}

/**
 * Whether a Redis on `127.0.0.1:port` answers PING, on a bare socket: how the demo and the tests
 * wait for a `redis-server` they started.
 */
export async function redisAnswers(port: number): Promise<boolean> {
  let conn: Deno.TcpConn | undefined;
  try {
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(new TextEncoder().encode("PING\r\n"));
    const buf = new Uint8Array(16);
    const n = await conn.read(buf);
    return n !== null && new TextDecoder().decode(buf.subarray(0, n)).startsWith("+PONG");
  } catch {
    return false;
  } finally {
    conn?.close();
  }
}
