/**
 * The transport stage on its own: both HTTP clients against real servers
 * (Deno.serve, and raw TCP servers that answer what Deno.serve never would).
 */
import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "./helpers/assert.ts";
import { until } from "./helpers/wait.ts";
import {
  createHttp1Client,
  createHttpTransport,
  type DeliveryResult,
  Http1Error,
  type OutboundEvent,
} from "../src/transport/mod.ts";
import { _internals } from "../src/transport/http1.ts";
import { pulledBody } from "./helpers/pulled_body.ts";

const AUTH = "handler-secret";
const event = (s: number, extra = ""): OutboundEvent => ({
  shardId: 3,
  raw: `{"op":0,"t":"MESSAGE_CREATE","s":${s},"d":{"content":"héllo ✓ ${extra}"}}`,
});

interface Seen {
  body: string;
  headers: Headers;
  method: string;
  path: string;
  remotePort: number;
}

/** A Deno.serve handler recording requests; `answer` decides each response. */
function serve(
  answer: (seen: Seen) => Response | Promise<Response> = () => new Response(null, { status: 204 }),
) {
  const seen: Seen[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (req, info) => {
      const s: Seen = {
        body: await req.text(),
        headers: req.headers,
        method: req.method,
        path: new URL(req.url).pathname + new URL(req.url).search,
        remotePort: info.remoteAddr.port,
      };
      seen.push(s);
      return answer(s);
    },
  );
  return {
    seen,
    url: `http://127.0.0.1:${server.addr.port}/events?v=1`,
    close: () => server.shutdown(),
  };
}

/**
 * A raw TCP server: `script(request, socket)` writes whatever bytes it likes.
 * Counts connections; reads one request (head + Content-Length body) at a time.
 */
