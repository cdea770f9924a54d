/**
 * A small HTTP/1.1 client for one origin, on Deno's TCP and TLS sockets.
 *
 * Why not `fetch`: the proxy sends one POST per event with one request in
 * flight per shard, so the cost of each request bounds throughput. Deno's
 * `fetch` spends about 80 µs of CPU per request on this machine (Request and
 * Headers objects, a body stream, the hyper client behind an op); writing the
 * request bytes to a kept-alive socket and reading the status line costs about
 * a third of that. undici does the same for Node.js.
 *
 * Scope, on purpose: `POST` with a body that is already text, one origin, keep-alive
 * connections reused one request at a time (no pipelining, so a failed request
 * can never let a later one overtake it), responses with `Content-Length`,
 * chunked or read-until-close bodies, informational 1xx answers skipped. No
 * redirects (a 3xx is an answer like any other), no proxies from the
 * environment, no HTTP/2: `EVENT_HANDLER_CLIENT=fetch` gives those back.
 * Over 400 lines: the request writer and the response parser share each connection's buffers and state.
 * @module
 */

/** Options of {@linkcode createHttp1Client}. */
export interface Http1ClientOptions {
  /** `http:` or `https:` URL; its path and query are the request target. */
  url: string;
  /** Headers sent with every request (names lower-case). */
  headers?: Record<string, string>;
  /** Extra root certificates in PEM, for an `https:` handler with a private CA. */
  caCerts?: string[];
  /**
   * A kept-alive connection idle this long is closed rather than reused, ms;
   * below the usual server idle timeouts (Node.js 5 s) so that a request rarely
   * meets a connection the server is closing. A server's `Keep-Alive: timeout=`
   * lowers it. @default 4000
   */
  idleTimeoutMs?: number;
  /** Bytes of a response body kept for {@linkcode Http1Response.body}; the rest is read and dropped. @default 4096 */
  maxBodyBytes?: number;
}

/** What came back. */
export interface Http1Response {
  status: number;
  /** Header values by lower-case name; repeated headers joined with ", ". */
  headers: Map<string, string>;
  /** The start of the body (up to `maxBodyBytes`), decoded as UTF-8. */
  body: string;
}

/** One origin's connection pool. */
export interface Http1Client {
  /**
   * Sends `POST` with `body` and resolves with the answer once its body is read.
   * Rejects with {@linkcode Http1Error} on a network error, a timeout, an abort
   * or a malformed answer.
   */
  post(
    body: string,
    options?: {
      timeoutMs?: number;
      signal?: AbortSignal;
      /**
       * Sent after the client's own headers, on this request only (names lower-case). The
       * encoded head is kept per distinct set, so pass one object per kind of request.
       */
      headers?: Record<string, string>;
    },
  ): Promise<Http1Response>;
  /** Idle connections now open (for tests and metrics). */
  readonly idle: number;
  /**
   * Bytes of request and read buffers held by open connections (for tests and metrics). Between
   * requests a connection keeps at most 64 KiB for requests and 16 KiB for answers, whatever
   * the size of the last request or answer.
   */
  readonly bufferBytes: number;
  /** Closes every connection; requests in flight reject. */
  close(): void;
}

/** Why a request failed before a complete answer arrived. */
export class Http1Error extends Error {
  constructor(
    message: string,
    /** `timeout`: no complete answer in time; `aborted`: the caller's signal; `network`; `protocol`: not HTTP/1.x. */
    readonly kind: "timeout" | "aborted" | "network" | "protocol",
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "Http1Error";
  }
}

/** A field name (RFC 9110 §5.1). */
const TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]+$/i;
const CR = 13;
const LF = 10;
const MAX_HEAD_BYTES = 64 * 1024;
/**
 * The most a pooled connection keeps for encoding requests. A request bigger than this (a
 * GUILD_CREATE of several MB) gets a buffer of its own, dropped once it is written.
 */
