/**
 * Traffic of the comparison benchmark (`bench/compare.ts`): realistic guild
 * events built from the simulator's fixtures and sent through the simulator's
 * own `dispatch` (sequence numbers, replay buffer, serialization and socket
 * writes are the simulator's), in a fixed mix, round-robin over the shards.
 *
 * Every contender gets the same bytes: the same templates, ids from the same
 * generator, and the send time in `d.nonce` of each MESSAGE_CREATE as a
 * fixed-width string (`1764320000000.123`, ms since the Unix epoch), which
 * every contender forwards untouched and the sink turns into a latency.
 * @module
 */
import type { Simulator } from "../src/simulator/mod.ts";
import {
  guildChannelIds,
  memberFields,
  memberUser,
  snowflakeIso,
} from "../src/simulator/fixtures.ts";
import { messageObject } from "../src/simulator/message_fixture.ts";
import { DISCORD_EPOCH, makeSnowflake } from "../src/simulator/snowflake.ts";

type Obj = Record<string, unknown>;

/** One cycle of the mix: 14 MESSAGE_CREATE (every third mentions the bot), 2 MESSAGE_UPDATE (real edits), 2 MESSAGE_REACTION_ADD, 1 TYPING_START, 1 MESSAGE_DELETE. */
export const MIX = [
  "create",
  "mention",
  "create",
  "reaction",
  "create",
  "create",
  "mention",
  "update",
  "create",
  "create",
  "mention",
  "typing",
  "create",
  "create",
  "mention",
  "reaction",
  "create",
  "delete",
  "create",
  "update",
] as const;

type Kind = typeof MIX[number];

const EVENT_NAME: Record<Kind, string> = {
  create: "MESSAGE_CREATE",
  mention: "MESSAGE_CREATE",
  update: "MESSAGE_UPDATE",
  reaction: "MESSAGE_REACTION_ADD",
  typing: "TYPING_START",
  delete: "MESSAGE_DELETE",
};

/** Templates for one guild; mutated in place before each dispatch (the simulator serializes at once). */
interface GuildTemplates {
  create: Obj;
  mention: Obj;
  update: Obj;
  reaction: Obj;
  typing: Obj;
  delete: Obj;
}

function templatesFor(guildId: string, botId: string, k: number): GuildTemplates {
  const channelId = guildChannelIds(guildId).text;
  const placeholder = makeSnowflake(300_000_000_000n, 1n);
  const member = (n: number) => ({ user: memberUser(guildId, n), ...memberFields(guildId, []) });
  const create = messageObject({ id: placeholder, botId, guildId, authorIndex: k });
  const mention = messageObject({
    id: placeholder,
    botId,
    guildId,
    authorIndex: k + 1,
    mentionBot: true,
  });
  const update = messageObject({
    id: placeholder,
    botId,
    guildId,
    authorIndex: k,
    content: "Has anyone tried the new build yet? (edited: the link was wrong, fixed now)",
    editedTimestamp: new Date().toISOString(),
  });
  // An edit carries no nonce; only MESSAGE_CREATEs are timed.
  delete update.nonce;
  const author = memberUser(guildId, 2 + k);
  return {
    create,
    mention,
    update,
    reaction: {
      user_id: author.id,
      type: 0,
      message_id: placeholder,
      message_author_id: memberUser(guildId, 1 + k).id as string,
      member: member(2 + k),
      emoji: { id: null, name: "\u{1F44D}" },
      channel_id: channelId,
      burst: false,
      guild_id: guildId,
      burst_colors: [],
    },
    typing: {
      user_id: author.id,
      timestamp: Math.floor(Date.now() / 1000),
      member: member(2 + k),
      channel_id: channelId,
      guild_id: guildId,
    },
    delete: { id: placeholder, channel_id: channelId, guild_id: guildId },
  };
}

