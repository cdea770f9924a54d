/**
 * Types of the comparison benchmark's settings and results: what
 * `compare.json` holds and the Markdown is rendered from.
 * @module
 */
import type { ContenderName } from "./compare_procs.ts";
import type { SustainedResult } from "./compare_search.ts";
import type { LatencyResult } from "./compare_latency.ts";
import type { PostRateResult } from "./compare_post_rate.ts";

/** Sizes and durations of one mode. */
export interface ModeConfig {
  /** Shard count of the main process (start-up, memory, latency). */
  mainShards: number;
  /** `max_concurrency` of the main process; its start-up is measured. */
  mainMaxConcurrency: number;
  /** Guilds of the main process. */
  guilds: number;
  /** Shard counts measured for throughput, each in a fresh process. */
  throughputShards: number[];
  /** Guilds per shard in those processes. */
  guildsPerShard: number;
  /** Extra start-up-only runs of `mainShards` with these `max_concurrency`. */
  startupOnly: number[];
  idleMs: number;
  warmupRate: number;
  warmupMs: number;
  probeMs: number;
  windowMs: number;
  /** Windows of the search at `mainShards`. */
  maxSteps: number;
  /** The search stops once the failing and sustained rates are this close (hi/lo - 1). */
  precision: number;
  /** Probe and windows of the search at the other shard counts. */
  otherProbeMs: number;
  otherMaxSteps: number;
  /** At the other shard counts, stop at the first sustained window. */
  otherStopOnFirstPass: boolean;
  /** Stop at the first sustained window when the probe found no limit. */
  stopAtLowerBound: boolean;
  /** Rates at which the ceiling's send → parsed latency is measured. */
  ceilingLatencyRates: number[];
  /** Warm-up of the other processes. */
  otherWarmupMs: number;
  confirmRuns: number;
  latencyRates: number[];
  latencyRuns: number;
  latencyMs: number;
  /** Duration of each POST reference measurement. */
  postRateMs: number;
  /** What this mode shortens, for the report. */
  caveats: string[];
}

/** Start-up of one process. */
export interface StartupResult {
  shards: number;
  maxConcurrency: number;
  guilds: number;
  /** Spawn to every shard holding a session (READY sent), s. */
  readySeconds: number | null;
  /** ceil(shards / max_concurrency) x 5 s. */
  boundSeconds: number;
  /** (ceil(shards / max_concurrency) - 1) x 5 s: the first identify is free. */
  floorSeconds: number;
  /** Spawn to every READY and GUILD_CREATE received at the counter, s. */
  guildsSeconds: number | null;
  identifies: number;
}

/** Everything measured for one contender. */
export interface ContenderResult {
  name: ContenderName;
  label: string;
  throughput: Record<number, SustainedResult | null>;
  latency: Record<number, LatencyResult | null>;
  memory: { idleMiB: number | null; loadMiB: number | null; loadRate: number | null };
  startup: StartupResult[];
  errors: string[];
  /** Sink counters after its runs (forwarders); `meanBodyBytes` is request body bytes per event. */
  sink?: {
    outOfOrder: number;
    unauthorized: number;
    events: number;
    /** Requests that carried them (absent in reports from before batching). */
    requests?: number;
    meanBodyBytes: number;
  };
}

export type CompareReport = {
  mode: string;
  date: string;
  machine: MachineInfo;
  seconds: number;
  settings: ModeConfig;
  /** One Deno process POSTing to the sink, nothing else: 1 and 16 requests in flight. */
  postReference: PostRateResult[];
  /** Other benchmark processes seen at the start or the end (their figures are skewed). */
  concurrentBenchmarks: string[];
  loadAverageAtEnd: string;
  traffic: {
    mix: readonly string[];
    meanPayloadBytes: number;
    messageCreateBytes: [number, number];
    note: string;
  };
  contenders: Record<string, ContenderResult>;
};

/** Where the benchmark ran. */
export interface MachineInfo {
  cores: number;
  cpu: string;
  os: string;
  deno: string;
  v8: string;
  loadAverageAtStart: string;
  openFileLimit: number | null;
}
