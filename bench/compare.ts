/**
 * Comparison benchmark: this service (at its defaults, and with batches of up
 * to 64 events per request, `EVENT_HANDLER_BATCH_MAX=64`) against a baseline
 * forwarder written the way the Discordeno guide describes it
 * (`bench/baseline.ts`), the same forwarding on `@discordjs/ws`
 * (`bench/peer_djs.ts`), and a ceiling that connects and parses but forwards
 * nothing (`bench/ceiling.ts`). Every
 * contender runs as its own process, gets the same simulated traffic from the
 * Discord simulator in this process over loopback, and delivers to the same
 * sink process (`bench/latency_sink.ts`).
 *
 * ```sh
 * deno run -A bench/compare.ts [--quick|--full|--smoke] [--out DIR] [--only service,service-batch]
 * deno run -A bench/compare.ts --render [--out DIR]   # DIR/COMPARE.md again from DIR/compare.json
 * ```
 *
 * Writes `DIR/compare.json` and `DIR/COMPARE.md` (default DIR: `bench/`;
 * `--smoke` writes `compare.smoke.json` only). `--quick` (the default) takes
 * about 2.5-3 minutes, `--full` about 50 (20 s windows, 3 runs at the final
 * rate, 50,000 guilds, start-up with max_concurrency 1 and 4), `--smoke` about
 * 20 s. `--only` runs a subset of the contenders (the ratios need the
 * baseline and the ceiling). See `bench/compare_measure.ts` for what
 * "sustained" means, and the notes in the Markdown for what each mode
 * shortens. Run nothing else meanwhile: two benchmarks on the same cores skew
 * each other (the report flags other benchmark processes it sees).
 *
 * The pieces: `compare_modes.ts` (sizes and durations of each mode),
 * `compare_procs.ts` (contender and sink processes), `compare_traffic.ts`
 * (the event mix), `compare_process.ts` (one simulator and contender, started),
 * `compare_contender.ts` (all runs of one contender); measurement in
 * `compare_measure.ts` (windows, drains), `compare_search.ts` (highest
 * sustained rate), `compare_latency.ts`, `compare_post_rate.ts`; the report in
 * `compare_results.ts` (types), `compare_report.ts` (Markdown),
 * `compare_tables.ts` and `compare_diagnosis.ts` (targets, what limits them);
 * `compare_machine.ts` (the machine, other benchmarks running).
 * @module
 */
import { parseArgs } from "node:util";
import { createSimulator } from "../src/simulator/mod.ts";
import {
  CONTENDERS,
  emergencyCleanup,
  HANDLER_AUTHORIZATION,
  sleep,
  startSink,
  TOKEN,
} from "./compare_procs.ts";
import { createTraffic, MIX } from "./compare_traffic.ts";
import { round } from "./compare_measure.ts";
import { measurePostRate, type PostRateResult } from "./compare_post_rate.ts";
import type { CompareReport, ContenderResult } from "./compare_results.ts";
import { renderMarkdown } from "./compare_report.ts";
import { MODES } from "./compare_modes.ts";
import { runContender } from "./compare_contender.ts";
import { machine, openFileLimit, otherBenchmarks } from "./compare_machine.ts";
import { log } from "./compare_log.ts";

