/** Payload bodies of gateway events the simulator generates itself. */
import { botMember, botUser, guildMemberCount, memberObject } from "./fixtures.ts";
import { Intents, PRIVILEGED_INTENTS } from "./intents.ts";

/** `_trace` like Discord's (a JSON string per hop). */
export const TRACE = ['["gateway-prd-sim-1",{"micros":0}]'];

/**
 * Application flags matching the granted privileged intents ("limited"
 * variants, as for a bot under 100 guilds) plus APPLICATION_COMMAND_BADGE.
 */
function applicationFlags(allowedPrivileged: number): number {
  let flags = 1 << 23;
  if (allowedPrivileged & Intents.GuildPresences) flags |= 1 << 13;
  if (allowedPrivileged & Intents.GuildMembers) flags |= 1 << 15;
  if (allowedPrivileged & Intents.MessageContent) flags |= 1 << 19;
  return flags;
}

/** READY `d`. */
export function readyPayload(init: {
  botId: string;
  sessionId: string;
  resumeGatewayUrl: string;
  shard: [number, number];
  guildIds: string[];
  allowedPrivileged: number;
}): Record<string, unknown> {
  return {
    v: 10,
    user_settings: {},
    user: botUser(init.botId),
    session_type: "normal",
    session_id: init.sessionId,
    resume_gateway_url: init.resumeGatewayUrl,
    relationships: [],
    private_channels: [],
    presences: [],
    guilds: init.guildIds.map((id) => ({ id, unavailable: true })),
    guild_join_requests: [],
    geo_ordered_rtc_regions: ["sim-east", "sim-west"],
    auth: {},
    application: {
      id: init.botId,
      flags: applicationFlags(init.allowedPrivileged & PRIVILEGED_INTENTS),
    },
    shard: init.shard,
    _trace: TRACE,
  };
}

/** GUILD_MEMBERS_CHUNK bodies answering an op 8 request. */
export function memberChunks(init: {
  guildId: string;
  botId: string;
  query?: string;
  limit: number;
  userIds?: string[];
  presences: boolean;
  nonce?: string;
}): Record<string, unknown>[] {
  const { guildId, botId } = init;
  const all: Record<string, unknown>[] = [botMember(guildId, botId)];
  const count = guildMemberCount(guildId);
  for (let k = 1; k <= count; k++) all.push(memberObject(guildId, k));
  const idOf = (m: Record<string, unknown>) => (m.user as { id: string }).id;

  let members: Record<string, unknown>[];
  let notFound: string[] = [];
  if (init.userIds) {
    const wanted = new Set(init.userIds);
    members = all.filter((m) => wanted.has(idOf(m)));
    const found = new Set(members.map(idOf));
    notFound = init.userIds.filter((id) => !found.has(id));
  } else {
    const q = (init.query ?? "").toLowerCase();
    members = all.filter((m) =>
      (m.user as { username: string }).username.toLowerCase().startsWith(q)
    );
    if (init.limit > 0) members = members.slice(0, init.limit);
  }

  const chunkCount = Math.max(1, Math.ceil(members.length / 1000));
  const chunks: Record<string, unknown>[] = [];
  for (let i = 0; i < chunkCount; i++) {
    const slice = members.slice(i * 1000, (i + 1) * 1000);
    const chunk: Record<string, unknown> = {
      guild_id: guildId,
      members: slice,
      chunk_index: i,
      chunk_count: chunkCount,
    };
    if (i === 0 && notFound.length > 0) chunk.not_found = notFound;
    if (init.presences) {
      // Every third member is online; the rest are offline and omitted.
      chunk.presences = slice.filter((_, j) => j % 3 === 0).map((m) => ({
        user: { id: idOf(m) },
        status: "online",
        activities: [],
        client_status: { desktop: "online" },
      }));
    }
    if (init.nonce !== undefined) chunk.nonce = init.nonce;
    chunks.push(chunk);
  }
  return chunks;
}

/** VOICE_STATE_UPDATE body for the bot's own voice state. */
export function voiceStatePayload(init: {
  guildId: string;
  channelId: string | null;
  botId: string;
  selfMute: boolean;
  selfDeaf: boolean;
  voiceSessionId: string;
}): Record<string, unknown> {
  return {
    guild_id: init.guildId,
    channel_id: init.channelId,
    user_id: init.botId,
    member: botMember(init.guildId, init.botId),
    session_id: init.voiceSessionId,
    deaf: false,
    mute: false,
    self_deaf: init.selfDeaf,
    self_mute: init.selfMute,
    self_stream: false,
    self_video: false,
    suppress: false,
    request_to_speak_timestamp: null,
  };
}