/** A traffic source over a set of shards. */
export interface Traffic {
  /** Sends the next event of the mix through `sim.dispatch`. */
  emit(): void;
  /** Events sent so far. */
  readonly emitted: number;
  /** Events not sent because their shard had no live session. */
  readonly failed: number;
  /** Mean serialized size of one cycle of the mix (the dispatch JSON), bytes. */
  readonly meanPayloadBytes: number;
  /** Serialized size of a MESSAGE_CREATE (plain / mentioning the bot), bytes. */
  readonly messageCreateBytes: [number, number];
}

/** Options of {@linkcode createTraffic}. */
export interface TrafficOptions {
  sim: Pick<Simulator, "dispatch" | "guildIds" | "botId">;
  /** Shards to send to (each needs at least one guild). */
  shards: number[];
  /** Total shard count (guild routing). */
  numShards: number;
  /** Guilds used per shard. @default {4} */
  guildsPerShard?: number;
}

/** Creates the traffic source. */
export function createTraffic(options: TrafficOptions): Traffic {
  const { sim, shards, numShards, guildsPerShard = 4 } = options;
  const botId = sim.botId;
  const state = shards.map((shard) => {
    const guildIds = sim.guildIds(shard, numShards).slice(0, guildsPerShard);
    if (guildIds.length === 0) {
      throw new Error(`shard ${shard}/${numShards} has no guild; give the simulator more guilds`);
    }
    return {
      shard,
      guilds: guildIds.map((g, i) => templatesFor(g, botId, i)),
      /** Ids of MESSAGE_CREATEs sent, for the edits and deletes that follow. */
      created: [] as string[],
      step: 0,
    };
  });
  let increment = 0n;
  const nextId = () => {
    increment = (increment + 1n) & 0x1ffffn;
    return makeSnowflake(BigInt(Date.now()) - DISCORD_EPOCH, (2n << 17n) | increment);
  };
  let next = 0;
  let emitted = 0;
  let failed = 0;

  const emit = () => {
    const st = state[next++ % state.length];
    const step = st.step++;
    const kind = MIX[step % MIX.length];
    const t = st.guilds[Math.floor(step / MIX.length) % st.guilds.length];
    const d = t[kind];
    switch (kind) {
      case "create":
      case "mention": {
        const id = nextId();
        d.id = id;
        d.timestamp = snowflakeIso(id);
        st.created.push(id);
        if (st.created.length > 256) st.created.shift();
        d.nonce = (performance.timeOrigin + performance.now()).toFixed(3);
        break;
      }
      case "update":
        // A real edit of an earlier message: its edited_timestamp advances.
        d.id = st.created.shift() ?? nextId();
        d.edited_timestamp = new Date().toISOString();
        break;
      case "reaction":
        d.message_id = st.created[st.created.length - 1] ?? nextId();
        break;
      case "typing":
        d.timestamp = Math.floor(Date.now() / 1000);
        break;
      case "delete":
        d.id = st.created.shift() ?? nextId();
        break;
    }
    try {
      sim.dispatch(st.shard, EVENT_NAME[kind], d);
      emitted++;
    } catch {
      // The shard has no live session (the contender lost it): counted, not sent.
      failed++;
    }
  };

  // Sizes as the simulator serializes them ({op, d, s, t}).
  const sizeOf = (kind: Kind) =>
    new TextEncoder().encode(
      JSON.stringify({ op: 0, d: state[0].guilds[0][kind], s: 123456, t: EVENT_NAME[kind] }),
    ).length;
  const meanPayloadBytes = Math.round(
    MIX.reduce((sum, kind) => sum + sizeOf(kind), 0) / MIX.length,
  );
  const messageCreateBytes: [number, number] = [sizeOf("create"), sizeOf("mention")];

  return {
    emit,
    get emitted() {
      return emitted;
    },
    get failed() {
      return failed;
    },
    meanPayloadBytes,
    messageCreateBytes,
  };
}
