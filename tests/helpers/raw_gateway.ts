/**
 * A misbehaving gateway on a raw TCP socket, for faults Deno's WebSocket server
 * cannot produce: a handshake that never completes, or a peer that goes silent
 * (no heartbeat ACK, no answer to a close frame).
 * @module
 */

/** Handle on a raw gateway. */
export interface RawGateway {
  readonly url: string;
  /** TCP connections accepted so far. */
  readonly connections: number;
  close(): void;
}

/** `mode`: "no-handshake" never answers the upgrade; "silent" sends Hello, then nothing. */
export function startRawGateway(mode: "no-handshake" | "silent", heartbeatMs = 2000): RawGateway {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  let connections = 0;
  const frame = (text: string) => {
    const payload = new TextEncoder().encode(text);
    return new Uint8Array([0x81, payload.length, ...payload]);
  };
  (async () => {
    for await (const conn of listener) {
      connections++;
      conns.push(conn);
      (async () => {
        const buf = new Uint8Array(8192);
        const n = await conn.read(buf);
        if (mode === "silent" && n) {
          const req = new TextDecoder().decode(buf.subarray(0, n));
          const key = /Sec-WebSocket-Key: (.*)\r\n/i.exec(req)![1].trim();
          const digest = await crypto.subtle.digest(
            "SHA-1",
            new TextEncoder().encode(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"),
          );
          const accept = btoa(String.fromCharCode(...new Uint8Array(digest)));
          await conn.write(new TextEncoder().encode(
            `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
          ));
          await conn.write(
            frame(JSON.stringify({ op: 10, d: { heartbeat_interval: heartbeatMs } })),
          );
        }
        while ((await conn.read(buf).catch(() => null)) !== null) { /* swallow everything */ }
      })().catch(() => {});
    }
  })().catch(() => {});
  return {
    url: `ws://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    get connections() {
      return connections;
    },
    close() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* gone */ }
      }
    },
  };
}
