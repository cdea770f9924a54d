/**
 * Deterministic, realistic Discord objects (users, members, channels, roles,
 * guilds). Every id below derives from the guild id, so the same guild always
 * looks the same, across READY, GUILD_CREATE and messages.
 */
import { DISCORD_EPOCH, makeSnowflake, snowflakeTimestamp } from "./snowflake.ts";

/** Member user ids live this far (ms) after their guild's id, clear of guild ids. */
const USER_OFFSET = 1n << 35n;

/** A 32-hex-digit hash (avatar/icon style) derived from `seed` (FNV-1a, 4 rounds). */
export function hexHash(seed: string): string {
  let out = "";
  for (let round = 0; round < 4; round++) {
    let h = 0x811c9dc5 ^ round;
    for (let i = 0; i < seed.length; i++) {
      h ^= seed.charCodeAt(i);
      h = Math.imul(h, 0x01000193);
    }
    out += (h >>> 0).toString(16).padStart(8, "0");
  }
  return out;
}

/** ISO timestamp of a snowflake's creation. */
export function snowflakeIso(id: string): string {
  return new Date(Number(snowflakeTimestamp(id) + DISCORD_EPOCH)).toISOString();
}

/** Channel ids of a guild: category, text channel, voice channel. */
export function guildChannelIds(
  guildId: string,
): { category: string; text: string; voice: string } {
  const ts = snowflakeTimestamp(guildId);
  return {
    category: makeSnowflake(ts, 1n),
    text: makeSnowflake(ts, 2n),
    voice: makeSnowflake(ts, 3n),
  };
}

/** Role ids of a guild (@everyone shares the guild id, as in Discord). */
export function guildRoleIds(
  guildId: string,
): { everyone: string; moderator: string; bot: string } {
  const ts = snowflakeTimestamp(guildId);
  return {
    everyone: guildId,
    moderator: makeSnowflake(ts, 10n),
    bot: makeSnowflake(ts, 11n),
  };
}

/** Member count of a guild: deterministic, between 2 and 400. */
export function guildMemberCount(guildId: string): number {
  return 2 + Number(snowflakeTimestamp(guildId) * 37n % 399n);
}

/** Id of member number `k` (1-based) of a guild. */
export function memberUserId(guildId: string, k: number): string {
  return makeSnowflake(snowflakeTimestamp(guildId) + USER_OFFSET, BigInt(k));
}

/** A (non-bot) user object. */
export function userObject(id: string, username: string): Record<string, unknown> {
  return {
    id,
    username,
    discriminator: "0",
    global_name: username[0].toUpperCase() + username.slice(1),
    avatar: hexHash(id),
    avatar_decoration_data: null,
    banner: null,
    accent_color: null,
    public_flags: 0,
    flags: 0,
    bot: false,
    system: false,
    primary_guild: null,
    collectibles: null,
    clan: null,
  };
}

/** The bot's own user object. */
export function botUser(botId: string): Record<string, unknown> {
  return {
    id: botId,
    username: "SimBot",
    discriminator: "0",
    global_name: null,
    avatar: hexHash(botId),
    avatar_decoration_data: null,
    banner: null,
    accent_color: null,
    public_flags: 0,
    flags: 0,
    bot: true,
    verified: true,
    mfa_enabled: false,
    email: null,
    clan: null,
    primary_guild: null,
  };
}

/** User object of member `k` of a guild. */
export function memberUser(guildId: string, k: number): Record<string, unknown> {
  const n = Number(snowflakeTimestamp(guildId) % 100_000n);
  return userObject(memberUserId(guildId, k), `user${k}_${n}`);
}

/** Guild member object (without `user`, as in MESSAGE_CREATE's `member`). */
export function memberFields(
  guildId: string,
  roles: string[],
): Record<string, unknown> {
  return {
    nick: null,
    avatar: null,
    banner: null,
    roles,
    joined_at: snowflakeIso(guildId),
    premium_since: null,
    deaf: false,
    mute: false,
    flags: 0,
    pending: false,
    communication_disabled_until: null,
    unusual_dm_activity_until: null,
  };
}

/** Full guild member object of member `k`. */
export function memberObject(guildId: string, k: number): Record<string, unknown> {
  const roles = k === 1 ? [guildRoleIds(guildId).moderator] : [];
  return { user: memberUser(guildId, k), ...memberFields(guildId, roles) };
}

/** The bot's member object in a guild. */
export function botMember(guildId: string, botId: string): Record<string, unknown> {
  return {
    user: botUser(botId),
    ...memberFields(guildId, [guildRoleIds(guildId).bot]),
  };
}

