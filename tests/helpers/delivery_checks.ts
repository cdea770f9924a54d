/**
 * The delivery stage's promises, checked against what a {@linkcode World} recorded:
 * nothing received is lost (unless a crash legitimately lost it), first deliveries come in
 * order per shard, deferral outcomes reach the event the handler gets, and only poisoned
 * or rejected events are dead-lettered, never while the handler is down.
 * @module
 */
import type { Entry, Journaled } from "./delivery_fakes.ts";
import type { Dispatch } from "./delivery_discord.ts";
import type { World } from "./delivery_world.ts";

/**
 * Every broken promise as one line starting with its kind in brackets. Undelivered events
 * of shards that did not drain (`w.undrained`) are not counted as lost.
 */
export function checkWorld(w: World): string[] {
  return [
    ...lost(w),
    ...order(w),
    ...flags(w),
    ...deadLetters(w),
  ];
}

function lost(w: World): string[] {
  const out: string[] = [];
  const dead = new Set<string>();
  const acknowledged = new Set<string>();
  for (const e of w.log) {
    if (e.type === "dead") dead.add(e.key);
    if (e.type === "outcome" && e.kind === "already-acknowledged") acknowledged.add(e.key);
  }
  for (const d of w.dispatches.values()) {
    if (!w.received.has(d.key) || w.delivered.has(d.key) || w.exempt.has(d.key)) continue;
    if (w.undrained.has(d.shardId)) continue;
    if (dead.has(d.key) || acknowledged.has(d.key)) continue;
    out.push(`[lost] ${explainLoss(w, d)}`);
  }
  return out;
}

/** Why an event may have been lost, from what the journal held at its last replay. */
function explainLoss(w: World, d: Dispatch): string {
  const what = `${d.key} ${d.t}${d.poison ? " (poisoned)" : ""}`;
  for (let i = w.log.length - 1; i >= d.sentAt; i--) {
    const e = w.log[i];
    if (e.type !== "start") continue;
    const resumed = e.resumed.get(d.shardId);
    if (resumed?.session !== d.session || d.s <= resumed.seq || e.journaled.has(d.key)) continue;
    const range = sRange(e.journaled, d.session);
    if (range && range[0] < d.s && d.s < range[1]) {
      return `${what} was replayed to instance ${e.inst} (resumed from seq ${resumed.seq}) and never delivered: it was not journaled but lies inside the journal's s range ${
        range[0]
      }..${range[1]} of session ${d.session}, so it was taken for a duplicate`;
    }
    return `${what} was replayed to instance ${e.inst} (resumed from seq ${resumed.seq}) and never delivered`;
  }
  const journaledAt = w.log.filter((e) => e.type === "start" && e.journaled.has(d.key))
    .map((e) => e.inst);
  return `${what} was received and never delivered${
    journaledAt.length ? ` (journaled at the start of instance ${journaledAt.join(", ")})` : ""
  }`;
}

function sRange(journaled: Journaled, session: string): [number, number] | undefined {
  let lo = Infinity;
  let hi = -Infinity;
  for (const r of journaled.values()) {
    if (r.session !== session) continue;
    lo = Math.min(lo, r.s);
    hi = Math.max(hi, r.s);
  }
  return lo <= hi ? [lo, hi] : undefined;
}

/**
 * Per shard, the first delivery of each event comes in (session, s) order. An event that
 * was dead-lettered, or that the bot already had (already-acknowledged), is done: a later
 * delivery of it (a replay after a crash) is a repeat, not a first delivery.
 */
function order(w: World): string[] {
  const out: string[] = [];
  const first = new Set<string>();
  const highest = new Map<number, Dispatch>();
  const reported = new Set<number>();
  for (const e of w.log) {
    if (e.type === "dead" || (e.type === "outcome" && e.kind === "already-acknowledged")) {
      first.add(e.key);
    }
    if (e.type !== "answer" || !e.ok || first.has(e.key) || e.key === "check") continue;
    first.add(e.key);
    const d = w.dispatches.get(e.key)!;
    const prev = highest.get(d.shardId);
    const before = prev &&
      (d.sessionIdx < prev.sessionIdx || (d.sessionIdx === prev.sessionIdx && d.s < prev.s));
    if (!before) highest.set(d.shardId, d);
    else if (!reported.has(d.shardId)) {
      reported.add(d.shardId);
      out.push(
        `[order] shard ${d.shardId}: ${d.key} ${d.t} was first delivered (instance ${e.inst}) after ${
          prev!.key
        }`,
      );
    }
  }
  return out;
}

