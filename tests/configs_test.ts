import { assert, assertEquals, assertStringIncludes, assertThrows } from "./helpers/assert.ts";
import { runProxyProcess } from "./helpers/process.ts";
import {
  ConfigError,
  type Env,
  loadConfig,
  parseBytes,
  parseIntents,
  secretsOf,
} from "../configs.ts";

const TOKEN = `${btoa("123456789012345678")}.GaBcDe.abcdefghijklmnop`;
const VALID: Env = {
  DISCORD_TOKEN: TOKEN,
  REST_URL: "http://localhost:8000",
  REST_AUTHORIZATION: "rest-secret",
  EVENT_HANDLER_URL: "http://localhost:8081/events",
  EVENT_HANDLER_AUTHORIZATION: "handler-secret",
  GATEWAY_INTENTS: "Guilds,GuildMessages",
  GATEWAY_AUTHORIZATION: "gateway-secret",
};

function problemsOf(env: Env): ConfigError {
  return assertThrows(() => loadConfig(env), ConfigError);
}

Deno.test("loadConfig() builds a typed config with documented defaults", () => {
  const c = loadConfig(VALID);
  assertEquals(c.discordToken, TOKEN);
  assertEquals(c.intents, 1 | 512);
  assertEquals(c.totalShards, undefined);
  assertEquals(c.firstShardId, 0);
  assertEquals(c.lastShardId, undefined);
  assertEquals(c.http, {
    host: "127.0.0.1",
    port: 8080,
    authorization: "gateway-secret",
    statusPage: true,
  });
  assertEquals(c.eventHandler.timeoutMs, 10_000);
  assertEquals(c.spawnShardDelayMs, 5100);
  assertEquals(c.queue.maxEvents, 100_000);
  assertEquals(c.queue.journalSync, "normal");
  assertEquals(c.delivery, { poisonAfterAttempts: 8 });
  assertEquals(c.deadLetters, { maxBytes: 256 * 1024 ** 2 });
  assertEquals(c.log, { level: "info", format: "pretty" });
});

Deno.test("loadConfig() reads JOURNAL_SYNC, POISON_AFTER_ATTEMPTS and DEAD_LETTERS_MAX_BYTES", () => {
  const c = loadConfig({
    ...VALID,
    JOURNAL_SYNC: "FULL",
    POISON_AFTER_ATTEMPTS: "1",
    DEAD_LETTERS_MAX_BYTES: "64MiB",
  });
  assertEquals(c.queue.journalSync, "full");
  assertEquals(c.delivery.poisonAfterAttempts, 1);
  assertEquals(c.deadLetters.maxBytes, 64 * 1024 ** 2);
});

Deno.test("loadConfig() reads EVENT_HANDLER_BATCH_*: one event per request unless asked", () => {
  assertEquals(loadConfig(VALID).eventHandler.batch, {
    maxEvents: 1,
    lingerMs: 0,
    maxBytes: 1024 ** 2,
  });
  const c = loadConfig({
    ...VALID,
    EVENT_HANDLER_BATCH_MAX: "64",
    EVENT_HANDLER_BATCH_LINGER_MS: "5",
    EVENT_HANDLER_BATCH_MAX_BYTES: "256KiB",
  });
  assertEquals(c.eventHandler.batch, { maxEvents: 64, lingerMs: 5, maxBytes: 256 * 1024 });
  assertEquals(
    loadConfig({ ...VALID, EVENT_HANDLER_BATCH_MAX: "10000" }).eventHandler.batch.maxEvents,
    10_000,
  );
  for (
    const [variable, value] of [
      ["EVENT_HANDLER_BATCH_MAX", "0"],
      ["EVENT_HANDLER_BATCH_MAX", "10001"],
      ["EVENT_HANDLER_BATCH_MAX", "1.5"],
      ["EVENT_HANDLER_BATCH_LINGER_MS", "-1"],
      ["EVENT_HANDLER_BATCH_MAX_BYTES", "lots"],
      ["EVENT_HANDLER_BATCH_MAX_BYTES", "0"],
    ]
  ) {
    const error = problemsOf({ ...VALID, [variable]: value });
    assertEquals(error.problems.map((p) => p.variable), [variable], `${variable}=${value}`);
    assertStringIncludes(error.problems[0].example, `${variable}=`);
  }
});

Deno.test("loadConfig() strips a 'Bot ' prefix and REST_URL's trailing slashes", () => {
  const c = loadConfig({ ...VALID, DISCORD_TOKEN: `Bot ${TOKEN}`, REST_URL: "http://x:1/" });
  assertEquals(c.discordToken, TOKEN);
  assertEquals(c.rest.url, "http://x:1");
});

