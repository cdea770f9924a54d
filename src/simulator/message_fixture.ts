/** Realistic message objects (MESSAGE_CREATE / MESSAGE_UPDATE bodies). */
import {
  botUser,
  guildChannelIds,
  guildMemberCount,
  guildRoleIds,
  hexHash,
  memberFields,
  memberUser,
  snowflakeIso,
  userObject,
} from "./fixtures.ts";
import { makeSnowflake, snowflakeTimestamp } from "./snowflake.ts";

/** Where a message lives and who wrote it. */
export interface MessageInit {
  id: string;
  botId: string;
  /** null for a DM. */
  guildId: string | null;
  channelId?: string;
  /** Member number of the author in the guild (ignored for DMs). */
  authorIndex: number;
  content?: string;
  embeds?: unknown[];
  mentionBot?: boolean;
  editedTimestamp?: string | null;
}

const LOREM =
  "Has anyone tried the new build yet? The release notes mention a fix for the reconnect loop " +
  "we saw last week, and a faster startup on large servers. Link below if you want the details.";

/** A link-preview embed like Discord's unfurler produces. */
export function linkEmbed(seed: string): Record<string, unknown> {
  return {
    type: "article",
    url: `https://example.com/posts/${seed}`,
    title: "Release notes: faster startup and a reconnect fix",
    description:
      "This release reduces cold start time on large servers and fixes a loop where clients " +
      "reconnected without resuming after a network blip.",
    color: 0x2b7bb9,
    provider: { name: "Example Blog", url: "https://example.com" },
    thumbnail: {
      url: `https://example.com/img/${seed}.png`,
      proxy_url: `https://images-ext-1.discordapp.net/external/${
        hexHash(seed)
      }/https/example.com/img/${seed}.png`,
      width: 400,
      height: 209,
      flags: 0,
    },
    content_scan_version: 1,
  };
}

/** DM channel id between the bot and a user (deterministic). */
function dmChannelId(userId: string): string {
  return makeSnowflake(snowflakeTimestamp(userId), 0x3ff00n);
}

/** Builds a full message object (~1.5 KB with the default content and embed). */
export function messageObject(init: MessageInit): Record<string, unknown> {
  const { id, botId, guildId } = init;
  const author = guildId === null
    ? userObject(makeSnowflake(snowflakeTimestamp(id), 0x3fffen), "dmuser")
    : memberUser(guildId, 1 + (init.authorIndex % guildMemberCount(guildId)));
  const authorId = author.id as string;
  const channelId = init.channelId ??
    (guildId === null ? dmChannelId(authorId) : guildChannelIds(guildId).text);
  let content = init.content ?? LOREM;
  const mentions: Record<string, unknown>[] = [];
  if (init.mentionBot) {
    content = `<@${botId}> ${content}`;
    const bot: Record<string, unknown> = botUser(botId);
    if (guildId !== null) {
      bot.member = memberFields(guildId, [guildRoleIds(guildId).bot]);
    }
    mentions.push(bot);
  }
  const message: Record<string, unknown> = {
    type: 0,
    tts: false,
    timestamp: snowflakeIso(id),
    pinned: false,
    nonce: String(BigInt(id) - 17n),
    mentions,
    mention_roles: [],
    mention_everyone: false,
    id,
    flags: 0,
    embeds: init.embeds ?? [linkEmbed(id)],
    edited_timestamp: init.editedTimestamp ?? null,
    content,
    components: [],
    channel_id: channelId,
    author,
    attachments: [],
  };
  if (guildId !== null) {
    message.guild_id = guildId;
    message.member = memberFields(guildId, []);
  } else {
    message.channel_type = 1;
  }
  return message;
}

/**
 * What a session without the MESSAGE_CONTENT intent sees: content, embeds,
 * attachments, components and poll emptied, except in DMs, for the bot's own
 * messages and for messages mentioning the bot (Discord's exemptions).
 */
export function withoutContent(
  message: Record<string, unknown>,
  botId: string,
): Record<string, unknown> {
  if (message.guild_id === undefined) return message;
  if ((message.author as { id?: string } | undefined)?.id === botId) {
    return message;
  }
  const mentions = message.mentions as { id: string }[] | undefined;
  if (mentions?.some((m) => m.id === botId)) return message;
  const stripped: Record<string, unknown> = { ...message };
  for (const key of ["content", "embeds", "attachments", "components"]) {
    if (key in stripped) stripped[key] = key === "content" ? "" : [];
  }
  delete stripped.poll;
  return stripped;
}
