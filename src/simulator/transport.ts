/**
 * Outbound side of one gateway socket: plain JSON text, or Discord's
 * transport compression (`zlib-stream`: one deflate context per connection,
 * every message ends with Z_SYNC_FLUSH `00 00 ff ff`; `zstd-stream`: one zstd
 * context, every message flushed, frame never ended), or identify's legacy
 * `compress: true` (each dispatch a complete zlib stream).
 */
import { Buffer } from "node:buffer";
import * as zlib from "node:zlib";

/** Values of the `compress` query parameter the simulator implements. */
export type TransportCompression = "zlib-stream" | "zstd-stream";

/** Sends to one socket, in order, whatever the encoding. */
export interface Outbound {
  /** Sends a payload; `dispatch` marks op 0 (the only ones `compress: true` deflates). */
  send(text: string, dispatch: boolean): void;
  /** Closes after everything queued before has been sent. */
  close(code: number, reason: string): void;
  /** Identify asked for `compress: true`. */
  enablePayloadCompression(): void;
  /** The socket closed from the other side: release the compressor. */
  dispose(): void;
}

interface StreamCompressor {
  transform(data: Uint8Array, flush: number): Promise<Uint8Array>;
  destroy(): void;
}

/** A streaming compressor whose output for each message is flushed on its own. */
function createStreamCompressor(kind: TransportCompression): StreamCompressor {
  // Deno's node:zlib ships zstd (Node >= 22.15 API); the typings may lag.
  const z = zlib as unknown as {
    createZstdCompress(): zlib.Deflate;
  };
  const stream = kind === "zlib-stream" ? zlib.createDeflate() : z.createZstdCompress();
  let chunks: Uint8Array[] = [];
  stream.on("data", (chunk: Uint8Array) => chunks.push(chunk));
  stream.on("error", () => {}); // surfaced through the write callback
  return {
    transform(data, flush) {
      return new Promise((resolve, reject) => {
        stream.write(data, (err) => err && reject(err));
        stream.flush(flush, () => {
          const out = Buffer.concat(chunks);
          chunks = [];
          resolve(new Uint8Array(out.buffer, out.byteOffset, out.byteLength));
        });
      });
    },
    destroy: () => stream.destroy(),
  };
}

/** Creates the outbound side of `socket`. */
export function createOutbound(
  socket: WebSocket,
  compression: TransportCompression | null,
  log: (msg: string) => void,
): Outbound {
  const isOpen = () => socket.readyState === WebSocket.OPEN;
  let payloadCompression = false;

  if (compression === null) {
    return {
      send(text, dispatch) {
        if (!isOpen()) return;
        socket.send(payloadCompression && dispatch ? zlib.deflateSync(text) : text);
      },
      close(code, reason) {
        if (socket.readyState <= WebSocket.OPEN) socket.close(code, reason);
      },
      enablePayloadCompression() {
        payloadCompression = true;
      },
      dispose() {},
    };
  }

  const compressor = createStreamCompressor(compression);
  const flush = compression === "zlib-stream"
    ? zlib.constants.Z_SYNC_FLUSH
    : (zlib.constants as unknown as { ZSTD_e_flush: number }).ZSTD_e_flush;
  const encoder = new TextEncoder();
  // One message at a time: a shared context must see messages in order, and
  // Deno's zstd merges flushes of overlapping writes.
  let tail: Promise<void> = Promise.resolve();
  let closed = false;
  const enqueue = (step: () => Promise<void> | void) => {
    tail = tail.then(step).catch((err) => {
      log(`transport error: ${err instanceof Error ? err.message : String(err)}`);
    });
  };
  return {
    send(text) {
      if (closed) return;
      enqueue(async () => {
        const bytes = await compressor.transform(encoder.encode(text), flush);
        if (isOpen()) socket.send(bytes);
      });
    },
    close(code, reason) {
      if (closed) return;
      closed = true;
      enqueue(() => {
        compressor.destroy();
        if (socket.readyState <= WebSocket.OPEN) socket.close(code, reason);
      });
    },
    // Transport compression supersedes payload compression (as in Discord).
    enablePayloadCompression() {},
    dispose() {
      if (closed) return;
      closed = true;
      enqueue(() => compressor.destroy());
    },
  };
}
