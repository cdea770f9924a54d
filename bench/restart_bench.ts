/**
 * Restart benchmark: time from process start to every shard live, when the
 * shards identify (a cold start, bound by ceil(shards / max_concurrency) x 5 s)
 * and when they resume sessions stored by the previous run.
 * @module
 */
import { createSimulator } from "../src/simulator/mod.ts";
import { startSink } from "./queue_bench.ts";

const TOKEN = `${btoa("123456789012345678")}.bench.token`;

/** Result of {@linkcode benchRestart}. */
export interface RestartResult {
  shards: number;
  maxConcurrency: number;
  identifyBoundSeconds: number;
  identifySeconds: number;
  resumeSeconds: number;
  identifiesOnRestart: number;
}

/** Starts the proxy cold, stops it with SIGTERM, starts it again; times both starts. */
export async function benchRestart(shards: number, maxConcurrency = 1): Promise<RestartResult> {
  const sim = await createSimulator({
    token: TOKEN,
    restAuthorization: "bench",
    shards,
    maxConcurrency,
    guilds: shards * 2,
  });
  const sink = await startSink();
  const dataDir = await Deno.makeTempDir({ prefix: "bench-restart-" });
  const env = {
    DISCORD_TOKEN: TOKEN,
    REST_URL: sim.restUrl,
    REST_AUTHORIZATION: "bench",
    EVENT_HANDLER_URL: sink.url,
    EVENT_HANDLER_AUTHORIZATION: "x",
    GATEWAY_INTENTS: "Guilds,GuildMessages",
    GATEWAY_AUTHORIZATION: "gw",
    GATEWAY_PORT: "0",
    DATA_DIR: dataDir,
    LOG_LEVEL: "warn",
  };
  const run = () =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-net", "--allow-env", "--allow-read", "--allow-write", "src/main.ts"],
      env,
      clearEnv: true,
      stdout: "null",
      stderr: "inherit",
    }).spawn();
  const waitAll = async () => {
    while (sim.connectedShards().length < shards) await new Promise((r) => setTimeout(r, 20));
  };

  let started = performance.now();
  const first = run();
  await waitAll();
  const identifySeconds = (performance.now() - started) / 1000;
  first.kill("SIGTERM");
  await first.status;
  while (sim.connectedShards().length > 0) await new Promise((r) => setTimeout(r, 20));

  const identifies = sim.identifies.length;
  started = performance.now();
  const second = run();
  await waitAll();
  const resumeSeconds = (performance.now() - started) / 1000;
  second.kill("SIGTERM");
  await second.status;

  const result = {
    shards,
    maxConcurrency,
    identifyBoundSeconds: Math.ceil(shards / maxConcurrency) * 5 - 5,
    identifySeconds: Math.round(identifySeconds * 100) / 100,
    resumeSeconds: Math.round(resumeSeconds * 100) / 100,
    identifiesOnRestart: sim.identifies.length - identifies,
  };
  await sink.stop();
  await sim.shutdown();
  await Deno.remove(dataDir, { recursive: true });
  return result;
}

if (import.meta.main) {
  console.log(
    JSON.stringify(await benchRestart(Number(Deno.args[0] ?? 32), Number(Deno.args[1] ?? 1))),
  );
}
