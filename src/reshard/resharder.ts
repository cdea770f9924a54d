/**
 * The reshard state machine: plan, prepare a new shard set in the background, switch
 * delivery to it through an overlap window, close the old set. It drives the service
 * through {@linkcode ReshardHost}, so tests can drive it without sockets.
 * @module
 */
import type { Logger } from "../log.ts";
import type { GatewayBotInfo } from "../rest/gateway_bot.ts";
import {
  isRefusal,
  needsReshard,
  planReshard,
  type ReshardPlan,
  type ReshardPolicy,
  type ReshardReason,
} from "./plan.ts";

/** Where a reshard stands, as `GET /reshard` shows it. */
export interface ReshardStatus {
  state: "idle" | "preparing" | "switching" | "done" | "failed";
  from?: number;
  to?: number;
  reason?: ReshardReason;
  /** New shards READY and with their guilds loaded, while preparing. */
  ready?: number;
  startedAt?: number;
  finishedAt?: number;
  /** Why it failed, or why the last automatic check did not reshard. */
  error?: string;
  /** Copies of a dispatch held back during the overlap (delivered once through the other set). */
  deduped: number;
  /** Reshards completed by this process. */
  completed: number;
}

/** A new shard set being prepared (see {@linkcode ReshardHost.prepare}). */
export interface PreparedSet {
  /** Shards READY with their guilds loaded, out of the set's total. */
  progress(): { ready: number; total: number };
  /** Set when the new set cannot work (a fatal close, e.g. 4011 again). */
  failure(): string | undefined;
  /** Both sets deliver, each dispatch once. */
  overlap(): void;
  /** Closes the old set with 1000, makes the new one live, stores its sessions. */
  promote(): Promise<void>;
  /** Ends the overlap's dedupe; returns the copies it held back. */
  settle(): number;
  /** Closes the new set (its sessions end) and forgets it; the old one stays live. */
  abandon(): Promise<void>;
}

/** What the resharder needs from the service. */
export interface ReshardHost {
  /** The live set's shard count and the guilds its shards hold. */
  current(): { totalShards: number; guilds: number };
  /** `GET /gateway/bot` through the REST proxy. */
  fetchInfo(): Promise<GatewayBotInfo>;
  /** Starts a new set of `totalShards` that identifies but does not deliver. */
  prepare(totalShards: number): PreparedSet;
}

/** Options of {@linkcode createResharder}. */
export interface ResharderOptions {
  host: ReshardHost;
  logger: Logger;
  policy: ReshardPolicy;
  /** `RESHARDING`: off = no automatic checks, 4011 stays fatal, `POST /reshard` answers 409. */
  enabled: boolean;
  /** Set when this process runs part of the shards: resharding needs a coordinator then. */
  partialRange?: string;
  /** `RESHARD_CHECK_INTERVAL_MS`; 0 = no periodic check. */
  checkIntervalMs: number;
  /** `RESHARD_OVERLAP_MS`: how long both sets deliver through the dedupe. */
  overlapMs: number;
  /** Longest a new set may take to be ready, ms (from its size and the identify spacing). */
  readyTimeoutMs: (totalShards: number) => number;
  /** How often a preparation looks at the new set's progress. @default 100 */
  pollMs?: number;
  /** @default Date.now */
  now?: () => number;
}

/** Answer to a reshard request. */
export type ReshardAnswer =
  | { status: 202; plan: ReshardPlan }
  | { status: 400 | 409 | 503; reason: string };

/** Starts and tracks reshards. */
export interface Resharder {
  /** Plans and starts a reshard in the background; 202 with the plan, or why not. */
  request(input: { reason: ReshardReason; totalShards?: number }): Promise<ReshardAnswer>;
  status(): ReshardStatus;
  /** Resolves when the running reshard (if any) has ended. */
  settled(): Promise<void>;
  /** Stops checking; a preparation in progress is abandoned (the old set stays). */
  close(): Promise<void>;
}

