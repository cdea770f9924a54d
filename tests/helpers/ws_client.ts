/**
 * A raw gateway client for the simulator's tests: a WebSocket that records
 * every payload it receives and decodes transport compression (`zlib-stream`,
 * `zstd-stream`) and payload compression (identify `compress: true`). No
 * Discordeno, so the tests see exactly what the simulator sends.
 * @module
 */
import { Buffer } from "node:buffer";
import * as zlib from "node:zlib";
import { waitFor } from "../../src/simulator/mod.ts";

/** A gateway payload as received. */
export interface Payload {
  op: number;
  d: unknown;
  s: number | null;
  t: string | null;
}

export type Compression = "zlib-stream" | "zstd-stream";

/** Raw gateway client: records every payload, decodes transport compression. */
export class Client {
  readonly ws: WebSocket;
  readonly messages: Payload[] = [];
  /** Binary frames received (payload compression). */
  readonly binary: Uint8Array[] = [];
  closeEvent: { code: number; reason: string } | null = null;
  readonly opened: Promise<void>;
  readonly closed: Promise<void>;
  #decode = Promise.resolve();
  #inflater?: zlib.Inflate;

  constructor(url: string, compression?: Compression) {
    this.ws = new WebSocket(url);
    this.ws.binaryType = "arraybuffer";
    this.opened = new Promise((resolve) => {
      this.ws.addEventListener("open", () => resolve(), { once: true });
    });
    this.closed = new Promise((resolve) => {
      this.ws.addEventListener("close", (e) => {
        this.closeEvent = { code: e.code, reason: e.reason };
        this.#inflater?.destroy();
        resolve();
      }, { once: true });
    });
    if (compression) {
      const z = zlib as unknown as { createZstdDecompress(): zlib.Inflate };
      this.#inflater = compression === "zlib-stream"
        ? zlib.createInflate()
        : z.createZstdDecompress();
    }
    this.ws.onmessage = (event) => {
      if (typeof event.data === "string") {
        this.messages.push(JSON.parse(event.data));
        return;
      }
      const bytes = new Uint8Array(event.data as ArrayBuffer);
      if (!this.#inflater) {
        this.binary.push(bytes);
        this.messages.push(JSON.parse(zlib.inflateSync(bytes).toString()));
        return;
      }
      const inflater = this.#inflater;
      // Decode in arrival order: the inflater is one stream for the connection.
      this.#decode = this.#decode.then(() =>
        new Promise<void>((resolve, reject) => {
          const chunks: Buffer[] = [];
          const onData = (c: Buffer) => chunks.push(c);
          inflater.on("data", onData);
          inflater.write(Buffer.from(bytes), (err) => err && reject(err));
          inflater.flush(() => {
            inflater.off("data", onData);
            this.messages.push(JSON.parse(Buffer.concat(chunks).toString()));
            resolve();
          });
        })
      );
    };
  }

  send(payload: unknown): void {
    this.ws.send(typeof payload === "string" ? payload : JSON.stringify(payload));
  }

  /** First payload (from index `from`) matching `pred`. */
  async next(pred: (p: Payload) => boolean, from = 0, timeoutMs = 5000): Promise<Payload> {
    try {
      return await waitFor(() => this.messages.slice(from).find(pred), { timeoutMs });
    } catch (err) {
      const got = this.messages.map((m) => m.t ?? `op${m.op}`).join(",");
      throw new Error(`client never got the expected payload; got ${got}`, { cause: err });
    }
  }

  dispatches(t?: string): Payload[] {
    return this.messages.filter((m) => m.op === 0 && (t === undefined || m.t === t));
  }

  async waitClose(timeoutMs = 5000): Promise<{ code: number; reason: string }> {
    return await waitFor(() => this.closeEvent, { timeoutMs, message: "socket never closed" });
  }

  async close(code = 1000): Promise<void> {
    if (this.ws.readyState === WebSocket.CONNECTING) await this.opened.catch(() => {});
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close(code);
    await this.closed;
    await this.#decode.catch(() => {});
  }
}
