/**
 * Commands for a shard another process holds: sent over Redis pub/sub to the holder's own
 * channel, answered on the sender's. Pub/sub, not "answer with the owner's address", because
 * processes behind NAT or in containers rarely know an address the others can reach, and
 * every process already has Redis.
 * @module
 */
import type { Logger } from "../log.ts";
import type { RedisClient } from "./redis.ts";

/** A command for one shard, as plain data. */
export type ShardCommand =
  | { kind: "send"; payload: { op: number; d: unknown } }
  | { kind: "restart" };

/** How a command failed, as the HTTP answer the holder would have given. */
export class RemoteCommandError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly retryAfter?: string,
  ) {
    super(message);
    this.name = "RemoteCommandError";
  }
}

interface Request {
  id: string;
  from: string;
  shardId: number;
  command: ShardCommand;
}

interface Reply {
  id: string;
  error?: { status: number; message: string; retryAfter?: string };
}

/** Runs a command on a shard of this process; throws with `status` (an `HttpError`) to refuse. */
export type LocalCommandHandler = (shardId: number, command: ShardCommand) => Promise<void>;

/** Options of {@linkcode createCommandRouter}. */
export interface CommandRouterOptions {
  client: RedisClient;
  /** A connection for SUBSCRIBE only. */
  subscriber: RedisClient;
  base: string;
  memberId: string;
  logger: Logger;
  /** How long the holder may take to answer, ms. @default 5000 */
  timeoutMs?: number;
}

/** Sends commands to other processes and runs theirs here. */
export interface CommandRouter {
  /** Sends `command` to `holder`; resolves when it ran there, throws {@linkcode RemoteCommandError}. */
  send(holder: string, shardId: number, command: ShardCommand): Promise<void>;
  /** Where commands from other processes go. */
  handle(handler: LocalCommandHandler): void;
  close(): Promise<void>;
}

/** Subscribes to this process's channel and returns the router. */
export async function createCommandRouter(options: CommandRouterOptions): Promise<CommandRouter> {
  const { client, subscriber, base, memberId, logger } = options;
  const timeoutMs = options.timeoutMs ?? 5000;
  const log = logger.with({ component: "commands" });
  const channel = (member: string) => `${base}commands:${member}`;
  const replyChannel = (member: string) => `${base}replies:${member}`;
  const waiting = new Map<string, (reply: Reply) => void>();
  let handler: LocalCommandHandler | undefined;

  const onRequest = async (text: string) => {
    let req: Request;
    try {
      req = JSON.parse(text);
    } catch {
      return log.warn("ignoring a malformed command from Redis");
    }
    const reply: Reply = { id: req.id };
    try {
      if (!handler) throw new RemoteCommandError(503, "this process is still starting", "1");
      await handler(req.shardId, req.command);
    } catch (error) {
      const e = error as { status?: number; message?: string; headers?: Record<string, string> };
      reply.error = {
        status: typeof e.status === "number" ? e.status : 500,
        message: e.message ?? String(error),
        retryAfter: e.headers?.["retry-after"] ??
          (error instanceof RemoteCommandError ? error.retryAfter : undefined),
      };
    }
    await client.publish(replyChannel(req.from), JSON.stringify(reply)).catch((error) =>
      log.warn("could not answer a command", { error: (error as Error).message })
    );
  };

  await subscriber.subscribe(channel(memberId), (text: string) => void onRequest(text));
  await subscriber.subscribe(replyChannel(memberId), (text: string) => {
    try {
      const reply = JSON.parse(text) as Reply;
      waiting.get(reply.id)?.(reply);
    } catch { /* not ours */ }
  });

  return {
    async send(holder, shardId, command) {
      const id = crypto.randomUUID();
      const answered = new Promise<Reply>((resolve) => waiting.set(id, resolve));
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        const listeners = await client.publish(
          channel(holder),
          JSON.stringify({ id, from: memberId, shardId, command } satisfies Request),
        ).catch((error) => {
          throw new RemoteCommandError(
            503,
            `cannot reach Redis to pass the command to ${holder}: ${(error as Error).message}`,
            "1",
          );
        });
        if (Number(listeners) === 0) {
          throw new RemoteCommandError(
            503,
            `shard ${shardId} is held by ${holder}, which does not listen for commands (stopping?)`,
            "1",
          );
        }
        const reply = await Promise.race([
          answered,
          new Promise<never>((_, reject) => {
            timer = setTimeout(
              () =>
                reject(
                  new RemoteCommandError(
                    504,
                    `${holder} (holding shard ${shardId}) did not answer within ${timeoutMs} ms`,
                  ),
                ),
              timeoutMs,
            );
          }),
        ]);
        if (reply.error) {
          throw new RemoteCommandError(
            reply.error.status,
            `${reply.error.message} (on ${holder})`,
            reply.error.retryAfter,
          );
        }
      } finally {
        clearTimeout(timer);
        waiting.delete(id);
      }
    },
    handle(h) {
      handler = h;
    },
    async close() {
      await subscriber.unsubscribe().catch(() => {});
    },
  };
}
