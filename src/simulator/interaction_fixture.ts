/** Realistic INTERACTION_CREATE bodies. */
import {
  guildChannelIds,
  guildMemberCount,
  guildRoleIds,
  memberFields,
  memberUser,
} from "./fixtures.ts";
import { messageObject } from "./message_fixture.ts";
import { makeSnowflake, snowflakeTimestamp } from "./snowflake.ts";

/** Inputs of {@linkcode interactionObject}. */
export interface InteractionInit {
  id: string;
  token: string;
  botId: string;
  guildId: string;
  type: 2 | 3 | 4 | 5;
  withMessage: boolean;
  /** Id for the source message, when there is one. */
  messageId: string;
}

/** An interaction token like Discord's: long, URL-safe, unguessable. */
export function interactionToken(id: string): string {
  const random = crypto.getRandomValues(new Uint8Array(48));
  const body = btoa(String.fromCharCode(...random)).replaceAll("+", "-")
    .replaceAll("/", "_").replaceAll("=", "");
  return `aW50ZXJhY3Rpb246${btoa(id).replaceAll("=", "")}${body}`;
}

function commandId(botId: string, n: bigint): string {
  return makeSnowflake(snowflakeTimestamp(botId) + 1000n, n);
}

function interactionData(
  init: InteractionInit,
): Record<string, unknown> {
  switch (init.type) {
    case 2:
      return {
        id: commandId(init.botId, 1n),
        name: "ping",
        type: 1,
        options: [{ name: "verbose", type: 5, value: true }],
      };
    case 3:
      return { custom_id: "sim:button:confirm", component_type: 2 };
    case 4:
      return {
        id: commandId(init.botId, 2n),
        name: "search",
        type: 1,
        options: [{ name: "query", type: 3, value: "rel", focused: true }],
      };
    case 5:
      return {
        custom_id: "sim:modal:feedback",
        components: [{
          type: 1,
          id: 1,
          components: [{
            type: 4,
            id: 2,
            custom_id: "feedback",
            value: "Works for me.",
          }],
        }],
      };
  }
}

/**
 * Builds an interaction of `type` in a guild. Component interactions always
 * carry their message; modal submits carry it when opened from a component.
 */
export function interactionObject(
  init: InteractionInit,
): Record<string, unknown> {
  const { guildId, botId } = init;
  const channelId = guildChannelIds(guildId).text;
  const k = 1 + Number(BigInt(init.id) % BigInt(guildMemberCount(guildId)));
  const interaction: Record<string, unknown> = {
    id: init.id,
    application_id: botId,
    type: init.type,
    data: interactionData(init),
    guild_id: guildId,
    guild: { id: guildId, locale: "en-US", features: [] },
    channel_id: channelId,
    channel: {
      id: channelId,
      type: 0,
      guild_id: guildId,
      name: "general",
      parent_id: guildChannelIds(guildId).category,
      position: 0,
      flags: 0,
      nsfw: false,
      rate_limit_per_user: 0,
      topic: "Simulated channel",
      last_message_id: null,
      permissions: "2248473465835073",
    },
    member: {
      user: memberUser(guildId, k),
      ...memberFields(guildId, k === 1 ? [guildRoleIds(guildId).moderator] : []),
      permissions: "2248473465835073",
    },
    token: init.token,
    version: 1,
    app_permissions: "2248473465835073",
    locale: "en-US",
    guild_locale: "en-US",
    entitlements: [],
    entitlement_sku_ids: [],
    authorizing_integration_owners: { "0": guildId },
    context: 0,
    attachment_size_limit: 10_485_760,
  };
  if (init.type === 3 || (init.type === 5 && init.withMessage)) {
    const message = messageObject({
      id: init.messageId,
      botId,
      guildId,
      channelId,
      authorIndex: 0,
      content: "Confirm the action?",
      embeds: [],
    });
    // The source message was sent by the bot and carries the button.
    message.author = {
      id: botId,
      username: "SimBot",
      discriminator: "0",
      bot: true,
      avatar: null,
      global_name: null,
      public_flags: 0,
    };
    delete message.member;
    message.application_id = botId;
    message.components = [{
      type: 1,
      id: 1,
      components: [{ type: 2, id: 2, style: 1, label: "Confirm", custom_id: "sim:button:confirm" }],
    }];
    interaction.message = message;
  }
  return interaction;
}
