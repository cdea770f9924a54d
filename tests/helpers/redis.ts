/**
 * A real `redis-server` (Debian's) for a test: started on a free port with no persistence,
 * stopped (or paused and resumed) by the test. `.ci/run` installs it when missing.
 * @module
 */
import { redisAnswers } from "../../src/cluster/redis.ts";

/** A running Redis server. */
export interface TestRedis {
  readonly url: string;
  readonly port: number;
  /** Stops it (SIGKILL: nothing to save) and waits for the exit. */
  stop(): Promise<void>;
  /** SIGSTOP / SIGCONT: Redis stops answering without closing connections. */
  pause(): void;
  resume(): void;
}

/** Starts `redis-server` on a free port; throws with what to install when it is missing. */
export async function startRedis(): Promise<TestRedis> {
  const port = freePort();
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("redis-server", {
      args: [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--protected-mode",
        "no",
        "--loglevel",
        "warning",
      ],
      stdout: "null",
      stderr: "piped",
      stdin: "null",
    }).spawn();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error(
        "redis-server is not installed: apt-get install -y redis-server (.ci/run does this)",
      );
    }
    throw error;
  }
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  // Ready once it accepts a connection and answers PING.
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (exited) {
      const err = await new Response(child.stderr).text();
      throw new Error(`redis-server exited at start: ${err}`);
    }
    if (await redisAnswers(port)) break;
    if (Date.now() > deadline) throw new Error("redis-server did not answer within 10 s");
    await new Promise((r) => setTimeout(r, 20));
  }
  child.stderr.cancel().catch(() => {});
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    async stop() {
      if (!exited) {
        try {
          child.kill("SIGCONT");
          child.kill("SIGKILL");
        } catch { /* gone */ }
      }
      await status;
    },
    pause: () => child.kill("SIGSTOP"),
    resume: () => child.kill("SIGCONT"),
  };
}

/** A port nobody listens on now (the OS picks it). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = l.addr as Deno.NetAddr;
  l.close();
  return port;
}
