/**
 * Processes of the comparison benchmark (`bench/compare.ts`): the sink, the
 * contenders, and what the harness reads about them (counts, clocks,
 * resident memory and CPU time from `/proc`).
 * @module
 */
import type { Simulator } from "../src/simulator/mod.ts";
import { Intents } from "../src/simulator/mod.ts";
import type { LatencySummary } from "./latency_recorder.ts";
import { freePort } from "./queue_bench.ts";
import { spawnListening } from "./spawn.ts";

/** Bot token with the real shape (Discordeno derives the bot id from it). */
export const TOKEN = `${btoa("123456789012345678")}.bench.token`;
export const REST_AUTHORIZATION = "bench-rest-secret";
export const HANDLER_AUTHORIZATION = "bench-handler-secret";
/** What the traffic needs: guilds, messages (with content), reactions, typing. */
export const INTENTS = Intents.Guilds | Intents.GuildMessages | Intents.GuildMessageReactions |
  Intents.GuildMessageTyping | Intents.MessageContent;

/** Extra `deno run` flags for the contenders, for diagnosis: e.g.
 * `BENCH_CONTENDER_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof"`. */
export const CONTENDER_FLAGS: string[] =
  Deno.env.get("BENCH_CONTENDER_FLAGS")?.split(" ").filter(Boolean) ?? [];

/** The contenders, in the order the tables list them. */
export const CONTENDERS = [
  "service",
  "service-batch",
  "service-1w",
  "service-2w",
  "service-batch-2w",
  "baseline",
  "peer",
  "ceiling",
] as const;
export type ContenderName = typeof CONTENDERS[number];

/** `EVENT_HANDLER_BATCH_MAX` of the `service-batch` contender (everything else at defaults). */
export const BATCH_CONTENDER_MAX = 64;

/** The service's variants: the settings each adds to the defaults. */
export const SERVICE_VARIANTS: Partial<Record<ContenderName, Record<string, string>>> = {
  service: {},
  "service-batch": { EVENT_HANDLER_BATCH_MAX: String(BATCH_CONTENDER_MAX) },
  "service-1w": { TOTAL_WORKERS: "1" },
  "service-2w": { TOTAL_WORKERS: "2" },
  "service-batch-2w": { EVENT_HANDLER_BATCH_MAX: String(BATCH_CONTENDER_MAX), TOTAL_WORKERS: "2" },
};

/** What each contender is, for the report. */
export const CONTENDER_LABELS: Record<ContenderName, string> = {
  service: "this service (defaults)",
  "service-batch": `this service, batching ${BATCH_CONTENDER_MAX} (EVENT_HANDLER_BATCH_MAX)`,
  "service-1w": "this service, shards on 1 worker thread (TOTAL_WORKERS=1)",
  "service-2w": "this service, shards on 2 worker threads (TOTAL_WORKERS=2)",
  "service-batch-2w": `this service, batching ${BATCH_CONTENDER_MAX} and 2 worker threads`,
  baseline: "baseline: Discordeno guide forwarder",
  peer: "peer: @discordjs/ws + same forwarder",
  ceiling: "ceiling: Discordeno, parse only",
};

const ROOT = new URL("../", import.meta.url).pathname;

/** This process's wall clock in ms with sub-ms digits (same formula as the sink's). */
export const clockNow = (): number => performance.timeOrigin + performance.now();

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Children and temp dirs still alive, for {@linkcode emergencyCleanup}. */
const children = new Set<Deno.ChildProcess>();
const tempDirs = new Set<string>();

/** Registers a temp dir to remove if the harness dies; returns it. */
export function trackTempDir(dir: string): string {
  tempDirs.add(dir);
  return dir;
}

/** Removes a temp dir and forgets it. */
export async function removeTempDir(dir: string): Promise<void> {
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  tempDirs.delete(dir);
}

/** Synchronous last resort (uncaught error, signal): SIGKILLs every child, removes temp dirs. */
export function emergencyCleanup(): void {
  for (const child of children) {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }
  children.clear();
  for (const dir of tempDirs) {
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch { /* gone */ }
  }
  tempDirs.clear();
}

