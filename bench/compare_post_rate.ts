/**
 * The comparison benchmark's reference figure: how fast one Deno process that
 * does nothing else can POST to the sink.
 * @module
 */
import { procStats } from "./compare_procs.ts";
import { createHttp1Client } from "../src/transport/http1.ts";

/** Result of {@linkcode measurePostRate}. */
export interface PostRateResult {
  /** `fetch`: Deno's fetch (what the baseline and peer use); `http1`: the service's client. */
  client: "fetch" | "http1";
  concurrency: number;
  perSecond: number;
  /** CPU of the sending process (the harness, idle otherwise), % of one core. */
  senderCpu: number;
  sinkCpu: number;
}

/**
 * A reference for every forwarder: how many POSTs per second one Deno process
 * gets through to the sink with `concurrency` requests in flight and nothing
 * else to do (no gateway), with a realistic body and the same headers as the
 * service sends. One in flight is what a single shard allows when order is kept.
 */
export async function measurePostRate(
  url: string,
  authorization: string,
  body: string,
  concurrency: number,
  ms: number,
  sinkPid: number,
  client: "fetch" | "http1" = "fetch",
): Promise<PostRateResult> {
  const headers = { authorization, "content-type": "application/json" };
  const http1 = client === "http1" ? createHttp1Client({ url, headers }) : undefined;
  const post = http1 ? () => http1.post(body) : async () => {
    const res = await fetch(url, { method: "POST", headers, body });
    await res.body?.cancel();
  };
  const t0 = performance.now();
  const c0 = procStats("self")?.cpuMs ?? 0;
  const s0 = procStats(sinkPid)?.cpuMs ?? 0;
  const end = t0 + ms;
  let n = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < end) {
      await post();
      n++;
    }
  }));
  const wall = performance.now() - t0;
  http1?.close();
  return {
    client,
    concurrency,
    perSecond: Math.round(n / wall * 1000),
    senderCpu: Math.round(((procStats("self")?.cpuMs ?? c0) - c0) / wall * 100),
    sinkCpu: Math.round(((procStats(sinkPid)?.cpuMs ?? s0) - s0) / wall * 100),
  };
}