function rawServer(script: (n: number, socket: Deno.TcpConn) => Promise<"keep" | "close">) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const sockets = new Set<Deno.TcpConn>();
  let connections = 0;
  let requests = 0;
  const accepting = (async () => {
    for await (const socket of listener) {
      connections++;
      sockets.add(socket);
      (async () => {
        let pending: Uint8Array = new Uint8Array(0);
        const decoder = new TextDecoder();
        const buf = new Uint8Array(65536);
        try {
          for (;;) {
            // One whole request: head, then Content-Length bytes.
            let text = decoder.decode(pending);
            while (!text.includes("\r\n\r\n") || !complete(pending)) {
              const n = await socket.read(buf);
              if (n === null) return;
              pending = concat(pending, buf.subarray(0, n));
              text = decoder.decode(pending);
            }
            const used = complete(pending)!;
            pending = pending.slice(used);
            if ((await script(++requests, socket)) === "close") break;
          }
        } catch {
          /* the client went away */
        } finally {
          sockets.delete(socket);
          try {
            socket.close();
          } catch { /* closed */ }
        }
      })();
    }
  })().catch(() => {});
  return {
    url: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}/events`,
    get connections() {
      return connections;
    },
    get requests() {
      return requests;
    },
    async close() {
      listener.close();
      for (const s of sockets) {
        try {
          s.close();
        } catch { /* closed */ }
      }
      await accepting;
    },
  };
}

/** Bytes of the first complete request in `bytes`, or undefined. */
function complete(bytes: Uint8Array): number | undefined {
  const text = new TextDecoder("latin1").decode(bytes);
  const end = text.indexOf("\r\n\r\n");
  if (end < 0) return undefined;
  const length = Number(/content-length: (\d+)/i.exec(text.slice(0, end))?.[1] ?? 0);
  return bytes.length >= end + 4 + length ? end + 4 + length : undefined;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

const write = (socket: Deno.TcpConn, text: string) => socket.write(new TextEncoder().encode(text));

function assertFailed(result: DeliveryResult): Extract<DeliveryResult, { ok: false }> {
  assert(!result.ok, `expected a failure, got ${JSON.stringify(result)}`);
  return result;
}

for (const client of ["http1", "fetch"] as const) {
  Deno.test(`createHttpTransport(${client}) posts the event format with the secret and keeps the connection`, async () => {
    const server = serve();
    const transport = createHttpTransport({ url: server.url, authorization: AUTH, client });
    for (let s = 1; s <= 5; s++) {
      assertEquals(await transport.send(event(s)), { ok: true, status: 204 });
    }
    assertEquals(await transport.send({ ...event(6), deferred: true, expired: true }), {
      ok: true,
      status: 204,
    });
    assertEquals(server.seen.length, 6);
    const first = server.seen[0];
    assertEquals(first.method, "POST");
    assertEquals(first.path, "/events?v=1");
    assertEquals(first.headers.get("authorization"), AUTH);
    assertEquals(first.headers.get("content-type"), "application/json");
    assertEquals(JSON.parse(first.body), { shardId: 3, data: JSON.parse(event(1).raw) });
    assertEquals(JSON.parse(server.seen[5].body).deferred, true);
    assertEquals(JSON.parse(server.seen[5].body).expired, true);
    assertEquals(
      new Set(server.seen.map((s) => s.remotePort)).size,
      1,
      "one kept-alive connection",
    );
    transport.close?.();
    await server.close();
  });

  Deno.test(`createHttpTransport(${client}) sorts answers into delivered, retry and rejected`, async () => {
    const answers: Response[] = [
      new Response("ok", { status: 200 }),
      new Response("busy", { status: 503, headers: { "retry-after": "2" } }),
      new Response("slow down", { status: 429, headers: { "retry-after": "0.25" } }),
      new Response(null, { status: 408 }),
      new Response("x".repeat(10_000), { status: 500 }),
      new Response('{"message":"bad event"}', { status: 400 }),
      new Response(null, { status: 302, headers: { location: "http://elsewhere/events" } }),
    ];
    const server = serve(() => answers.shift()!);
    const transport = createHttpTransport({ url: server.url, authorization: AUTH, client });
    assertEquals(await transport.send(event(1)), { ok: true, status: 200 });
    const busy = assertFailed(await transport.send(event(2)));
    assertEquals([busy.verdict, busy.status, busy.retryAfterMs, busy.body], [
      "retry",
      503,
      2000,
      "busy",
    ]);
    const limited = assertFailed(await transport.send(event(3)));
    assertEquals([limited.verdict, limited.status, limited.retryAfterMs], ["retry", 429, 250]);
    assertEquals(assertFailed(await transport.send(event(4))).verdict, "retry");
    const big = assertFailed(await transport.send(event(5)));
    assertEquals([big.verdict, big.body?.length], ["retry", 500]);
    const rejected = assertFailed(await transport.send(event(6)));
    assertEquals([rejected.verdict, rejected.status, rejected.body], [
      "reject",
      400,
      '{"message":"bad event"}',
    ]);
    const moved = assertFailed(await transport.send(event(7)));
    assertEquals([moved.verdict, moved.status], ["unavailable", 302]);
    assertStringIncludes(
      moved.error,
      "redirected to http://elsewhere/events; set EVENT_HANDLER_URL",
    );
    // Every answer, whatever its status, left the connection usable.
    assertEquals(new Set(server.seen.map((s) => s.remotePort)).size, 1);
    transport.close?.();
    await server.close();
  });

  Deno.test(`createHttpTransport(${client}) reports a refused connection and a timeout as retryable`, async () => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    listener.close();
    const refused = createHttpTransport({
      url: `http://127.0.0.1:${port}/`,
      authorization: AUTH,
      client,
    });
    assertEquals(assertFailed(await refused.send(event(1))).verdict, "retry");
    refused.close?.();

    let release!: () => void;
    const stalled = new Promise<void>((r) => release = r);
    const server = serve(async () => {
      await stalled;
      return new Response(null, { status: 204 });
    });
    const slow = createHttpTransport({
      url: server.url,
      authorization: AUTH,
      client,
      timeoutMs: 150,
    });
    const result = assertFailed(await slow.send(event(1)));
    assertEquals(result.verdict, "retry");
    assertStringIncludes(result.error, "no answer within 150 ms");
    release();
    slow.close?.();
    await server.close();
  });

  Deno.test(`createHttpTransport(${client}) stops an attempt when the caller's signal aborts`, async () => {
    let release!: () => void;
    const stalled = new Promise<void>((r) => release = r);
    const server = serve(async () => {
      await stalled;
      return new Response(null, { status: 204 });
    });
    const transport = createHttpTransport({ url: server.url, authorization: AUTH, client });
    const ctrl = new AbortController();
    const sending = transport.send(event(1), ctrl.signal);
    await until(() => server.seen.length === 1, "the request at the handler");
    ctrl.abort(new Error("deadline"));
    assertEquals(assertFailed(await sending).verdict, "retry");
    release();
    transport.close?.();
    await server.close();
  });
}