const KEPT_BUFFER_BYTES = 64 * 1024;
/** A read buffer grown for a long head or line goes back to this size after the answer. */
const READ_BUFFER_BYTES = 16 * 1024;
const REQUEST_BUFFER_BYTES = 4096;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

type Socket = Deno.TcpConn | Deno.TlsConn;

/** A kept-alive socket and the bytes read past the last answer. */
interface Connection {
  socket: Socket;
  buf: Uint8Array;
  /** Unconsumed bytes are `buf[start, end)`. */
  start: number;
  end: number;
  /** Bytes read during the current exchange. */
  received: number;
  idleSince: number;
  /** From the server's `Keep-Alive: timeout=`. */
  idleLimitMs: number;
  /** Request scratch space, grown as needed up to 64 KiB; bigger requests get their own. */
  out: Uint8Array;
  closed: boolean;
}

/** Creates a client for the origin of `options.url`. */
export function createHttp1Client(options: Http1ClientOptions): Http1Client {
  const url = new URL(options.url);
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TypeError(`only http: and https: URLs are supported, got ${url.protocol}`);
  }
  const tls = url.protocol === "https:";
  const hostname = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  const port = url.port ? Number(url.port) : tls ? 443 : 80;
  const idleTimeoutMs = options.idleTimeoutMs ?? 4000;
  const maxBodyBytes = options.maxBodyBytes ?? 4096;
  const headerLines = (headers: Record<string, string>): string => {
    let lines = "";
    for (const [name, value] of Object.entries(headers)) {
      if (!TOKEN.test(name)) {
        throw new TypeError(`invalid header name ${JSON.stringify(name)}`);
      }
      // A CR or LF in a value would let it write headers (or a request) of its own.
      if (/[\r\n\0]/.test(value)) {
        throw new TypeError(`header ${name} contains a line break or NUL`);
      }
      lines += `${name}: ${value}\r\n`;
    }
    return lines;
  };
  const head = `POST ${url.pathname}${url.search} HTTP/1.1\r\nhost: ${url.host}\r\n` +
    headerLines(options.headers ?? {});
  const headBytes = encoder.encode(head + "content-length: ");
  /** Heads with per-request headers, by the object passed (see `post`). */
  const extraHeads = new WeakMap<Record<string, string>, Uint8Array>();
  const headFor = (headers: Record<string, string> | undefined): Uint8Array => {
    if (headers === undefined) return headBytes;
    let bytes = extraHeads.get(headers);
    if (!bytes) {
      bytes = encoder.encode(head + headerLines(headers) + "content-length: ");
      extraHeads.set(headers, bytes);
    }
    return bytes;
  };

  const idle: Connection[] = [];
  const open = new Set<Connection>();
  let closed = false;
  // Sockets the server closed while idle would sit in CLOSE_WAIT until reused; sweep them.
  const sweeper = setInterval(() => {
    const now = performance.now();
    for (let i = idle.length - 1; i >= 0; i--) {
      if (expired(idle[i], now)) destroy(idle.splice(i, 1)[0]);
    }
  }, Math.max(250, idleTimeoutMs));
  Deno.unrefTimer(sweeper);

  function expired(conn: Connection, now: number): boolean {
    return now - conn.idleSince >= Math.min(idleTimeoutMs, conn.idleLimitMs);
  }

  function destroy(conn: Connection): void {
    if (conn.closed) return;
    conn.closed = true;
    open.delete(conn);
    try {
      conn.socket.close();
    } catch { /* already closed */ }
  }

  async function connect(signal: AbortSignal): Promise<Connection> {
    let socket: Socket;
    try {
      // The signal bounds the TCP handshake: an unreachable host would otherwise hold the
      // request for the OS's SYN timeout (minutes), past EVENT_HANDLER_TIMEOUT_MS.
      const tcp = await Deno.connect({ hostname, port, transport: "tcp", signal });
      // Request and answer are each one small write: don't let Nagle hold them back.
      tcp.setNoDelay(true);
      socket = tls
        ? await Deno.startTls(tcp, {
          hostname,
          caCerts: options.caCerts,
          alpnProtocols: ["http/1.1"],
        })
        : tcp;
    } catch (error) {
      throw new Http1Error(`cannot connect to ${url.host}: ${errorMessage(error)}`, "network", {
        cause: error,
      });
    }
    const conn: Connection = {
      socket,
      buf: new Uint8Array(READ_BUFFER_BYTES),
      start: 0,
      end: 0,
      received: 0,
      idleSince: 0,
      idleLimitMs: Infinity,
      out: new Uint8Array(REQUEST_BUFFER_BYTES),
      closed: false,
    };
    open.add(conn);
    if (closed) destroy(conn);
    return conn;
  }

  function take(): Connection | undefined {
    const now = performance.now();
    while (idle.length > 0) {
      const conn = idle.pop()!;
      if (!expired(conn, now)) return conn;
      destroy(conn);
    }
    return undefined;
  }

  /** Request bytes, to write in order: the fixed head, the length, a blank line, the body. */
  function encodeRequest(conn: Connection, body: string, headBytes: Uint8Array): Uint8Array[] {
    // UTF-8 needs at most 3 bytes per UTF-16 unit; the length line at most 20.
    const need = headBytes.length + 24 + body.length * 3;
    if (need > KEPT_BUFFER_BYTES) return encodeLargeRequest(body, headBytes);
    if (conn.out.length < need) {
      conn.out = new Uint8Array(Math.min(KEPT_BUFFER_BYTES, Math.max(need, conn.out.length * 2)));
    }
    const out = conn.out;
    out.set(headBytes);
    // Length digits and blank line go after the body is encoded, so reserve room and move once.
    const bodyAt = headBytes.length + 24;
    const { written } = encoder.encodeInto(body, out.subarray(bodyAt));
    const lengthLine = encoder.encode(`${written}\r\n\r\n`);
    const headEnd = headBytes.length + lengthLine.length;
    out.set(lengthLine, headBytes.length);
    out.copyWithin(headEnd, bodyAt, bodyAt + written);
    return [out.subarray(0, headEnd + written)];
  }

  /**
   * A request too big for the connection's scratch: the body encoded to its exact size (not the
   * 3 bytes per character reserved above) and written after the head, kept by nothing afterwards.
   */
  function encodeLargeRequest(body: string, headBytes: Uint8Array): Uint8Array[] {
    const bodyBytes = encoder.encode(body);
    const lengthLine = encoder.encode(`${bodyBytes.length}\r\n\r\n`);
    const head = new Uint8Array(headBytes.length + lengthLine.length);
    head.set(headBytes);
    head.set(lengthLine, headBytes.length);
    return [head, bodyBytes];
  }

  async function exchange(
    conn: Connection,
    body: string,
    headBytes: Uint8Array,
  ): Promise<ParsedResponse> {
    conn.received = 0;
    for (const part of encodeRequest(conn, body, headBytes)) {
      let off = 0;
      while (off < part.length) off += await conn.socket.write(part.subarray(off));
    }
    for (;;) {
      const response = await readResponse(conn, maxBodyBytes);
      if (response === "informational") continue;
      return response;
    }
  }

  async function post(
    body: string,
    opts: { timeoutMs?: number; signal?: AbortSignal; headers?: Record<string, string> } = {},
  ): Promise<Http1Response> {
    if (closed) throw new Http1Error("client closed", "aborted");
    const { timeoutMs, signal } = opts;
    const requestHead = headFor(opts.headers);
    if (signal?.aborted) throw new Http1Error("aborted", "aborted", { cause: signal.reason });
    let conn: Connection | undefined;
    let connecting: AbortController | undefined;
    let stopped: "timeout" | "aborted" | undefined;
    const cut = (why: "timeout" | "aborted") => {
      stopped ??= why;
      connecting?.abort();
      if (conn) destroy(conn);
    };
    const timer = timeoutMs === undefined ? undefined : setTimeout(() => cut("timeout"), timeoutMs);
    const onAbort = () => cut("aborted");
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      for (let attempt = 0;; attempt++) {
        conn = take();
        const reused = conn !== undefined;
        if (!conn) {
          connecting = new AbortController();
          conn = await connect(connecting.signal).finally(() => connecting = undefined);
        }
        if (stopped) destroy(conn);
        try {
          const response = await exchange(conn, body, requestHead);
          // Bytes past the answer mean the two sides disagree on framing: don't reuse.
          if (keepAlive(response) && conn.start === conn.end && !stopped && !closed) {
            // Nothing is buffered past the answer, so a read buffer a long head grew can go.
            if (conn.buf.length > READ_BUFFER_BYTES) conn.buf = new Uint8Array(READ_BUFFER_BYTES);
            conn.idleSince = performance.now();
            const limit = keepAliveTimeout(response.headers.get("keep-alive"));
            if (limit !== undefined) conn.idleLimitMs = limit;
            idle.push(conn);
          } else {
            destroy(conn);
          }
          return response;
        } catch (error) {
          const fresh = conn.received === 0;
          destroy(conn);
          if (stopped) throw error;
          // A kept-alive connection the server closed between requests fails before any byte
          // of an answer; that is no news about the handler, so try once on a new connection.
          // The request may have been read (at-least-once delivery allows the repeat).
          if (reused && fresh && attempt === 0 && isConnectionGone(error)) continue;
          throw error;
        }
      }
    } catch (error) {
      if (stopped === "timeout") {
        throw new Http1Error(`no complete answer within ${timeoutMs} ms`, "timeout", {
          cause: error,
        });
      }
      if (stopped === "aborted") {
        throw new Http1Error("aborted", "aborted", { cause: signal?.reason });
      }
      if (error instanceof Http1Error) throw error;
      throw new Http1Error(`${url.host}: ${errorMessage(error)}`, "network", { cause: error });
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    }
  }

  return {
    post,
    get idle() {
      return idle.length;
    },
    get bufferBytes() {
      let bytes = 0;
      for (const conn of open) bytes += conn.buf.length + conn.out.length;
      return bytes;
    },
    close() {
      closed = true;
      clearInterval(sweeper);
      idle.length = 0;
      for (const conn of [...open]) destroy(conn);
    },
  };
}

