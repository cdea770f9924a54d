// Over 400 lines: the simulator's whole public type surface in one place, most of it JSDoc.
/** Public types of the Discord simulator. */

/** Options of {@linkcode createSimulator}. Only `token` and `restAuthorization` are required. */
export interface SimulatorOptions {
  /**
   * Bot token that identify and resume must carry (`"Bot " + token` or bare).
   * Must have the real shape: first segment is base64 of the bot's user id,
   * e.g. `btoa("123456789012345678") + ".sim.token"`.
   */
  token: string;
  /** Secret REST requests must carry in `Authorization` (the REST proxy's secret). */
  restAuthorization: string;
  /** @default {"127.0.0.1"} */
  hostname?: string;
  /** 0 picks a free port. @default {0} */
  port?: number;
  /**
   * Shard count `/gateway/bot` recommends: a fixed number, or `"auto"` to
   * follow the bot's current guild count like Discord:
   * `max(1, ceil(guilds / recommendGuildsPerShard))`, raised if needed so no
   * shard holds more than `maxGuildsPerShard`, and rounded up to a multiple of
   * 16 past 150,000 guilds. It grows with {@linkcode Simulator.addGuilds}.
   * @default {1}
   */
  shards?: number | "auto";
  /**
   * Guilds per shard behind `shards: "auto"` (Discord: about 1000). Lower it
   * to watch the recommendation move with a few dozen guilds. @default {1000}
   */
  recommendGuildsPerShard?: number;
  /** Identify buckets (`shard_id % maxConcurrency`). @default {1} */
  maxConcurrency?: number;
  /** `session_start_limit.total`. @default {1000} */
  sessionStartTotal?: number;
  /** `session_start_limit.remaining` at start. @default {sessionStartTotal} */
  sessionStartRemaining?: number;
  /** Time until the session start limit refills. @default {86_400_000} */
  resetAfterMs?: number;
  /** Hello's `heartbeat_interval`; >= 2000 (Discordeno spins below ~1016). @default {41_250} */
  heartbeatIntervalMs?: number;
  /**
   * Close a connection with 4009 (session timed out, not resumable) when no
   * heartbeat arrived for this long (counted from Hello, then from each beat).
   * 0 disables the check; otherwise it must be >= heartbeatIntervalMs.
   * @default {2 * heartbeatIntervalMs}
   */
  heartbeatTimeoutMs?: number;
  /** Minimum spacing of accepted identifies per bucket. @default {5000} */
  identifyIntervalMs?: number;
  /** Number of guilds the bot is in at start. @default {0} */
  guilds?: number;
  /**
   * More guilds than this on one shard closes identify and resume with 4011
   * (sharding required), and closes a connected shard with 4011 when guilds
   * added at runtime push it over (the simulator's model of Discord refusing
   * an over-full shard). @default {2500}
   */
  maxGuildsPerShard?: number;
  /**
   * When an event goes to two or more connected sessions (two shard sets
   * side by side while resharding), each copy is held back a random 0 to
   * `fanOutSkewMs` ms, so the sets see it at slightly different times and
   * events may interleave differently across sets. A session's own order
   * never changes. 0 sends every copy at once. @default {20}
   */
  fanOutSkewMs?: number;
  /**
   * Seed of the simulator's random choices (the fan-out skew); read it back
   * from {@linkcode Simulator.seed} to replay a run. @default {a random 32-bit integer}
   */
  seed?: number;
  /** Logical events kept in {@linkcode Simulator.emitted} (oldest dropped). @default {100_000} */
  emittedLogLimit?: number;
  /**
   * Privileged intents enabled for the application (bits 1, 8, 15).
   * @default {0}
   */
  allowedPrivilegedIntents?: number;
  /**
   * The `resume_gateway_url` READY advertises. A URL nobody listens on plays a
   * dead resume host. @default {this simulator's `/resume`}
   */
  resumeGatewayUrl?: string;
  /** How long a disconnected session stays resumable. @default {180_000} */
  sessionTtlMs?: number;
  /** Dispatches kept per session for replay on resume. @default {10_000} */
  replayBufferSize?: number;
  /** Interaction callbacks later than this get 10062. @default {3000} */
  interactionDeadlineMs?: number;
  /** Commands per connection per window (heartbeats count). @default {120} */
  commandLimit?: number;
  /** Command rate limit window, fixed and starting when the socket opens. @default {60_000} */
  commandWindowMs?: number;
  /** Receives one line per notable event. Silent by default. */
  logger?: (msg: string) => void;
}