async function main() {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      quick: { type: "boolean" },
      full: { type: "boolean" },
      smoke: { type: "boolean" },
      out: { type: "string" },
      only: { type: "string" },
      render: { type: "boolean" },
    },
  });
  if (values.render) {
    // Re-render DIR/COMPARE.md from DIR/compare.json (after a change to the report only).
    const dir = values.out ?? new URL(".", import.meta.url).pathname;
    const report = JSON.parse(await Deno.readTextFile(`${dir}/compare.json`)) as CompareReport;
    await Deno.writeTextFile(`${dir}/COMPARE.md`, renderMarkdown(report));
    console.log(renderMarkdown(report));
    return 0;
  }
  const modeName = values.smoke ? "smoke" : values.full ? "full" : "quick";
  const mode = MODES[modeName];
  const outDir = values.out ?? new URL(".", import.meta.url).pathname;
  const names = values.only
    ? CONTENDERS.filter((c) => values.only!.split(",").includes(c))
    : [...CONTENDERS];
  const started = performance.now();
  const info = machine();
  const others = otherBenchmarks();
  if (others.length > 0) {
    log(`WARNING: other benchmark processes are running; the figures will be skewed:`);
    for (const o of others) log(`  ${o}`);
  }
  log(
    `compare (${modeName}) on ${info.cores} cores (${info.cpu}), Deno ${info.deno}, load ${info.loadAverageAtStart}`,
  );

  // Payload sizes of the mix, from a throwaway simulator.
  const probeSim = await createSimulator({ token: TOKEN, restAuthorization: "x", guilds: 1 });
  const sizes = (() => {
    const sessionless = createTraffic({
      sim: { ...probeSim, dispatch: () => 0, guildIds: () => probeSim.guildIds(0, 1) },
      shards: [0],
      numShards: 1,
    });
    let sampleDispatch = "";
    const capture = createTraffic({
      sim: {
        botId: probeSim.botId,
        guildIds: () => probeSim.guildIds(0, 1),
        dispatch: (_shard, t, d) => {
          sampleDispatch ||= JSON.stringify({ op: 0, d, s: 1234, t });
          return 0;
        },
      },
      shards: [0],
      numShards: 1,
    });
    capture.emit();
    return {
      meanPayloadBytes: sessionless.meanPayloadBytes,
      messageCreateBytes: sessionless.messageCreateBytes,
      sampleDispatch,
    };
  })();
  await probeSim.shutdown();

  let sink = await startSink();
  const results: ContenderResult[] = [];
  const postRates: PostRateResult[] = [];
  try {
    // Reference: what one Deno process can POST to this sink at all, with fetch (the baseline's
    // and the peer's client) and with the service's own HTTP/1.1 client.
    const body = `{"shardId":0,"data":${sizes.sampleDispatch}}`;
    for (const client of ["fetch", "http1"] as const) {
      for (const concurrency of [1, 16]) {
        const r = await measurePostRate(
          sink.url,
          HANDLER_AUTHORIZATION,
          body,
          concurrency,
          mode.postRateMs,
          sink.pid,
          client,
        );
        postRates.push(r);
        log(
          `POST reference, ${client}, ${concurrency} in flight: ${r.perSecond}/s (sender CPU ${r.senderCpu}%, sink ${r.sinkCpu}%)`,
        );
      }
    }
    for (const name of names) {
      const result = await runContender(name, mode, sink);
      await sleep(200);
      if (sink.exited()) {
        result.errors.push(
          `the sink process died (exit ${
            sink.exited()!.code
          }) while this contender ran: most likely out of file descriptors (ulimit -n ${
            openFileLimit() ?? "?"
          }), one per connection the contender opened; restarted for the next contender`,
        );
        log(`  ERROR ${result.errors.at(-1)}`);
        await sink.stop().catch(() => {});
        sink = await startSink();
      }
      results.push(result);
    }
  } finally {
    await sink.stop();
  }

  const report = {
    mode: modeName,
    date: new Date().toISOString(),
    machine: info,
    seconds: round((performance.now() - started) / 1000, 1),
    settings: mode,
    postReference: postRates,
    concurrentBenchmarks: [...new Set([...others, ...otherBenchmarks()])],
    loadAverageAtEnd: machine().loadAverageAtStart,
    traffic: {
      mix: MIX,
      meanPayloadBytes: sizes.meanPayloadBytes,
      messageCreateBytes: sizes.messageCreateBytes,
      note:
        "MESSAGE_CREATE with member, link embed and (every third) a bot mention; MESSAGE_UPDATE real edits; MESSAGE_REACTION_ADD and TYPING_START with member; MESSAGE_DELETE. Send time in d.nonce of each MESSAGE_CREATE.",
    },
    contenders: Object.fromEntries(results.map((r) => [r.name, r])),
  } satisfies CompareReport;
  await Deno.mkdir(outDir, { recursive: true });
  const jsonName = modeName === "smoke" ? "compare.smoke.json" : "compare.json";
  await Deno.writeTextFile(`${outDir}/${jsonName}`, JSON.stringify(report, null, 2) + "\n");
  const md = renderMarkdown(report);
  if (modeName !== "smoke") await Deno.writeTextFile(`${outDir}/COMPARE.md`, md);
  console.log("\n" + md);
  log(`done in ${report.seconds} s`);
  // A reference contender that fails (e.g. the peer's shards not ready in time) is a finding,
  // reported in the Markdown; only a failing service (either setting) fails the run.
  const failed = results.some((r) => r.name.startsWith("service") && r.errors.length > 0);
  return failed ? 1 : 0;
}

if (import.meta.main) {
  // Never leave contenders or temp dirs behind, whatever ends the harness.
  globalThis.addEventListener("error", emergencyCleanup);
  globalThis.addEventListener("unhandledrejection", emergencyCleanup);
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => {
      emergencyCleanup();
      Deno.exit(130);
    });
  }
  Deno.exit(await main());
}