function isConnectionGone(error: unknown): boolean {
  return error instanceof Http1Error
    ? error.kind === "network"
    : error instanceof Deno.errors.ConnectionReset ||
      error instanceof Deno.errors.BrokenPipe || error instanceof Deno.errors.UnexpectedEof ||
      error instanceof Deno.errors.BadResource || error instanceof Deno.errors.Interrupted;
}

function keepAlive(response: ParsedResponse): boolean {
  if (response.untilClose) return false;
  const connection = response.headers.get("connection")?.toLowerCase() ?? "";
  if (connection.includes("close")) return false;
  return response.version === "HTTP/1.1" || connection.includes("keep-alive");
}

/** `Keep-Alive: timeout=5` -> 4000 ms: a second of margin for the server's clock and ours. */
function keepAliveTimeout(value: string | undefined): number | undefined {
  if (!value) return undefined;
  const match = /timeout\s*=\s*(\d+)/i.exec(value);
  return match ? Math.max(0, Number(match[1]) * 1000 - 1000) : undefined;
}

interface ParsedResponse extends Http1Response {
  version: string;
  /** The body ended with the connection: it cannot be reused. */
  untilClose: boolean;
}

/** Ensures `buf[start, end)` holds at least one more byte; false at end of stream. */
async function fill(conn: Connection): Promise<boolean> {
  if (conn.start === conn.end) conn.start = conn.end = 0;
  if (conn.end === conn.buf.length) {
    if (conn.start > 0) {
      conn.buf.copyWithin(0, conn.start, conn.end);
      conn.end -= conn.start;
      conn.start = 0;
    } else {
      const bigger = new Uint8Array(conn.buf.length * 2);
      bigger.set(conn.buf);
      conn.buf = bigger;
    }
  }
  const n = await conn.socket.read(conn.buf.subarray(conn.end));
  if (n === null) return false;
  conn.end += n;
  conn.received += n;
  return true;
}

