/**
 * A private `redis-server` per conformance case (about 70 ms to start), so that no case sees
 * another's keys and a case may stop or pause its server.
 * @module
 */
import { connectRedis, type RedisClient, type RedisConnection } from "../../src/cluster/mod.ts";
import { silentLogger } from "../../src/log.ts";
import { startRedis, type TestRedis } from "../helpers/redis.ts";

/** A running server and one connection to it. */
export interface RedisFixture {
  readonly server: TestRedis;
  readonly connection: RedisConnection;
  readonly client: RedisClient;
  /** Resumes a paused server, closes the connection, stops the server. */
  cleanup(): Promise<void>;
}

/** Starts a server and connects to it (reconnects back off quickly, for stop/pause cases). */
export async function redisFixture(): Promise<RedisFixture> {
  const server = await startRedis();
  const connection = await connectRedis({
    url: server.url,
    logger: silentLogger,
    reconnect: { baseMs: 20, maxMs: 100 },
  });
  return {
    server,
    connection,
    client: connection.client,
    async cleanup() {
      try {
        server.resume(); // a case may have paused it
      } catch { /* already stopped */ }
      await connection.close().catch(() => {});
      await server.stop();
    },
  };
}
