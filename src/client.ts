/**
 * A typed client for the gateway proxy's HTTP API, for the bot's side:
 *
 * ```ts
 * import { createGatewayClient } from "./src/client.ts";
 * const gateway = createGatewayClient({ url: "http://gateway:8080", authorization: SECRET });
 * await gateway.setPresence({ status: "online", activities: [{ name: "with shards", type: 0 }] });
 * const { nonce } = await gateway.requestMembers("123456789012345678", { query: "", limit: 0 });
 * ```
 * @module
 */
import type {
  CommandAnswer,
  GatewayPayload,
  GuildShardAnswer,
  MembersAnswer,
  MembersRequest,
  PresenceAnswer,
  PresenceRequest,
  ShardsAnswer,
  VoiceStateRequest,
} from "./control/wire.ts";

// The HTTP API's JSON shapes, under the names the server uses.
export type {
  Activity,
  CommandAnswer,
  GatewayPayload,
  GuildShardAnswer,
  MembersAnswer,
  MembersRequest,
  PresenceAnswer,
  PresenceRequest,
  ShardRange,
  ShardsAnswer,
  ShardState,
  ShardStatus,
  VoiceStateRequest,
} from "./control/wire.ts";

// What the proxy POSTs to the event handler, and how to read it in either form.
export {
  BATCH_HEADER,
  type ForwardedBody,
  type ForwardedEvent,
  type GatewayDispatch,
  parseForwarded,
} from "./handler_types.ts";

/** The API answered with an error; `status` and the server's reason. */
export class GatewayApiError extends Error {
  readonly status: number;
  /** From `Retry-After` on 429 and 503, ms. */
  readonly retryAfterMs?: number;
  constructor(status: number, message: string, retryAfterMs?: number) {
    super(message);
    this.name = "GatewayApiError";
    this.status = status;
    this.retryAfterMs = retryAfterMs;
  }
}

/** Options of {@linkcode createGatewayClient}. */
export interface GatewayClientOptions {
  /** Base URL of the gateway proxy (`http://GATEWAY_HOST:GATEWAY_PORT`). */
  url: string;
  /** `GATEWAY_AUTHORIZATION`. */
  authorization: string;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
}

/** The client. */
export interface GatewayClient {
  /** Presence on every shard of that process (or one). */
  setPresence(presence: PresenceRequest): Promise<PresenceAnswer>;
  /** Request guild members (op 8); the GUILD_MEMBERS_CHUNKs reach the event handler with this nonce. */
  requestMembers(guildId: string, options: MembersRequest): Promise<MembersAnswer>;
  /** Join or move (`channelId`), or leave (`null`) a voice channel (op 4). */
  updateVoiceState(guildId: string, state: VoiceStateRequest): Promise<CommandAnswer>;
  /** Any gateway command to one shard (not heartbeat, identify or resume). */
  sendPayload(shardId: number, payload: GatewayPayload): Promise<CommandAnswer>;
  /** The shard holding a guild and its latency. */
  guildShard(guildId: string): Promise<GuildShardAnswer>;
  /** Every shard of that process. */
  shards(): Promise<ShardsAnswer>;
  /** Reconnect a shard (its session resumes). */
  restartShard(shardId: number): Promise<void>;
}

/** Creates a {@linkcode GatewayClient}. */
export function createGatewayClient(options: GatewayClientOptions): GatewayClient {
  const base = options.url.replace(/\/+$/, "");
  const doFetch = options.fetch ?? fetch;
  const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await doFetch(base + path, {
      method,
      headers: {
        authorization: options.authorization,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let data: unknown = undefined;
    try {
      data = text ? JSON.parse(text) : undefined;
    } catch { /* not JSON */ }
    if (!res.ok && res.status !== 207) {
      const retry = Number(res.headers.get("retry-after"));
      throw new GatewayApiError(
        res.status,
        (data as { error?: string })?.error ?? `HTTP ${res.status}`,
        Number.isFinite(retry) && retry > 0 ? retry * 1000 : undefined,
      );
    }
    return data as T;
  };
  return {
    setPresence: (p) => call("POST", "/shards/presence", p),
    requestMembers: (guildId, o) => call("POST", `/guilds/${guildId}/members`, o),
    updateVoiceState: (guildId, s) => call("POST", `/guilds/${guildId}/voice`, s),
    sendPayload: (shardId, payload) => call("POST", `/shards/${shardId}/payload`, payload),
    guildShard: (guildId) => call("GET", `/guilds/${guildId}/shard`),
    shards: () => call("GET", "/shards"),
    restartShard: async (shardId) => {
      await call("POST", `/shards/${shardId}/restart`);
    },
  };
}
