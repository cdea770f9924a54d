/**
 * The sequence numbers a shard's session may be saved with: what a resume may name without
 * losing an event (`resumeSeq`), and what reached the bot (`deliveredSeq`, for a cluster).
 * @module
 */
import type { Durable, Lane } from "./lane.ts";

/**
 * The highest `s` of `session` such that every dispatch up to it was delivered or journaled,
 * given the lane (if any), its spilled events not written yet and the last `s` received.
 */
export function resumeSeqOf(
  l: Lane | undefined,
  unwritten: readonly Durable[],
  session: string,
  lastReceived: number,
): number {
  if (l) {
    for (const e of l.mem) {
      if (e.session === session && !e.durable) return Math.min(lastReceived, e.s - 1);
    }
  }
  for (const e of unwritten) {
    if (e.session === session) return Math.min(lastReceived, e.s - 1);
  }
  return lastReceived;
}

/** The `s` up to which `session`'s events of the lane reached the bot (or were dead-lettered). */
export function deliveredSeqOf(
  l: Lane | undefined,
  unwritten: readonly Durable[],
  session: string,
  lastReceived: number,
): number {
  const waiting = (l !== undefined && (l.mem.length > 0 || l.disk > 0)) || unwritten.length > 0;
  if (!waiting) return lastReceived;
  if (l?.done?.session === session) return Math.min(lastReceived, l.done.s);
  if (l) {
    for (const e of l.mem) {
      if (e.session === session && e.s > 0) return Math.min(lastReceived, e.s - 1);
    }
  }
  // Nothing of this session delivered and its events not in memory: from its start.
  return 0;
}
