/**
 * Dispatch names the proxy knows: Discord's (gateway v10) and the synthetic
 * ones the shaping stage adds. `EVENT_ALLOWLIST`/`EVENT_DENYLIST` are checked
 * against these so a typo is a start-up error, not a silently empty stream.
 * @module
 */

/** Synthetic dispatches (the `_DD` names Discordeno's templates and bots already use). */
export const SYNTHETIC_EVENTS = {
  /** A GUILD_CREATE of the initial load after READY (not a join). */
  guildLoaded: "GUILD_LOADED_DD",
  /** A GUILD_CREATE for a guild that was unavailable (an outage ended). */
  guildAvailable: "GUILD_AVAILABLE_DD",
  /** Once per shard session: every guild READY listed has arrived (or the load timed out). */
  shardGuildsLoaded: "SHARD_GUILDS_LOADED_DD",
  /** Once per reshard, when delivery switched to the new shard set: `d` is `{from, to}`. */
  resharded: "RESHARDED_DD",
  /**
   * Sent by the delivery queue (never queued) while one event keeps failing and nothing else
   * shows the handler up: any answer but a 5xx or no answer proves it is. `d` is
   * `{shard_id, failing_s, failing_t}`; a handler may ignore it.
   */
  handlerCheck: "HANDLER_CHECK_DD",
} as const;

/** Discord's gateway dispatch names. */
export const DISCORD_EVENTS: readonly string[] = [
  "READY",
  "RESUMED",
  "APPLICATION_COMMAND_PERMISSIONS_UPDATE",
  "AUTO_MODERATION_RULE_CREATE",
  "AUTO_MODERATION_RULE_UPDATE",
  "AUTO_MODERATION_RULE_DELETE",
  "AUTO_MODERATION_ACTION_EXECUTION",
  "CHANNEL_CREATE",
  "CHANNEL_UPDATE",
  "CHANNEL_DELETE",
  "CHANNEL_PINS_UPDATE",
  "THREAD_CREATE",
  "THREAD_UPDATE",
  "THREAD_DELETE",
  "THREAD_LIST_SYNC",
  "THREAD_MEMBER_UPDATE",
  "THREAD_MEMBERS_UPDATE",
  "ENTITLEMENT_CREATE",
  "ENTITLEMENT_UPDATE",
  "ENTITLEMENT_DELETE",
  "GUILD_CREATE",
  "GUILD_UPDATE",
  "GUILD_DELETE",
  "GUILD_AUDIT_LOG_ENTRY_CREATE",
  "GUILD_BAN_ADD",
  "GUILD_BAN_REMOVE",
  "GUILD_EMOJIS_UPDATE",
  "GUILD_STICKERS_UPDATE",
  "GUILD_INTEGRATIONS_UPDATE",
  "GUILD_MEMBER_ADD",
  "GUILD_MEMBER_REMOVE",
  "GUILD_MEMBER_UPDATE",
  "GUILD_MEMBERS_CHUNK",
  "GUILD_ROLE_CREATE",
  "GUILD_ROLE_UPDATE",
  "GUILD_ROLE_DELETE",
  "GUILD_SCHEDULED_EVENT_CREATE",
  "GUILD_SCHEDULED_EVENT_UPDATE",
  "GUILD_SCHEDULED_EVENT_DELETE",
  "GUILD_SCHEDULED_EVENT_USER_ADD",
  "GUILD_SCHEDULED_EVENT_USER_REMOVE",
  "GUILD_SOUNDBOARD_SOUND_CREATE",
  "GUILD_SOUNDBOARD_SOUND_UPDATE",
  "GUILD_SOUNDBOARD_SOUND_DELETE",
  "GUILD_SOUNDBOARD_SOUNDS_UPDATE",
  "SOUNDBOARD_SOUNDS",
  "INTEGRATION_CREATE",
  "INTEGRATION_UPDATE",
  "INTEGRATION_DELETE",
  "INTERACTION_CREATE",
  "INVITE_CREATE",
  "INVITE_DELETE",
  "MESSAGE_CREATE",
  "MESSAGE_UPDATE",
  "MESSAGE_DELETE",
  "MESSAGE_DELETE_BULK",
  "MESSAGE_REACTION_ADD",
  "MESSAGE_REACTION_REMOVE",
  "MESSAGE_REACTION_REMOVE_ALL",
  "MESSAGE_REACTION_REMOVE_EMOJI",
  "MESSAGE_POLL_VOTE_ADD",
  "MESSAGE_POLL_VOTE_REMOVE",
  "PRESENCE_UPDATE",
  "RATE_LIMITED",
  "STAGE_INSTANCE_CREATE",
  "STAGE_INSTANCE_UPDATE",
  "STAGE_INSTANCE_DELETE",
  "SUBSCRIPTION_CREATE",
  "SUBSCRIPTION_UPDATE",
  "SUBSCRIPTION_DELETE",
  "TYPING_START",
  "USER_UPDATE",
  "VOICE_CHANNEL_EFFECT_SEND",
  "VOICE_STATE_UPDATE",
  "VOICE_SERVER_UPDATE",
  "WEBHOOKS_UPDATE",
];

/** Every name a filter may use. */
export const KNOWN_EVENTS: ReadonlySet<string> = new Set([
  ...DISCORD_EVENTS,
  ...Object.values(SYNTHETIC_EVENTS),
]);