/** Deferral outcomes the queue knew before an attempt began show on that attempt. */
function flags(w: World): string[] {
  const out = new Map<string, string>();
  const seen = new Map<number, Map<string, Entry & { type: "seen" }>>();
  const journaled = new Map<number, Journaled>();
  const deferredGiven = new Set<string>();
  const report = (kind: string, key: string, line: string) => {
    if (!out.has(`${kind} ${key}`)) out.set(`${kind} ${key}`, `[${kind}] ${line}`);
  };
  for (const e of w.log) {
    if (e.type === "start") journaled.set(e.inst, e.journaled);
    if (e.type === "outcome" && e.kind === "deferred") deferredGiven.add(e.key);
    if (e.type === "seen") {
      if (!seen.has(e.inst)) seen.set(e.inst, new Map());
      seen.get(e.inst)!.set(e.key, e);
    }
    if (e.type !== "send" || !w.dispatches.get(e.key)?.interaction) continue;
    const known = seen.get(e.inst)?.get(e.key)?.kind;
    const stored = journaled.get(e.inst)?.get(e.key);
    if (known === "deferred" && !e.deferred) {
      report(
        "deferred-flag",
        e.key,
        `interaction ${e.key} was sent by instance ${e.inst} without deferred: true after its deferral completed as "deferred"`,
      );
    } else if (stored?.deferred && !e.deferred) {
      report(
        "deferred-flag",
        e.key,
        `interaction ${e.key} was journaled with deferred: true but sent by instance ${e.inst} without it`,
      );
    }
    if (known === "already-acknowledged" || stored?.acknowledged) {
      report(
        "acknowledged-sent",
        e.key,
        `interaction ${e.key} was sent by instance ${e.inst} after its deferral found it already acknowledged${
          known ? "" : " (journaled so)"
        }`,
      );
    }
    if (e.deferred && !deferredGiven.has(e.key)) {
      report(
        "spurious-deferred",
        e.key,
        `interaction ${e.key} was sent with deferred: true but never deferred`,
      );
    }
  }
  return [...out.values()];
}

/**
 * Dead letters: rejected (400) events, or poisoned ones set aside on a 500 that came right after
 * the handler took something else; never anything else, never on a "down" answer.
 */
function deadLetters(w: World): string[] {
  const out: string[] = [];
  const log = w.log;
  for (let i = 0; i < log.length; i++) {
    const e = log[i];
    if (e.type !== "dead") continue;
    const d = w.dispatches.get(e.key)!;
    const answers = log.slice(0, i).filter((a): a is Entry & { type: "answer" } =>
      a.type === "answer" && a.inst === e.inst
    );
    const mine = answers.filter((a) => a.key === e.key);
    const last = mine.at(-1);
    const history = mine.slice(-4).map((a) => a.status ?? a.mode).join(",");
    if (d.bad) {
      if (last?.status !== 400) {
        out.push(`[dead-letter] ${e.key} was dead-lettered without a 400 (answers ${history})`);
      }
      continue;
    }
    if (!d.poison) {
      out.push(
        `[dead-letter] ${e.key} ${d.t} is not poisoned but was dead-lettered by instance ${e.inst} (its last answers: ${
          history || "none"
        }; handler mode ${last?.mode ?? "?"})`,
      );
      continue;
    }
    // The rule: set aside on a failure that can be the event's own (a 500) that came right after
    // the handler answered something else (took another event or the queue's check, or refused
    // one with a 400: the handler was up either way), i.e. with such an answer between the
    // event's last two failures.
    if (!last || last.status !== 500) {
      out.push(
        `[dead-letter] poisoned ${e.key} was dead-lettered on an answer that says the handler is down (its last answers: ${history})`,
      );
      continue;
    }
    const lastAt = answers.lastIndexOf(last);
    const prev = mine.at(-2);
    const prevAt = prev ? answers.lastIndexOf(prev) : -1;
    const answeredUp = (a: Entry & { type: "answer" }) => a.ok || a.status === 400;
    if (!answers.slice(prevAt + 1, lastAt).some((a) => answeredUp(a) && a.key !== e.key)) {
      out.push(
        `[dead-letter] poisoned ${e.key} was dead-lettered without the handler taking or refusing anything else between its last two failures (its last answers: ${history})`,
      );
    }
  }
  return out;
}
