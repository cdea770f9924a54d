// Over 400 lines: one connection's state machine (handshake, heartbeats, limits, close codes), tied together by the protocol facts.
/**
 * The gateway WebSocket side: one {@linkcode Connection} per socket, the
 * handshake (identify / resume), heartbeats, limits and close handling.
 * Sessions outlive connections; they live in the session store.
 */
import {
  clientCloseEndsSession,
  CloseCodes,
  closeReason,
  fitReason,
  serverCloseKeepsSession,
} from "./close_codes.ts";
import { type CommandHandler, createCommandHandler } from "./commands.ts";
import { guildObject } from "./fixtures.ts";
import { readyPayload, TRACE } from "./gateway_fixtures.ts";
import type { GuildRegistry } from "./guild_registry.ts";
import { checkIdentify, checkResume } from "./handshake.ts";
import type { IdentifyLimiter } from "./identify_limiter.ts";
import { hasIntents, Intents } from "./intents.ts";
import type { ResolvedOptions } from "./options.ts";
import type { Session, SessionSink, SessionStore } from "./session_store.ts";
import { createOutbound, type Outbound, type TransportCompression } from "./transport.ts";
import type { CloseRecord, IdentifyRecord, ReceivedRecord, ResumeRecord } from "./types.ts";

/** Client payloads larger than this close the connection with 4002. */
const MAX_PAYLOAD_BYTES = 4096;

/** One gateway socket. */
export interface Connection extends SessionSink {
  readonly id: number;
  /** Opened on `/resume` (the resume_gateway_url). */
  readonly resumePath: boolean;
  /** Shard named by the last identify/resume on this socket. */
  shardId: number | null;
  session: Session | null;
  /** False once either side started closing. */
  open: boolean;
  readonly outbound: Outbound;
  windowStart: number;
  windowCount: number;
  heartbeatTimer?: ReturnType<typeof setTimeout>;
  /** Resolves when the socket is fully closed. */
  readonly closed: Promise<void>;
}

/** Records the gateway appends to. */
export interface GatewayRecords {
  identifies: IdentifyRecord[];
  resumes: ResumeRecord[];
  received: ReceivedRecord[];
  closes: CloseRecord[];
}

/** What the gateway needs from the simulator. */
export interface GatewayContext {
  options: ResolvedOptions;
  records: GatewayRecords;
  sessions: SessionStore;
  guilds: GuildRegistry;
  limiter: IdentifyLimiter;
  /** `resume_gateway_url` for READY. */
  resumeUrl: () => string;
}

