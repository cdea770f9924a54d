/**
 * Pure checks of identify (op 2) and resume (op 6) payloads. They return the
 * close code Discord would answer with, so the table of rules is testable
 * without sockets.
 */
import { CloseCodes } from "./close_codes.ts";
import { checkIntents } from "./intents.ts";

/** A refused handshake: close with `code`, `detail` says why. */
export interface HandshakeFailure {
  ok: false;
  code: number;
  detail: string;
}

/** A well-formed identify. */
export interface IdentifyRequest {
  ok: true;
  shardId: number;
  numShards: number;
  intents: number;
  largeThreshold: number;
  compress: boolean;
}

/** A well-formed resume. */
export interface ResumeRequest {
  ok: true;
  sessionId: string;
  seq: number;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

const fail = (code: number, detail: string): HandshakeFailure => ({
  ok: false,
  code,
  detail,
});

/** Whether `token` is the bot token, with or without the "Bot " prefix. */
export function tokenMatches(token: unknown, expected: string): boolean {
  return token === expected || token === `Bot ${expected}`;
}

const STATUSES = ["online", "dnd", "idle", "invisible", "offline"];

/** Checks an op 3 / identify presence object; returns a detail when invalid. */
export function checkPresence(p: unknown): string | undefined {
  if (!isObject(p)) return "presence must be an object";
  if (p.since !== null && typeof p.since !== "number") {
    return "presence.since must be a number or null";
  }
  if (!Array.isArray(p.activities)) return "presence.activities must be an array";
  if (typeof p.status !== "string" || !STATUSES.includes(p.status)) {
    return "presence.status is not a known status";
  }
  if (typeof p.afk !== "boolean") return "presence.afk must be a boolean";
  return undefined;
}

/** Checks identify `d` in Discord's order of concerns. */
export function checkIdentify(
  d: unknown,
  token: string,
  allowedPrivileged: number,
): IdentifyRequest | HandshakeFailure {
  if (!isObject(d)) return fail(CloseCodes.UnknownOpcode, "identify d must be an object");
  if (!tokenMatches(d.token, token)) {
    return fail(CloseCodes.AuthenticationFailed, "bad token");
  }
  const props = d.properties;
  if (
    !isObject(props) || typeof props.os !== "string" ||
    typeof props.browser !== "string" || typeof props.device !== "string"
  ) {
    return fail(CloseCodes.UnknownOpcode, "properties {os, browser, device} required");
  }
  const shard = d.shard;
  if (
    !Array.isArray(shard) || shard.length !== 2 ||
    !shard.every((n) => Number.isSafeInteger(n)) || shard[1] < 1 ||
    shard[0] < 0 || shard[0] >= shard[1]
  ) {
    return fail(CloseCodes.InvalidShard, `shard ${JSON.stringify(shard)}`);
  }
  const intents = checkIntents(d.intents, allowedPrivileged);
  if (intents === "invalid") {
    return fail(CloseCodes.InvalidIntents, `intents ${JSON.stringify(d.intents)}`);
  }
  if (intents === "disallowed") {
    return fail(CloseCodes.DisallowedIntents, `privileged intents not enabled`);
  }
  const large = d.large_threshold;
  if (
    large !== undefined &&
    (!Number.isSafeInteger(large) || (large as number) < 50 || (large as number) > 250)
  ) {
    return fail(CloseCodes.UnknownOpcode, "large_threshold must be 50-250");
  }
  if (d.compress !== undefined && typeof d.compress !== "boolean") {
    return fail(CloseCodes.UnknownOpcode, "compress must be a boolean");
  }
  if (d.presence !== undefined) {
    const bad = checkPresence(d.presence);
    if (bad) return fail(CloseCodes.UnknownOpcode, bad);
  }
  return {
    ok: true,
    shardId: shard[0],
    numShards: shard[1],
    intents: d.intents as number,
    largeThreshold: (large as number | undefined) ?? 50,
    compress: d.compress === true,
  };
}

/** Checks resume `d` (token, session_id, seq). */
export function checkResume(
  d: unknown,
  token: string,
): ResumeRequest | HandshakeFailure {
  if (!isObject(d)) return fail(CloseCodes.UnknownOpcode, "resume d must be an object");
  if (!tokenMatches(d.token, token)) {
    return fail(CloseCodes.AuthenticationFailed, "bad token");
  }
  if (typeof d.session_id !== "string" || d.session_id.length === 0) {
    return fail(CloseCodes.UnknownOpcode, "session_id must be a string");
  }
  if (!Number.isSafeInteger(d.seq) || (d.seq as number) < 0) {
    return fail(CloseCodes.UnknownOpcode, "seq must be an integer >= 0");
  }
  return { ok: true, sessionId: d.session_id, seq: d.seq as number };
}