Deno.test("loadConfig() keeps EVENT_HANDLER_URL exactly as given, trailing slash included", () => {
  for (const url of ["http://x:1/events/", "https://bot.example/", "http://x:1/a//?k=v"]) {
    assertEquals(loadConfig({ ...VALID, EVENT_HANDLER_URL: url }).eventHandler.url, url);
  }
});

for (
  const variable of [
    "DISCORD_TOKEN",
    "REST_URL",
    "REST_AUTHORIZATION",
    "EVENT_HANDLER_URL",
    "EVENT_HANDLER_AUTHORIZATION",
    "GATEWAY_INTENTS",
    "GATEWAY_AUTHORIZATION",
  ]
) {
  Deno.test(`loadConfig() names ${variable} when it is missing, with an example`, () => {
    const e = problemsOf({ ...VALID, [variable]: undefined });
    assertEquals(e.problems.map((p) => p.variable), [variable]);
    assertStringIncludes(e.message, `${variable}: is missing`);
    assertStringIncludes(e.message, `example: ${variable}=`);
  });
}

const MALFORMED: [string, string, string][] = [
  ["DISCORD_TOKEN", "test-token", "does not look like a bot token"],
  ["REST_URL", "localhost:8000", "http:// or https://"],
  ["REST_URL", "not a url", "is not a URL"],
  ["EVENT_HANDLER_URL", "ftp://x/events", "http:// or https://"],
  ["GATEWAY_INTENTS", "Guilds,GuildMesages", 'unknown intent name(s) "GuildMesages"'],
  ["GATEWAY_INTENTS", "99999999999", "not a valid intents bitfield"],
  ["TOTAL_SHARDS", "0", "whole number from 1"],
  ["TOTAL_SHARDS", "two", "whole number"],
  ["FIRST_SHARD_ID", "-1", "whole number from 0"],
  ["GATEWAY_PORT", "70000", "whole number from 0 to 65535"],
  ["SPAWN_SHARD_DELAY", "5s", "whole number"],
  ["SPAWN_SHARD_DELAY", "4999", "below 5000, Discord's identify window"],
  ["SPAWN_SHARD_DELAY", "0", "SPAWN_SHARD_DELAY_UNSAFE=true"],
  ["SPAWN_SHARD_DELAY_UNSAFE", "sure", "not a boolean"],
  ["EVENT_HANDLER_TIMEOUT_MS", "10", "whole number from 100"],
  ["EVENT_HANDLER_CLIENT", "http2", "not one of http1, fetch"],
  ["EVENT_HANDLER_AUTHORIZATION", "secret\nx-injected: 1", "printable ASCII"],
  ["REST_AUTHORIZATION", "tab\there", "printable ASCII"],
  ["QUEUE_MAX_EVENTS", "lots", "whole number"],
  ["QUEUE_MAX_BYTES", "12 parsecs", "is not a size"],
  ["QUEUE_MAX_DISK_BYTES", "0", "more than 0 bytes"],
  ["JOURNAL_SYNC", "off", "not one of normal, full"],
  ["POISON_AFTER_ATTEMPTS", "0", "whole number from 1"],
  ["POISON_AFTER_ATTEMPTS", "2.5", "whole number"],
  ["DEAD_LETTERS_MAX_BYTES", "0", "more than 0 bytes"],
  ["DEAD_LETTERS_MAX_BYTES", "big", "is not a size"],
  ["DEFER_EPHEMERAL", "maybe", "not a boolean"],
  ["LOG_LEVEL", "verbose", "not one of debug, info, warn, error"],
  ["LOG_FORMAT", "xml", "not one of pretty, json"],
];
for (const [variable, value, problem] of MALFORMED) {
  Deno.test(`loadConfig() rejects ${variable}=${value}`, () => {
    const e = problemsOf({ ...VALID, [variable]: value });
    assertEquals(e.problems.map((p) => p.variable), [variable]);
    assertStringIncludes(e.problems[0].problem, problem);
    assert(e.problems[0].example.startsWith(`${variable}=`));
  });
}