Deno.test("createHttpTransport(http1) refuses a secret that would inject headers", () => {
  const injected = assertThrows(
    () => createHttpTransport({ url: "http://127.0.0.1:1/", authorization: "x\r\nx-evil: 1" }),
    TypeError,
  );
  assertStringIncludes(injected.message, "line break");
  const ftp = assertThrows(() => createHttp1Client({ url: "ftp://127.0.0.1/" }), TypeError);
  assertStringIncludes(ftp.message, "http: and https:");
});

Deno.test("createHttp1Client() reads chunked answers to the end and keeps the start of the body", async () => {
  const server = serve(() =>
    new Response(
      new ReadableStream({
        start(c) {
          for (let i = 0; i < 50; i++) {
            c.enqueue(new TextEncoder().encode(`part ${i};`.padEnd(1000, ".")));
          }
          c.close();
        },
      }),
      { status: 500 },
    )
  );
  const client = createHttp1Client({ url: server.url, maxBodyBytes: 30 });
  for (let i = 0; i < 3; i++) {
    const response = await client.post("{}");
    assertEquals(response.status, 500);
    assertEquals(response.body, "part 0;".padEnd(30, "."));
  }
  assertEquals(
    new Set(server.seen.map((s) => s.remotePort)).size,
    1,
    "the whole body was read each time",
  );
  client.close();
  await server.close();
});

Deno.test("createHttp1Client() skips 100 Continue, reads Content-Length, chunk extensions and trailers", async () => {
  const server = rawServer(async (n, socket) => {
    if (n === 1) {
      await write(
        socket,
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
      );
    } else {
      await write(
        socket,
        "HTTP/1.1 503 Busy\r\nTransfer-Encoding: chunked\r\nRetry-After: 1\r\n\r\n",
      );
      await write(socket, "3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nx-trailer: 1\r\n\r\n");
    }
    return "keep";
  });
  const client = createHttp1Client({ url: server.url });
  const first = await client.post("{}");
  assertEquals([first.status, first.body], [200, "hello"]);
  const second = await client.post("{}");
  assertEquals([second.status, second.body, second.headers.get("retry-after")], [
    503,
    "abcde",
    "1",
  ]);
  assertEquals(server.connections, 1);
  client.close();
  await server.close();
});

