/**
 * Reshard benchmark: the real entry point (`src/main.ts`) against the simulator, under a
 * steady stream of guild messages, reshards from N to 2N shards through `POST /reshard`.
 * Measures the time to done against the identify bound of the new set, and checks what
 * the handler got: every message once, and the longest stretch without a delivery.
 * @module
 */
import { createSimulator } from "../src/simulator/mod.ts";
import { freePort } from "./queue_bench.ts";

const TOKEN = `${btoa("123456789012345678")}.bench.token`;

/** Result of {@linkcode benchReshard}. */
export interface ReshardResult {
  from: number;
  to: number;
  maxConcurrency: number;
  identifyWindowMs: number;
  overlapMs: number;
  /** (ceil(to / max_concurrency) - 1) x window: the earliest the new set can be complete. */
  identifyBoundSeconds: number;
  /** From `POST /reshard` to every new shard READY with its guilds loaded. */
  preparedSeconds: number;
  /** From `POST /reshard` to done (prepared, plus the overlap before and after the switch). */
  doneSeconds: number;
  deduped: number;
  emitted: number;
  missing: number;
  doubled: number;
  longestGapMs: number;
}

/** Runs one reshard from `from` to `2 x from` shards. */
export async function benchReshard(
  from: number,
  maxConcurrency: number,
  identifyWindowMs = 5000,
  overlapMs = 5000,
): Promise<ReshardResult> {
  const to = from * 2;
  const sim = await createSimulator({
    token: TOKEN,
    restAuthorization: "bench-rest-secret-0123",
    shards: from,
    maxConcurrency,
    guilds: to * 4,
    identifyIntervalMs: identifyWindowMs,
    heartbeatIntervalMs: 5000,
  });
  const counts = new Map<string, number>();
  const times: number[] = [];
  const handler = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const body = await req.json();
    const id = body.data?.d?.id;
    if (body.data?.t === "MESSAGE_CREATE" && typeof id === "string" && id.startsWith("b")) {
      counts.set(id, (counts.get(id) ?? 0) + 1);
      times.push(performance.now());
    }
    return new Response(null, { status: 204 });
  });
  const port = freePort();
  const dataDir = await Deno.makeTempDir({ prefix: "bench-reshard-" });
  const proxy = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "--allow-env", "--allow-read", "--allow-write", "src/main.ts"],
    env: {
      DISCORD_TOKEN: TOKEN,
      REST_URL: sim.restUrl,
      REST_AUTHORIZATION: "bench-rest-secret-0123",
      EVENT_HANDLER_URL: `http://127.0.0.1:${(handler.addr as Deno.NetAddr).port}/events`,
      EVENT_HANDLER_AUTHORIZATION: "bench-handler-secret",
      GATEWAY_INTENTS: "Guilds,GuildMessages",
      GATEWAY_AUTHORIZATION: "bench-gateway-secret",
      GATEWAY_PORT: String(port),
      DATA_DIR: dataDir,
      LOG_LEVEL: "warn",
      SPAWN_SHARD_DELAY: String(identifyWindowMs + 100),
      SPAWN_SHARD_DELAY_UNSAFE: identifyWindowMs < 5000 ? "true" : "false",
      RESHARD_CHECK_INTERVAL_MS: "0",
      RESHARD_OVERLAP_MS: String(overlapMs),
    },
    clearEnv: true,
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  const api = (method: string, path: string, body?: unknown) =>
    fetch(`http://127.0.0.1:${port}${path}`, {
      method,
      headers: { authorization: "bench-gateway-secret" },
      body: body === undefined ? undefined : JSON.stringify(body),
    }).then((r) => r.json());
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  while (sim.connectedShards().length < from) await sleep(20);

  // 100 messages per second over every guild, marked for the exactly-once check.
  const markers: string[] = [];
  let streaming = true;
  const stream = (async () => {
    for (let n = 1; streaming; n++) {
      const guilds = sim.guildIds(0, 1);
      const guildId = guilds[n % guilds.length];
      const e = sim.dispatchGuildEvent(guildId, "MESSAGE_CREATE", {
        id: `b${n}`,
        guild_id: guildId,
        channel_id: "1",
        content: `bench ${n}`,
      });
      if (e.deliveries.length > 0) markers.push(`b${n}`);
      await sleep(10);
    }
  })();
  // The old set's identifies are a window old: the new set starts on free buckets, as a
  // reshard hours after start-up would.
  await sleep(Math.max(1000, identifyWindowMs));
  const started = performance.now();
  const plan = await api("POST", "/reshard", { totalShards: to });
  if (plan.to !== to) throw new Error(`POST /reshard answered ${JSON.stringify(plan)}`);
  let preparedSeconds = 0;
  let status: { state: string; deduped: number; error?: string };
  for (;;) {
    status = await api("GET", "/reshard");
    if (status.state !== "preparing" && !preparedSeconds) {
      preparedSeconds = (performance.now() - started) / 1000;
    }
    if (status.state === "done" || status.state === "failed") break;
    await sleep(50);
  }
  const doneSeconds = (performance.now() - started) / 1000;
  if (status.state === "failed") throw new Error(`reshard failed: ${status.error}`);
  await sleep(1000);
  streaming = false;
  await stream;
  const deadline = Date.now() + 30_000;
  while (markers.some((m) => !counts.has(m)) && Date.now() < deadline) await sleep(50);
  let gap = 0;
  for (let i = 1; i < times.length; i++) gap = Math.max(gap, times[i] - times[i - 1]);
  proxy.kill("SIGTERM");
  await proxy.status;
  await handler.shutdown();
  await sim.shutdown();
  await Deno.remove(dataDir, { recursive: true });
  const round = (x: number) => Math.round(x * 100) / 100;
  return {
    from,
    to,
    maxConcurrency,
    identifyWindowMs,
    overlapMs,
    identifyBoundSeconds: (Math.ceil(to / maxConcurrency) - 1) * identifyWindowMs / 1000,
    preparedSeconds: round(preparedSeconds),
    doneSeconds: round(doneSeconds),
    deduped: status.deduped,
    emitted: markers.length,
    missing: markers.filter((m) => !counts.has(m)).length,
    doubled: markers.filter((m) => (counts.get(m) ?? 0) > 1).length,
    longestGapMs: Math.round(gap),
  };
}

if (import.meta.main) {
  console.log(
    JSON.stringify(await benchReshard(Number(Deno.args[0] ?? 16), Number(Deno.args[1] ?? 16))),
  );
}
