/**
 * What the control API may see and do, as one narrow interface, and its
 * implementation over a running {@linkcode Service}. A multi-process setup can
 * implement the same interface over Redis or HTTP.
 * @module
 */
import type { DeliveryCounters } from "../delivery/counters.ts";
import { type ShardReport, ShardUnavailableError } from "../gateway/group.ts";
import type { ReshardAnswer, ReshardStatus } from "../reshard/mod.ts";
import type { WorkerInfo } from "../workers/worker_set.ts";
import type { RedisStreamsStats } from "../transport/redis_streams.ts";
import type { RedeliverResult } from "../delivery/redeliver.ts";
import type { GatewayStats, Service } from "../service.ts";
import { createCommandBudget } from "./budget.ts";
import { HttpError } from "./http.ts";
import { RemoteCommandError, type ShardCommand } from "../cluster/commands.ts";
import type { HandlerStatus, ShardStatus, StatusHistoryPoint } from "./status_page.ts";

/** One shard as the API shows it (the `/shards` and `/status` item). */
export type ShardView = ShardStatus;
/** A point of the status page's charts. */
export type HistoryPoint = StatusHistoryPoint;

/** The control API's view of the service. */
export interface ControlSource {
  alive(): boolean;
  /** Ready when every owned shard is live, or down for less than the grace period. */
  readiness(): { ready: boolean; reasons: string[] };
  range(): { first: number; last: number; total: number } | undefined;
  shards(): ShardView[];
  /** The shard a guild's events and commands belong to, or undefined before start. */
  shardForGuild(guildId: string): number | undefined;
  /** Sends a gateway command within the shard's budget; throws {@linkcode HttpError}. */
  send(shardId: number, payload: { op: number; d: unknown }): Promise<void>;
  /** Reconnects a shard (resuming its session). */
  restart(shardId: number): Promise<void>;
  counters(): DeliveryCounters;
  stats(): GatewayStats;
  backlogAgeMs(): number;
  /** Why the event handler is not taking events, while it is not. */
  handlerProblem?(): HandlerStatus | undefined;
  cacheSizes(): { guilds: number; editedMessages: number };
  history(): HistoryPoint[];
  /**
   * Sends the dead letters again and keeps those still failing (`POST /dead-letters/redeliver`);
   * absent where the service cannot (the route then answers 501).
   */
  redeliverDeadLetters?(): Promise<RedeliverResult>;
  /** Starts a reshard (`POST /reshard`); absent where the service cannot (the route answers 501). */
  reshard?(request: { totalShards?: number }): Promise<ReshardAnswer>;
  /** Where resharding stands (`GET /reshard`, `/status`, `/metrics`). */
  reshardStatus?(): ReshardStatus;
  /** The worker threads holding the shards (empty when they run in the main thread). */
  workers?(): WorkerInfo[];
  /** With `TRANSPORT=redis-streams`: the transport's counters. */
  streams?(): RedisStreamsStats | undefined;
  close(): void;
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

/** Options of {@linkcode createControlSource}. */
export interface ControlSourceOptions {
  alive(): boolean;
  /** A shard down for less than this still counts as ready (a resume in progress), ms. @default 30000 */
  readyGraceMs?: number;
  /** @default Date.now */
  now?: () => number;
}

/** The {@linkcode ControlSource} of a service in this process. */
export function createControlSource(
  service: Service,
  options: ControlSourceOptions,
): ControlSource {
  const { alive, readyGraceMs = 30_000, now = Date.now } = options;
  const budget = createCommandBudget({ now });
  // Events/s per shard: counts sampled every second, rate over the last 10 s.
  const samples: { at: number; byShard: Map<number, number>; total: number }[] = [];
  const history: HistoryPoint[] = [];
  const sample = () => {
    const c = service.counters;
    samples.push({ at: now(), byShard: new Map(c.receivedByShard), total: c.received });
    if (samples.length > 11) samples.shift();
  };
  const rate = (shardId?: number) => {
    if (samples.length < 2) return 0;
    const a = samples[0];
    const b = samples[samples.length - 1];
    const seconds = (b.at - a.at) / 1000;
    if (seconds <= 0) return 0;
    const diff = shardId === undefined
      ? b.total - a.total
      : (b.byShard.get(shardId) ?? 0) - (a.byShard.get(shardId) ?? 0);
    return Math.round(diff / seconds * 10) / 10;
  };
  sample();
  let ticks = 0;
  const timer = setInterval(() => {
    sample();
    if (++ticks % 5 === 0) {
      const depth = queueDepth();
      history.push({ at: now(), eventsPerSecond: rate(), queueDepth: depth.memory + depth.disk });
      if (history.length > 120) history.shift();
    }
  }, 1000);
  const queueDepth = (shardId?: number) => {
    try {
      return service.queue.depth(shardId);
    } catch {
      return { memory: 0, disk: 0 };
    }
  };
  /** A command for a shard another process of the cluster holds: run there. */
  const remote = async (shardId: number, command: ShardCommand) => {
    const range = service.stats.range;
    if (!service.cluster || !range) return false;
    if (service.runsShard(shardId)) return false;
    if (shardId < range.first || shardId > range.last) return false;
    await service.cluster.forward(shardId, range.total, command).catch((error) => {
      if (error instanceof RemoteCommandError) {
        throw new HttpError(
          error.status,
          error.message,
          error.retryAfter ? { "retry-after": error.retryAfter } : undefined,
        );
      }
      throw error;
    });
    return true;
  };

  const shard = (shardId: number) => {
    const range = service.stats.range;
    if (!range) throw new HttpError(503, "the gateway has not started yet", { "retry-after": "1" });
    if (shardId < range.first || shardId > range.last) {
      throw new HttpError(
        404,
        `shard ${shardId} is not run by this process (it runs ${range.first}-${range.last} of ${range.total})`,
      );
    }
    const s = report(shardId);
    if (!s || s.sessionId === null && s.state === "identifying") {
      throw new HttpError(503, `shard ${shardId} has not connected yet`, { "retry-after": "1" });
    }
    return s;
  };
  const report = (shardId: number): ShardReport | undefined =>
    service.group?.status().find((r) => r.shardId === shardId);

  const handlerProblem = (): HandlerStatus | undefined => {
    try {
      const p = service.queue.handlerProblem();
      return p && { kind: p.kind, status: p.status, hint: p.hint, since: p.since };
    } catch {
      return undefined;
    }
  };

  const source: ControlSource = {
    alive,
    handlerProblem,
    readiness() {
      const reasons: string[] = [];
      const range = service.stats.range;
      if (!alive()) reasons.push("the process is stopping");
      if (!range) reasons.push("the gateway has not started yet (GET /gateway/bot pending)");
      const states = new Map(service.group?.status().map((r) => [r.shardId, r.state]));
      for (const [id, since] of service.stats.downSince) {
        const state = states.get(id) ?? "not spawned";
        const down = now() - since;
        if (down >= readyGraceMs || state === "offline") {
          reasons.push(`shard ${id} is ${state} for ${Math.round(down / 1000)} s`);
        }
      }
      for (const w of service.workers()) {
        if (w.state === "restarting") {
          reasons.push(
            `worker ${w.index} (shards ${w.firstShardId}-${w.lastShardId}) is restarting after ${w.restarts} crash(es): ${w.lastCrash}`,
          );
        }
      }
      const clusterProblem = service.cluster?.problem();
      if (clusterProblem) {
        reasons.push(
          `${clusterProblem}: running shards keep running and queue locally, but no shard starts or is taken over until Redis answers`,
        );
      }
      const problem = handlerProblem();
      if (problem?.kind === "unavailable") {
        reasons.push(
          `the event handler is unavailable (HTTP ${problem.status}) for ${
            Math.round((now() - problem.since) / 1000)
          } s: ${problem.hint}; events are held`,
        );
      }
      return { ready: reasons.length === 0, reasons };
    },
    range: () => service.stats.range,
    shards() {
      const range = service.stats.range;
      if (!range) return [];
      const health = service.shaper?.health();
      const reports = new Map(service.group?.status().map((r) => [r.shardId, r]));
      const out: ShardView[] = [];
      const cluster = service.cluster;
      const view = cluster?.view(range.total);
      const ages = cluster?.leasesFor(range.total)?.confirmedAgo();
      for (let id = range.first; id <= range.last; id++) {
        const s = reports.get(id);
        if (!s && view) {
          // Held by another process (as it reported in its last lease round), or by none.
          const r = view.get(id);
          out.push({
            id,
            totalShards: range.total,
            state: (r?.state ?? "offline") as ShardView["state"],
            latencyMs: r?.latencyMs ?? null,
            guilds: r?.guilds ?? 0,
            unavailable: 0,
            loading: 0,
            sessionId: null,
            lastEventAt: null,
            eventsPerSecond: 0,
            queue: { memory: 0, disk: 0 },
            member: r?.member,
            leaseAgeMs: r ? r.leaseAgeMs + (now() - r.reportedAt) : undefined,
          });
          continue;
        }
        const facts = health?.get(id);
        out.push({
          id,
          totalShards: range.total,
          state: s?.state ?? "identifying",
          latencyMs: s?.latencyMs ?? null,
          guilds: facts?.guilds ?? 0,
          unavailable: facts?.unavailable ?? 0,
          loading: facts?.loading ?? 0,
          sessionId: s?.sessionId ?? null,
          lastEventAt: facts?.lastEventAt || null,
          eventsPerSecond: rate(id),
          queue: queueDepth(id),
          ...(cluster ? { member: cluster.memberId, leaseAgeMs: ages?.get(id) } : {}),
        });
      }
      return out;
    },
    shardForGuild(guildId) {
      const range = service.stats.range;
      if (!range) return undefined;
      return Number((BigInt(guildId) >> 22n) % BigInt(range.total));
    },
    async send(shardId, payload) {
      if (await remote(shardId, { kind: "send", payload })) return;
      await localSend(shardId, payload);
    },
    async restart(shardId) {
      if (await remote(shardId, { kind: "restart" })) return;
      await localRestart(shardId);
    },
    counters: () => service.counters,
    stats: () => service.stats,
    backlogAgeMs: () => {
      try {
        return service.queue.backlogAgeMs();
      } catch {
        return 0;
      }
    },
    cacheSizes: () => service.shaper?.stats() ?? { guilds: 0, editedMessages: 0 },
    history: () => [...history],
    redeliverDeadLetters: () => service.redeliverDeadLetters(),
    reshard: (request) => service.reshard(request),
    reshardStatus: () => service.reshardStatus(),
    workers: () => service.workers(),
    streams: () => service.streamStats(),
    close: () => clearInterval(timer),
  };

  async function localSend(shardId: number, payload: { op: number; d: unknown }) {
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
    await service.send(shardId, payload).catch(unavailable);
  }

  async function localRestart(shardId: number) {
    shard(shardId);
    await service.group?.restart(shardId).catch(unavailable);
  }
  // Commands other processes pass on for the shards this one holds, with the same checks.
  service.cluster?.handleCommands((shardId, command) =>
    command.kind === "send" ? localSend(shardId, command.payload) : localRestart(shardId)
  );
  return source;
}
