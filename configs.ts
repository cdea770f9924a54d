/**
 * The service's configuration: read from the environment once, validated, typed.
 *
 * Nothing else in the project reads `Deno.env`; the entry point calls
 * {@linkcode loadConfig} with `Deno.env.toObject()` and hands the result down.
 * @module
 */
import { GatewayIntents } from "./deps.ts";
import { KNOWN_EVENTS, SYNTHETIC_EVENTS } from "./src/shaping/event_names.ts";

const SYNTHETIC_NAMES = new Set<string>(Object.values(SYNTHETIC_EVENTS));

/** The known event name closest to a typo, if one is close. */
function suggest(name: string): string | undefined {
  let best: string | undefined;
  let bestScore = 3;
  for (const known of KNOWN_EVENTS) {
    const d = editDistance(name, known);
    if (d < bestScore) [best, bestScore] = [known, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length];
}

/** Log verbosity, lowest first. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** The validated configuration of one gateway proxy process. */
export interface Config {
  /** Bot token; only ever sent to Discord in identify/resume. */
  discordToken: string;
  /** The bot's Discordeno REST proxy. */
  rest: { url: string; authorization: string };
  /** Where dispatches are POSTed. */
  eventHandler: {
    url: string;
    authorization: string;
    timeoutMs: number;
    client: "http1" | "fetch";
    /**
     * Several events of one shard per request (`EVENT_HANDLER_BATCH_*`): `maxEvents` 1 (the
     * default) sends one event per request, in the format Discordeno handlers expect.
     */
    batch: {
      /** `EVENT_HANDLER_BATCH_MAX`: events per request at most. */
      maxEvents: number;
      /** `EVENT_HANDLER_BATCH_LINGER_MS`: how long a batch may wait to fill, ms; 0 = never. */
      lingerMs: number;
      /** `EVENT_HANDLER_BATCH_MAX_BYTES`: request body bytes at most (one larger event goes alone). */
      maxBytes: number;
    };
  };
  /** Gateway intents bitfield. */
  intents: number;
  /** Total shard count; `undefined` = Discord's recommendation. */
  totalShards?: number;
  /** First shard id this process owns. */
  firstShardId: number;
  /** Last shard id this process owns (inclusive); `undefined` = `totalShards - 1`. */
  lastShardId?: number;
  /**
   * Minimum spacing of two identifies in one `max_concurrency` bucket, ms; at least 5000
   * (Discord's window) unless `SPAWN_SHARD_DELAY_UNSAFE=true` (simulators only).
   */
  spawnShardDelayMs: number;
  /** The service's own HTTP API; `statusPage` serves `GET /`. */
  http: { host: string; port: number; authorization: string; statusPage: boolean };
  /** A controller module to load (`GATEWAY_CONTROLLER`), as an import specifier. */
  controller?: string;
  /** Folder for the delivery journal and dead letters. */
  dataDir: string;
  /** Bounds of the delivery queue, and how hard the journal holds what spilled. */
  queue: {
    maxEvents: number;
    maxBytes: number;
    maxDiskBytes: number;
    /**
     * SQLite's `synchronous` level of the journal (`JOURNAL_SYNC`): `normal` survives a process
     * crash, `full` also a power loss (an fsync per commit).
     */
    journalSync: "normal" | "full";
  };
  /** How the queue treats an event that keeps failing. */
  delivery: {
    /** Failed attempts of one event after which it is dead-lettered instead of retried again. */
    poisonAfterAttempts: number;
  };
  /** The dead-letter file `DATA_DIR/dead-letters.jsonl`. */
  deadLetters: {
    /** Past this size the file is rotated to `dead-letters.jsonl.1` (one previous file kept). */
    maxBytes: number;
  };
  /** Retry backoff cap for undeliverable events, ms. */
  retryMaxDelayMs: number;
  /** Whether interactions deferred by the proxy answer ephemerally. */
  deferEphemeral: boolean;
  /**
   * Shards on worker threads (`TOTAL_WORKERS`, `SHARDS_PER_WORKER`): `total` 0 keeps them in the
   * main thread; otherwise the workers a shard set is spread over, at most.
   */
  workers: { total: number; shardsPerWorker?: number };
  /**
   * Several processes sharing one bot's shards through Redis (`REDIS_URL`); absent, everything
   * is embedded in this process as before (see `docs/cluster.md`).
   */
  cluster?: {
    /** `REDIS_URL`: `redis://[user:password@]host:port[/db]` or `rediss://` (TLS). */
    redisUrl: string;
    /** `REDIS_KEY_PREFIX`: every key starts with it, then the bot's id. */
    keyPrefix: string;
    /** `SHARD_ASSIGNMENT`: `range` (FIRST/LAST_SHARD_ID, guarded by leases) or `auto` (leases spread shards over the live processes). */
    assignment: "range" | "auto";
    /** `SHARD_LEASE_MS`: a shard lease's life; renewed every third of it. */
    leaseMs: number;
    /** `GATEWAY_MEMBER_ID`: this process's name in the cluster (default: host name and pid). */
    memberId: string;
  };
  /** Where events go: `http` (the handler, `EVENT_HANDLER_URL`) or `redis-streams` (`TRANSPORT`). */
  transport: {
    kind: "http" | "redis-streams";
    /** `REDIS_STREAM_MAXLEN`: entries a stream keeps at most (approximate trimming). */
    streamMaxLen: number;
    /** `REDIS_STREAM_GROUP`: the consumer group the gateway creates and watches for acks. */
    streamGroup: string;
  };
  /** Resharding without downtime (see the README's "Resharding"). */
  resharding: {
    /** `RESHARDING`: off = no checks, 4011 is fatal, `POST /reshard` answers 409. */
    enabled: boolean;
    /** `RESHARD_CHECK_INTERVAL_MS`: how often guilds are counted against capacity; 0 = never. */
    checkIntervalMs: number;
    /** `RESHARD_PERCENTAGE`: reshard when guilds reach this share of `shards x 2500`. */
    percentage: number;
    /** `LARGE_BOT_SHARDING`: shard counts in multiples of 16 (`auto`: >100k guilds or max_concurrency >= 16). */
    largeBotSharding: boolean | "auto";
    /** `RESHARD_SESSION_RESERVE`: session starts kept for the old set; `undefined` = its shard count. */
    sessionReserve?: number;
    /** `RESHARD_OVERLAP_MS`: how long both sets deliver through the dedupe. */
    overlapMs: number;
  };
  /** On SIGTERM/SIGINT, how long the queue may keep delivering before the rest is journaled, ms. */
  shutdownDrainMs: number;
  /** How often resumable sessions are written to `DATA_DIR`, ms. */
  sessionSaveIntervalMs: number;
  /** Logging. */
  log: { level: LogLevel; format: "pretty" | "json" };
  /** The shaping stage. */
  shaping: {
    allow: string[];
    deny: string[];
    dedupeMessageUpdates: boolean;
    editedMessagesMax: number;
    editedMessagesTtlMs: number;
    guildLoadTimeoutMs: number;
    forwardGuildOutages: boolean;
  };
  /**
   * Start-up warnings: settings that work but are risky (a short secret, an unsafe identify
   * spacing). The entry point logs each once; each names its variable.
   */
  warnings: string[];
}

/** One problem with one variable. */
export interface ConfigProblem {
  variable: string;
  problem: string;
  example: string;
}

/** Thrown by {@linkcode loadConfig}; lists every bad variable at once. */
export class ConfigError extends Error {
  /** Each bad variable, what is wrong with it and a valid example. */
  readonly problems: ConfigProblem[];
  constructor(problems: ConfigProblem[]) {
    super(
      "Invalid configuration:\n" +
        problems.map((p) => `  ${p.variable}: ${p.problem}\n    example: ${p.example}`).join("\n"),
    );
    this.name = "ConfigError";
    this.problems = problems;
  }
}

/** Environment as a plain record (e.g. `Deno.env.toObject()`). */
export type Env = Record<string, string | undefined>;

const EXAMPLES: Record<string, string> = {
  DISCORD_TOKEN:
    "DISCORD_TOKEN=MTIzNDU2Nzg5MDEyMzQ1Njc4.GaBcDe.abcdefghijklmnopqrstuvwxyz0123456789AB",
  REST_URL: "REST_URL=http://localhost:8000",
  REST_AUTHORIZATION: "REST_AUTHORIZATION=a-long-random-secret",
  EVENT_HANDLER_URL: "EVENT_HANDLER_URL=http://localhost:8081/events",
  EVENT_HANDLER_AUTHORIZATION: "EVENT_HANDLER_AUTHORIZATION=another-long-random-secret",
  EVENT_HANDLER_TIMEOUT_MS: "EVENT_HANDLER_TIMEOUT_MS=10000",
  EVENT_HANDLER_CLIENT: "EVENT_HANDLER_CLIENT=http1  (or fetch)",
  EVENT_HANDLER_BATCH_MAX: "EVENT_HANDLER_BATCH_MAX=64  (1: one event per request, the default)",
  EVENT_HANDLER_BATCH_LINGER_MS: "EVENT_HANDLER_BATCH_LINGER_MS=0",
  EVENT_HANDLER_BATCH_MAX_BYTES: "EVENT_HANDLER_BATCH_MAX_BYTES=1MiB",
  GATEWAY_INTENTS: "GATEWAY_INTENTS=Guilds,GuildMessages  (or a number: GATEWAY_INTENTS=513)",
  TOTAL_SHARDS: "TOTAL_SHARDS=16  (or leave unset for Discord's recommendation)",
  FIRST_SHARD_ID: "FIRST_SHARD_ID=0",
  LAST_SHARD_ID: "LAST_SHARD_ID=15",
  SPAWN_SHARD_DELAY: "SPAWN_SHARD_DELAY=5100",
  SPAWN_SHARD_DELAY_UNSAFE: "SPAWN_SHARD_DELAY_UNSAFE=false  (true only against a simulator)",
  GATEWAY_HOST: "GATEWAY_HOST=127.0.0.1",
  GATEWAY_PORT: "GATEWAY_PORT=8080",
  GATEWAY_AUTHORIZATION: "GATEWAY_AUTHORIZATION=a-third-long-random-secret",
  STATUS_PAGE: "STATUS_PAGE=auto",
  GATEWAY_CONTROLLER: "GATEWAY_CONTROLLER=./my-controller.ts",
  DATA_DIR: "DATA_DIR=./.data",
  QUEUE_MAX_EVENTS: "QUEUE_MAX_EVENTS=100000",
  QUEUE_MAX_BYTES: "QUEUE_MAX_BYTES=256MiB",
  QUEUE_MAX_DISK_BYTES: "QUEUE_MAX_DISK_BYTES=4GiB",
  JOURNAL_SYNC: "JOURNAL_SYNC=normal  (or full)",
  POISON_AFTER_ATTEMPTS: "POISON_AFTER_ATTEMPTS=8",
  DEAD_LETTERS_MAX_BYTES: "DEAD_LETTERS_MAX_BYTES=256MiB",
  RETRY_MAX_DELAY_MS: "RETRY_MAX_DELAY_MS=30000",
  DEFER_EPHEMERAL: "DEFER_EPHEMERAL=false",
  TOTAL_WORKERS:
    "TOTAL_WORKERS=auto  (one per core; 0 keeps shards in the main thread, or a number)",
  SHARDS_PER_WORKER: "SHARDS_PER_WORKER=16",
  RESHARDING: "RESHARDING=true",
  RESHARD_CHECK_INTERVAL_MS: "RESHARD_CHECK_INTERVAL_MS=28800000  (8 hours; 0 turns the check off)",
  RESHARD_PERCENTAGE: "RESHARD_PERCENTAGE=80",
  LARGE_BOT_SHARDING: "LARGE_BOT_SHARDING=auto  (or true, false)",
  RESHARD_SESSION_RESERVE: "RESHARD_SESSION_RESERVE=16",
  RESHARD_OVERLAP_MS: "RESHARD_OVERLAP_MS=5000",
  SHUTDOWN_DRAIN_MS: "SHUTDOWN_DRAIN_MS=5000",
  SESSION_SAVE_INTERVAL_MS: "SESSION_SAVE_INTERVAL_MS=500",
  EVENT_ALLOWLIST: "EVENT_ALLOWLIST=MESSAGE_CREATE,INTERACTION_CREATE,GUILD_CREATE",
  EVENT_DENYLIST: "EVENT_DENYLIST=TYPING_START,PRESENCE_UPDATE",
  DEDUPE_MESSAGE_UPDATES: "DEDUPE_MESSAGE_UPDATES=true",
  EDITED_MESSAGES_MAX: "EDITED_MESSAGES_MAX=250000",
  EDITED_MESSAGES_TTL_MS: "EDITED_MESSAGES_TTL_MS=3600000",
  GUILD_LOAD_TIMEOUT_MS: "GUILD_LOAD_TIMEOUT_MS=60000",
  FORWARD_GUILD_OUTAGES: "FORWARD_GUILD_OUTAGES=true",
  REDIS_URL: "REDIS_URL=redis://127.0.0.1:6379",
  REDIS_KEY_PREFIX: "REDIS_KEY_PREFIX=discord-gateway",
  SHARD_ASSIGNMENT: "SHARD_ASSIGNMENT=auto  (or range: FIRST_SHARD_ID/LAST_SHARD_ID)",
  SHARD_LEASE_MS: "SHARD_LEASE_MS=10000",
  GATEWAY_MEMBER_ID: "GATEWAY_MEMBER_ID=gateway-a",
  TRANSPORT: "TRANSPORT=http  (or redis-streams, with REDIS_URL)",
  REDIS_STREAM_MAXLEN: "REDIS_STREAM_MAXLEN=50000",
  REDIS_STREAM_GROUP: "REDIS_STREAM_GROUP=bot",
  LOG_LEVEL: "LOG_LEVEL=info",
  LOG_FORMAT: "LOG_FORMAT=pretty",
};

/** Intent names accepted in `GATEWAY_INTENTS`, as Discordeno spells them. */
export const INTENT_NAMES: readonly string[] = Object.keys(GatewayIntents).filter((k) =>
  Number.isNaN(Number(k))
);

/** Parses `GATEWAY_INTENTS`; throws a `TypeError` naming unknown intents. */
export function parseIntents(value: string): number {
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) {
    const n = Number(trimmed);
    if (!Number.isSafeInteger(n) || n >= 2 ** 26) {
      throw new TypeError(`${trimmed} is not a valid intents bitfield (0 to ${2 ** 26 - 1})`);
    }
    return n;
  }
  const byKey = new Map(INTENT_NAMES.map((n) => [normalizeIntent(n), n]));
  let bits = 0;
  const unknown: string[] = [];
  for (const part of trimmed.split(",").map((p) => p.trim()).filter(Boolean)) {
    const name = byKey.get(normalizeIntent(part));
    if (name === undefined) unknown.push(part);
    else bits |= GatewayIntents[name as keyof typeof GatewayIntents];
  }
  if (unknown.length > 0) {
    throw new TypeError(
      `unknown intent name(s) ${unknown.map((u) => `"${u}"`).join(", ")}; valid names: ${
        INTENT_NAMES.join(", ")
      }`,
    );
  }
  if (bits === 0) throw new TypeError("no intents given");
  return bits;
}

