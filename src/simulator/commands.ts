/**
 * Gateway commands an authenticated client may send besides heartbeats:
 * op 3 Presence Update, op 4 Voice State Update, op 8 Request Guild Members,
 * op 31 Request Soundboard Sounds. Replies are dispatches on the session.
 */
import { CloseCodes } from "./close_codes.ts";
import { memberChunks, voiceStatePayload } from "./gateway_fixtures.ts";
import { checkPresence } from "./handshake.ts";
import type { GuildRegistry } from "./guild_registry.ts";
import { hasIntents, Intents } from "./intents.ts";
import type { Session, SessionStore } from "./session_store.ts";
import { isSnowflake, shardForGuild } from "./snowflake.ts";

/** A command that must close the connection. */
export interface CommandFailure {
  code: number;
  detail: string;
}

/** Handles ops 3, 4, 8 and 31 for a session. */
export type CommandHandler = (
  session: Session,
  op: number,
  d: unknown,
) => CommandFailure | undefined;

/** Dependencies of {@linkcode createCommandHandler}. */
export interface CommandDeps {
  sessions: SessionStore;
  guilds: GuildRegistry;
  botId: string;
  /** Full member list requests allowed per guild per this window (Discord: 30 s). */
  memberListWindowMs?: number;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

const invalid = (detail: string): CommandFailure => ({
  code: CloseCodes.UnknownOpcode,
  detail,
});

/** Creates the handler; it keeps the per-guild member list rate limit. */
export function createCommandHandler(deps: CommandDeps): CommandHandler {
  const { sessions, guilds, botId, memberListWindowMs = 30_000 } = deps;
  const lastFullList = new Map<string, number>();

  /** A guild of the bot that this session's shard serves. */
  const ownGuild = (session: Session, guildId: unknown): string | undefined => {
    if (!isSnowflake(guildId) || !guilds.has(guildId)) return undefined;
    return shardForGuild(guildId, session.numShards) === session.shardId ? guildId : undefined;
  };

  const requestMembers = (session: Session, d: unknown) => {
    if (!isObject(d)) return invalid("op 8 d must be an object");
    const guildId = ownGuild(session, d.guild_id);
    if (!guildId) return invalid("op 8 guild_id is not a guild of this shard");
    // user_ids wins when both are present (Discordeno always sends query "").
    const hasIds = d.user_ids !== undefined && d.user_ids !== null;
    const hasQuery = !hasIds && d.query !== undefined;
    if (!hasIds && !hasQuery) return invalid("op 8 needs query or user_ids");
    let userIds: string[] | undefined;
    let limit = 0;
    if (hasIds) {
      userIds = Array.isArray(d.user_ids) ? d.user_ids : [d.user_ids];
      if (!userIds.every(isSnowflake) || userIds.length > 100) {
        return invalid("op 8 user_ids must be up to 100 snowflakes");
      }
    } else {
      if (typeof d.query !== "string") return invalid("op 8 query must be a string");
      if (!Number.isSafeInteger(d.limit) || (d.limit as number) < 0) {
        return invalid("op 8 limit must be an integer >= 0");
      }
      limit = d.limit as number;
      // A non-empty query returns at most 100 members.
      if (d.query !== "") limit = Math.min(limit === 0 ? 100 : limit, 100);
    }
    if (d.presences !== undefined && typeof d.presences !== "boolean") {
      return invalid("op 8 presences must be a boolean");
    }
    const fullList = hasQuery && d.query === "" && limit === 0;
    if (fullList && !hasIntents(session.intents, Intents.GuildMembers)) {
      return invalid("op 8 for the whole member list requires the GUILD_MEMBERS intent");
    }
    // Discord drops nonces over 32 bytes.
    const nonce = typeof d.nonce === "string" && new TextEncoder().encode(d.nonce).length <= 32
      ? d.nonce
      : undefined;
    if (fullList) {
      const now = Date.now();
      const last = lastFullList.get(guildId);
      if (last !== undefined && now - last < memberListWindowMs) {
        sessions.dispatch(session, "RATE_LIMITED", {
          opcode: 8,
          retry_after: (memberListWindowMs - (now - last)) / 1000,
          meta: nonce === undefined ? { guild_id: guildId } : { guild_id: guildId, nonce },
        });
        return undefined;
      }
      lastFullList.set(guildId, now);
    }
    const chunks = memberChunks({
      guildId,
      botId,
      query: hasQuery ? d.query as string : undefined,
      limit,
      userIds,
      // Without GUILD_PRESENCES, Discord treats presences as false.
      presences: d.presences === true && hasIntents(session.intents, Intents.GuildPresences),
      nonce,
    });
    for (const chunk of chunks) sessions.dispatch(session, "GUILD_MEMBERS_CHUNK", chunk);
    return undefined;
  };

  const voiceState = (session: Session, d: unknown) => {
    if (!isObject(d)) return invalid("op 4 d must be an object");
    const guildId = ownGuild(session, d.guild_id);
    if (!guildId) return invalid("op 4 guild_id is not a guild of this shard");
    if (d.channel_id !== null && !isSnowflake(d.channel_id)) {
      return invalid("op 4 channel_id must be a snowflake or null");
    }
    if (typeof d.self_mute !== "boolean" || typeof d.self_deaf !== "boolean") {
      return invalid("op 4 self_mute and self_deaf must be booleans");
    }
    const channelId = d.channel_id as string | null;
    // The bot's own VOICE_STATE_UPDATE needs GUILD_VOICE_STATES like any other.
    if (hasIntents(session.intents, Intents.GuildVoiceStates)) {
      sessions.dispatch(
        session,
        "VOICE_STATE_UPDATE",
        voiceStatePayload({
          guildId,
          channelId,
          botId,
          selfMute: d.self_mute,
          selfDeaf: d.self_deaf,
          voiceSessionId: crypto.randomUUID().replaceAll("-", ""),
        }),
      );
    }
    if (channelId !== null) {
      sessions.dispatch(session, "VOICE_SERVER_UPDATE", {
        token: crypto.randomUUID().replaceAll("-", "").slice(0, 16),
        guild_id: guildId,
        endpoint: "sim-voice-1.discord.media:443",
      });
    }
    return undefined;
  };

  const soundboard = (session: Session, d: unknown) => {
    if (!isObject(d) || !Array.isArray(d.guild_ids)) {
      return invalid("op 31 guild_ids must be an array");
    }
    const ids: string[] = [];
    for (const id of d.guild_ids) {
      const own = ownGuild(session, id);
      if (!own) return invalid("op 31 guild_ids must be guilds of this shard");
      ids.push(own);
    }
    for (const guildId of ids) {
      sessions.dispatch(session, "SOUNDBOARD_SOUNDS", {
        soundboard_sounds: [],
        guild_id: guildId,
      });
    }
    return undefined;
  };

  return (session, op, d) => {
    switch (op) {
      case 3: {
        const bad = checkPresence(d);
        return bad ? invalid(`op 3 ${bad}`) : undefined;
      }
      case 4:
        return voiceState(session, d);
      case 8:
        return requestMembers(session, d);
      case 31:
        return soundboard(session, d);
      default:
        return { code: CloseCodes.UnknownOpcode, detail: `unknown opcode ${op}` };
    }
  };
}
