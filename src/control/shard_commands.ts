/**
 * Gateway commands and restarts from the HTTP API, checked before they reach
 * a shard: the shard must be in this process's range, connected, and within
 * its command budget. In a cluster, a shard another process holds gets the
 * command through Redis, and that process runs the same checks.
 * @module
 */
import { ShardUnavailableError } from "../gateway/group.ts";
import { RemoteCommandError, type ShardCommand } from "../cluster/commands.ts";
import { createCommandBudget } from "./budget.ts";
import { HttpError } from "./http.ts";
import type { ControlInputs } from "./inputs.ts";
import type { GatewayPayload } from "./wire.ts";

/** Sends and restarts that throw {@linkcode HttpError} with the answer to give. */
export interface ShardCommands {
  send(shardId: number, payload: GatewayPayload): Promise<void>;
  restart(shardId: number): Promise<void>;
}

/** A shard the gateway cannot use now, as the HTTP answer that says so. */
function unavailable(error: unknown): never {
  if (error instanceof ShardUnavailableError) {
    throw error.kind === "not-owned"
      ? new HttpError(404, error.message)
      : new HttpError(503, error.message, { "retry-after": "1" });
  }
  throw error;
}

/** The holder's refusal, as the same HTTP answer here. */
function remoteRefusal(error: unknown): never {
  if (error instanceof RemoteCommandError) {
    throw new HttpError(
      error.status,
      error.message,
      error.retryAfter ? { "retry-after": error.retryAfter } : undefined,
    );
  }
  throw error;
}

/**
 * Creates the {@linkcode ShardCommands}; in a cluster it also starts taking the commands
 * other processes pass on for the shards this one holds.
 */
export function createShardCommands(
  inputs: ControlInputs,
  options: { now: () => number },
): ShardCommands {
  const budget = createCommandBudget({ now: options.now });

  /** Runs `command` on the process holding the shard when that is another one. */
  const remote = async (shardId: number, command: ShardCommand) => {
    const range = inputs.stats().range;
    const cluster = inputs.cluster;
    if (!cluster || !range) return false;
    if (cluster.runsHere(shardId)) return false;
    if (shardId < range.first || shardId > range.last) return false;
    await cluster.forward(shardId, range.total, command).catch(remoteRefusal);
    return true;
  };

  /** The report of a shard of this range that has connected; else the answer saying why not. */
  const shard = (shardId: number) => {
    const range = inputs.stats().range;
    if (!range) throw new HttpError(503, "the gateway has not started yet", { "retry-after": "1" });
    if (shardId < range.first || shardId > range.last) {
      throw new HttpError(
        404,
        `shard ${shardId} is not run by this process (it runs ${range.first}-${range.last} of ${range.total})`,
      );
    }
    const s = inputs.shardReports().find((r) => r.shardId === shardId);
    if (!s || s.sessionId === null && s.state === "identifying") {
      throw new HttpError(503, `shard ${shardId} has not connected yet`, { "retry-after": "1" });
    }
    return s;
  };

  const localSend = async (shardId: number, payload: GatewayPayload) => {
    const s = shard(shardId);
    if (s.state !== "connected") {
      throw new HttpError(
        503,
        `shard ${shardId} is ${s.state}; try again shortly`,
        { "retry-after": "1" },
      );
    }
    // Heartbeats (and a re-identify) must always fit: leave them their share.
    const limit = s.commandLimit;
    const taken = budget.take(shardId, limit);
    if (!taken.ok) {
      throw new HttpError(
        429,
        `shard ${shardId} used its ${limit} commands for this minute (Discord allows 120 per 60 s, heartbeats included)`,
        { "retry-after": String(Math.ceil(taken.retryAfterMs / 1000)) },
      );
    }
    await inputs.send(shardId, payload).catch(unavailable);
  };

  const localRestart = async (shardId: number) => {
    shard(shardId);
    await inputs.restart(shardId).catch(unavailable);
  };

  inputs.cluster?.handleCommands((shardId, command) =>
    command.kind === "send" ? localSend(shardId, command.payload) : localRestart(shardId)
  );

  return {
    async send(shardId, payload) {
      if (await remote(shardId, { kind: "send", payload })) return;
      await localSend(shardId, payload);
    },
    async restart(shardId) {
      if (await remote(shardId, { kind: "restart" })) return;
      await localRestart(shardId);
    },
  };
}