function normalizeIntent(name: string): string {
  return name.replaceAll("_", "").toLowerCase();
}

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
};

/** Parses `123`, `64MiB`, `2GB` into bytes; throws `TypeError` on anything else. */
export function parseBytes(value: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(value.trim());
  const unit = m ? SIZE_UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    throw new TypeError(`"${value}" is not a size (bytes, or a number with KB/MB/GB/KiB/MiB/GiB)`);
  }
  return Math.floor(Number(m[1]) * unit);
}

/** Secrets shorter than this get a start-up warning (a guessable `Authorization`). */
export const MIN_SECRET_LENGTH = 16;
/** Discord allows one identify per 5 s in each `max_concurrency` bucket. */
export const MIN_SPAWN_SHARD_DELAY_MS = 5000;

/**
 * Builds the configuration from an environment record.
 *
 * @throws {ConfigError} listing every missing or malformed variable.
 */
export function loadConfig(env: Env): Config {
  const problems: ConfigProblem[] = [];
  const warnings: string[] = [];
  const bad = (variable: string, problem: string) =>
    problems.push({ variable, problem, example: EXAMPLES[variable] ?? `${variable}=...` });
  const raw = (name: string): string | undefined => {
    const v = env[name]?.trim();
    return v === undefined || v === "" ? undefined : v;
  };
  const required = (name: string): string => {
    const v = raw(name);
    if (v === undefined) bad(name, "is missing");
    return v ?? "";
  };
  /** A secret sent as an HTTP header value: visible ASCII and spaces only. */
  const secret = (name: string): string => {
    const v = required(name);
    // A line break would end the header (or smuggle another); other controls are refused by peers.
    if (/[^\x20-\x7e]/.test(v)) {
      bad(name, "must be printable ASCII (no line breaks, tabs or other control characters)");
    } else if (v && v.length < MIN_SECRET_LENGTH) {
      warnings.push(
        `${name} is ${v.length} characters long; use at least ${MIN_SECRET_LENGTH} random ones (e.g. openssl rand -hex 32)`,
      );
    }
    return v;
  };
  /**
   * An http(s) URL. `stripTrailingSlash` for a base that routes get appended to; a URL used
   * as given (the event handler's) keeps its slash, or a framework may answer 307.
   */
  const url = (name: string, { stripTrailingSlash }: { stripTrailingSlash: boolean }): string => {
    const v = required(name);
    if (!v) return v;
    try {
      const u = new URL(v);
      if (u.protocol !== "http:" && u.protocol !== "https:") {
        bad(name, `"${v}" must be an http:// or https:// URL`);
      }
    } catch {
      bad(name, `"${v}" is not a URL`);
    }
    return stripTrailingSlash ? v.replace(/\/+$/, "") : v;
  };
  const int = (name: string, fallback: number | undefined, min: number, max: number) => {
    const v = raw(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!/^-?\d+$/.test(v) || !Number.isSafeInteger(n) || n < min || n > max) {
      bad(name, `"${v}" is not a whole number from ${min} to ${max}`);
      return fallback;
    }
    return n;
  };
  const bytes = (name: string, fallback: number) => {
    const v = raw(name);
    if (v === undefined) return fallback;
    try {
      const n = parseBytes(v);
      if (n <= 0) throw new TypeError(`"${v}" must be more than 0 bytes`);
      return n;
    } catch (e) {
      bad(name, (e as Error).message);
      return fallback;
    }
  };
  const bool = (name: string, fallback: boolean) => {
    const v = raw(name)?.toLowerCase();
    if (v === undefined) return fallback;
    if (["1", "true", "yes", "on"].includes(v)) return true;
    if (["0", "false", "no", "off"].includes(v)) return false;
    bad(name, `"${raw(name)}" is not a boolean (true/false)`);
    return fallback;
  };
  const oneOf = <T extends string>(name: string, allowed: readonly T[], fallback: T): T => {
    const v = raw(name)?.toLowerCase();
    if (v === undefined) return fallback;
    if ((allowed as readonly string[]).includes(v)) return v as T;
    bad(name, `"${raw(name)}" is not one of ${allowed.join(", ")}`);
    return fallback;
  };

  const discordToken = required("DISCORD_TOKEN").replace(/^Bot\s+/i, "");
  if (discordToken && !isTokenShaped(discordToken)) {
    bad(
      "DISCORD_TOKEN",
      "does not look like a bot token (three dot-separated parts, the first the base64 of the bot's id)",
    );
  }
  const restUrl = url("REST_URL", { stripTrailingSlash: true });
  const restAuthorization = secret("REST_AUTHORIZATION");
  const transportKind = oneOf("TRANSPORT", ["http", "redis-streams"] as const, "http");
  // With Redis Streams the bot reads events itself: no handler URL is needed (one may still be set).
  const handlerNeeded = transportKind === "http" || raw("EVENT_HANDLER_URL") !== undefined;
  const handlerUrl = handlerNeeded ? url("EVENT_HANDLER_URL", { stripTrailingSlash: false }) : "";
  const handlerAuthorization = handlerNeeded ? secret("EVENT_HANDLER_AUTHORIZATION") : "";
  const timeoutMs = int("EVENT_HANDLER_TIMEOUT_MS", 10_000, 100, 600_000)!;
  const handlerClient = oneOf("EVENT_HANDLER_CLIENT", ["http1", "fetch"] as const, "http1");

  let intents = 0;
  const intentsRaw = required("GATEWAY_INTENTS");
  if (intentsRaw) {
    try {
      intents = parseIntents(intentsRaw);
    } catch (e) {
      bad("GATEWAY_INTENTS", (e as Error).message);
    }
  }

  const totalShards = int("TOTAL_SHARDS", undefined, 1, 1_000_000);
  const firstShardId = int("FIRST_SHARD_ID", 0, 0, 999_999)!;
  const lastShardId = int("LAST_SHARD_ID", undefined, 0, 999_999);
  if (lastShardId !== undefined && lastShardId < firstShardId) {
    bad("LAST_SHARD_ID", `${lastShardId} is below FIRST_SHARD_ID (${firstShardId})`);
  }
  if (totalShards !== undefined && lastShardId !== undefined && lastShardId >= totalShards) {
    bad(
      "LAST_SHARD_ID",
      `${lastShardId} must be below TOTAL_SHARDS (${totalShards}); ids start at 0`,
    );
  }
  if (totalShards !== undefined && firstShardId >= totalShards) {
    bad("FIRST_SHARD_ID", `${firstShardId} must be below TOTAL_SHARDS (${totalShards})`);
  }
  const spawnShardDelayMs = int("SPAWN_SHARD_DELAY", 5_100, 0, 600_000)!;
  const spawnShardDelayUnsafe = bool("SPAWN_SHARD_DELAY_UNSAFE", false);
  if (spawnShardDelayMs < MIN_SPAWN_SHARD_DELAY_MS) {
    if (!spawnShardDelayUnsafe) {
      bad(
        "SPAWN_SHARD_DELAY",
        `${spawnShardDelayMs} is below ${MIN_SPAWN_SHARD_DELAY_MS}, Discord's identify window (one identify per 5 s per bucket); ` +
          "set SPAWN_SHARD_DELAY_UNSAFE=true only against a simulator",
      );
    } else {
      warnings.push(
        `SPAWN_SHARD_DELAY=${spawnShardDelayMs} is below Discord's ${MIN_SPAWN_SHARD_DELAY_MS} ms identify window (SPAWN_SHARD_DELAY_UNSAFE=true): only for a simulator`,
      );
    }
  }

  const redisUrl = raw("REDIS_URL");
  if (redisUrl !== undefined) {
    try {
      const u = new URL(redisUrl);
      if (u.protocol !== "redis:" && u.protocol !== "rediss:") {
        bad("REDIS_URL", `"${redactUrl(redisUrl)}" must be a redis:// or rediss:// URL`);
      }
    } catch {
      bad("REDIS_URL", `"${redactUrl(redisUrl)}" is not a URL`);
    }
  }
  const assignment = oneOf("SHARD_ASSIGNMENT", ["range", "auto"] as const, "range");
  if (assignment === "auto") {
    if (redisUrl === undefined) {
      bad("SHARD_ASSIGNMENT", "auto needs REDIS_URL: the processes agree on owners through Redis");
    }
    for (const v of ["FIRST_SHARD_ID", "LAST_SHARD_ID"]) {
      if (raw(v) !== undefined) {
        bad(v, "cannot be set with SHARD_ASSIGNMENT=auto (leases choose each process's shards)");
      }
    }
  }
  if (transportKind === "redis-streams" && redisUrl === undefined) {
    bad("TRANSPORT", "redis-streams needs REDIS_URL");
  }
  const leaseMs = int("SHARD_LEASE_MS", 10_000, 1_000, 600_000)!;
  // HOSTNAME is the system's (Docker sets it to the container id), not a setting of ours.
  const memberId = raw("GATEWAY_MEMBER_ID") ?? defaultMemberId(env.HOSTNAME);
  if (!/^[A-Za-z0-9._:-]{1,100}$/.test(memberId)) {
    bad("GATEWAY_MEMBER_ID", `"${memberId}" may use letters, digits and . _ : - (at most 100)`);
  }

  const host = raw("GATEWAY_HOST") ?? "127.0.0.1";
  const port = int("GATEWAY_PORT", 8080, 0, 65_535)!;
  const gatewayAuthorization = secret("GATEWAY_AUTHORIZATION");
  // The page needs the secret to show anything, but off loopback it is opt-in.
  const statusPageMode = oneOf("STATUS_PAGE", ["auto", "on", "off"] as const, "auto");
  const loopback = /^(127\.\d+\.\d+\.\d+|localhost|::1|\[::1\])$/.test(host);
  const statusPage = statusPageMode === "on" || (statusPageMode === "auto" && loopback);
  const controllerPath = raw("GATEWAY_CONTROLLER");

  const events = (name: string): string[] => {
    const list = (raw(name) ?? "").split(",").map((e) => e.trim().toUpperCase()).filter(Boolean);
    const unknown = list.filter((e) => !KNOWN_EVENTS.has(e));
    if (unknown.length > 0) {
      bad(
        name,
        `unknown event name(s) ${unknown.map((u) => `"${u}"`).join(", ")}${
          unknown.map((u) => suggest(u)).filter(Boolean).map((x) => ` (did you mean ${x}?)`)
            .join("")
        }; names are Discord's dispatch names (MESSAGE_CREATE, GUILD_MEMBER_ADD, ...) or ${
          [...SYNTHETIC_NAMES].join(", ")
        }`,
      );
    }
    return list;
  };

  const config: Config = {
    discordToken,
    rest: { url: restUrl, authorization: restAuthorization },
    eventHandler: {
      url: handlerUrl,
      authorization: handlerAuthorization,
      timeoutMs,
      client: handlerClient,
      batch: {
        // A stream has no old handlers to stay compatible with: appends go pipelined.
        maxEvents: int(
          "EVENT_HANDLER_BATCH_MAX",
          transportKind === "redis-streams" ? 256 : 1,
          1,
          10_000,
        )!,
        lingerMs: int("EVENT_HANDLER_BATCH_LINGER_MS", 0, 0, 10_000)!,
        maxBytes: bytes("EVENT_HANDLER_BATCH_MAX_BYTES", 1024 ** 2),
      },
    },
    intents,
    totalShards,
    firstShardId,
    lastShardId,
    spawnShardDelayMs,
    http: { host, port, authorization: gatewayAuthorization, statusPage },
    controller: controllerPath,
    dataDir: raw("DATA_DIR") ?? "./.data",
    queue: {
      maxEvents: int("QUEUE_MAX_EVENTS", 100_000, 1, 100_000_000)!,
      maxBytes: bytes("QUEUE_MAX_BYTES", 256 * 1024 ** 2),
      maxDiskBytes: bytes("QUEUE_MAX_DISK_BYTES", 4 * 1024 ** 3),
      // normal: full cost 74-88% of the journal's throughput in batches of 1 (bench/journal_sync_bench.ts).
      journalSync: oneOf("JOURNAL_SYNC", ["normal", "full"] as const, "normal"),
    },
    delivery: {
      poisonAfterAttempts: int("POISON_AFTER_ATTEMPTS", 8, 1, 1_000_000)!,
    },
    deadLetters: {
      maxBytes: bytes("DEAD_LETTERS_MAX_BYTES", 256 * 1024 ** 2),
    },
    retryMaxDelayMs: int("RETRY_MAX_DELAY_MS", 30_000, 1_000, 3_600_000)!,
    deferEphemeral: bool("DEFER_EPHEMERAL", false),
    workers: (() => {
      const v = raw("TOTAL_WORKERS");
      const cores = Math.max(1, navigator.hardwareConcurrency || 1);
      let total = 0;
      if (v !== undefined && v.toLowerCase() === "auto") total = cores;
      else total = int("TOTAL_WORKERS", 0, 0, 1024)!;
      return { total, shardsPerWorker: int("SHARDS_PER_WORKER", undefined, 1, 100_000) };
    })(),
    cluster: redisUrl === undefined ? undefined : {
      redisUrl,
      keyPrefix: raw("REDIS_KEY_PREFIX") ?? "discord-gateway",
      assignment,
      leaseMs,
      memberId,
    },
    transport: {
      kind: transportKind,
      streamMaxLen: int("REDIS_STREAM_MAXLEN", 50_000, 1_000, 1_000_000_000)!,
      streamGroup: (() => {
        const g = raw("REDIS_STREAM_GROUP") ?? "bot";
        if (!/^[A-Za-z0-9._:-]{1,100}$/.test(g)) {
          bad("REDIS_STREAM_GROUP", `"${g}" may use letters, digits and . _ : - (at most 100)`);
        }
        return g;
      })(),
    },
    resharding: {
      enabled: bool("RESHARDING", true),
      checkIntervalMs: int("RESHARD_CHECK_INTERVAL_MS", 8 * 3_600_000, 0, 7 * 24 * 3_600_000)!,
      percentage: int("RESHARD_PERCENTAGE", 80, 1, 100)!,
      largeBotSharding: (() => {
        const v = oneOf("LARGE_BOT_SHARDING", ["auto", "true", "false"] as const, "auto");
        return v === "auto" ? "auto" as const : v === "true";
      })(),
      sessionReserve: int("RESHARD_SESSION_RESERVE", undefined, 0, 1_000_000),
      overlapMs: int("RESHARD_OVERLAP_MS", 5_000, 100, 600_000)!,
    },
    shutdownDrainMs: int("SHUTDOWN_DRAIN_MS", 5_000, 0, 600_000)!,
    sessionSaveIntervalMs: int("SESSION_SAVE_INTERVAL_MS", 500, 50, 60_000)!,
    log: {
      level: oneOf("LOG_LEVEL", ["debug", "info", "warn", "error"] as const, "info"),
      format: oneOf("LOG_FORMAT", ["pretty", "json"] as const, "pretty"),
    },
    shaping: {
      allow: events("EVENT_ALLOWLIST"),
      deny: events("EVENT_DENYLIST"),
      dedupeMessageUpdates: bool("DEDUPE_MESSAGE_UPDATES", true),
      editedMessagesMax: int("EDITED_MESSAGES_MAX", 250_000, 2, 100_000_000)!,
      editedMessagesTtlMs: int("EDITED_MESSAGES_TTL_MS", 3_600_000, 1_000, 604_800_000)!,
      guildLoadTimeoutMs: int("GUILD_LOAD_TIMEOUT_MS", 60_000, 100, 3_600_000)!,
      forwardGuildOutages: bool("FORWARD_GUILD_OUTAGES", true),
    },
    warnings,
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** A Redis URL with its password hidden, for messages. */
export function redactUrl(value: string): string {
  try {
    const u = new URL(value);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return value.replace(/\/\/[^@/]*@/, "//***@");
  }
}

/**
 * The host name, pid and a random suffix: readable in `/shards`, and unique even where every
 * container's process is pid 1 and shares a host name.
 */
function defaultMemberId(hostname: string | undefined): string {
  let host = hostname;
  if (!host) {
    try {
      host = Deno.hostname();
    } catch { /* no --allow-sys */ }
  }
  const clean = (host ?? "gateway").replace(/[^A-Za-z0-9._-]/g, "-").slice(0, 60) || "gateway";
  const suffix = crypto.getRandomValues(new Uint8Array(2)).reduce(
    (t, b) => t + b.toString(16).padStart(2, "0"),
    "",
  );
  return `${clean}-${Deno.pid}-${suffix}`;
}

function isTokenShaped(token: string): boolean {
  const parts = token.split(".");
  if (parts.length !== 3 || parts.some((p) => p.length === 0)) return false;
  try {
    const padded = parts[0].replaceAll("-", "+").replaceAll("_", "/");
    return /^\d{1,20}$/.test(atob(padded + "=".repeat((4 - padded.length % 4) % 4)));
  } catch {
    return false;
  }
}

/**
 * Every secret of a config, however short, for log redaction (`createLogger` in `src/log.ts`
 * redacts short ones only where they stand alone, so logs stay readable).
 */
export function secretsOf(config: Config): string[] {
  return [
    config.discordToken,
    config.rest.authorization,
    config.eventHandler.authorization,
    config.http.authorization,
    ...(config.cluster ? [new URL(config.cluster.redisUrl).password].filter(Boolean) : []),
  ].filter((s) => s.length > 0);
}
