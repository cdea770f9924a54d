/**
 * Emit helpers: build realistic events and route them like Discord does. A
 * guild event goes to every live session whose `(shard, num_shards)` covers
 * the guild (so old and new shard sets both see it while resharding), each
 * filtered by that session's intents; see fan_out.ts.
 */
import type { BodyFor, FanOut } from "./fan_out.ts";
import { guildObject, memberFields, userObject } from "./fixtures.ts";
import type { GuildEntry, GuildRegistry } from "./guild_registry.ts";
import { interactionObject, interactionToken } from "./interaction_fixture.ts";
import type { InteractionRegistry } from "./interaction_registry.ts";
import { hasIntents, Intents } from "./intents.ts";
import { linkEmbed, messageObject, withoutContent } from "./message_fixture.ts";
import type { Session, SessionStore } from "./session_store.ts";
import { isSnowflake, shardForGuild } from "./snowflake.ts";
import type {
  AddGuildsResult,
  Emitted,
  EmittedEvent,
  GuildMemberAddOptions,
  GuildUpdateOptions,
  InteractionOptions,
  MessageCreateOptions,
  MessageUpdateOptions,
  ShardRef,
} from "./types.ts";

type Obj = Record<string, unknown>;

/** What the emitters need. */
export interface EmitterContext {
  sessions: SessionStore;
  guilds: GuildRegistry;
  interactions: InteractionRegistry;
  botId: string;
  nextId: () => string;
  fanOut: FanOut;
  /** Closes connected sessions holding more guilds than allowed (4011); lists them. */
  enforceShardLimit: () => AddGuildsResult["closed"];
}

/** The emit half of the Simulator API. */
export interface Emitters {
  addGuilds(count: number): AddGuildsResult;
  dispatchGuildEvent(guildId: string | null, t: string, d: unknown): EmittedEvent;
  dispatch(shard: ShardRef, t: string, d: unknown): number;
  emitMessageCreate(shard: ShardRef, opts?: MessageCreateOptions): Emitted<Obj>;
  emitMessageUpdate(shard: ShardRef, opts: MessageUpdateOptions): Emitted<Obj>;
  emitInteraction(shard: ShardRef, opts: InteractionOptions): Emitted<Obj>;
  emitGuildCreate(shard: ShardRef, guildId?: string): Emitted<Obj>;
  emitGuildDelete(shard: ShardRef, guildId: string, unavailable: boolean): Emitted<Obj>;
  emitGuildMemberAdd(shard: ShardRef, opts?: GuildMemberAddOptions): Emitted<Obj>;
  emitGuildUpdate(shard: ShardRef, opts?: GuildUpdateOptions): Emitted<Obj>;
}

/** Validates a {@linkcode ShardRef}; returns `[shardId, numShards | undefined]`. */
export function parseShardRef(ref: ShardRef): [number, number | undefined] {
  const [shardId, numShards] = typeof ref === "number" ? [ref, undefined] : ref ?? [];
  if (!Number.isSafeInteger(shardId) || (shardId as number) < 0) {
    throw new RangeError(`shardId must be an integer >= 0, got ${shardId}`);
  }
  if (
    numShards !== undefined &&
    (!Number.isSafeInteger(numShards) || numShards <= (shardId as number))
  ) {
    throw new RangeError(`numShards must be an integer > shardId (${shardId}), got ${numShards}`);
  }
  return [shardId as number, numShards];
}

/** GUILD_CREATE-only fields, absent from GUILD_UPDATE. */
const CREATE_ONLY = [
  "joined_at",
  "large",
  "unavailable",
  "lazy",
  "member_count",
  "voice_states",
  "members",
  "channels",
  "threads",
  "presences",
  "stage_instances",
  "guild_scheduled_events",
  "soundboard_sounds",
  "embedded_activities",
  "activity_instances",
  "application_command_counts",
];