/** One identify attempt (op 2), accepted or not. */
export interface IdentifyRecord {
  /** `d.shard[0]`, or null when it was missing or malformed. */
  shardId: number | null;
  numShards: number | null;
  intents: number | null;
  at: number;
  accepted: boolean;
  /** Why it was refused (op 9 or a close). */
  reason?: string;
  /** Close code sent because of this identify, if any. */
  closeCode?: number;
  /** Session created by an accepted identify. */
  sessionId?: string;
  connectionId: number;
}

/** One resume attempt (op 6). */
export interface ResumeRecord {
  shardId: number | null;
  sessionId: string;
  seq: number | null;
  at: number;
  accepted: boolean;
  /** Dispatches replayed before RESUMED. */
  replayed: number;
  reason?: string;
  connectionId: number;
}

/** One payload sent by a client. `op` is null when it was not valid JSON. */
export interface ReceivedRecord {
  shardId: number | null;
  op: number | null;
  d: unknown;
  at: number;
  connectionId: number;
}

/** One interaction callback request, whatever its outcome. */
export interface CallbackRecord {
  interactionId: string;
  /** Type of the interaction, null when unknown. */
  interactionType: number | null;
  /** Callback `type` from the body, null when absent or unreadable. */
  type: number | null;
  data: unknown;
  /** Age of the interaction when the callback arrived, null when unknown. */
  ageMs: number | null;
  status: number;
  /** Discord JSON error code, null on success or injected faults. */
  code: number | null;
  at: number;
}

/** One closed gateway connection. */
export interface CloseRecord {
  shardId: number | null;
  code: number;
  reason: string;
  by: "server" | "client";
  at: number;
  connectionId: number;
}

/** Snapshot of a session. */
export interface SessionInfo {
  sessionId: string;
  shardId: number;
  numShards: number;
  /** Last sequence number assigned. */
  seq: number;
  /** Attached to an open connection. */
  connected: boolean;
  /** No longer resumable (TTL passed, invalidated, or ended by a 1000/1001 close). */
  expired: boolean;
}

/** One session that received an emitted event. */
export interface Delivery {
  sessionId: string;
  shardId: number;
  numShards: number;
  s: number;
  /** How long this copy was held back (fan-out skew), ms. */
  delayMs: number;
}

/**
 * One logical event the simulator emitted (one record however many shard
 * sets got a copy): the truth to check exactly-once delivery against.
 */
export interface EmittedEvent {
  /** 1, 2, 3... in emission order; keeps counting when old records are dropped. */
  id: number;
  t: string;
  /** Guild the event is about; null for events not tied to a guild (DMs). */
  guildId: string | null;
  /**
   * `eventKey(t, d)`: `t` and a hash of the raw `d` every full copy carries
   * (copies narrowed by a session's missing intents differ, as on Discord).
   * Events with byte-identical bodies share a key.
   */
  key: string;
  at: number;
  /** Every session that got a copy (none when intents filtered it everywhere). */
  deliveries: Delivery[];
}

/** A shard: its id (the newest connected session of that id), or `[shardId, numShards]`. */
export type ShardRef = number | readonly [shardId: number, numShards: number];

/**
 * Result of an emit helper. `s` is the sequence number in the target shard's
 * primary session, null when that session's intents filtered the event out.
 * Guild events also reach every other live session whose `(shard, num_shards)`
 * covers the guild (e.g. during resharding): `deliveries` lists them all.
 */
export interface Emitted<T> {
  s: number | null;
  d: T;
  deliveries: Delivery[];
  /** Id of the logical event in {@linkcode Simulator.emitted}. */
  eventId: number;
  /** Its key (`eventKey(t, d)`). */
  key: string;
}