/** Index of the CRLF ending the line that starts at `from`, or -1. */
function lineEnd(conn: Connection, from: number): number {
  const { buf, end } = conn;
  for (let i = from; i + 1 < end; i++) if (buf[i] === CR && buf[i + 1] === LF) return i;
  return -1;
}

async function readResponse(
  conn: Connection,
  maxBodyBytes: number,
): Promise<ParsedResponse | "informational"> {
  // Status line and headers, up to the blank line.
  let scanned = 0; // bytes after conn.start already searched (fill may move conn.start)
  let headEnd = -1;
  for (;;) {
    const { buf, start, end } = conn;
    for (let i = start + Math.max(0, scanned - 3); i + 3 < end; i++) {
      if (buf[i] === CR && buf[i + 1] === LF && buf[i + 2] === CR && buf[i + 3] === LF) {
        headEnd = i;
        break;
      }
    }
    if (headEnd >= 0) break;
    scanned = end - start;
    if (scanned > MAX_HEAD_BYTES) {
      throw new Http1Error(`answer headers over ${MAX_HEAD_BYTES} bytes`, "protocol");
    }
    if (!(await fill(conn))) {
      throw new Http1Error(
        conn.end > conn.start
          ? "connection closed in the middle of the answer's headers"
          : "connection closed before an answer",
        "network",
      );
    }
  }
  const headText = decoder.decode(conn.buf.subarray(conn.start, headEnd));
  conn.start = headEnd + 4;
  const lines = headText.split("\r\n");
  const status = /^(HTTP\/1\.[01]) (\d{3})(?: |$)/.exec(lines[0]);
  if (!status) {
    throw new Http1Error(
      `not an HTTP/1.x answer: ${JSON.stringify(lines[0].slice(0, 80))}`,
      "protocol",
    );
  }
  const code = Number(status[2]);
  const headers = new Map<string, string>();
  let last: string | undefined; // the name on the previous field line
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    if (last !== undefined && (line[0] === " " || line[0] === "\t")) {
      // An obs-fold continues the previous value; a user agent reads it as a space (RFC 9112 §5.2).
      const folded = line.trim();
      const value = headers.get(last)!;
      if (folded !== "") headers.set(last, value === "" ? folded : `${value} ${folded}`);
      continue;
    }
    const colon = line.indexOf(":");
    const name = line.slice(0, colon);
    // No whitespace may come between the name and the colon (RFC 9112 §5.1): a server that
    // sends `Content-Length : 5` may be framing the answer differently from its proxies.
    if (colon <= 0 || !TOKEN.test(name)) {
      throw new Http1Error(
        `malformed answer header ${JSON.stringify(line.slice(0, 80))}`,
        "protocol",
      );
    }
    last = name.toLowerCase();
    const value = line.slice(colon + 1).trim();
    const seen = headers.get(last);
    headers.set(last, seen === undefined ? value : `${seen}, ${value}`);
  }
  if (code >= 100 && code < 200) {
    if (code === 101) throw new Http1Error("the server switched protocols", "protocol");
    return "informational";
  }
  const response: ParsedResponse = {
    status: code,
    headers,
    body: "",
    version: status[1],
    untilClose: false,
  };
  if (code === 204 || code === 304) return response;
  const body = new BodyCollector(maxBodyBytes);
  const encoding = headers.get("transfer-encoding")?.toLowerCase();
  if (encoding !== undefined && encoding !== "identity") {
    if (!encoding.endsWith("chunked")) {
      // Without chunked last, the body runs to the end of the connection (RFC 9112 §6.3).
      await readUntilClose(conn, body);
      response.untilClose = true;
    } else {
      await readChunked(conn, body);
    }
  } else if (headers.has("content-length")) {
    const value = headers.get("content-length")!;
    if (!/^\d+$/.test(value)) {
      throw new Http1Error(`invalid Content-Length ${JSON.stringify(value)}`, "protocol");
    }
    await readFixed(conn, Number(value), body);
  } else {
    await readUntilClose(conn, body);
    response.untilClose = true;
  }
  response.body = body.text();
  return response;
}

