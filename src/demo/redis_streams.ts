/**
 * The pieces of `deno task demo --redis-streams`: a throwaway local `redis-server`, and a bot that
 * reads its events from the shards' streams with `consume()` (src/consumer.ts) instead of taking
 * HTTP requests, and can be stopped and started again as a deploy would.
 * @module
 */
import { redisAnswers } from "../cluster/redis.ts";
import { consume, type StreamEvent } from "../consumer.ts";

/** A `redis-server` this process started. */
export interface LocalRedis {
  readonly url: string;
  /** Kills it (nothing is saved) and waits for the exit. */
  stop(): Promise<void>;
}

/**
 * Starts `redis-server` on a free local port, without persistence.
 * @throws {Error} saying what to install when `redis-server` is missing, or why it did not start.
 */
export async function startLocalRedis(): Promise<LocalRedis> {
  // `deno task demo` has no --allow-run: ask (a terminal prompts), or say how to grant it.
  const { state } = await Deno.permissions.request({ name: "run", command: "redis-server" });
  if (state !== "granted") {
    throw new Error(
      "--redis-streams starts redis-server, which needs --allow-run: " +
        "deno run -A src/demo/main.ts --redis-streams",
    );
  }
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("redis-server", {
      args: ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
      stdout: "null",
      stderr: "null",
      stdin: "null",
    }).spawn();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error(
        "--redis-streams needs redis-server (Redis 7): apt-get install redis-server, " +
          "brew install redis, or run the demo without --redis-streams",
      );
    }
    throw error;
  }
  let exited = false;
  const status = child.status.finally(() => exited = true);
  const deadline = Date.now() + 10_000;
  while (!(await redisAnswers(port))) {
    if (exited) throw new Error(`redis-server exited at start (port ${port})`);
    if (Date.now() > deadline) throw new Error("redis-server did not answer within 10 s");
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      if (!exited) child.kill("SIGKILL");
      await status;
    },
  };
}

/** Options of {@linkcode startStreamsBot}. */
export interface StreamsBotOptions {
  redisUrl: string;
  /** The gateway's `keyBase(REDIS_KEY_PREFIX, token)`. */
  keyBase: string;
  /** `REDIS_STREAM_GROUP`. */
  group: string;
  /** Called once per event, before its ack. */
  onEvent(event: StreamEvent): void;
}

/** A running demo bot; `down()` stops reading (a deploy), `up()` reads again. */
export interface StreamsBot {
  up(): void;
  down(): Promise<void>;
}

/** Starts a bot reading every shard's stream as consumer `demo-bot`, acking each event. */
export function startStreamsBot(options: StreamsBotOptions): StreamsBot {
  let running: { stop: AbortController; done: Promise<void> } | undefined;
  const up = () => {
    if (running) return;
    const stop = new AbortController();
    const done = (async () => {
      for await (
        const event of consume({
          redisUrl: options.redisUrl,
          keyBase: options.keyBase,
          group: options.group,
          // The same name after a restart: what it read and did not ack comes back first.
          consumer: "demo-bot",
          signal: stop.signal,
          onError: (error) => console.error(`bot: ${error.message}`),
        })
      ) {
        options.onEvent(event);
        await event.ack();
      }
    })();
    running = { stop, done };
  };
  up();
  return {
    up,
    async down() {
      if (!running) return;
      running.stop.abort();
      await running.done;
      running = undefined;
    },
  };
}
