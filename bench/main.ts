/**
 * `deno task bench`: runs the benchmarks and writes `bench/results.json` and
 * `bench/RESULTS.md` (the README quotes the latter). `--full` runs bigger sizes;
 * `--smoke` runs tiny sizes (the test suite uses it so the harness cannot rot).
 * @module
 */
import { parseArgs } from "node:util";
import { benchDrain, benchQueuedMemoryIsolated } from "./queue_bench.ts";
import { benchReshard } from "./reshard_bench.ts";
import { benchRestart } from "./restart_bench.ts";
import { latencyAb, summarize } from "./latency_ab.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    full: { type: "boolean" },
    smoke: { type: "boolean" },
    out: { type: "string" },
    "no-compare": { type: "boolean" },
  },
});
const mode = values.smoke ? "smoke" : values.full ? "full" : "quick";
const sizes = {
  smoke: {
    drain: [[200, 4], [100, 1]],
    memory: 2_000,
    restart: [2, 2],
    cache: 10_000,
    // [from shards, max_concurrency, identify window ms, overlap ms]
    reshard: [[2, 2, 500, 500]],
    ab: { rounds: 1, ms: 300, shards: 2, guilds: 20 },
  },
  // Quick mode stays near 3 minutes: most of it is the comparison (bench/compare.ts).
  quick: {
    drain: [[20_000, 16], [5_000, 1]],
    memory: 50_000,
    restart: [2, 2],
    cache: 100_000,
    reshard: [[16, 16, 5000, 5000]],
    ab: { rounds: 6, ms: 3000, shards: 16, guilds: 800 },
  },

  full: {
    drain: [[100_000, 16], [100_000, 4], [100_000, 1]],
    memory: 1_000_000,
    restart: [32, 1],
    cache: 1_000_000,
    reshard: [[16, 16, 5000, 5000], [4, 1, 5000, 5000]],
    ab: { rounds: 12, ms: 10_000, shards: 16, guilds: 800 },
  },
}[mode];

const outDir = values.out ?? new URL(".", import.meta.url).pathname;
const drains = [];
for (const [events, shards] of sizes.drain) {
  const r = await benchDrain(events, shards);
  console.log(`drain ${events} events over ${shards} shard(s): ${r.eventsPerSecond}/s`);
  drains.push(r);
}
const memory = await benchQueuedMemoryIsolated(sizes.memory);
console.log(`memory with ${memory.events} queued: ${memory.rssMiB} MiB RSS`, memory);

const shaping = await isolated("shaping_bench.ts", [String(sizes.cache), String(sizes.cache)]);
console.log("shaping", shaping);
const restart = await benchRestart(sizes.restart[0], sizes.restart[1]);
console.log("restart", restart);

const reshards = [];
for (const [from, mc, window, overlap] of sizes.reshard) {
  const r = await benchReshard(from, mc, window, overlap);
  console.log("reshard", r);
  reshards.push(r);
}

// p99 of single runs moves by several ms here: latency is compared in interleaved rounds.
const abNames = mode === "smoke"
  ? ["service", "service-batch"] as const
  : ["service", "service-batch", "service-2w", "service-batch-2w"] as const;
const ab = await latencyAb([...abNames], { rate: 1000, ...sizes.ab });
console.log("latency at 1,000/s, interleaved", summarize(ab));