/** Options of {@linkcode Simulator.emitMessageCreate}. */
export interface MessageCreateOptions {
  /** Guild to post in; must be available and on the shard. Default: the shard's guilds in turn. */
  guildId?: string;
  /** A direct message instead (DMs go to shard 0). */
  dm?: boolean;
  content?: string;
  /** Mention the bot (content then survives a missing MESSAGE_CONTENT intent). */
  mentionBot?: boolean;
  /** Embeds; default one realistic link embed. */
  embeds?: unknown[];
}

/** Options of {@linkcode Simulator.emitMessageUpdate}. */
export interface MessageUpdateOptions {
  id: string;
  channel_id: string;
  guild_id?: string;
  content?: string;
  /** null for a link unfurl on a never-edited message. @default {null} */
  edited_timestamp?: string | null;
  embeds?: unknown[];
  /** Send the legacy partial form `{id, channel_id, guild_id?, embeds}`. */
  partial?: boolean;
}

/** Options of {@linkcode Simulator.emitGuildMemberAdd}. */
export interface GuildMemberAddOptions {
  /** Guild joined; default one of the shard's guilds. */
  guildId?: string;
}

/** Options of {@linkcode Simulator.emitGuildUpdate}. */
export interface GuildUpdateOptions {
  /** Guild updated; default one of the shard's guilds. */
  guildId?: string;
  /** New name. @default {the guild's name with an update counter} */
  name?: string;
}

/** Options of {@linkcode Simulator.emitInteraction}. */
export interface InteractionOptions {
  /** 2 command, 3 component, 4 autocomplete, 5 modal submit (1 PING is HTTP-only). */
  type: 2 | 3 | 4 | 5;
  /** Attach the source message (always for 3; for 5 a modal opened from a component). */
  withMessage?: boolean;
  /** Guild; default one of the shard's guilds. */
  guildId?: string;
}

/** Result of {@linkcode Simulator.addGuilds}. */
export interface AddGuildsResult {
  /** The new guilds, in join order. */
  guildIds: string[];
  /** Their GUILD_CREATE events, in the same order. */
  events: EmittedEvent[];
  /** Connected sessions closed with 4011 because they became over-full. */
  closed: { sessionId: string; shardId: number; numShards: number }[];
}

/** REST routes whose answers can be faulted. */
export type RestRoute = "gateway/bot" | "interactions";

/** Options of {@linkcode Simulator.failRest}. */
export interface FailRestOptions {
  /** `retry_after` of injected 429s, in seconds. @default {1} */
  retryAfterSeconds?: number;
}

/** A running simulator: one HTTP server for gateway and REST. */
export interface Simulator {
  /** `ws://host:port` (what `/gateway/bot` returns). */
  readonly gatewayUrl: string;
  /** `http://host:port`, the REST proxy base URL (clients append `/v10/...`). */
  readonly restUrl: string;
  /** Port the server listens on. */
  readonly port: number;
  /** Bot user id (from the token). */
  readonly botId: string;

  /** Every identify attempt, in arrival order (live array: poll it). */
  readonly identifies: readonly IdentifyRecord[];
  /** Every resume attempt. */
  readonly resumes: readonly ResumeRecord[];
  /** Every payload clients sent, including refused ones. */
  readonly received: readonly ReceivedRecord[];
  /** Every interaction callback request. */
  readonly callbacks: readonly CallbackRecord[];
  /** Every closed gateway connection. */
  readonly closes: readonly CloseRecord[];
  /**
   * Every logical event the emit helpers, {@linkcode Simulator.addGuilds} and
   * {@linkcode Simulator.dispatchGuildEvent} sent, one record each however
   * many sessions got a copy (live array: poll it). Per-session traffic
   * (READY, its GUILD_CREATE backfill, answers to commands, `dispatch()`) is
   * not listed. Check exactly-once delivery against the `key`s.
   */
  readonly emitted: readonly EmittedEvent[];
  /** Seed of the random choices (given, or drawn at start). */
  readonly seed: number;
  /** Snapshot of every session ever created. */
  sessions(): SessionInfo[];
  /** Shard ids with a session attached to an open connection. */
  connectedShards(): number[];
  /** Ids of the bot's guilds routing to `shardId` for `numShards`. */
  guildIds(shardId: number, numShards: number): string[];
  /** Number of guilds the bot is in (those in an outage included). */
  guildCount(): number;
  /** The shard count `/gateway/bot` recommends now. */
  recommendedShards(): number;

