// Over 400 lines: every patch to Discordeno's shard sits here side by side, so the fixes read as one list.
import {
  createGatewayManager,
  DiscordenoShard,
  type GatewayManager,
  ShardState,
} from "../../deps.ts";
import { backoffDelay, delay } from "../backoff.ts";
import type { Logger } from "../log.ts";
import type { GatewayBotInfo } from "../rest/gateway_bot.ts";
import { classifyClose, FatalGatewayError } from "./close_codes.ts";
import type { IdentifyQueue, IdentifyTicket } from "./identify_queue.ts";
import type { SessionRecord } from "./sessions.ts";

/** A Discord dispatch (op 0) as it left the shard: plain data, safe to send to a worker or over a network. */
export interface GatewayDispatch {
  /** Shard that received it. */
  shardId: number;
  /** Shard count of the shard's set: shard `n` of 2 and shard `n` of 4 are different shards. */
  totalShards: number;
  /** Dispatch name (`t`). */
  t: string;
  /** Sequence number (`s`) within the shard's session. */
  s: number;
  /** Discord session id the dispatch arrived on. */
  sessionId?: string;
  /** Discord's payload `{op, d, s, t}` exactly as received (JSON text), so forwarding never re-serializes it. */
  raw: string;
  /** Epoch ms when the proxy received it. */
  receivedAt: number;
}

/** Options of {@linkcode createShardGateway}. */
export interface ShardGatewayOptions {
  token: string;
  intents: number;
  /** What `GET /gateway/bot` returned. */
  info: GatewayBotInfo;
  /** @default info.shards */
  totalShards?: number;
  /** @default 0 */
  firstShardId?: number;
  /** Inclusive. @default totalShards - 1 */
  lastShardId?: number;
  /** Every identify (first, after a failed resume, after op 9) waits here. */
  identifyQueue: IdentifyQueue;
  /** Called with every shard right after it is built (a controller's hook). */
  onShardCreated?(shard: DiscordenoShard): void;
  /** Stored sessions to resume at spawn instead of identifying (not bound by the identify queue). */
  sessions?: ReadonlyMap<number, SessionRecord>;
  /** The shards `spawnShards` starts (others join with `spawnShard`). @default the whole range */
  shardIds?: readonly number[];
  /**
   * Asked before a shard identifies, resumes or reconnects: `false` takes it offline instead
   * (a cluster lease this process can no longer confirm). @default always true
   */
  mayConnect?(shardId: number): boolean;
  /** Receives every dispatch; must not throw (errors are logged). */
  onDispatch(dispatch: GatewayDispatch, payload: DispatchPayload): void;
  /** A close code that must stop the process (4004, 4010-4014). */
  onFatal(error: FatalGatewayError): void;
  /** Shard lifecycle notes for progress and health. */
  onShardEvent?(shardId: number, event: ShardEvent, detail?: { code?: number }): void;
  logger: Logger;
  /** Reconnect backoff after connections that failed before READY/RESUMED. */
  reconnect?: { baseMs?: number; maxMs?: number };
  /** Longest waits for a WebSocket handshake and for the answer to our close frame. @default {connectMs: 15000, closeMs: 3000} */
  timeouts?: { connectMs?: number; closeMs?: number };
  /** Aborting stops every pending reconnect and identify. */
  signal?: AbortSignal;
}

/** Shard lifecycle notes: `identify`/`resume` when the payload is sent, `disconnected` with the close code. */
export type ShardEvent =
  | "identifying"
  | "identify"
  | "resume"
  | "ready"
  | "resumed"
  | "disconnected";

/** Discordeno's manager with one addition: starting a single shard of the range. */
export type ShardGateway = GatewayManager & {
  /** Resumes `stored` (when given) or identifies one shard of the range. */
  spawnShard(shardId: number, stored?: SessionRecord): Promise<void>;
};

/** A parsed dispatch as Discord sent it (snake_case). */
export interface DispatchPayload {
  op: 0;
  t: string;
  s: number;
  d: unknown;
}