Deno.test("createHttp1Client() does not reuse a connection the answer closes", async () => {
  const server = rawServer(async (n, socket) => {
    if (n === 1) {
      await write(socket, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
      return "close";
    }
    if (n === 2) {
      // HTTP/1.0 without keep-alive, body up to the end of the connection.
      await write(socket, "HTTP/1.0 200 OK\r\n\r\nuntil close");
      return "close";
    }
    await write(socket, "HTTP/1.1 204 No Content\r\n\r\n");
    return "keep";
  });
  const client = createHttp1Client({ url: server.url });
  assertEquals((await client.post("{}")).status, 200);
  const second = await client.post("{}");
  assertEquals([second.status, second.body], [200, "until close"]);
  assertEquals((await client.post("{}")).status, 204);
  assertEquals((await client.post("{}")).status, 204);
  assertEquals(server.connections, 3);
  assertEquals(client.idle, 1);
  client.close();
  await server.close();
});

Deno.test("createHttp1Client() does not reuse a connection with bytes past the answer", async () => {
  const server = rawServer(async (_n, socket) => {
    await write(
      socket,
      "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    );
    return "keep";
  });
  const client = createHttp1Client({ url: server.url });
  assertEquals((await client.post("{}")).status, 204);
  assertEquals(client.idle, 0, "the connection with a stray answer was closed");
  assertEquals((await client.post("{}")).status, 204, "the next request got its own answer");
  assertEquals(server.connections, 2);
  client.close();
  await server.close();
});

Deno.test("createHttp1Client() retries once on a new connection when the server closed the kept-alive one", async () => {
  const server = rawServer(async (_n, socket) => {
    // Answers, then closes without saying so: what an idle timeout on the server does.
    await write(socket, "HTTP/1.1 204 No Content\r\n\r\n");
    return "close";
  });
  const client = createHttp1Client({ url: server.url });
  assertEquals((await client.post("{}")).status, 204);
  await until(() => server.connections === 1 && server.requests === 1, "the first answer");
  assertEquals((await client.post("{}")).status, 204);
  assertEquals((await client.post("{}")).status, 204);
  assertEquals(server.requests, 3, "each request reached the server once");
  assertEquals(server.connections, 3);
  client.close();
  await server.close();
});

Deno.test("createHttp1Client() rejects what is not an HTTP/1.x answer, and a cut-off answer", async () => {
  const server = rawServer(async (n, socket) => {
    if (n === 1) await write(socket, "SSH-2.0-OpenSSH_9.2\r\n\r\n");
    else if (n === 2) await write(socket, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort");
    else await write(socket, "HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\n");
    return "close";
  });
  const client = createHttp1Client({ url: server.url });
  const notHttp = await assertRejects(client.post("{}"), Http1Error);
  assertStringIncludes(notHttp.message, "not an HTTP/1.x answer");
  assertEquals(notHttp.kind, "protocol");
  const cut = await assertRejects(client.post("{}"), Http1Error);
  assertStringIncludes(cut.message, "5 of 10 body bytes unread");
  assertEquals(cut.kind, "network");
  const length = await assertRejects(client.post("{}"), Http1Error);
  assertStringIncludes(length.message, "invalid Content-Length");
  assertEquals(client.idle, 0);
  client.close();
  await server.close();
});

Deno.test("createHttp1Client() closes kept-alive connections idle past the server's Keep-Alive timeout", async () => {
  const server = rawServer(async (_n, socket) => {
    await write(socket, "HTTP/1.1 204 No Content\r\nKeep-Alive: timeout=1\r\n\r\n");
    return "keep";
  });
  // timeout=1 leaves 0 ms after the second of margin: never reused.
  const client = createHttp1Client({ url: server.url });
  assertEquals((await client.post("{}")).status, 204);
  assertEquals((await client.post("{}")).status, 204);
  assertEquals(server.connections, 2);
  client.close();
  await server.close();
});

Deno.test("createHttp1Client() speaks TLS to an https: handler with a private CA", async () => {
  const dir = new URL("./fixtures/", import.meta.url);
  const ca = await Deno.readTextFile(new URL("ca_cert.pem", dir));
  const cert = await Deno.readTextFile(new URL("tls_cert.pem", dir));
  const key = await Deno.readTextFile(new URL("tls_key.pem", dir));
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, cert, key, onListen: () => {} },
    async (req) => {
      return new Response(`got ${(await req.text()).length}`, { status: 200 });
    },
  );
  const url = `https://localhost:${server.addr.port}/events`;
  const client = createHttp1Client({ url, caCerts: [ca] });
  const response = await client.post('{"a":1}');
  assertEquals([response.status, response.body], [200, "got 7"]);
  client.close();
  const untrusted = createHttp1Client({ url });
  const error = await assertRejects(untrusted.post("{}"), Http1Error);
  assertEquals(error.kind, "network");
  untrusted.close();
  await server.shutdown();
});

Deno.test("createHttp1Client() keeps no buffer a large request grew once the request is done", async () => {
  const server = serve((seen) =>
    seen.body.length > 1000
      ? new Response("e".repeat(2_000_000), { status: 500 })
      : new Response(null, { status: 204 })
  );
  const client = createHttp1Client({ url: server.url });
  assertEquals((await client.post("{}")).status, 204);
  const baseline = client.bufferBytes;
  // A GUILD_CREATE of a few MB, with characters of 2 and 3 bytes in UTF-8.
  const large = `{"d":"${"é✓ guild member ".repeat(200_000)}"}`;
  const response = await client.post(large);
  assertEquals([response.status, response.body], [500, "e".repeat(4096)]);
  assertEquals(server.seen[1].body, large, "the large request arrived whole");
  assertEquals(client.idle, 1, "the connection was kept");
  assertEquals(client.bufferBytes, baseline, "its buffers went back to their default sizes");
  assertEquals((await client.post("{}")).status, 204);
  assertEquals(new Set(server.seen.map((s) => s.remotePort)).size, 1);
  client.close();
  await server.close();
});

Deno.test("createHttp1Client() rejects whitespace between a header name and its colon", async () => {
  const bad = [
    "Content-Length : 5",
    "Content-Length\t: 5",
    "Content Length: 5",
    " Content-Length: 5", // whitespace before the first header line
  ];
  const server = rawServer(async (n, socket) => {
    if (n <= bad.length) {
      await write(socket, `HTTP/1.1 200 OK\r\n${bad[n - 1]}\r\n\r\nhello`);
      return "close";
    }
    // A folded value (obs-fold) is read with spaces in place of the line breaks.
    await write(
      socket,
      "HTTP/1.1 200 OK\r\nX-Folded: a\r\n  b\r\n\tc\r\nContent-Length: 2\r\n\r\nok",
    );
    return "keep";
  });
  const client = createHttp1Client({ url: server.url });
  for (const line of bad) {
    const error = await assertRejects(client.post("{}"), Http1Error);
    assertEquals(error.kind, "protocol", line);
    assertStringIncludes(error.message, "malformed answer header", line);
  }
  const folded = await client.post("{}");
  assertEquals([folded.status, folded.headers.get("x-folded"), folded.body], [200, "a b c", "ok"]);
  assertEquals(client.idle, 1);
  client.close();
  await server.close();
});

/** Writes `text` in pieces of `size` bytes, each its own TCP segment where the stack allows. */
async function trickle(socket: Deno.TcpConn, text: string, size: number): Promise<void> {
  const bytes = new TextEncoder().encode(text);
  for (let at = 0; at < bytes.length; at += size) {
    const piece = bytes.subarray(at, at + size);
    let off = 0;
    while (off < piece.length) off += await socket.write(piece.subarray(off));
  }
}

Deno.test("createHttp1Client() reads long header, chunk-size and trailer lines written a few bytes at a time", async () => {
  const longValue = "h".repeat(20_000);
  const extension = "e".repeat(20_000);
  // A trailer line near the 64 KiB line limit grows the read buffer past what a connection keeps.
  const trailer = `x-trailer: ${"t".repeat(65_000)}`;
  const server = rawServer(async (n, socket) => {
    socket.setNoDelay(true);
    if (n !== 2) {
      await write(socket, "HTTP/1.1 204 No Content\r\n\r\n");
      return "keep";
    }
    await trickle(
      socket,
      `HTTP/1.1 500 Oops\r\nX-Long: ${longValue}\r\nTransfer-Encoding: chunked\r\n\r\n` +
        `5;ext=${extension}\r\nhello\r\n6\r\n world\r\n0\r\n${trailer}\r\n\r\n`,
      7,
    );
    return "keep";
  });
  const client = createHttp1Client({ url: server.url });
  assertEquals((await client.post("{}")).status, 204);
  const baseline = client.bufferBytes;
  const response = await client.post("{}");
  assertEquals(
    [response.status, response.headers.get("x-long"), response.body],
    [500, longValue, "hello world"],
  );
  assertEquals(client.idle, 1, "the whole answer was read and the connection kept");
  assertEquals(client.bufferBytes, baseline, "the grown read buffer went back to its default size");
  assertEquals((await client.post("{}")).status, 204);
  assertEquals(server.connections, 1);
  client.close();
  await server.close();
});

Deno.test("readLine() looks at each byte of a line that arrives a byte at a time a bounded number of times", async () => {
  const line = `5;ext=${"e".repeat(4000)}`;
  const bytes = new TextEncoder().encode(`${line}\r\nnext`);
  let at = 0;
  let looks = 0;
  // Counts the reads of single bytes of the connection's buffer: the parser's work.
  const buf = new Proxy(new Uint8Array(64 * 1024), {
    get(target, key) {
      if (typeof key === "string" && /^\d+$/.test(key)) looks++;
      const value = Reflect.get(target, key);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  const socket = {
    read(p: Uint8Array): Promise<number | null> {
      if (at === bytes.length) return Promise.resolve(null);
      p[0] = bytes[at++];
      return Promise.resolve(1);
    },
  };
  const conn = { socket, buf, start: 0, end: 0, received: 0 };
  assertEquals(await _internals.readLine(conn as never), line);
  assertEquals(conn.start, line.length + 2, "the line and its CRLF consumed");
  // Scanning from the start of the line after each read would look about 8 million times.
  assert(looks <= 3 * bytes.length, `${looks} looks at ${bytes.length} bytes`);
});

Deno.test("createHttpTransport(fetch) reads at most 64 KiB of a large error answer and keeps its start", async () => {
  const { stream, state } = pulledBody(`{"message":"${"é".repeat(300)}`, 8 * 1024 * 1024, 0x2e);
  const transport = createHttpTransport({
    url: "http://handler.invalid/events",
    authorization: AUTH,
    client: "fetch",
    fetch: () => Promise.resolve(new Response(stream, { status: 500 })),
  });
  const result = assertFailed(await transport.send(event(1)));
  assertEquals([result.verdict, result.status], ["retry", 500]);
  assertEquals(result.body, `{"message":"${"é".repeat(300)}`.padEnd(500, "."));
  assert(state.pulled <= 66 * 1024, `read ${state.pulled} bytes of the body`);
  assert(state.cancelled, "the rest of the body was cancelled");
});