  /**
   * The bot joins `count` new guilds. Guild ids spread evenly over any shard
   * count. A connected shard that ends up with more than `maxGuildsPerShard`
   * guilds is closed with 4011 first (and never sees the new guilds); then
   * each guild is announced with a GUILD_CREATE (a join) to every live session
   * covering it, as one logical event per guild.
   */
  addGuilds(count: number): AddGuildsResult;
  /**
   * Sends `d` as `t` to every live session covering `guildId` (null: shard 0
   * of every shard count, like a DM), with no intent filtering; recorded in
   * {@linkcode Simulator.emitted}. The guild must be one of the bot's.
   */
  dispatchGuildEvent(guildId: string | null, t: string, d: unknown): EmittedEvent;
  /** Sends a raw dispatch to the shard's primary session only; returns its `s`. */
  dispatch(shard: ShardRef, t: string, d: unknown): number;
  /** A realistic ~1.5 KB MESSAGE_CREATE in one of the shard's guilds (or a DM on shard 0). */
  emitMessageCreate(
    shard: ShardRef,
    opts?: MessageCreateOptions,
  ): Emitted<Record<string, unknown>>;
  /** A full MESSAGE_UPDATE, or the legacy partial form with `partial: true`. */
  emitMessageUpdate(
    shard: ShardRef,
    opts: MessageUpdateOptions,
  ): Emitted<Record<string, unknown>>;
  /** An INTERACTION_CREATE; its callback must arrive within `interactionDeadlineMs`. */
  emitInteraction(
    shard: ShardRef,
    opts: InteractionOptions,
  ): Emitted<Record<string, unknown>>;
  /**
   * A guild join (new id on the shard), or the return of a guild in an outage.
   * A join that pushes connected shards over `maxGuildsPerShard` closes them
   * with 4011 first, as {@linkcode Simulator.addGuilds} does.
   */
  emitGuildCreate(
    shard: ShardRef,
    guildId?: string,
  ): Emitted<Record<string, unknown>>;
  /** GUILD_DELETE: an outage (`unavailable: true`) or the bot leaving. */
  emitGuildDelete(
    shard: ShardRef,
    guildId: string,
    unavailable: boolean,
  ): Emitted<Record<string, unknown>>;
  /** GUILD_MEMBER_ADD of a new user (needs the GUILD_MEMBERS intent). */
  emitGuildMemberAdd(
    shard: ShardRef,
    opts?: GuildMemberAddOptions,
  ): Emitted<Record<string, unknown>>;
  /** GUILD_UPDATE with a new name (needs the GUILDS intent). */
  emitGuildUpdate(
    shard: ShardRef,
    opts?: GuildUpdateOptions,
  ): Emitted<Record<string, unknown>>;

  /** Closes the shard's socket with 4000 (Deno cannot drop TCP); the session stays resumable. */
  dropConnection(shard: ShardRef): void;
  /** Sends op 7 Reconnect. */
  sendReconnect(shard: ShardRef): void;
  /** Sends op 9; `resumable: false` also ends the session. */
  sendInvalidSession(shard: ShardRef, resumable: boolean): void;
  /** Closes the shard's socket with `code`; the session survives per the close code table. */
  closeShard(shard: ShardRef, code: number, reason?: string): void;
  /** Sends op 1 (the client must beat at once). */
  requestHeartbeat(shard: ShardRef): void;
  /** Stops (or restarts) op 11 answers for one shard or all connections. */
  pauseHeartbeatAcks(shardId: number | "all", paused: boolean): void;
  /**
   * Expires sessions (of one shard, or all): disconnected ones at once,
   * connected ones the moment their connection goes (no resume window).
   */
  expireSessions(shardId?: number): void;
  /** Answers the next requests on `route` with `statuses`, in order. */
  failRest(route: RestRoute, statuses: number[], options?: FailRestOptions): void;
  /** Closes every socket and the server, clears timers. */
  shutdown(): Promise<void>;
}
