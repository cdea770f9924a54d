/**
 * Builds a whole pipeline for end-to-end tests: the Discord simulator, a test
 * event handler and the proxy service configured through the same
 * `loadConfig` a user goes through.
 * @module
 */
import { type Env, loadConfig } from "../../configs.ts";
import { createLogger } from "../../src/log.ts";
import { createService, type Service, type ServiceOptions } from "../../src/service.ts";
import { createSimulator } from "../../src/simulator/mod.ts";
import type { Simulator, SimulatorOptions } from "../../src/simulator/types.ts";
import { startTestHandler, type TestHandler } from "./handler.ts";
import { until } from "./wait.ts";
import { type Relay, startRelay } from "./relay.ts";

/** A token of the real shape (Discordeno decodes the bot id from it). */
export const TOKEN = `${btoa("123456789012345678")}.sim.token`;
export const REST_SECRET = "rest-secret";
export const HANDLER_SECRET = "handler-secret";

/** The settings every test service shares: the simulator's REST stand-in and a test handler. */
export function testEnv(restUrl: string, handlerUrl: string, identifyIntervalMs: number): Env {
  return {
    DISCORD_TOKEN: TOKEN,
    REST_URL: restUrl,
    REST_AUTHORIZATION: REST_SECRET,
    EVENT_HANDLER_URL: handlerUrl,
    EVENT_HANDLER_AUTHORIZATION: HANDLER_SECRET,
    GATEWAY_INTENTS: "Guilds,GuildMessages",
    GATEWAY_AUTHORIZATION: "gateway-secret",
    // Same margin over Discord's window as the production default (5100 for 5000).
    SPAWN_SHARD_DELAY: String(identifyIntervalMs + 100),
    // Tests shorten the simulator's identify window below Discord's 5 s.
    SPAWN_SHARD_DELAY_UNSAFE: "true",
  };
}

/** The parts of one end-to-end setup. */
export interface E2E {
  sim: Simulator;
  handler: TestHandler;
  service: Service;
  logs: string[];
  dataDir: string;
  env: Env;
  /** The stand-in REST proxy between the service and the simulator. */
  restProxy: Relay;
  close(): Promise<void>;
}

/** Options of {@linkcode startE2E}. */
export interface E2EOptions {
  sim?: Partial<SimulatorOptions>;
  env?: Env;
  service?: Partial<ServiceOptions>;
  /** Do not call `service.start()`. */
  noStart?: boolean;
}

/** Starts simulator, handler and proxy. */
export async function startE2E(options: E2EOptions = {}): Promise<E2E> {
  const sim = await createSimulator({
    token: TOKEN,
    restAuthorization: REST_SECRET,
    heartbeatIntervalMs: 5000,
    identifyIntervalMs: 5000,
    ...options.sim,
  });
  const handler = await startTestHandler();
  const restProxy = startRelay(sim.restUrl);
  const dataDir = await Deno.makeTempDir({ prefix: "gw-e2e-" });
  const env: Env = {
    ...testEnv(restProxy.url, handler.url, options.sim?.identifyIntervalMs ?? 5000),
    DATA_DIR: dataDir,
    ...options.env,
  };
  const logs: string[] = [];
  const service = await createService({
    config: loadConfig(env),
    logger: createLogger({ level: "debug", write: (_l, line) => logs.push(line) }),
    deliveryRetry: { baseMs: 50, maxMs: 200 },
    restRetry: { baseMs: 20, maxMs: 100 },
    ...options.service,
  });
  if (!options.noStart) await service.start();
  return {
    sim,
    handler,
    service,
    logs,
    dataDir,
    env,
    restProxy,
    async close() {
      await service.stop(2000);
      await handler.close();
      await restProxy.close();
      await sim.shutdown();
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    },
  };
}

/** Runs `fn` with a started pipeline and always closes it. */
export async function withE2E(options: E2EOptions, fn: (e2e: E2E) => Promise<void>): Promise<void> {
  const e2e = await startE2E(options);
  try {
    await fn(e2e);
  } finally {
    await e2e.close();
  }
}

/** Waits for the shards, then takes the handler down (the bot is "restarting"). */
export async function readyThenHandlerDown(e2e: E2E): Promise<void> {
  await e2e.service.allReady;
  await until(() => e2e.handler.events.length >= 1, "READY delivered");
  await e2e.handler.down();
}

/** Per shard, the Discord sequence numbers the handler accepted, in arrival order. */
export function seqsByShard(
  events: { shardId: number; data: { s: number | null } }[],
): Map<number, number[]> {
  const out = new Map<number, number[]>();
  for (const e of events) {
    // Synthetic dispatches (SHARD_GUILDS_LOADED_DD) carry no sequence number.
    if (e.data.s !== null) out.set(e.shardId, [...(out.get(e.shardId) ?? []), e.data.s]);
  }
  return out;
}
