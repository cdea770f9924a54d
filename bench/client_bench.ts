/**
 * The service's HTTP/1.1 client (`createHttp1Client`, src/transport/http1.ts) against undici's
 * `Pool` (npm) on the same traffic, kept so that the choice can be revisited: one
 * MESSAGE_CREATE in the service's request format (`{"shardId":N,"data":{op,d,s,t}}`, ~1.7 KB)
 * with the service's headers, POSTed to the benchmark's sink (bench/sink.ts, 204, its own
 * process), with 1 and 16 requests in flight, one in flight per connection (as the service
 * does per shard). Deno's `fetch` runs beside them as a reference.
 *
 * Each run is a fresh process that sends for `--ms` after a 500 ms warm-up and reports its
 * requests/s and its own CPU time per request (`process.cpuUsage()`), plus the sink's CPU
 * (from `/proc`); runs alternate between contenders (A/B/C, A/B/C, ...) and the table gives
 * medians and spreads (min-max).
 *
 * Each contender is used as the service would: a 10 s timeout per request, the answer's body
 * read (the transport keeps its start for error reports).
 *
 * Usage: deno run -A bench/client_bench.ts [--runs 5] [--ms 3000]
 * @module
 */
import process from "node:process";
// Inline and pinned: a benchmark-only dependency, kept out of deno.json because the service does
// not use it (see docs/architecture.md, "Maintained libraries").
// deno-lint-ignore no-import-prefix
import { Pool } from "npm:undici@8.13.1";
import { encodeEvent } from "../src/transport/http.ts";
import { createHttp1Client } from "../src/transport/http1.ts";
import { messageObject } from "../src/simulator/message_fixture.ts";
import { makeSnowflake } from "../src/simulator/snowflake.ts";
import { spawnListening } from "./spawn.ts";

const CONTENDERS = ["http1", "undici", "fetch"] as const;
type Contender = typeof CONTENDERS[number];
const CONCURRENCY = [1, 16];
const TIMEOUT_MS = 10_000;
const HEADERS = {
  authorization: "bench-handler-secret",
  "content-type": "application/json",
  "user-agent": "discord-gateway-proxy (Deno 2; Discordeno 21)",
};

/** One MESSAGE_CREATE as the service forwards it. */
function payload(): string {
  const guildId = makeSnowflake(200_000_000_000n, 7n);
  const id = makeSnowflake(300_000_000_000n, 1n);
  const d = messageObject({ id, botId: makeSnowflake(100_000_000_000n), guildId, authorIndex: 3 });
  return encodeEvent({
    shardId: 3,
    raw: JSON.stringify({ op: 0, d: { ...d, guild_id: guildId }, s: 1234, t: "MESSAGE_CREATE" }),
  });
}

/** A contender's `post(body)`, resolving once the answer's body is read. */
function poster(contender: Contender, url: string, connections: number): {
  post: (body: string) => Promise<void>;
  close: () => Promise<void> | void;
} {
  if (contender === "http1") {
    const client = createHttp1Client({ url, headers: HEADERS, maxBodyBytes: 2048 });
    return {
      post: async (body) => void await client.post(body, { timeoutMs: TIMEOUT_MS }),
      close: () => client.close(),
    };
  }
  if (contender === "undici") {
    const { origin, pathname } = new URL(url);
    // pipelining 1: one request at a time per connection (undici's default, said here on purpose).
    const pool = new Pool(origin, { connections, pipelining: 1 });
    return {
      post: async (body) => {
        const res = await pool.request({
          path: pathname,
          method: "POST",
          headers: HEADERS,
          body,
          headersTimeout: TIMEOUT_MS,
          bodyTimeout: TIMEOUT_MS,
        });
        await res.body.text();
      },
      close: () => pool.close(),
    };
  }
  return {
    post: async (body) => {
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
      try {
        const res = await fetch(url, {
          method: "POST",
          headers: HEADERS,
          body,
          signal: controller.signal,
        });
        await res.text();
      } finally {
        clearTimeout(timer);
      }
    },
    close: () => {},
  };
}

/** In a child: posts for `ms` with `concurrency` in flight; prints requests/s and CPU per request. */
async function runOne(contender: Contender, url: string, concurrency: number, ms: number) {
  const body = payload();
  const { post, close } = poster(contender, url, concurrency);
  const loop = async (until: number) => {
    let n = 0;
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        await post(body);
        n++;
      }
    }));
    return n;
  };
  await loop(performance.now() + 500);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const n = await loop(t0 + ms);
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  await close();
  console.log(JSON.stringify({
    perSecond: n / wall * 1000,
    cpuUsPerRequest: (c.user + c.system) / n,
    bodyBytes: new TextEncoder().encode(body).length,
  }));
}

