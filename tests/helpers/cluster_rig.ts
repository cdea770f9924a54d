/**
 * Several gateway processes sharing one bot through a real Redis: the simulator, one test
 * handler, one stand-in REST proxy and one `redis-server`, and services started in this
 * process (`startMember`) or as real child processes (`startMemberProcess`, for kill -9 and
 * SIGSTOP).
 * @module
 */
import { type Env, loadConfig } from "../../configs.ts";
import { createLogger } from "../../src/log.ts";
import { createService, type Service } from "../../src/service.ts";
import { createSimulator } from "../../src/simulator/mod.ts";
import type { Simulator, SimulatorOptions } from "../../src/simulator/types.ts";
import { startTestHandler, type TestHandler } from "./handler.ts";
import { type ProxyProcess, startProxyProcess } from "./process.ts";
import { startRedis, type TestRedis } from "./redis.ts";
import { type Relay, startRelay } from "./relay.ts";
import { REST_SECRET, testEnv, TOKEN } from "./rig.ts";

/** One member started in this process. */
export interface Member {
  id: string;
  service: Service;
  logs: string[];
  dataDir: string;
}

/** The shared parts and the members. */
export interface ClusterRig {
  sim: Simulator;
  handler: TestHandler;
  redis: TestRedis;
  restProxy: Relay;
  /** The environment every member shares (plus its own id and DATA_DIR). */
  env: Env;
  startMember(id: string, env?: Env): Promise<Member>;
  startMemberProcess(id: string, env?: Env): Promise<ProxyProcess & { dataDir: string }>;
  close(): Promise<void>;
}

/** Options of {@linkcode startClusterRig}. */
export interface ClusterRigOptions {
  sim?: Partial<SimulatorOptions>;
  env?: Env;
}

/** Starts Redis, the simulator, the handler and the REST stand-in. */
export async function startClusterRig(options: ClusterRigOptions = {}): Promise<ClusterRig> {
  const redis = await startRedis();
  const sim = await createSimulator({
    token: TOKEN,
    restAuthorization: REST_SECRET,
    heartbeatIntervalMs: 5000,
    identifyIntervalMs: 300,
    ...options.sim,
  });
  const handler = await startTestHandler();
  const restProxy = startRelay(sim.restUrl);
  const env: Env = {
    ...testEnv(restProxy.url, handler.url, options.sim?.identifyIntervalMs ?? 300),
    REDIS_URL: redis.url,
    SHARD_ASSIGNMENT: "auto",
    SHARD_LEASE_MS: "1500",
    SESSION_SAVE_INTERVAL_MS: "100",
    SHUTDOWN_DRAIN_MS: "2000",
    ...options.env,
  };
  const members: Member[] = [];
  const processes: (ProxyProcess & { dataDir: string })[] = [];
  const dirs: string[] = [];
  return {
    sim,
    handler,
    redis,
    restProxy,
    env,
    async startMember(id, extra = {}) {
      const dataDir = await Deno.makeTempDir({ prefix: `gw-cluster-${id}-` });
      dirs.push(dataDir);
      const logs: string[] = [];
      const service = await createService({
        config: loadConfig({ ...env, GATEWAY_MEMBER_ID: id, DATA_DIR: dataDir, ...extra }),
        logger: createLogger({ level: "debug", write: (_l, line) => logs.push(line) }),
        deliveryRetry: { baseMs: 50, maxMs: 200 },
        restRetry: { baseMs: 20, maxMs: 100 },
      });
      await service.start();
      const m = { id, service, logs, dataDir };
      members.push(m);
      return m;
    },
    async startMemberProcess(id, extra = {}) {
      const dataDir = await Deno.makeTempDir({ prefix: `gw-cluster-${id}-` });
      dirs.push(dataDir);
      const p = Object.assign(
        startProxyProcess({
          ...env as Record<string, string>,
          GATEWAY_MEMBER_ID: id,
          DATA_DIR: dataDir,
          LOG_LEVEL: "debug",
          ...extra as Record<string, string>,
        }),
        { dataDir },
      );
      processes.push(p);
      return p;
    },
    async close() {
      for (const p of processes) {
        try {
          p.kill("SIGCONT");
          p.kill("SIGKILL");
        } catch { /* gone */ }
        await p.exited.catch(() => {});
      }
      await Promise.all(members.map((m) => m.service.stop(500).catch(() => {})));
      await handler.close();
      await restProxy.close();
      await sim.shutdown();
      await redis.stop();
      for (const d of dirs) await Deno.remove(d, { recursive: true }).catch(() => {});
    },
  };
}

/** How many of `shards` each member runs now. */
export function shareOf(members: Member[], shards: number): number[] {
  return members.map((m) => {
    let n = 0;
    for (let id = 0; id < shards; id++) if (m.service.runsShard(id)) n++;
    return n;
  });
}