/** Creates the {@linkcode Resharder}; the periodic check starts at once when enabled. */
export function createResharder(options: ResharderOptions): Resharder {
  const { host, policy, enabled, partialRange, overlapMs, pollMs = 100, now = Date.now } = options;
  const log = options.logger.with({ component: "reshard" });
  let status: ReshardStatus = { state: "idle", deduped: 0, completed: 0 };
  let running: Promise<void> | undefined;
  let prepared: PreparedSet | undefined;
  let closed = false;
  const stop = new AbortController();

  if (!enabled) {
    log.info("resharding is off (RESHARDING=false)");
  } else if (partialRange) {
    log.warn(
      `automatic resharding is off: this process runs shards ${partialRange}, and the processes would have to agree on the new total and switch together (needs a coordinator)`,
    );
  }
  const timer = enabled && !partialRange && options.checkIntervalMs > 0
    ? setInterval(() => {
      check().catch((error) => log.error("reshard check failed", { error }));
    }, options.checkIntervalMs)
    : undefined;

  async function check() {
    if (running || closed) return;
    const { totalShards, guilds } = host.current();
    if (!needsReshard(guilds, totalShards, policy.percentage)) {
      log.debug("shards have room", { guilds, totalShards, percentage: policy.percentage });
      return;
    }
    const answer = await request({ reason: "capacity" });
    if (answer.status !== 202) {
      status = { ...status, error: answer.reason };
      log.warn("shards are filling up but cannot reshard now; trying again at the next check", {
        reason: answer.reason,
        guilds,
        totalShards,
      });
    }
  }

  async function request(
    input: { reason: ReshardReason; totalShards?: number },
  ): Promise<ReshardAnswer> {
    if (closed) return { status: 409, reason: "the service is stopping" };
    if (!enabled) return { status: 409, reason: "resharding is off (RESHARDING=false)" };
    if (partialRange) {
      return {
        status: 409,
        reason:
          `this process runs shards ${partialRange} of the bot's shards; resharding several processes needs a coordinator (run one process for all shards, or change TOTAL_SHARDS on every process together)`,
      };
    }
    if (running) {
      return { status: 409, reason: `a reshard ${status.from} -> ${status.to} is running` };
    }
    let info: GatewayBotInfo;
    try {
      info = await host.fetchInfo();
    } catch (error) {
      return {
        status: 503,
        reason: `GET /gateway/bot failed: ${error instanceof Error ? error.message : error}`,
      };
    }
    if (running) {
      return { status: 409, reason: `a reshard ${status.from} -> ${status.to} is running` };
    }
    const { totalShards, guilds } = host.current();
    const plan = planReshard({
      current: totalShards,
      guilds,
      info,
      policy,
      reason: input.reason,
      requested: input.totalShards,
    });
    if (isRefusal(plan)) return plan;
    status = {
      state: "preparing",
      from: plan.from,
      to: plan.to,
      reason: plan.reason,
      ready: 0,
      startedAt: now(),
      deduped: status.deduped,
      completed: status.completed,
    };
    log.info("resharding", { from: plan.from, to: plan.to, reason: plan.reason, guilds });
    running = run(plan).catch((error) => fail(`reshard crashed: ${error}`)).finally(() => {
      running = undefined;
      prepared = undefined;
    });
    return { status: 202, plan };
  }

  async function run(plan: ReshardPlan) {
    let set: PreparedSet;
    try {
      set = prepared = host.prepare(plan.to);
    } catch (error) {
      return fail(`could not start the new shard set: ${(error as Error).message}`);
    }
    const deadline = now() + options.readyTimeoutMs(plan.to);
    for (;;) {
      if (closed) return;
      const failure = set.failure();
      if (failure) return abandon(set, failure);
      const { ready, total } = set.progress();
      if (ready !== status.ready) {
        status = { ...status, ready };
        log.info(`reshard preparing: ${ready}/${total} new shards ready`);
      }
      if (ready >= total) break;
      if (now() > deadline) {
        return abandon(set, `the new shards were not ready in time (${ready}/${total})`);
      }
      await sleep(pollMs, stop.signal);
    }
    status = { ...status, state: "switching" };
    log.info("reshard switching: both shard sets deliver, each dispatch once", { overlapMs });
    set.overlap();
    await sleep(overlapMs, stop.signal);
    // Stopping before the old set closed: the old set stays the one to resume.
    if (closed) return abandon(set, "the service stopped during the switch");
    try {
      await set.promote();
    } catch (error) {
      return fail(`switching to the new set failed: ${(error as Error).message}`);
    }
    // Copies from the old set that were still in flight meet the dedupe for one more window.
    await sleep(overlapMs, stop.signal);
    let deduped = 0;
    try {
      deduped = set.settle();
    } catch (error) {
      log.warn("ending the overlap failed", { error });
    }
    status = {
      ...status,
      state: "done",
      finishedAt: now(),
      deduped: status.deduped + deduped,
      completed: status.completed + 1,
      error: undefined,
    };
    log.info("reshard done", {
      from: plan.from,
      to: plan.to,
      deduped,
      tookMs: now() - status.startedAt!,
    });
  }

  async function abandon(set: PreparedSet, why: string) {
    await set.abandon().catch((error) => log.warn("closing the new shard set failed", { error }));
    fail(why);
  }

  function fail(why: string) {
    status = { ...status, state: "failed", finishedAt: now(), error: why };
    log.error("reshard failed; the old shard set stays live", { reason: why });
  }

  return {
    request,
    status: () => ({ ...status }),
    settled: () => running ?? Promise.resolve(),
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      stop.abort();
      const set = prepared;
      if (set && status.state === "preparing") {
        await set.abandon().catch(() => {});
        status = {
          ...status,
          state: "failed",
          finishedAt: now(),
          error: "the service stopped during preparation",
        };
      }
      await running?.catch(() => {});
    },
  };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
