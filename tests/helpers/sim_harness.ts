/**
 * The simulator tests' harness: {@linkcode withSim} starts a simulator, hands
 * the test a {@linkcode Harness} to open raw gateway clients and call REST, and
 * closes every client and the simulator afterwards (for the leak sanitizers).
 * @module
 */
import { createSimulator, type Simulator, type SimulatorOptions } from "../../src/simulator/mod.ts";
import { Client, type Compression, type Payload } from "./ws_client.ts";

/** The bot token the simulator accepts (its first part is the bot id in base64). */
export const TOKEN = btoa("123456789012345678") + ".sim.token";
/** The REST proxy secret the simulator expects in `authorization`. */
export const SECRET = "rest-proxy-secret";
/** Intent bits the tests use. */
export const GUILDS = 1 << 0;
export const GUILD_MESSAGES = 1 << 9;
export const GUILD_VOICE_STATES = 1 << 7;
export const MESSAGE_CONTENT = 1 << 15;
export const GUILD_MEMBERS = 1 << 1;

/** An op 2 identify with the test token; `shard` left out when undefined. */
export function identify(
  shard: [number, number] | undefined,
  intents = GUILDS | GUILD_MESSAGES,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  const d: Record<string, unknown> = {
    token: `Bot ${TOKEN}`,
    intents,
    properties: { os: "linux", browser: "raw-test", device: "raw-test" },
    ...extra,
  };
  if (shard) d.shard = shard;
  return { op: 2, d };
}

/** What {@linkcode withSim} hands a test. */
export interface Harness {
  sim: Simulator;
  /** Opens a client on `path` (default "/") with `query` (default v=10 json). */
  connect(opts?: { path?: string; query?: string; compression?: Compression }): Promise<Client>;
  /** Connects and identifies; resolves after READY. */
  ready(
    shard: [number, number],
    intents?: number,
    path?: string,
  ): Promise<{ client: Client; ready: Payload }>;
  rest(path: string, init?: RequestInit & { auth?: string | null }): Promise<Response>;
}

/**
 * Starts a simulator (test token and secret, 5 s heartbeats, 300 ms identify
 * buckets, then `options`), runs `fn`, and closes every client and the
 * simulator whatever `fn` did.
 */
export async function withSim(
  options: Partial<SimulatorOptions>,
  fn: (h: Harness) => Promise<void> | void,
): Promise<void> {
  const sim = await createSimulator({
    token: TOKEN,
    restAuthorization: SECRET,
    heartbeatIntervalMs: 5000,
    identifyIntervalMs: 300,
    ...options,
  });
  const clients: Client[] = [];
  const connect: Harness["connect"] = async (opts = {}) => {
    const query = opts.query ??
      `?v=10&encoding=json${opts.compression ? `&compress=${opts.compression}` : ""}`;
    const client = new Client(`${sim.gatewayUrl}${opts.path ?? "/"}${query}`, opts.compression);
    clients.push(client);
    await Promise.race([client.opened, client.closed]);
    return client;
  };
  const h: Harness = {
    sim,
    connect,
    async ready(shard, intents = GUILDS | GUILD_MESSAGES, path) {
      const client = await connect({ path });
      await client.next((p) => p.op === 10);
      client.send(identify(shard, intents));
      const ready = await client.next((p) => p.t === "READY");
      return { client, ready };
    },
    rest(path, init = {}) {
      const headers = new Headers(init.headers);
      const auth = init.auth === undefined ? SECRET : init.auth;
      if (auth !== null) headers.set("authorization", auth);
      return fetch(`${sim.restUrl}${path}`, { ...init, headers });
    },
  };
  try {
    await fn(h);
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await sim.shutdown();
  }
}

/** Connect, wait for Hello, send `payload`; resolves with the close. */
export async function closeCodeFor(
  h: Harness,
  payloads: unknown[],
  opts?: { path?: string; query?: string },
): Promise<{ code: number; reason: string }> {
  const client = await h.connect(opts);
  await client.next((p) => p.op === 10);
  for (const payload of payloads) client.send(payload);
  return await client.waitClose();
}
