import type { Simulator } from "./types.ts";

/** Options of {@linkcode startMessageStream}. */
export interface MessageStreamOptions {
  /** MESSAGE_CREATE events per second, spread over connected shards. */
  ratePerSecond: number;
  /** Timer period; each tick emits what the rate owes since the last. @default {10} */
  tickMs?: number;
  /** Stops the stream. */
  signal?: AbortSignal;
}

/** A running stream of MESSAGE_CREATE events. */
export interface MessageStream {
  /** Events emitted so far. */
  readonly emitted: number;
  /** Emits that threw (e.g. a shard without an available guild). */
  readonly failed: number;
  stop(): void;
}

/**
 * Emits MESSAGE_CREATE at a steady rate, round-robin over the shards that are
 * connected at each tick (for demos and benchmarks). Time without connected
 * shards is not made up later, nor are timer stalls beyond 100 ms.
 */
export function startMessageStream(
  sim: Pick<Simulator, "connectedShards" | "emitMessageCreate">,
  options: MessageStreamOptions,
): MessageStream {
  const { ratePerSecond, tickMs = 10, signal } = options;
  if (!(ratePerSecond > 0) || !Number.isFinite(ratePerSecond)) {
    throw new RangeError(`ratePerSecond must be a finite number > 0, got ${ratePerSecond}`);
  }
  if (!(tickMs >= 1)) throw new RangeError(`tickMs must be >= 1, got ${tickMs}`);
  let emitted = 0;
  let failed = 0;
  let credit = 0;
  let next = 0;
  let last = performance.now();

  const tick = () => {
    const now = performance.now();
    // Late timers are made up for up to 100 ms; longer stalls are not, so
    // that a pause never turns into a burst.
    credit = Math.min(
      credit + (now - last) * ratePerSecond / 1000,
      Math.max(2, ratePerSecond / 10),
    );
    last = now;
    const shards = sim.connectedShards();
    if (shards.length === 0) {
      credit = 0;
      return;
    }
    while (credit >= 1) {
      credit--;
      try {
        sim.emitMessageCreate(shards[next++ % shards.length]);
        emitted++;
      } catch {
        failed++;
      }
    }
  };

  const timer = setInterval(tick, tickMs);
  const stop = () => {
    clearInterval(timer);
    signal?.removeEventListener("abort", stop);
  };
  signal?.addEventListener("abort", stop, { once: true });
  return {
    get emitted() {
      return emitted;
    },
    get failed() {
      return failed;
    },
    stop,
  };
}
