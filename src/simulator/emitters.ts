/**
 * Emit helpers: build realistic events and route them like Discord does. A
 * guild event goes to every live session whose `(shard, num_shards)` covers
 * the guild (so old and new shard sets both see it while resharding), each
 * filtered by that session's intents.
 */
import { guildObject } from "./fixtures.ts";
import type { GuildEntry, GuildRegistry } from "./guild_registry.ts";
import { interactionObject, interactionToken } from "./interaction_fixture.ts";
import type { InteractionRegistry } from "./interaction_registry.ts";
import { hasIntents, Intents } from "./intents.ts";
import { linkEmbed, messageObject, withoutContent } from "./message_fixture.ts";
import type { Session, SessionStore } from "./session_store.ts";
import { isSnowflake, shardForGuild } from "./snowflake.ts";
import type {
  Delivery,
  Emitted,
  InteractionOptions,
  MessageCreateOptions,
  MessageUpdateOptions,
} from "./types.ts";

type Obj = Record<string, unknown>;

/** What the emitters need. */
export interface EmitterContext {
  sessions: SessionStore;
  guilds: GuildRegistry;
  interactions: InteractionRegistry;
  botId: string;
  nextId: () => string;
}

/** The emit half of the Simulator API. */
export interface Emitters {
  dispatch(shardId: number, t: string, d: unknown): number;
  emitMessageCreate(shardId: number, opts?: MessageCreateOptions): Emitted<Obj>;
  emitMessageUpdate(shardId: number, opts: MessageUpdateOptions): Emitted<Obj>;
  emitInteraction(shardId: number, opts: InteractionOptions): Emitted<Obj>;
  emitGuildCreate(shardId: number, guildId?: string): Emitted<Obj>;
  emitGuildDelete(shardId: number, guildId: string, unavailable: boolean): Emitted<Obj>;
}