/** Resident memory and CPU time of a process, from `/proc`. */
export interface ProcStats {
  rssKiB: number;
  /** User + system CPU time, ms. */
  cpuMs: number;
}

const TICKS_PER_SECOND = 100; // Linux USER_HZ

/** Reads `/proc/<pid>`; undefined once the process is gone. */
export function procStats(pid: number | "self"): ProcStats | undefined {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const rss = /VmRSS:\s+(\d+)/.exec(status);
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // Fields after the command name (which may hold spaces) start at index 2 (state).
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[11]) + Number(fields[12]);
    return { rssKiB: rss ? Number(rss[1]) : 0, cpuMs: ticks * 1000 / TICKS_PER_SECOND };
  } catch {
    return undefined;
  }
}

/** Busy and total CPU time of the whole machine, all cores, ms (from `/proc/stat`). */
export function machineCpu(): { busyMs: number; totalMs: number } | undefined {
  try {
    const line = Deno.readTextFileSync("/proc/stat").split("\n", 1)[0];
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/)
      .slice(1, 9).map(Number);
    const busy = user + nice + system + irq + softirq + (steal || 0);
    const ms = (ticks: number) => ticks * 1000 / TICKS_PER_SECOND;
    return { busyMs: ms(busy), totalMs: ms(busy + idle + iowait) };
  } catch {
    return undefined;
  }
}

/** Where a contender's events are counted: the sink, or the ceiling itself. */
export interface Counter {
  /** Events received so far (forwarded events at the sink, or dispatches parsed). */
  count(): Promise<number>;
  /** Starts a latency recording. */
  latencyStart(): Promise<void>;
  /** Ends it; percentiles in the counter's clock (not yet offset-corrected). */
  latency(): Promise<LatencySummary>;
  /** Offset of the counter's clock to ours (theirs - ours), from the fastest of several probes. */
  clockOffset(): Promise<{ offsetMs: number; rttMs: number }>;
}

function httpCounter(base: string): Counter {
  return {
    async count() {
      const res = await fetch(`${base}/stats`);
      return (await res.json()).count as number;
    },
    async latencyStart() {
      const res = await fetch(`${base}/latency/start`, { method: "POST" });
      await res.body?.cancel();
    },
    async latency() {
      return await (await fetch(`${base}/latency`)).json() as LatencySummary;
    },
    async clockOffset() {
      let best = { offsetMs: 0, rttMs: Infinity };
      for (let i = 0; i < 40; i++) {
        const t0 = clockNow();
        const remote = Number(await (await fetch(`${base}/clock`)).text());
        const t1 = clockNow();
        if (t1 - t0 < best.rttMs) best = { offsetMs: remote - (t0 + t1) / 2, rttMs: t1 - t0 };
      }
      return best;
    },
  };
}

/** The sink process (`bench/latency_sink.ts`). */
export interface Sink {
  url: string;
  pid: number;
  counter: Counter;
  stats(): Promise<
    { count: number; requests: number; bytes: number; unauthorized: number; outOfOrder: number }
  >;
  /** Exit status once the sink died (e.g. out of file descriptors), else undefined. */
  exited(): Deno.CommandStatus | undefined;
  stop(): Promise<void>;
}

/** Starts the sink on a free port. */
export async function startSink(): Promise<Sink> {
  const { child, port } = await spawnListening(`${ROOT}bench/latency_sink.ts`, [
    "0",
    HANDLER_AUTHORIZATION,
  ]);
  children.add(child);
  let status: Deno.CommandStatus | undefined;
  child.status.then((s) => status = s);
  const base = `http://127.0.0.1:${port}`;
  return {
    url: `${base}/events`,
    pid: child.pid,
    counter: httpCounter(base),
    async stats() {
      return await (await fetch(`${base}/stats`)).json();
    },
    exited: () => status,
    async stop() {
      if (!status) child.kill("SIGTERM");
      await child.status;
      children.delete(child);
      await child.stdout.cancel().catch(() => {});
    },
  };
}