const result = {
  mode,
  date: new Date().toISOString(),
  deno: Deno.version.deno,
  cores: navigator.hardwareConcurrency,
  drains,
  memory,
  restart,
  reshards,
  shaping,
  latencyAb: ab,
};
await Deno.writeTextFile(
  `${outDir}/results${mode === "smoke" ? ".smoke" : ""}.json`,
  JSON.stringify(result, null, 2) + "\n",
);
const md = [
  `Measured ${
    result.date.slice(0, 10)
  } (${mode} mode) on ${result.cores} cores, Deno ${result.deno}.`,
  "",
  "| backlog drain (handler returns) | events | shards | seconds | events/s |",
  "|---|---:|---:|---:|---:|",
  ...drains.map((d) =>
    `| queued in memory, sink in its own process | ${d.events} | ${d.shards} | ${
      d.seconds.toFixed(2)
    } | ${d.eventsPerSecond} |`
  ),
  "",
  "| events queued (handler down) | payload bytes | in memory | on disk | RSS before | RSS | V8 heap used | journal on disk |",
  "|---:|---:|---:|---:|---:|---:|---:|---:|",
  `| ${memory.events} | ${memory.payloadBytes} | ${memory.inMemory} | ${memory.onDisk} | ${memory.rssBeforeMiB} MiB | ${memory.rssMiB} MiB | ${memory.heapUsedMiB} MiB | ${memory.diskMiB} MiB |`,
  "",
  "| start-up | shards | max_concurrency | floor: (ceil(shards/mc) - 1) x 5 s | seconds to all shards live | identifies |",
  "|---|---:|---:|---:|---:|---:|",
  `| cold start (identify) | ${restart.shards} | ${restart.maxConcurrency} | ${restart.identifyBoundSeconds} | ${restart.identifySeconds} | ${restart.shards} |`,
  `| restart after SIGTERM (resume) | ${restart.shards} | ${restart.maxConcurrency} | - | ${restart.resumeSeconds} | ${restart.identifiesOnRestart} |`,
  "",
  "| reshard under 100 msg/s | max_concurrency | identify bound | new set ready | done (with 2 x overlap) | copies deduped | messages | missing | doubled | longest gap |",
  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  ...reshards.map((r) =>
    `| ${r.from} -> ${r.to} | ${r.maxConcurrency} | ${r.identifyBoundSeconds} s | ${r.preparedSeconds} s | ${r.doneSeconds} s (overlap ${
      r.overlapMs / 1000
    } s) | ${r.deduped} | ${r.emitted} | ${r.missing} | ${r.doubled} | ${r.longestGapMs} ms |`
  ),
  "",
  `| delivery latency at ${ab.rate}/s, ${sizes.ab.shards} shards, ms: median [lowest-highest] of ${sizes.ab.rounds} interleaved ${
    sizes.ab.ms / 1000
  } s windows | p50 | p99 | max |`,
  "|---|---:|---:|---:|",
  ...Object.entries(ab.contenders).map(([name, c]) =>
    `| ${name}${c.kept ? "" : " (a window fell behind)"} | ${spread(c.p50)} | ${spread(c.p99)} | ${
      spread(c.max)
    } |`
  ),
  "",
  "| gateway-side cache | entries | V8 heap |",
  "|---|---:|---:|",
  `| guild ids (loaded, over shards of 2500) | ${shaping.guilds} | ${shaping.guildCacheMiB} MiB |`,
  `| edited messages | ${shaping.messages} | ${shaping.messageCacheMiB} MiB |`,
  "",
  "| shaping stage, per event | ns |",
  "|---|---:|",
  ...Object.entries(shaping.nsPerEvent).map(([k, v]) => `| ${k} | ${v} |`),
  "",
].join("\n");
if (mode !== "smoke") await Deno.writeTextFile(`${outDir}/RESULTS.md`, md);
console.log(md);

/** Median [lowest-highest] of a few figures. */
function spread(v: number[]): string {
  const sorted = [...v].sort((a, b) => a - b);
  const r = (x: number) => Math.round(x * 100) / 100;
  return `${r(sorted[Math.floor((sorted.length - 1) / 2)])} [${r(sorted[0])}-${r(sorted.at(-1)!)}]`;
}

/** Runs a benchmark module in a fresh process (clean heap) and parses its JSON line. */
async function isolated(file: string, args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      "--v8-flags=--expose-gc",
      new URL(file, import.meta.url).pathname,
      ...args,
    ],
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`${file} exited ${out.code}`);
  const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
  return JSON.parse(lines[lines.length - 1]);
}

// The comparison against the guide's baseline, @discordjs/ws and the ceiling (its own
// processes; writes compare.json and COMPARE.md next to RESULTS.md).
if (mode !== "smoke" && !values["no-compare"]) {
  const compare = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("./compare.ts", import.meta.url).pathname,
      `--${mode}`,
      "--out",
      outDir,
    ],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!compare.success) throw new Error(`bench/compare.ts exited ${compare.code}`);
}