/** Creates the emitters. */
export function createEmitters(ctx: EmitterContext): Emitters {
  const { sessions, guilds, interactions, botId, nextId } = ctx;

  const primary = (shardId: number): Session => {
    const session = sessions.primary(shardId);
    if (!session) {
      throw new Error(
        `Shard ${shardId} has no live or resumable session (identify it first)`,
      );
    }
    return session;
  };

  /**
   * Sends `t` to every session covering `guildId` (null: DM, shard 0).
   * `build` returns the body for a session, or undefined when its intents
   * filter the event out.
   */
  const fanOut = (
    main: Session,
    guildId: string | null,
    t: string,
    build: (session: Session) => unknown | undefined,
  ): { s: number | null; deliveries: Delivery[] } => {
    let s: number | null = null;
    const deliveries: Delivery[] = [];
    for (const session of sessions.covering(guildId)) {
      const d = build(session);
      if (d === undefined) continue;
      const seq = sessions.dispatch(session, t, d);
      deliveries.push({
        sessionId: session.id,
        shardId: session.shardId,
        numShards: session.numShards,
        s: seq,
      });
      if (session === main) s = seq;
    }
    return { s, deliveries };
  };

  /** A guild the bot is in, available, served by `main`'s shard. */
  const guildOnShard = (main: Session, guildId: string | undefined): GuildEntry => {
    if (guildId === undefined) {
      const picked = guilds.pick(main.shardId, main.numShards);
      if (!picked) {
        throw new Error(
          `Shard ${main.shardId}/${main.numShards} has no available guild (pass guildId or emitGuildCreate first)`,
        );
      }
      return picked;
    }
    const guild = guilds.get(guildId);
    if (!guild) throw new Error(`Guild ${guildId} is not one of the bot's guilds`);
    assertRoutes(main, guildId);
    if (!guild.available) throw new Error(`Guild ${guildId} is unavailable (outage)`);
    return guild;
  };

  const assertRoutes = (main: Session, guildId: string) => {
    const shard = shardForGuild(guildId, main.numShards);
    if (shard !== main.shardId) {
      throw new Error(
        `Guild ${guildId} routes to shard ${shard} of ${main.numShards}, not ${main.shardId}`,
      );
    }
  };

  /** Message body for one session: intent check, then MESSAGE_CONTENT stripping. */
  const messageFor = (message: Obj, guildId: string | null) => (session: Session) => {
    const intent = guildId === null ? Intents.DirectMessages : Intents.GuildMessages;
    if (!hasIntents(session.intents, intent)) return undefined;
    return hasIntents(session.intents, Intents.MessageContent)
      ? message
      : withoutContent(message, botId);
  };

  return {
    dispatch(shardId, t, d) {
      if (typeof t !== "string" || !/^[A-Z_]+$/.test(t)) {
        throw new TypeError(
          `dispatch t must be an event name like "MESSAGE_CREATE", got ${String(t)}`,
        );
      }
      return sessions.dispatch(primary(shardId), t, d);
    },

    emitMessageCreate(shardId, opts = {}) {
      const main = primary(shardId);
      let guildId: string | null = null;
      if (opts.dm) {
        if (shardId !== 0) throw new Error(`Direct messages go to shard 0, not ${shardId}`);
      } else {
        guildId = guildOnShard(main, opts.guildId).id;
      }
      const id = nextId();
      const message = messageObject({
        id,
        botId,
        guildId,
        // Derived from the id so that emitMessageUpdate shows the same author.
        authorIndex: Number(BigInt(id) % 997n),
        content: opts.content,
        embeds: opts.embeds,
        mentionBot: opts.mentionBot,
      });
      return {
        d: message,
        ...fanOut(main, guildId, "MESSAGE_CREATE", messageFor(message, guildId)),
      };
    },

    emitMessageUpdate(shardId, opts) {
      const main = primary(shardId);
      if (!isSnowflake(opts.id) || !isSnowflake(opts.channel_id)) {
        throw new TypeError("emitMessageUpdate needs snowflake id and channel_id");
      }
      const guildId = opts.guild_id ?? null;
      if (guildId === null && shardId !== 0) {
        throw new Error(
          `A MESSAGE_UPDATE without guild_id is a DM and goes to shard 0, not ${shardId}; pass guild_id`,
        );
      }
      if (guildId !== null) {
        if (!guilds.has(guildId)) {
          throw new Error(`Guild ${guildId} is not one of the bot's guilds`);
        }
        assertRoutes(main, guildId);
      }
      let message: Obj;
      if (opts.partial) {
        // Legacy partial update (e.g. an unfurl): no content, no author.
        message = { id: opts.id, channel_id: opts.channel_id };
        if (guildId !== null) message.guild_id = guildId;
        message.embeds = opts.embeds ?? [linkEmbed(opts.id)];
        if (opts.content !== undefined) message.content = opts.content;
        if (opts.edited_timestamp !== undefined) message.edited_timestamp = opts.edited_timestamp;
      } else {
        message = messageObject({
          id: opts.id,
          botId,
          guildId,
          channelId: opts.channel_id,
          authorIndex: Number(BigInt(opts.id) % 997n),
          content: opts.content,
          embeds: opts.embeds,
          editedTimestamp: opts.edited_timestamp ?? null,
        });
      }
      return {
        d: message,
        ...fanOut(main, guildId, "MESSAGE_UPDATE", messageFor(message, guildId)),
      };
    },

    emitInteraction(shardId, opts) {
      if (![2, 3, 4, 5].includes(opts?.type)) {
        throw new RangeError(
          `emitInteraction type must be 2, 3, 4 or 5 (PING is HTTP-only), got ${opts?.type}`,
        );
      }
      const main = primary(shardId);
      const guild = guildOnShard(main, opts.guildId);
      const id = nextId();
      const token = interactionToken(id);
      const withMessage = opts.type === 3 || opts.withMessage === true;
      const interaction = interactionObject({
        id,
        token,
        botId,
        guildId: guild.id,
        type: opts.type,
        withMessage,
        messageId: nextId(),
      });
      // Registered before sending: a fast callback must find it.
      interactions.add({
        id,
        token,
        type: opts.type,
        hasMessage: withMessage,
        createdAt: Date.now(),
        acknowledged: false,
      });
      return { d: interaction, ...fanOut(main, guild.id, "INTERACTION_CREATE", () => interaction) };
    },

    emitGuildCreate(shardId, guildId) {
      const main = primary(shardId);
      let entry: GuildEntry;
      if (guildId === undefined) {
        entry = guilds.join(main.shardId, main.numShards);
      } else {
        if (!isSnowflake(guildId)) {
          throw new TypeError(`guildId must be a snowflake, got ${guildId}`);
        }
        assertRoutes(main, guildId);
        const known = guilds.get(guildId);
        if (known?.available) throw new Error(`Guild ${guildId} is already available`);
        if (known) {
          guilds.setAvailable(guildId, true); // back from an outage
          entry = known;
        } else {
          entry = guilds.join(main.shardId, main.numShards, guildId);
        }
      }
      const build = (session: Session) =>
        hasIntents(session.intents, Intents.Guilds)
          ? guildObject(entry.id, botId, session.largeThreshold, entry.joinedAt)
          : undefined;
      const d = guildObject(entry.id, botId, main.largeThreshold, entry.joinedAt);
      return { d, ...fanOut(main, entry.id, "GUILD_CREATE", build) };
    },

    emitGuildDelete(shardId, guildId, unavailable) {
      const main = primary(shardId);
      if (!guilds.has(guildId)) throw new Error(`Guild ${guildId} is not one of the bot's guilds`);
      assertRoutes(main, guildId);
      const d: Obj = unavailable ? { id: guildId, unavailable: true } : { id: guildId };
      // Route before removing: the guild's sessions must still be found.
      const result = fanOut(
        main,
        guildId,
        "GUILD_DELETE",
        (session) => hasIntents(session.intents, Intents.Guilds) ? d : undefined,
      );
      if (unavailable) guilds.setAvailable(guildId, false);
      else guilds.remove(guildId);
      return { d, ...result };
    },
  };
}