Deno.test("loadConfig() accepts SPAWN_SHARD_DELAY below 5000 with SPAWN_SHARD_DELAY_UNSAFE=true, with a warning", () => {
  const c = loadConfig({ ...VALID, SPAWN_SHARD_DELAY: "600", SPAWN_SHARD_DELAY_UNSAFE: "true" });
  assertEquals(c.spawnShardDelayMs, 600);
  const warning = c.warnings.find((w) => w.startsWith("SPAWN_SHARD_DELAY=600"));
  assert(warning, c.warnings.join("\n"));
  assertStringIncludes(warning, "only for a simulator");
  const safe = loadConfig({ ...VALID, SPAWN_SHARD_DELAY: "5000" });
  assertEquals(safe.spawnShardDelayMs, 5000);
  assert(!safe.warnings.some((w) => w.includes("SPAWN_SHARD_DELAY")));
});

Deno.test("loadConfig() warns about each secret shorter than 16 characters, naming it", () => {
  const long = {
    ...VALID,
    REST_AUTHORIZATION: "r".repeat(16),
    EVENT_HANDLER_AUTHORIZATION: "h".repeat(40),
    GATEWAY_AUTHORIZATION: "g".repeat(16),
  };
  assertEquals(loadConfig(long).warnings, []);
  const warnings = loadConfig({ ...long, GATEWAY_AUTHORIZATION: "abc", REST_AUTHORIZATION: "r" })
    .warnings;
  assertEquals(warnings.map((w) => w.split(" ")[0]), [
    "REST_AUTHORIZATION",
    "GATEWAY_AUTHORIZATION",
  ]);
  assertStringIncludes(warnings[1], "3 characters long; use at least 16");
  for (const w of warnings) assert(!w.includes("abc"), "a warning never shows the secret");
});

Deno.test("secretsOf() lists every configured secret, however short", () => {
  const c = loadConfig({ ...VALID, GATEWAY_AUTHORIZATION: "abc", REST_AUTHORIZATION: "r" });
  assertEquals(secretsOf(c), [TOKEN, "r", "handler-secret", "abc"]);
});

Deno.test("loadConfig() lists the valid intent names for an unknown one", () => {
  const e = problemsOf({ ...VALID, GATEWAY_INTENTS: "Guilds,Nope" });
  assertStringIncludes(e.message, "valid names: Guilds, GuildMembers");
  assertStringIncludes(e.message, "MessageContent");
});

Deno.test("loadConfig() checks the shard range against TOTAL_SHARDS", () => {
  const e = problemsOf({ ...VALID, TOTAL_SHARDS: "4", FIRST_SHARD_ID: "2", LAST_SHARD_ID: "4" });
  assertEquals(e.problems.map((p) => p.variable), ["LAST_SHARD_ID"]);
  const e2 = problemsOf({ ...VALID, FIRST_SHARD_ID: "3", LAST_SHARD_ID: "1" });
  assertStringIncludes(e2.message, "below FIRST_SHARD_ID");
  const c = loadConfig({ ...VALID, TOTAL_SHARDS: "8", FIRST_SHARD_ID: "4", LAST_SHARD_ID: "7" });
  assertEquals([c.totalShards, c.firstShardId, c.lastShardId], [8, 4, 7]);
});

Deno.test("loadConfig() serves the status page off loopback only when asked", () => {
  assertEquals(loadConfig({ ...VALID, GATEWAY_HOST: "0.0.0.0" }).http.statusPage, false);
  assertEquals(
    loadConfig({ ...VALID, GATEWAY_HOST: "0.0.0.0", STATUS_PAGE: "on" }).http.statusPage,
    true,
  );
  assertEquals(loadConfig({ ...VALID, STATUS_PAGE: "off" }).http.statusPage, false);
});

Deno.test("loadConfig() picks the built-in HTTP/1.1 client unless EVENT_HANDLER_CLIENT says fetch", () => {
  assertEquals(loadConfig(VALID).eventHandler.client, "http1");
  assertEquals(
    loadConfig({ ...VALID, EVENT_HANDLER_CLIENT: "fetch" }).eventHandler.client,
    "fetch",
  );
});

Deno.test("loadConfig() reports every bad variable at once", () => {
  const e = problemsOf({ GATEWAY_PORT: "x" });
  assertEquals(e.problems.length, 8);
});

Deno.test("parseIntents() accepts names in several spellings and numbers", () => {
  assertEquals(parseIntents("GUILD_MESSAGES, guilds"), 513);
  assertEquals(parseIntents("513"), 513);
  assertEquals(parseIntents("MessageContent"), 1 << 15);
});

Deno.test("parseBytes() reads units", () => {
  assertEquals(parseBytes("100"), 100);
  assertEquals(parseBytes("2KiB"), 2048);
  assertEquals(parseBytes("1.5 MB"), 1_500_000);
  assertEquals(parseBytes("4GiB"), 4 * 1024 ** 3);
});