/** A running contender. */
export interface Contender {
  name: ContenderName;
  pid: number;
  counter: Counter;
  /** `clockNow()` at spawn. */
  spawnedAt: number;
  /** Exit status once it exited by itself (a crash), else undefined. */
  exited(): Deno.CommandStatus | undefined;
  /** Last lines of its stdout and stderr. */
  logTail(lines?: number): Promise<string>;
  /** SIGTERM, then SIGKILL after `graceMs` (at once when 0). */
  stop(graceMs?: number): Promise<void>;
}

/** Options of {@linkcode startContender}. */
export interface StartContenderOptions {
  sim: Simulator;
  sink: Sink;
  /** Temp dir: the service's DATA_DIR and the logs live here. */
  dir: string;
}

/**
 * Starts one contender as its own process. Every contender gets the same
 * variables; the service gets only what it requires besides (its defaults stay).
 */
export async function startContender(
  name: ContenderName,
  { sim, sink, dir }: StartContenderOptions,
): Promise<Contender> {
  const env: Record<string, string> = {
    DISCORD_TOKEN: TOKEN,
    REST_URL: sim.restUrl,
    REST_AUTHORIZATION,
    EVENT_HANDLER_URL: sink.url,
    EVENT_HANDLER_AUTHORIZATION: HANDLER_AUTHORIZATION,
    GATEWAY_INTENTS: String(INTENTS),
  };
  for (const key of ["PATH", "HOME", "DENO_DIR", "TMPDIR"]) {
    const value = Deno.env.get(key);
    if (value !== undefined) env[key] = value;
  }
  let counter: Counter = sink.counter;
  const script = {
    service: "src/main.ts",
    "service-batch": "src/main.ts",
    "service-1w": "src/main.ts",
    "service-2w": "src/main.ts",
    "service-batch-2w": "src/main.ts",
    baseline: "bench/baseline.ts",
    peer: "bench/peer_djs.ts",
    ceiling: "bench/ceiling.ts",
  }[name];
  const variant = SERVICE_VARIANTS[name];
  if (variant) {
    // Required settings only; everything else is the service's default, but the variant's own.
    Object.assign(env, {
      GATEWAY_AUTHORIZATION: "bench-gateway-secret",
      GATEWAY_PORT: "0",
      DATA_DIR: `${dir}/data`,
    }, variant);
  } else if (name === "ceiling") {
    const port = freePort();
    env.COUNT_PORT = String(port);
    counter = httpCounter(`http://127.0.0.1:${port}`);
  }
  const outPath = `${dir}/${name}.log`;
  const log = await Deno.open(outPath, { write: true, create: true, append: true });
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-env",
      "--allow-read",
      "--allow-write",
      ...CONTENDER_FLAGS,
      script,
    ],
    cwd: ROOT,
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  children.add(child);
  const spawnedAt = clockNow();
  // Both streams into one file, written by this process (small: start-up and warnings).
  const writer = log.writable.getWriter();
  const copy = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) await writer.write(chunk);
  };
  const copying = Promise.all([copy(child.stdout), copy(child.stderr)])
    .catch(() => {})
    .finally(() => writer.close().catch(() => {}));
  let status: Deno.CommandStatus | undefined;
  const done = child.status.then((s) => status = s);
  if (name === "ceiling") {
    // Its API listens before it connects: wait for it.
    for (let i = 0; i < 200; i++) {
      try {
        await counter.count();
        break;
      } catch {
        if (status) break;
        await sleep(25);
      }
    }
  }
  return {
    name,
    pid: child.pid,
    counter,
    spawnedAt,
    exited: () => status,
    async logTail(lines = 20) {
      const text = await Deno.readTextFile(outPath).catch(() => "");
      return text.split("\n").slice(-lines).join("\n");
    },
    async stop(graceMs = 8000) {
      if (!status) {
        try {
          child.kill(graceMs > 0 ? "SIGTERM" : "SIGKILL");
        } catch { /* already gone */ }
        const timer = setTimeout(() => {
          try {
            child.kill("SIGKILL");
          } catch { /* already gone */ }
        }, graceMs);
        await done;
        clearTimeout(timer);
      }
      children.delete(child);
      await copying;
    },
  };
}