/**
 * CPU time of a process, ms, from `/proc` (user + system ticks). Read here rather than through
 * `compare_procs.ts`, whose imports pull in the whole service.
 */
function cpuMs(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10; // USER_HZ is 100 on Linux
}

const med = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor((v.length - 1) / 2)];
const fmt = (v: number, digits = 0) =>
  v.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
const spread = (v: number[], digits = 0) =>
  `${fmt(Math.min(...v), digits)}-${fmt(Math.max(...v), digits)}`;

async function main(): Promise<void> {
  const arg = (name: string, fallback: number) => {
    const i = Deno.args.indexOf(`--${name}`);
    return i >= 0 ? Number(Deno.args[i + 1]) : fallback;
  };
  const runs = arg("runs", 5);
  const ms = arg("ms", 3000);
  if (!(runs >= 1) || !(ms >= 100)) {
    throw new RangeError(`need --runs >= 1 and --ms >= 100, got ${runs} and ${ms}`);
  }
  const sink = await spawnListening(new URL("./sink.ts", import.meta.url).pathname, ["0"]);
  const url = `http://127.0.0.1:${sink.port}/events`;
  type Row = { perSecond: number; cpuUsPerRequest: number; sinkCpuPct: number };
  const rows = new Map<string, Row[]>();
  let bodyBytes = 0;
  try {
    console.log(
      `Deno ${Deno.version.deno}, undici 8.13.1; ${runs} runs of ${ms} ms per contender and ` +
        `concurrency, alternating; load average ${Deno.loadavg().join(" ")}`,
    );
    for (let r = 0; r < runs; r++) {
      for (const concurrency of CONCURRENCY) {
        for (const contender of CONTENDERS) {
          const s0 = cpuMs(sink.child.pid);
          const t0 = performance.now();
          const out = await new Deno.Command(Deno.execPath(), {
            args: [
              "run",
              "-A",
              import.meta.filename!,
              "--child",
              contender,
              url,
              `${concurrency}`,
              `${ms}`,
            ],
            stdout: "piped",
            stderr: "inherit",
          }).output();
          if (!out.success) throw new Error(`${contender} at ${concurrency} in flight failed`);
          // The sink's CPU over the child's life (start-up and warm-up included): indicative.
          const sinkCpuPct = (cpuMs(sink.child.pid) - s0) /
            (performance.now() - t0) * 100;
          const result = JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").pop()!);
          bodyBytes = result.bodyBytes;
          const key = `${contender} ${concurrency}`;
          rows.set(key, [...rows.get(key) ?? [], { ...result, sinkCpuPct }]);
        }
      }
    }
  } finally {
    sink.child.kill();
    await sink.child.status;
  }
  console.log(`\nbody ${bodyBytes} bytes; sink CPU over each child's whole life, indicative only`);
  console.log(
    "\n| client, in flight | requests/s, median | spread | client CPU per request, µs, median | spread | vs http1 CPU | sink CPU |",
  );
  console.log("|---|---:|---:|---:|---:|---:|---:|");
  for (const concurrency of CONCURRENCY) {
    const base = med(rows.get(`http1 ${concurrency}`)!.map((x) => x.cpuUsPerRequest));
    for (const contender of CONTENDERS) {
      const v = rows.get(`${contender} ${concurrency}`)!;
      const rate = v.map((x) => x.perSecond);
      const cpu = v.map((x) => x.cpuUsPerRequest);
      console.log(
        `| ${contender}, ${concurrency} | ${fmt(med(rate))} | ${spread(rate)} | ${
          fmt(med(cpu), 1)
        } | ${spread(cpu, 1)} | ${fmt(med(cpu) / base, 2)}× | ${
          fmt(med(v.map((x) => x.sinkCpuPct)))
        }% |`,
      );
    }
  }
  console.log(`\nruns: ${JSON.stringify(Object.fromEntries(rows))}`);
}

if (import.meta.main) {
  if (Deno.args[0] === "--child") {
    const [, contender, url, concurrency, ms] = Deno.args;
    await runOne(contender as Contender, url, Number(concurrency), Number(ms));
  } else await main();
}
