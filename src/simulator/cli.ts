/**
 * Standalone Discord simulator.
 *
 * ```sh
 * deno run -A src/simulator/cli.ts --port 8900 --shards 4 --max-concurrency 2 \
 *   --guilds 100 --token "$(printf 123456789012345678 | base64).sim.token" \
 *   --rest-authorization secret --rate 50
 * ```
 * Prints the gateway and REST URLs; with `--rate N` emits N MESSAGE_CREATE
 * per second spread over connected shards; with `--grow N` the bot joins N
 * guilds every `--grow-every` ms (with `--shards auto`, `/gateway/bot` follows,
 * for resharding demos). Stops on SIGINT / SIGTERM.
 * @module
 */
import { parseArgs } from "node:util";
import { createSimulator } from "./mod.ts";
import { startMessageStream } from "./stream.ts";
import type { SimulatorOptions } from "./types.ts";

const USAGE = `Usage: deno run -A src/simulator/cli.ts [options]
  --hostname H                  listen address (default 127.0.0.1)
  --port N                      port, 0 = any free (default 8900)
  --shards N|auto               /gateway/bot recommended shards; auto follows the
                                guild count (default 1)
  --recommend-guilds-per-shard N  guilds per shard behind --shards auto (default 1000)
  --max-guilds-per-shard N      more closes the shard with 4011 (default 2500)
  --max-concurrency N           identify buckets (default 1)
  --guilds N                    guilds the bot is in (default 0)
  --token T                     bot token (default base64("123456789012345678").sim.token)
  --rest-authorization S        REST proxy secret (default sim-secret)
  --heartbeat-interval MS       Hello heartbeat_interval (default 41250, >= 2000)
  --identify-interval MS        identify bucket window (default 5000)
  --session-ttl MS              resume window after a drop (default 180000)
  --allowed-privileged-intents  bitmask of granted privileged intents (default 0)
  --rate N                      MESSAGE_CREATE per second over connected shards
  --grow N                      the bot joins N guilds every --grow-every ms
  --grow-every MS               period of --grow (default 10000)
  --fan-out-skew MS             max delay between copies to two shard sets (default 20)
  --seed N                      seed of the random choices (default random, printed)
  --verbose                     log every connection event
  --help`;

/** Numeric flag: undefined when absent; NaN is left for option validation to name. */
function num(value: string | undefined): number | undefined {
  return value === undefined ? undefined : Number(value);
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    strict: true,
    options: {
      hostname: { type: "string" },
      port: { type: "string", default: "8900" },
      shards: { type: "string" },
      "max-concurrency": { type: "string" },
      guilds: { type: "string" },
      "recommend-guilds-per-shard": { type: "string" },
      "max-guilds-per-shard": { type: "string" },
      grow: { type: "string" },
      "grow-every": { type: "string" },
      "fan-out-skew": { type: "string" },
      seed: { type: "string" },
      token: { type: "string", default: `${btoa("123456789012345678")}.sim.token` },
      "rest-authorization": { type: "string", default: "sim-secret" },
      "heartbeat-interval": { type: "string" },
      "identify-interval": { type: "string" },
      "session-ttl": { type: "string" },
      "allowed-privileged-intents": { type: "string" },
      rate: { type: "string" },
      verbose: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const options: SimulatorOptions = {
    token: values.token,
    restAuthorization: values["rest-authorization"],
    hostname: values.hostname,
    port: num(values.port),
    shards: values.shards === "auto" ? "auto" : num(values.shards),
    recommendGuildsPerShard: num(values["recommend-guilds-per-shard"]),
    maxGuildsPerShard: num(values["max-guilds-per-shard"]),
    fanOutSkewMs: num(values["fan-out-skew"]),
    seed: num(values.seed),
    maxConcurrency: num(values["max-concurrency"]),
    guilds: num(values.guilds),
    heartbeatIntervalMs: num(values["heartbeat-interval"]),
    identifyIntervalMs: num(values["identify-interval"]),
    sessionTtlMs: num(values["session-ttl"]),
    allowedPrivilegedIntents: num(values["allowed-privileged-intents"]),
    logger: values.verbose ? (msg) => console.log(`[sim] ${msg}`) : undefined,
  };
  const rate = num(values.rate);
  if (rate !== undefined && !(rate > 0)) {
    throw new RangeError(`--rate must be a number > 0, got ${values.rate}`);
  }
  if (rate !== undefined && !(Number(options.guilds) > 0)) {
    throw new RangeError("--rate needs --guilds > 0: messages are posted in guilds");
  }
  const grow = num(values.grow);
  const growEvery = num(values["grow-every"]) ?? 10_000;
  if (grow !== undefined && !(Number.isSafeInteger(grow) && grow >= 1)) {
    throw new RangeError(`--grow must be an integer >= 1, got ${values.grow}`);
  }
  if (!(Number.isSafeInteger(growEvery) && growEvery >= 100)) {
    throw new RangeError(`--grow-every must be an integer >= 100, got ${values["grow-every"]}`);
  }

  const sim = await createSimulator(options);
  console.log(`Discord simulator
  gateway: ${sim.gatewayUrl}   (resume: ${sim.gatewayUrl}/resume)
  rest:    ${sim.restUrl}   (Authorization: ${options.restAuthorization})
  token:   ${options.token}
  seed:    ${sim.seed}`);

  const stream = rate === undefined ? undefined : startMessageStream(sim, { ratePerSecond: rate });
  if (stream) console.log(`  stream:  ${rate} MESSAGE_CREATE/s over connected shards`);
  const grower = grow === undefined ? undefined : setInterval(() => {
    const { closed } = sim.addGuilds(grow);
    const over = closed.map((c) => `[${c.shardId}, ${c.numShards}]`).join(" ");
    console.log(
      `  +${grow} guilds: ${sim.guildCount()} in all, /gateway/bot recommends ${sim.recommendedShards()} shards${
        over ? `; closed with 4011: ${over}` : ""
      }`,
    );
  }, growEvery);

  const stopped = Promise.withResolvers<void>();
  const stop = () => stopped.resolve();
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  await stopped.promise;
  Deno.removeSignalListener("SIGINT", stop);
  Deno.removeSignalListener("SIGTERM", stop);
  stream?.stop();
  clearInterval(grower);
  await sim.shutdown();
  if (stream) console.log(`emitted ${stream.emitted} messages (${stream.failed} failed)`);
  return 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await main());
  } catch (err) {
    console.error(err instanceof Error ? `${err.name}: ${err.message}` : String(err));
    Deno.exit(2);
  }
}
