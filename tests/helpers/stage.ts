/**
 * A simulator, a test handler and a data directory, with the environment that runs the
 * real entry point against them (for process-level tests: signals, crashes).
 * @module
 */
import { startTestHandler, type TestHandler } from "./handler.ts";
import { HANDLER_SECRET, REST_SECRET, TOKEN } from "./rig.ts";
import { createSimulator } from "../../src/simulator/mod.ts";
import type { Simulator, SimulatorOptions } from "../../src/simulator/types.ts";

/** The parts of one stage. */
export interface Stage {
  sim: Simulator;
  handler: TestHandler;
  dataDir: string;
  env: Record<string, string>;
  close(): Promise<void>;
}

/** Starts a simulator and a handler, and builds the environment for `src/main.ts`. */
export async function stage(sim: Partial<SimulatorOptions>, env: Record<string, string> = {}) {
  const s = await createSimulator({
    token: TOKEN,
    restAuthorization: REST_SECRET,
    heartbeatIntervalMs: 5000,
    ...sim,
  });
  const handler = await startTestHandler();
  const dataDir = await Deno.makeTempDir({ prefix: "gw-restart-" });
  return {
    sim: s,
    handler,
    dataDir,
    env: {
      DISCORD_TOKEN: TOKEN,
      REST_URL: s.restUrl,
      REST_AUTHORIZATION: REST_SECRET,
      EVENT_HANDLER_URL: handler.url,
      EVENT_HANDLER_AUTHORIZATION: HANDLER_SECRET,
      GATEWAY_INTENTS: "Guilds,GuildMessages",
      GATEWAY_AUTHORIZATION: "gw",
      DATA_DIR: dataDir,
      SPAWN_SHARD_DELAY: String((sim.identifyIntervalMs ?? 5000) + 100),
      SPAWN_SHARD_DELAY_UNSAFE: "true",
      SESSION_SAVE_INTERVAL_MS: "100",
      ...env,
    },
    async close() {
      await handler.close();
      await s.shutdown();
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    },
  } satisfies Stage;
}