const RAW = Symbol("raw");
/** Resume attempts after connection failures before Discordeno's identify takes over. */
const MAX_RESUME_TRIES = 4;

const RESUME_URL_FALLBACK_AFTER = 2;

/**
 * Creates Discordeno's gateway manager for this process's shard range, with the
 * fixes this service needs (see `discordeno-21-notes.md`):
 * - every identify, including those Discordeno starts itself after 4003/4007/4009,
 *   a failed resume or op 9, goes through {@linkcode IdentifyQueue};
 * - fatal close codes reach `onFatal` instead of becoming unhandled rejections;
 * - reconnects after failed connections back off instead of spinning;
 * - dispatches are handed on with Discord's raw JSON text.
 *
 * The returned manager's methods stay plain properties: a controller may replace any of them.
 */
export function createShardGateway(options: ShardGatewayOptions): ShardGateway {
  const { info, logger, signal } = options;
  const totalShards = options.totalShards ?? info.shards;
  const firstShardId = options.firstShardId ?? 0;
  const lastShardId = options.lastShardId ?? totalShards - 1;
  if (firstShardId > lastShardId || lastShardId >= totalShards) {
    throw new RangeError(
      `shard range ${firstShardId}-${lastShardId} does not fit ${totalShards} total shards`,
    );
  }
  const dlog = logger.with({ component: "discordeno" });
  const join = (args: unknown[]) =>
    args.map((a) => (a instanceof Error ? a.message : typeof a === "string" ? a : safeJson(a)))
      .join(" ");
  const gateway = createGatewayManager({
    token: options.token,
    intents: options.intents,
    connection: { url: info.url, shards: info.shards, sessionStartLimit: info.sessionStartLimit },
    url: info.url,
    totalShards,
    firstShardId,
    lastShardId,
    spawnShardDelay: 0,
    preferSnakeCase: true,
    // Shards are built by our own `identify`; events flow through `onDispatch`.
    events: {},
    logger: {
      debug: (...a: unknown[]) => dlog.debug(join(a)),
      info: (...a: unknown[]) => dlog.debug(join(a)),
      warn: (...a: unknown[]) => dlog.warn(join(a)),
      error: (...a: unknown[]) => dlog.debug(join(a)),
      fatal: (...a: unknown[]) => dlog.error(join(a)),
    },
    resharding: { enabled: false, shardsFullPercentage: 80, checkInterval: -1 },
  });

  const buildShard = (shardId: number): DiscordenoShard => {
    const shard = new DiscordenoShard({
      id: shardId,
      connection: {
        compress: false,
        transportCompression: null,
        intents: gateway.intents,
        properties: gateway.properties,
        token: gateway.token,
        totalShards: gateway.totalShards,
        url: gateway.url,
        version: gateway.version,
      },
      events: gateway.events,
      logger: gateway.logger,
      requestIdentify: async () => {
        await shard.identify();
      },
      makePresence: gateway.makePresence,
    });
    patchShard(shard, options);
    options.onShardCreated?.(shard);
    return shard;
  };

  gateway.identify = async (shardId: number) => {
    let shard = gateway.shards.get(shardId);
    if (!shard) {
      shard = buildShard(shardId);
      gateway.shards.set(shardId, shard);
    }
    await shard.identify();
  };

  const spawnShard = (id: number, stored?: SessionRecord): Promise<void> => {
    if (id < firstShardId || id > lastShardId) {
      return Promise.reject(
        new RangeError(`shard ${id} is outside ${firstShardId}-${lastShardId}`),
      );
    }
    if (!stored) {
      const maxConcurrency = gateway.connection.sessionStartLimit.maxConcurrency;
      return gateway.tellWorkerToIdentify(gateway.calculateWorkerId(id), id, id % maxConcurrency);
    }
    const shard = buildShard(id);
    gateway.shards.set(id, shard);
    shard.sessionId = stored.sessionId;
    shard.previousSequenceNumber = stored.seq;
    shard.resumeGatewayUrl = stored.resumeGatewayUrl;
    logger.debug("resuming a stored session", { shard: id, seq: stored.seq });
    return shard.resume();
  };

  gateway.spawnShards = async () => {
    const ids: number[] = options.shardIds ? [...options.shardIds] : [];
    if (!options.shardIds) {
      for (let id = gateway.firstShardId; id <= gateway.lastShardId; id++) ids.push(id);
    }
    await Promise.all(ids.map((id) => spawnShard(id, options.sessions?.get(id))));
  };

  signal?.addEventListener("abort", () => {
    for (const shard of gateway.shards.values()) {
      shard.stopHeartbeating();
      // `shutdown()` only closes open sockets; one still connecting must not open later.
      if (shard.socket?.readyState === WebSocket.CONNECTING) shard.socket.close();
    }
  }, { once: true });
  return Object.assign(gateway, { spawnShard });
}