/** Creates the emitters. */
export function createEmitters(ctx: EmitterContext): Emitters {
  const { sessions, guilds, interactions, botId, nextId, fanOut, enforceShardLimit } = ctx;
  let updates = 0;
  let newcomers = 0;

  /** The shard's primary session (of one shard count when the ref names it). */
  const primary = (ref: ShardRef): Session => {
    const [shardId, numShards] = parseShardRef(ref);
    const session = sessions.primary(shardId, numShards);
    if (!session) {
      const name = numShards === undefined ? `${shardId}` : `[${shardId}, ${numShards}]`;
      throw new Error(`Shard ${name} has no live or resumable session (identify it first)`);
    }
    return session;
  };

  /**
   * The primary session of `main`'s shard id that serves `guildId`: while two
   * shard sets run, the guild may route to this shard id in one set only.
   */
  const serving = (ref: ShardRef, main: Session, guildId: string): Session => {
    const numShards = typeof ref === "number" ? undefined : ref[1];
    const session = sessions.primary(main.shardId, numShards, guildId);
    if (!session) {
      const shard = shardForGuild(guildId, main.numShards);
      throw new Error(
        `Guild ${guildId} routes to shard ${shard} of ${main.numShards}, not ${main.shardId}`,
      );
    }
    return session;
  };

  /** Sends one logical event; the result as the emit helpers return it. */
  const send = <T>(
    main: Session,
    guildId: string | null,
    t: string,
    d: T,
    build?: BodyFor,
  ): Emitted<T> => {
    const event = fanOut.send(guildId, t, d, build);
    const own = event.deliveries.find((x) => x.sessionId === main.id);
    return {
      s: own?.s ?? null,
      d,
      deliveries: event.deliveries,
      eventId: event.id,
      key: event.key,
    };
  };

  /** An available guild of the bot served by the shard; `main` is its session. */
  const guildOnShard = (
    ref: ShardRef,
    guildId: string | undefined,
  ): { main: Session; guild: GuildEntry } => {
    let main = primary(ref);
    if (guildId === undefined) {
      const picked = guilds.pick(main.shardId, main.numShards);
      if (!picked) {
        throw new Error(
          `Shard ${main.shardId}/${main.numShards} has no available guild (pass guildId or emitGuildCreate first)`,
        );
      }
      return { main, guild: picked };
    }
    const guild = guilds.get(guildId);
    if (!guild) throw new Error(`Guild ${guildId} is not one of the bot's guilds`);
    main = serving(ref, main, guildId);
    if (!guild.available) throw new Error(`Guild ${guildId} is unavailable (outage)`);
    return { main, guild };
  };

  /** Per-session body builder with one body object per variant (identical copies). */
  const memo = <K>(key: (session: Session) => K | undefined, make: (k: K) => unknown) => {
    const made = new Map<K, unknown>();
    return (session: Session) => {
      const k = key(session);
      if (k === undefined) return undefined;
      if (!made.has(k)) made.set(k, make(k));
      return made.get(k);
    };
  };

  /** Body for sessions with `intent`, the same object for all of them. */
  const needs = (intent: number, d: unknown): BodyFor => (session) =>
    hasIntents(session.intents, intent) ? d : undefined;

  /** Message body for one session: intent check, then MESSAGE_CONTENT stripping. */
  const messageFor = (message: Obj, guildId: string | null): BodyFor => {
    const intent = guildId === null ? Intents.DirectMessages : Intents.GuildMessages;
    return memo(
      (session) =>
        hasIntents(session.intents, intent)
          ? hasIntents(session.intents, Intents.MessageContent)
          : undefined,
      (content) => content ? message : withoutContent(message, botId),
    );
  };

  /** GUILD_CREATE body per `large_threshold` (needs GUILDS). */
  const guildCreateFor = (entry: GuildEntry): BodyFor =>
    memo(
      (session) => hasIntents(session.intents, Intents.Guilds) ? session.largeThreshold : undefined,
      (threshold) => guildObject(entry.id, botId, threshold, entry.joinedAt, entry.name),
    );

  const guildCreate = (main: Session, entry: GuildEntry) => {
    const d = guildObject(entry.id, botId, main.largeThreshold, entry.joinedAt, entry.name);
    return send(main, entry.id, "GUILD_CREATE", d, guildCreateFor(entry));
  };

  const eventName = (t: unknown, fn: string) => {
    if (typeof t !== "string" || !/^[A-Z_]+$/.test(t)) {
      throw new TypeError(`${fn} t must be an event name like "MESSAGE_CREATE", got ${String(t)}`);
    }
  };

  return {
    addGuilds(count) {
      if (!Number.isSafeInteger(count) || count < 1 || count > 1_000_000) {
        throw new RangeError(`addGuilds count must be an integer in [1, 1000000], got ${count}`);
      }
      // Consecutive ids after every existing one: they spread over any shard count.
      const added = Array.from({ length: count }, () => guilds.join(0, 1));
      const closed = enforceShardLimit();
      const events = added.map((entry) => {
        const d = guildObject(entry.id, botId, 50, entry.joinedAt, entry.name);
        return fanOut.send(entry.id, "GUILD_CREATE", d, guildCreateFor(entry));
      });
      return { guildIds: added.map((g) => g.id), events, closed };
    },

    dispatchGuildEvent(guildId, t, d) {
      eventName(t, "dispatchGuildEvent");
      if (guildId !== null && !guilds.has(guildId)) {
        throw new Error(`Guild ${guildId} is not one of the bot's guilds`);
      }
      return fanOut.send(guildId, t, d);
    },

    dispatch(shard, t, d) {
      eventName(t, "dispatch");
      return sessions.dispatch(primary(shard), t, d);
    },

    emitMessageCreate(shard, opts = {}) {
      let main: Session;
      let guildId: string | null = null;
      if (opts.dm) {
        main = primary(shard);
        if (main.shardId !== 0) {
          throw new Error(`Direct messages go to shard 0, not ${main.shardId}`);
        }
      } else {
        const on = guildOnShard(shard, opts.guildId);
        main = on.main;
        guildId = on.guild.id;
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
      return send(main, guildId, "MESSAGE_CREATE", message, messageFor(message, guildId));
    },

    emitMessageUpdate(shard, opts) {
      let main = primary(shard);
      if (!isSnowflake(opts.id) || !isSnowflake(opts.channel_id)) {
        throw new TypeError("emitMessageUpdate needs snowflake id and channel_id");
      }
      const guildId = opts.guild_id ?? null;
      if (guildId === null && main.shardId !== 0) {
        throw new Error(
          `A MESSAGE_UPDATE without guild_id is a DM and goes to shard 0, not ${main.shardId}; pass guild_id`,
        );
      }
      if (guildId !== null) {
        if (!guilds.has(guildId)) {
          throw new Error(`Guild ${guildId} is not one of the bot's guilds`);
        }
        main = serving(shard, main, guildId);
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
      return send(main, guildId, "MESSAGE_UPDATE", message, messageFor(message, guildId));
    },

    emitInteraction(shard, opts) {
      if (![2, 3, 4, 5].includes(opts?.type)) {
        throw new RangeError(
          `emitInteraction type must be 2, 3, 4 or 5 (PING is HTTP-only), got ${opts?.type}`,
        );
      }
      const { main, guild } = guildOnShard(shard, opts.guildId);
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
      return send(main, guild.id, "INTERACTION_CREATE", interaction);
    },

    emitGuildCreate(shard, guildId) {
      let main = primary(shard);
      if (guildId === undefined) {
        const entry = guilds.join(main.shardId, main.numShards);
        enforceShardLimit();
        return guildCreate(main, entry);
      }
      if (!isSnowflake(guildId)) {
        throw new TypeError(`guildId must be a snowflake, got ${guildId}`);
      }
      main = serving(shard, main, guildId);
      const known = guilds.get(guildId);
      if (known?.available) throw new Error(`Guild ${guildId} is already available`);
      if (known) {
        guilds.setAvailable(guildId, true); // back from an outage
        return guildCreate(main, known);
      }
      const entry = guilds.join(main.shardId, main.numShards, guildId);
      enforceShardLimit();
      return guildCreate(main, entry);
    },

    emitGuildDelete(shard, guildId, unavailable) {
      let main = primary(shard);
      if (!guilds.has(guildId)) throw new Error(`Guild ${guildId} is not one of the bot's guilds`);
      main = serving(shard, main, guildId);
      const d: Obj = unavailable ? { id: guildId, unavailable: true } : { id: guildId };
      // Route before removing: the guild's sessions must still be found.
      const result = send(main, guildId, "GUILD_DELETE", d, needs(Intents.Guilds, d));
      if (unavailable) guilds.setAvailable(guildId, false);
      else guilds.remove(guildId);
      return result;
    },

    emitGuildMemberAdd(shard, opts = {}) {
      const { main, guild } = guildOnShard(shard, opts.guildId);
      const userId = nextId();
      const member: Obj = {
        user: userObject(userId, `newcomer${++newcomers}`),
        ...memberFields(guild.id, []),
        joined_at: new Date().toISOString(),
        guild_id: guild.id,
      };
      return send(main, guild.id, "GUILD_MEMBER_ADD", member, needs(Intents.GuildMembers, member));
    },

    emitGuildUpdate(shard, opts = {}) {
      const { main, guild } = guildOnShard(shard, opts.guildId);
      const full = guildObject(guild.id, botId, 50, guild.joinedAt, guild.name);
      const name = opts.name ?? `${full.name} (update ${++updates})`;
      if (typeof name !== "string" || name.length < 2 || name.length > 100) {
        throw new RangeError(`guild name must be 2-100 characters, got ${JSON.stringify(name)}`);
      }
      guilds.rename(guild.id, name);
      const d: Obj = { ...full, name };
      for (const key of CREATE_ONLY) delete d[key];
      return send(main, guild.id, "GUILD_UPDATE", d, needs(Intents.Guilds, d));
    },
  };
}