Deno.test("the process exits 2 with the variable's name on a bad config", async () => {
  const { code, text: stderr } = await runProxyProcess(
    { ...VALID, GATEWAY_PORT: "http" } as Record<string, string>,
  );
  assertEquals(code, 2, stderr);
  assertStringIncludes(stderr, "GATEWAY_PORT");
  assertStringIncludes(stderr, "example: GATEWAY_PORT=8080");
});

Deno.test("every variable configs.ts reads is in .env.example and in docs/configuration.md's table", async () => {
  const source = await Deno.readTextFile("configs.ts");
  const names = new Set(
    [...source.matchAll(/\b(?:raw|required|url|int|bytes|bool|oneOf|events)\("([A-Z_]+)"/g)].map((
      m,
    ) => m[1]),
  );
  assert(names.size >= 25, `found ${names.size}`);
  const example = await Deno.readTextFile(".env.example");
  const reference = await Deno.readTextFile("docs/configuration.md");
  for (const name of names) {
    assert(new RegExp(`^#? ?${name}=`, "m").test(example), `${name} missing from .env.example`);
    assert(
      reference.includes(`| \`${name}\``),
      `${name} missing from the table in docs/configuration.md`,
    );
  }
});

Deno.test("loadConfig() reads the cluster settings only with REDIS_URL, and checks how they combine", () => {
  assertEquals(loadConfig(VALID).cluster, undefined);
  const c = loadConfig({
    ...VALID,
    REDIS_URL: "redis://:pw-secret@redis.internal:6379/2",
    SHARD_ASSIGNMENT: "auto",
    SHARD_LEASE_MS: "5000",
    GATEWAY_MEMBER_ID: "gw-a",
  });
  assertEquals(c.cluster, {
    redisUrl: "redis://:pw-secret@redis.internal:6379/2",
    keyPrefix: "discord-gateway",
    assignment: "auto",
    leaseMs: 5000,
    memberId: "gw-a",
  });
  // The Redis password is a secret like the others (redacted in logs).
  assert(secretsOf(c).includes("pw-secret"));
  // Two processes in containers with pid 1 and the same host name still differ.
  const a = loadConfig({ ...VALID, REDIS_URL: "redis://r:1", HOSTNAME: "box" }).cluster!.memberId;
  const b = loadConfig({ ...VALID, REDIS_URL: "redis://r:1", HOSTNAME: "box" }).cluster!.memberId;
  assert(a.startsWith("box-") && a !== b, `${a} ${b}`);

  const variables = (env: Env) => problemsOf({ ...VALID, ...env }).problems.map((p) => p.variable);
  assertEquals(variables({ SHARD_ASSIGNMENT: "auto" }), ["SHARD_ASSIGNMENT"]);
  assertEquals(
    variables({ REDIS_URL: "redis://r:1", SHARD_ASSIGNMENT: "auto", FIRST_SHARD_ID: "0" }),
    ["FIRST_SHARD_ID"],
  );
  assertEquals(variables({ TRANSPORT: "redis-streams" }), ["TRANSPORT"]);
  assertEquals(loadConfig({ ...VALID, REDIS_URL: "redis://r:1", TOTAL_WORKERS: "2" }).workers, {
    total: 2,
    shardsPerWorker: undefined,
  });
  const bad = problemsOf({ ...VALID, REDIS_URL: "http://user:hunter2@r:1" });
  assertEquals(bad.problems.map((p) => p.variable), ["REDIS_URL"]);
  assert(!bad.message.includes("hunter2"), bad.message);
  assertStringIncludes(bad.message, "REDIS_URL=redis://127.0.0.1:6379");
});

Deno.test("loadConfig() needs no EVENT_HANDLER_URL with TRANSPORT=redis-streams, and batches 256 there", () => {
  const { EVENT_HANDLER_URL: _u, EVENT_HANDLER_AUTHORIZATION: _a, ...rest } = VALID;
  const c = loadConfig({ ...rest, REDIS_URL: "redis://r:1", TRANSPORT: "redis-streams" });
  assertEquals(c.transport, { kind: "redis-streams", streamMaxLen: 50_000, streamGroup: "bot" });
  assertEquals(c.eventHandler.url, "");
  assertEquals(c.eventHandler.batch.maxEvents, 256);
  assertEquals(
    problemsOf({ ...rest }).problems.map((p) => p.variable).sort(),
    ["EVENT_HANDLER_AUTHORIZATION", "EVENT_HANDLER_URL"],
  );
});