/** Keeps the first `max` bytes of a body. */
class BodyCollector {
  #parts: Uint8Array[] = [];
  #kept = 0;
  constructor(readonly max: number) {}
  add(bytes: Uint8Array): void {
    if (this.#kept >= this.max || bytes.length === 0) return;
    const part = bytes.slice(0, this.max - this.#kept);
    this.#parts.push(part);
    this.#kept += part.length;
  }
  text(): string {
    if (this.#parts.length === 0) return "";
    const all = new Uint8Array(this.#kept);
    let at = 0;
    for (const part of this.#parts) {
      all.set(part, at);
      at += part.length;
    }
    return decoder.decode(all);
  }
}

async function readFixed(conn: Connection, length: number, body: BodyCollector): Promise<void> {
  let left = length;
  while (left > 0) {
    if (conn.start === conn.end && !(await fill(conn))) {
      throw new Http1Error(
        `connection closed with ${left} of ${length} body bytes unread`,
        "network",
      );
    }
    const take = Math.min(left, conn.end - conn.start);
    body.add(conn.buf.subarray(conn.start, conn.start + take));
    conn.start += take;
    left -= take;
  }
}

async function readUntilClose(conn: Connection, body: BodyCollector): Promise<void> {
  for (;;) {
    body.add(conn.buf.subarray(conn.start, conn.end));
    conn.start = conn.end;
    if (!(await fill(conn))) return;
  }
}

async function readLine(conn: Connection): Promise<string> {
  // Bytes after conn.start already searched (fill may move conn.start): each read searches only
  // what it added, plus the last byte before it (a CR whose LF had not come), so a line that
  // arrives a few bytes at a time costs time linear in its length.
  let scanned = 0;
  for (;;) {
    const at = lineEnd(conn, conn.start + Math.max(0, scanned - 1));
    if (at >= 0) {
      const line = decoder.decode(conn.buf.subarray(conn.start, at));
      conn.start = at + 2;
      return line;
    }
    scanned = conn.end - conn.start;
    if (scanned > MAX_HEAD_BYTES) throw new Http1Error("chunk line too long", "protocol");
    if (!(await fill(conn))) throw new Http1Error("connection closed in a chunked body", "network");
  }
}

async function readChunked(conn: Connection, body: BodyCollector): Promise<void> {
  for (;;) {
    const line = await readLine(conn);
    const size = line.split(";", 1)[0].trim();
    if (!/^[0-9a-f]+$/i.test(size) || size.length > 12) {
      throw new Http1Error(`invalid chunk size ${JSON.stringify(line.slice(0, 40))}`, "protocol");
    }
    const length = parseInt(size, 16);
    if (length === 0) {
      // Trailers, if any, end with an empty line.
      while ((await readLine(conn)) !== "");
      return;
    }
    await readFixed(conn, length, body);
    if ((await readLine(conn)) !== "") {
      throw new Http1Error("chunk not followed by CRLF", "protocol");
    }
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** For tests only (the chunked-body line reader); not part of the client's interface. */
export const _internals = { readLine };