/** Wraps one shard's methods; kept separate so tests and a worker can reuse it. */
function patchShard(shard: DiscordenoShard, options: ShardGatewayOptions): void {
  const { logger, signal, identifyQueue, onDispatch, onFatal, onShardEvent } = options;
  const log = logger.with({ shard: shard.id });
  const totalShards = options.totalShards ?? options.info.shards;
  const connectTimeoutMs = options.timeouts?.connectMs ?? 15_000;
  const closeTimeoutMs = options.timeouts?.closeMs ?? 3_000;
  let failures = 0;
  let resumeTries = 0;

  const baseIdentify = shard.identify.bind(shard);
  let ticket: IdentifyTicket | undefined;
  const mayConnect = options.mayConnect ?? (() => true);
  /** A shard this process may no longer run goes offline instead of connecting. */
  const fenced = (what: string): boolean => {
    if (mayConnect(shard.id)) return false;
    log.warn(`not ${what}: this process no longer holds the shard's lease`);
    shard.stopHeartbeating();
    shard.state = ShardState.Offline;
    return true;
  };
  shard.identify = async () => {
    if (fenced("identifying")) return;
    onShardEvent?.(shard.id, "identifying");
    ticket?.sent();
    ticket = await identifyQueue.wait(shard.id, signal);
    // The wait can be long: the lease may have gone meanwhile.
    if (fenced("identifying")) return ticket.sent();
    log.debug("identifying");
    try {
      await baseIdentify();
    } finally {
      ticket?.sent();
    }
  };

  const baseSend = shard.send.bind(shard);
  shard.send = async (message, highPriority) => {
    await baseSend(message, highPriority);
    // Spacing is counted from the identify leaving, which is what Discord sees.
    if (message.op === 2) {
      ticket?.sent();
      onShardEvent?.(shard.id, "identify");
    } else if (message.op === 6) {
      onShardEvent?.(shard.id, "resume");
    }
  };

  const baseResume = shard.resume.bind(shard);
  shard.resume = async () => {
    signal?.throwIfAborted();
    if (fenced("resuming")) return;
    await baseResume();
  };

  const baseClose = shard.handleClose.bind(shard);
  shard.handleClose = async (close: CloseEvent) => {
    const { action, reason } = classifyClose(close.code);
    onShardEvent?.(shard.id, "disconnected", { code: close.code });
    if (action === "fatal") {
      shard.socket = undefined;
      shard.stopHeartbeating();
      shard.resolveAfterClose?.(close);
      shard.state = ShardState.Offline;
      onFatal(new FatalGatewayError(shard.id, close.code, reason, close.reason));
      return;
    }
    if ((signal?.aborted || !mayConnect(shard.id)) && action !== "local") {
      // Stopping: tidy up, never reconnect.
      shard.socket = undefined;
      shard.stopHeartbeating();
      shard.resolveAfterClose?.(close);
      shard.state = ShardState.Disconnected;
      return;
    }
    if (action === "local") {
      try {
        await baseClose(close);
      } catch (error) {
        if (!signal?.aborted) log.error("handling a close failed", { error });
      }
      return;
    }
    const attempt = failures++;
    if (action === "resume" && shard.sessionId) {
      // Discordeno identifies after one failed resume; a connection that merely failed
      // deserves more tries, first on the resume URL, then on the main gateway URL
      // (peers saw shards stuck for hours on a dead resume host).
      if (resumeTries < MAX_RESUME_TRIES && shard.state === ShardState.Resuming) {
        shard.state = ShardState.Disconnected;
      }
      resumeTries++;
      if (resumeTries === RESUME_URL_FALLBACK_AFTER && shard.resumeGatewayUrl) {
        log.warn("resume URL keeps failing; falling back to the main gateway URL", {
          resumeGatewayUrl: shard.resumeGatewayUrl,
        });
        shard.resumeGatewayUrl = "";
      }
    }
    log.info("shard disconnected", { code: close.code, reason, next: action, attempt });
    try {
      if (attempt > 0) {
        shard.stopHeartbeating();
        const wait = backoffDelay(attempt - 1, options.reconnect);
        log.warn("reconnect backoff", { waitMs: wait });
        await delay(wait, signal);
      }
      await baseClose(close);
    } catch (error) {
      if (!signal?.aborted) log.error("reconnect failed", { error });
    }
  };

  // A peer that never answers the close frame would leave `close()` (and so a shutdown
  // or a zombie reconnect) waiting forever: give up on it after a while.
  const baseCloseSocket = shard.close.bind(shard);
  shard.close = async (code: number, reason: string) => {
    const socket = shard.socket;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const gaveUp = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), closeTimeoutMs);
    });
    const closed = await Promise.race([baseCloseSocket(code, reason).then(() => false), gaveUp]);
    clearTimeout(timer);
    if (closed && socket && shard.socket === socket) {
      log.warn("the gateway did not answer our close frame; dropping the socket", { code });
      detach(socket);
      await shard.handleClose({ code, reason, wasClean: false } as CloseEvent);
    }
  };

  // Discordeno waits for `onopen` forever: a handshake that never completes would
  // leave the shard stuck. Fail it, so the usual reconnect path (with backoff) runs.
  const baseConnect = shard.connect.bind(shard);
  shard.connect = async () => {
    const timer = setTimeout(() => {
      const socket = shard.socket;
      if (socket && socket.readyState === WebSocket.CONNECTING) {
        log.warn("gateway connection timed out", { timeoutMs: connectTimeoutMs });
        detach(socket);
        shard.handleClose({ code: 1006, reason: "connect timeout", wasClean: false } as CloseEvent);
      }
    }, connectTimeoutMs);
    try {
      return await baseConnect();
    } finally {
      clearTimeout(timer);
    }
  };

  const baseHandleMessage = shard.handleMessage.bind(shard);
  shard.handleMessage = async (message: MessageEvent) => {
    try {
      if (typeof message.data !== "string") {
        await baseHandleMessage(message);
        return;
      }
      const packet = JSON.parse(message.data);
      if (packet.op === 0) Object.defineProperty(packet, RAW, { value: message.data });
      await shard.handleDiscordPacket(packet);
    } catch (error) {
      if (!signal?.aborted) log.error("failed to handle a gateway message", { error });
    }
  };

  shard.forwardToBot = (received) => {
    if (received.op !== 0) return;
    const packet = received as unknown as DispatchPayload & { [RAW]?: string };
    if (packet.t === "READY" || packet.t === "RESUMED") {
      failures = 0;
      resumeTries = 0;
      onShardEvent?.(shard.id, packet.t === "READY" ? "ready" : "resumed");
    }
    try {
      onDispatch({
        shardId: shard.id,
        totalShards,
        t: packet.t,
        s: packet.s,
        sessionId: shard.sessionId,
        raw: packet[RAW] ?? JSON.stringify(packet),
        receivedAt: Date.now(),
      }, packet);
    } catch (error) {
      log.error("dispatch handler threw", { error, t: packet.t, s: packet.s });
    }
  };
}

/** Stops a socket from calling back into the shard, then closes it. */
function detach(socket: WebSocket): void {
  socket.onopen = null;
  socket.onmessage = null;
  socket.onerror = null;
  socket.onclose = null;
  try {
    socket.close();
  } catch { /* already closing */ }
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v);
  } catch {
    return String(v);
  }
}