/** The gateway side of the simulator. */
export interface Gateway {
  /** Upgrades a request on `/` or `/resume` to a gateway connection. */
  upgrade(req: Request, url: URL): Response;
  /**
   * The connection to act on for a shard (the one holding its live session,
   * of `numShards` shards when given).
   */
  target(shardId: number, numShards?: number): Connection;
  send(conn: Connection, op: number, d: unknown): void;
  /** Server-side close; the session survives or ends per the close code table. */
  close(conn: Connection, code: number, reason?: string): void;
  /** Detaches a connection's session after op 9 (kept resumable or ended). */
  invalidate(conn: Connection, resumable: boolean): void;
  pauseAcks(shardId: number | "all", paused: boolean): void;
  openConnections(): Connection[];
  /**
   * Closes with 4011 every connected session whose shard now holds more than
   * `maxGuildsPerShard` guilds (guilds were added at runtime); lists them.
   */
  enforceShardLimit(): { sessionId: string; shardId: number; numShards: number }[];
  /** Closes every socket and waits (bounded) for them to finish. */
  shutdown(): Promise<void>;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

function byteLength(text: string): number {
  // UTF-8 needs at most 3 bytes per UTF-16 unit: skip encoding when clearly small.
  if (text.length * 3 <= MAX_PAYLOAD_BYTES) return text.length;
  return new TextEncoder().encode(text).length;
}

/** Creates the gateway. */
export function createGateway(ctx: GatewayContext): Gateway {
  const { options, records, sessions, guilds, limiter } = ctx;
  const log = options.logger;
  const connections = new Set<Connection>();
  const ackPausedShards = new Set<number>();
  let ackPausedAll = false;
  let nextConnectionId = 1;
  const commands: CommandHandler = createCommandHandler({
    sessions,
    guilds,
    botId: options.botId,
  });

  const send = (conn: Connection, op: number, d: unknown) => {
    if (!conn.open) return;
    conn.outbound.send(JSON.stringify({ op, d, s: null, t: null }), false);
  };

  /** Session bookkeeping when a connection stops carrying it. */
  const release = (conn: Connection, keep: boolean, why: string) => {
    const session = conn.session;
    conn.session = null;
    if (!session) return;
    sessions.detach(session);
    if (!keep) sessions.expire(session, why);
  };

  const close = (conn: Connection, code: number, reason?: string) => {
    if (!conn.open) return;
    conn.open = false;
    clearTimeout(conn.heartbeatTimer);
    const text = reason === undefined ? closeReason(code) : fitReason(reason);
    records.closes.push({
      shardId: conn.shardId,
      code,
      reason: text,
      by: "server",
      at: Date.now(),
      connectionId: conn.id,
    });
    log(`conn ${conn.id} (shard ${conn.shardId}) closed by server: ${code} ${text}`);
    release(conn, serverCloseKeepsSession(code), `server closed with ${code}`);
    conn.outbound.close(code, text);
  };

  const closeWith = (conn: Connection, code: number, detail?: string) =>
    close(conn, code, closeReason(code, detail));

  const armHeartbeatTimeout = (conn: Connection) => {
    const timeoutMs = options.heartbeatTimeoutMs;
    if (timeoutMs === 0) return;
    clearTimeout(conn.heartbeatTimer);
    conn.heartbeatTimer = setTimeout(
      () => closeWith(conn, CloseCodes.SessionTimedOut, `no heartbeat for ${timeoutMs} ms`),
      timeoutMs,
    );
  };

  /** Fixed command window per connection, starting when the socket opened. */
  const countCommand = (conn: Connection, now: number): boolean => {
    const elapsed = now - conn.windowStart;
    if (elapsed >= options.commandWindowMs) {
      conn.windowStart += Math.floor(elapsed / options.commandWindowMs) * options.commandWindowMs;
      conn.windowCount = 0;
    }
    return ++conn.windowCount <= options.commandLimit;
  };

  const onHeartbeat = (conn: Connection, d: unknown) => {
    if (d !== null && d !== undefined && !(Number.isSafeInteger(d) && (d as number) >= 0)) {
      return closeWith(conn, CloseCodes.UnknownOpcode, "heartbeat d must be the last seq or null");
    }
    armHeartbeatTimeout(conn);
    const paused = ackPausedAll || (conn.shardId !== null && ackPausedShards.has(conn.shardId));
    if (!paused) send(conn, 11, null);
  };

  const onIdentify = (conn: Connection, d: unknown, now: number) => {
    const raw = isObject(d) ? d : {};
    const shard = Array.isArray(raw.shard) ? raw.shard : [];
    const record: IdentifyRecord = {
      shardId: Number.isSafeInteger(shard[0]) ? shard[0] : null,
      numShards: Number.isSafeInteger(shard[1]) ? shard[1] : null,
      intents: Number.isSafeInteger(raw.intents) ? raw.intents as number : null,
      at: now,
      accepted: false,
      connectionId: conn.id,
    };
    records.identifies.push(record);
    const refuse = (code: number, detail: string) => {
      record.reason = detail;
      record.closeCode = code;
      closeWith(conn, code, detail);
    };
    if (conn.session) return refuse(CloseCodes.AlreadyAuthenticated, "second identify");
    const check = checkIdentify(d, options.token, options.allowedPrivilegedIntents);
    if (!check.ok) return refuse(check.code, check.detail);
    conn.shardId = check.shardId;
    const guildCount = guilds.countForShard(check.shardId, check.numShards);
    if (guildCount > options.maxGuildsPerShard) {
      return refuse(CloseCodes.ShardingRequired, `${guildCount} guilds on shard ${check.shardId}`);
    }
    const verdict = limiter.tryStart(check.shardId, now);
    if (verdict === "exhausted") {
      // Discord resets the token of a bot that burns its daily quota.
      return refuse(CloseCodes.AuthenticationFailed, "session start limit exhausted");
    }
    if (verdict === "bucket-busy") {
      record.reason = `identify bucket ${check.shardId % options.maxConcurrency} busy`;
      log(`conn ${conn.id} identify shard ${check.shardId} too early: op 9`);
      return send(conn, 9, false);
    }

    const session = sessions.create({
      shardId: check.shardId,
      numShards: check.numShards,
      intents: check.intents,
      largeThreshold: check.largeThreshold,
    });
    conn.session = session;
    sessions.attach(session, conn);
    if (check.compress) conn.outbound.enablePayloadCompression();
    record.accepted = true;
    record.sessionId = session.id;
    log(
      `conn ${conn.id} identified shard [${check.shardId}, ${check.numShards}] session ${session.id}`,
    );

    const shardGuilds = guilds.forShard(check.shardId, check.numShards);
    sessions.dispatch(
      session,
      "READY",
      readyPayload({
        botId: options.botId,
        sessionId: session.id,
        resumeGatewayUrl: ctx.resumeUrl(),
        shard: [check.shardId, check.numShards],
        guildIds: shardGuilds.map((g) => g.id),
        allowedPrivileged: options.allowedPrivilegedIntents,
      }),
    );
    // Lazy backfill: one GUILD_CREATE per available guild (needs GUILDS).
    if (!hasIntents(session.intents, Intents.Guilds)) return;
    for (const guild of shardGuilds) {
      if (!guild.available) continue;
      sessions.dispatch(
        session,
        "GUILD_CREATE",
        guildObject(guild.id, options.botId, session.largeThreshold, guild.joinedAt, guild.name),
      );
    }
  };

  const onResume = (conn: Connection, d: unknown, now: number) => {
    const raw = isObject(d) ? d : {};
    const record: ResumeRecord = {
      shardId: null,
      sessionId: typeof raw.session_id === "string" ? raw.session_id : "",
      seq: Number.isSafeInteger(raw.seq) ? raw.seq as number : null,
      at: now,
      accepted: false,
      replayed: 0,
      connectionId: conn.id,
    };
    records.resumes.push(record);
    const refuse = (code: number, detail: string) => {
      record.reason = detail;
      closeWith(conn, code, detail);
    };
    const invalidSession = (reason: string) => {
      record.reason = reason;
      log(`conn ${conn.id} resume refused (${reason}): op 9`);
      send(conn, 9, false);
    };
    if (conn.session) {
      return refuse(CloseCodes.AlreadyAuthenticated, "resume on an authenticated connection");
    }
    const check = checkResume(d, options.token);
    if (!check.ok) return refuse(check.code, check.detail);
    const session = sessions.get(check.sessionId);
    if (!session) return invalidSession("unknown session");
    conn.shardId = record.shardId = session.shardId;
    if (session.expired) return invalidSession("session expired");
    if (!conn.resumePath) return invalidSession("resume must connect to resume_gateway_url");
    const guildCount = guilds.countForShard(session.shardId, session.numShards);
    if (guildCount > options.maxGuildsPerShard) {
      // Guilds joined while it was away: the shard is over-full now.
      sessions.expire(session, `${guildCount} guilds on shard ${session.shardId}`);
      return refuse(
        CloseCodes.ShardingRequired,
        `${guildCount} guilds on shard ${session.shardId}`,
      );
    }
    if (check.seq > session.seq) {
      sessions.expire(session, `resume with seq ${check.seq} > ${session.seq}`);
      return refuse(
        CloseCodes.InvalidSeq,
        `seq ${check.seq} is ahead of the session (${session.seq})`,
      );
    }
    if (!session.buffer.covers(check.seq)) {
      sessions.expire(session, `resume with seq ${check.seq} older than the replay buffer`);
      return invalidSession("seq older than the replay buffer");
    }
    // One connection per session: a resume elsewhere takes it over.
    for (const other of connections) {
      if (other !== conn && other.session === session) {
        other.session = null;
        closeWith(other, CloseCodes.UnknownError, "session resumed on another connection");
      }
    }
    conn.session = session;
    sessions.attach(session, conn);
    const replay = session.buffer.after(check.seq);
    for (const entry of replay) conn.outbound.send(entry.text, true);
    sessions.dispatch(session, "RESUMED", { _trace: TRACE });
    record.accepted = true;
    record.replayed = replay.length;
    log(
      `conn ${conn.id} resumed session ${session.id} from seq ${check.seq} (${replay.length} replayed)`,
    );
  };

  const onMessage = (conn: Connection, data: unknown) => {
    if (!conn.open) return;
    const now = Date.now();
    const text = typeof data === "string" ? data : null;
    let payload: unknown;
    let parsed = false;
    if (text !== null) {
      try {
        payload = JSON.parse(text);
        parsed = true;
      } catch { /* answered below with 4002 */ }
    }
    const op = parsed && isObject(payload) && Number.isSafeInteger(payload.op)
      ? payload.op as number
      : null;
    const d = op !== null ? (payload as Record<string, unknown>).d : (text ?? "<binary frame>");
    let shardId = conn.shardId;
    if (shardId === null && op === 2 && isObject(d) && Array.isArray(d.shard)) {
      shardId = Number.isSafeInteger(d.shard[0]) ? d.shard[0] : null;
    }
    records.received.push({ shardId, op, d, at: now, connectionId: conn.id });

    if (text === null) {
      return closeWith(conn, CloseCodes.DecodeError, "binary frame with encoding=json");
    }
    if (byteLength(text) > MAX_PAYLOAD_BYTES) {
      return closeWith(conn, CloseCodes.DecodeError, `payload over ${MAX_PAYLOAD_BYTES} bytes`);
    }
    if (!countCommand(conn, now)) {
      return closeWith(
        conn,
        CloseCodes.RateLimited,
        `over ${options.commandLimit} commands per ${options.commandWindowMs} ms`,
      );
    }
    if (!parsed) return closeWith(conn, CloseCodes.DecodeError, "invalid JSON");
    if (!isObject(payload)) {
      return closeWith(conn, CloseCodes.DecodeError, "payload is not an object");
    }
    if (op === null) return closeWith(conn, CloseCodes.UnknownOpcode, "op must be an integer");

    switch (op) {
      case 1:
        return onHeartbeat(conn, d);
      case 2:
        return onIdentify(conn, d, now);
      case 6:
        return onResume(conn, d, now);
      case 3:
      case 4:
      case 8:
      case 31: {
        if (!conn.session) {
          return closeWith(conn, CloseCodes.NotAuthenticated, `op ${op} before identify`);
        }
        const failure = commands(conn.session, op, d);
        if (failure) closeWith(conn, failure.code, failure.detail);
        return;
      }
      default:
        return closeWith(conn, CloseCodes.UnknownOpcode, `unknown opcode ${op}`);
    }
  };

  const onSocketClosed = (conn: Connection, code: number, reason: string) => {
    clearTimeout(conn.heartbeatTimer);
    if (conn.open) {
      conn.open = false;
      records.closes.push({
        shardId: conn.shardId,
        code,
        reason,
        by: "client",
        at: Date.now(),
        connectionId: conn.id,
      });
      log(`conn ${conn.id} (shard ${conn.shardId}) closed by client: ${code} ${reason}`);
      release(conn, !clientCloseEndsSession(code), `client closed with ${code}`);
      conn.outbound.dispose();
    }
    connections.delete(conn);
  };

  const upgrade = (req: Request, url: URL): Response => {
    const { socket, response } = Deno.upgradeWebSocket(req);
    const compress = url.searchParams.get("compress");
    const transport: TransportCompression | null =
      compress === "zlib-stream" || compress === "zstd-stream" ? compress : null;
    let resolveClosed!: () => void;
    const closed = new Promise<void>((resolve) => resolveClosed = resolve);
    const now = Date.now();
    const conn: Connection = {
      id: nextConnectionId++,
      resumePath: url.pathname !== "/",
      shardId: null,
      session: null,
      open: true,
      outbound: createOutbound(socket, transport, log),
      windowStart: now,
      windowCount: 0,
      closed,
      deliver(text) {
        if (this.open) this.outbound.send(text, true);
      },
    };
    connections.add(conn);
    socket.onopen = () => {
      conn.windowStart = Date.now();
      if (url.searchParams.get("v") !== "10") {
        return closeWith(conn, CloseCodes.InvalidApiVersion, `v=${url.searchParams.get("v")}`);
      }
      if (url.searchParams.get("encoding") !== "json") {
        return closeWith(
          conn,
          CloseCodes.DecodeError,
          `encoding=${url.searchParams.get("encoding")} (only json)`,
        );
      }
      if (compress !== null && transport === null) {
        return closeWith(conn, CloseCodes.DecodeError, `compress=${compress} is not supported`);
      }
      log(`conn ${conn.id} opened on ${url.pathname}${url.search}`);
      send(conn, 10, { heartbeat_interval: options.heartbeatIntervalMs, _trace: TRACE });
      armHeartbeatTimeout(conn);
    };
    socket.onmessage = (event) => onMessage(conn, event.data);
    socket.onerror = () => log(`conn ${conn.id} socket error`);
    socket.onclose = (event) => {
      onSocketClosed(conn, event.code, event.reason);
      resolveClosed();
    };
    return response;
  };

  return {
    upgrade,
    target(shardId, numShards) {
      const session = sessions.primary(shardId, numShards);
      let fallback: Connection | undefined;
      for (const conn of connections) {
        if (!conn.open) continue;
        if (session && conn.session === session) return conn;
        // A connection without a session (e.g. its identify got op 9).
        const candidate = conn.shardId === shardId &&
          (numShards === undefined || conn.session?.numShards === numShards);
        if (candidate && (!fallback || conn.id > fallback.id)) fallback = conn;
      }
      if (fallback) return fallback;
      const name = numShards === undefined ? `${shardId}` : `[${shardId}, ${numShards}]`;
      throw new Error(`No open gateway connection for shard ${name}`);
    },
    enforceShardLimit() {
      const closed: { sessionId: string; shardId: number; numShards: number }[] = [];
      for (const conn of connections) {
        const session = conn.session;
        if (!conn.open || !session) continue;
        const count = guilds.countForShard(session.shardId, session.numShards);
        if (count <= options.maxGuildsPerShard) continue;
        closed.push({
          sessionId: session.id,
          shardId: session.shardId,
          numShards: session.numShards,
        });
        closeWith(
          conn,
          CloseCodes.ShardingRequired,
          `${count} guilds on shard ${session.shardId} of ${session.numShards}`,
        );
      }
      return closed;
    },
    send,
    close,
    invalidate(conn, resumable) {
      release(conn, resumable, "invalidated by op 9");
    },
    pauseAcks(shardId, paused) {
      if (shardId === "all") {
        ackPausedAll = paused;
        ackPausedShards.clear();
      } else if (paused) ackPausedShards.add(shardId);
      else ackPausedShards.delete(shardId);
    },
    openConnections: () => [...connections].filter((c) => c.open),
    async shutdown() {
      const all = [...connections];
      for (const conn of all) close(conn, 1001, "Simulator shutting down.");
      // A client that never answers the close frame must not hang shutdown.
      let timer: ReturnType<typeof setTimeout> | undefined;
      const deadline = new Promise<void>((resolve) => timer = setTimeout(resolve, 2000));
      await Promise.race([Promise.all(all.map((c) => c.closed)), deadline]);
      clearTimeout(timer);
    },
  };
}
