/**
 * A steady stream of guild messages through the simulator, each with a unique marker,
 * so a test can check that the handler got every one exactly once, whichever shard
 * set carried it.
 * @module
 */
import type { Simulator } from "../../src/simulator/types.ts";

/** A running stream; `markers` lists what was emitted to at least one session. */
export interface GuildStream {
  readonly markers: string[];
  stop(): Promise<void>;
}

/** Emits one MESSAGE_CREATE every `everyMs` in the bot's guilds, in turn. */
export function guildStream(sim: Simulator, everyMs = 10): GuildStream {
  const markers: string[] = [];
  let running = true;
  let n = 0;
  const done = (async () => {
    while (running) {
      const guilds = sim.guildIds(0, 1);
      const guildId = guilds[n % guilds.length];
      const marker = `m${++n}`;
      const e = sim.dispatchGuildEvent(guildId, "MESSAGE_CREATE", {
        id: marker,
        guild_id: guildId,
        channel_id: "1",
        content: `message ${n}`,
      });
      // Nobody connected for that guild at this instant: Discord would not send it either.
      if (e.deliveries.length > 0) markers.push(marker);
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    markers,
    async stop() {
      running = false;
      await done;
    },
  };
}

/** Per marker, how many times a MESSAGE_CREATE carrying it reached the handler. */
export function markerCounts(
  events: readonly { data: { t: string; d: unknown } }[],
): Map<string, number> {
  const counts = new Map<string, number>();
  for (const e of events) {
    const id = (e.data.d as { id?: unknown })?.id;
    if (e.data.t === "MESSAGE_CREATE" && typeof id === "string") {
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
  }
  return counts;
}

/** Whether every marker reached the handler at least once. */
export function allDelivered(
  events: readonly { data: { t: string; d: unknown } }[],
  markers: readonly string[],
): boolean {
  const counts = markerCounts(events);
  return markers.every((m) => counts.has(m));
}