function role(
  id: string,
  name: string,
  position: number,
  permissions: string,
  managed: boolean,
): Record<string, unknown> {
  return {
    id,
    name,
    description: null,
    color: position === 0 ? 0 : 0x5865f2,
    colors: {
      primary_color: position === 0 ? 0 : 0x5865f2,
      secondary_color: null,
      tertiary_color: null,
    },
    hoist: position > 0,
    icon: null,
    unicode_emoji: null,
    position,
    permissions,
    managed,
    mentionable: false,
    flags: 0,
  };
}

function channel(
  id: string,
  type: number,
  name: string,
  position: number,
  parentId: string | null,
): Record<string, unknown> {
  const base: Record<string, unknown> = {
    id,
    type,
    name,
    position,
    flags: 0,
    parent_id: parentId,
    permission_overwrites: [],
  };
  if (type === 0) {
    Object.assign(base, {
      topic: "Simulated channel",
      nsfw: false,
      last_message_id: null,
      rate_limit_per_user: 0,
      default_thread_rate_limit_per_user: 0,
      last_pin_timestamp: null,
    });
  }
  if (type === 2) {
    Object.assign(base, {
      bitrate: 64_000,
      user_limit: 0,
      rtc_region: null,
      nsfw: false,
      rate_limit_per_user: 0,
      last_message_id: null,
    });
  }
  return base;
}

/** Channel objects of a guild as GUILD_CREATE lists them. */
export function guildChannels(guildId: string): Record<string, unknown>[] {
  const ids = guildChannelIds(guildId);
  return [
    channel(ids.category, 4, "Text Channels", 0, null),
    channel(ids.text, 0, "general", 0, ids.category),
    channel(ids.voice, 2, "General", 1, ids.category),
  ];
}

/**
 * A small but complete GUILD_CREATE guild object. `largeThreshold` is the
 * identify's `large_threshold` (Discord's default 50) deciding `large`;
 * `name` replaces the fixture name (after a GUILD_UPDATE).
 */
export function guildObject(
  guildId: string,
  botId: string,
  largeThreshold: number,
  joinedAt: string,
  name?: string,
): Record<string, unknown> {
  const channels = guildChannels(guildId);
  const roleIds = guildRoleIds(guildId);
  const memberCount = guildMemberCount(guildId);
  const n = Number(snowflakeTimestamp(guildId) % 100_000n);
  return {
    id: guildId,
    name: name ?? `Sim Guild ${n}`,
    icon: hexHash(`icon${guildId}`),
    icon_hash: null,
    splash: null,
    discovery_splash: null,
    banner: null,
    description: null,
    owner_id: memberUserId(guildId, 1),
    region: "deprecated",
    afk_channel_id: null,
    afk_timeout: 300,
    widget_enabled: false,
    widget_channel_id: null,
    verification_level: 1,
    default_message_notifications: 1,
    explicit_content_filter: 2,
    roles: [
      role(roleIds.everyone, "@everyone", 0, "2222085186637376", false),
      role(roleIds.moderator, "Moderator", 1, "1099511627775", false),
      role(roleIds.bot, "SimBot", 2, "274878024768", true),
    ],
    emojis: [],
    stickers: [],
    features: [],
    mfa_level: 0,
    application_id: null,
    system_channel_id: (channels[1] as { id: string }).id,
    system_channel_flags: 0,
    rules_channel_id: null,
    public_updates_channel_id: null,
    safety_alerts_channel_id: null,
    max_presences: null,
    max_members: 500_000,
    max_video_channel_users: 25,
    max_stage_video_channel_users: 50,
    vanity_url_code: null,
    premium_tier: 0,
    premium_subscription_count: 0,
    premium_progress_bar_enabled: false,
    preferred_locale: "en-US",
    nsfw_level: 0,
    nsfw: false,
    incidents_data: null,
    hub_type: null,
    latest_onboarding_question_id: null,
    home_header: null,
    version: 1_700_000_000_000,
    // GUILD_CREATE-only fields.
    joined_at: joinedAt,
    large: memberCount > largeThreshold,
    unavailable: false,
    lazy: true,
    member_count: memberCount,
    voice_states: [],
    members: [botMember(guildId, botId)],
    channels,
    threads: [],
    presences: [],
    stage_instances: [],
    guild_scheduled_events: [],
    soundboard_sounds: [],
    embedded_activities: [],
    activity_instances: [],
    application_command_counts: {},
  };
}
