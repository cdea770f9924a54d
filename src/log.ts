/**
 * Structured logging: human-readable lines by default, JSON lines on request,
 * with every configured secret redacted before anything is written.
 * @module
 */
import type { LogLevel } from "../configs.ts";

/** Extra structured fields of a log line. */
export type LogFields = Record<string, unknown>;

/** The logger every stage receives; stages never call `console` directly. */
export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line. */
  with(fields: LogFields): Logger;
}

/** Options of {@linkcode createLogger}. */
export interface LoggerOptions {
  /** @default "info" */
  level?: LogLevel;
  /** @default "pretty" */
  format?: "pretty" | "json";
  /**
   * Strings that must never appear in output, however short (see {@linkcode createRedactor}:
   * one shorter than 8 characters is redacted in field values where it stands alone).
   */
  secrets?: string[];
  /** Where lines go. @default console.error for warn/error, console.log otherwise */
  write?: (level: LogLevel, line: string) => void;
  /** @default Date.now */
  now?: () => number;
}

const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** Creates a {@linkcode Logger}. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const {
    level = "info",
    format = "pretty",
    secrets = [],
    write = (lvl, line) => (ORDER[lvl] >= ORDER.warn ? console.error(line) : console.log(line)),
    now = Date.now,
  } = options;
  const redactor = createRedactor(secrets);
  const emit = (lvl: LogLevel, base: LogFields, msg: string, fields?: LogFields) => {
    if (ORDER[lvl] < ORDER[level]) return;
    const all = { ...base, ...fields };
    for (const [k, v] of Object.entries(all)) {
      if (v === undefined) delete all[k];
      else if (v instanceof Error) {
        all[k] = redactor.value(v.message + (v.cause ? ` (cause: ${stringify(v.cause)})` : ""));
      } else all[k] = redactor.value(v);
    }
    let line: string;
    if (format === "json") {
      line = JSON.stringify({ ts: new Date(now()).toISOString(), level: lvl, msg, ...all });
    } else {
      const extra = Object.entries(all).map(([k, v]) => `${k}=${stringify(v)}`).join(" ");
      line = `${new Date(now()).toISOString()} ${lvl.toUpperCase().padEnd(5)} ${msg}${
        extra ? " " + extra : ""
      }`;
    }
    write(lvl, redactor.text(line));
  };
  const make = (base: LogFields): Logger => ({
    debug: (m, f) => emit("debug", base, m, f),
    info: (m, f) => emit("info", base, m, f),
    warn: (m, f) => emit("warn", base, m, f),
    error: (m, f) => emit("error", base, m, f),
    with: (fields) => make({ ...base, ...fields }),
  });
  return make({});
}

/** Secrets shorter than this are redacted only where they stand alone. */
const SHORT_SECRET = 8;
const REDACTED = "[redacted]";

/** What {@linkcode createRedactor} returns. */
export interface Redactor {
  /** Any text (a whole log line): every secret of 8 or more characters, wherever it is. */
  text(text: string): string;
  /**
   * A field's value, recursively through arrays and plain objects: long secrets anywhere, and
   * short ones where no letter or digit touches them (`authorization=abc`, `"abc"`, `?k=abc&`).
   * A number or boolean that matches becomes the string `"[redacted]"`.
   */
  value(value: unknown): unknown;
}

/**
 * Redaction of configured secrets. A long secret is removed wherever it appears. A short one
 * (a weak secret: `loadConfig()` warns about it) would also match inside ordinary words
 * ("test" in "latest"), so it is removed only where it stands alone, and only in field
 * values: messages are written by the code, while secrets reach logs through fields.
 */
export function createRedactor(secrets: readonly string[]): Redactor {
  const forms = (list: string[]) =>
    [...new Set(list.flatMap((s) => [s, JSON.stringify(s).slice(1, -1)]))]
      .sort((a, b) => b.length - a.length);
  const long = forms(secrets.filter((s) => s.length >= SHORT_SECRET));
  const all = forms(secrets.filter((s) => s.length > 0));
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const longRe = long.length ? new RegExp(long.map(escape).join("|"), "g") : undefined;
  const allRe = all.length
    ? new RegExp(
      all.map((s) =>
        s.length >= SHORT_SECRET ? escape(s) : `(?<![A-Za-z0-9])${escape(s)}(?![A-Za-z0-9])`
      ).join("|"),
      "g",
    )
    : undefined;
  const text = (t: string) => longRe ? t.replace(longRe, REDACTED) : t;
  const inString = (t: string) => allRe ? t.replace(allRe, REDACTED) : t;
  const value = (v: unknown, depth = 0): unknown => {
    if (!allRe || depth > 8) return v;
    if (typeof v === "string") return inString(v);
    if (typeof v === "number" || typeof v === "bigint" || typeof v === "boolean") {
      return inString(String(v)) === String(v) ? v : REDACTED;
    }
    if (Array.isArray(v)) return v.map((x) => value(x, depth + 1));
    if (v !== null && typeof v === "object") {
      const proto = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) return v; // the line pass still applies
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, value(x, depth + 1)]));
    }
    return v;
  };
  return { text, value: (v) => value(v) };
}

function stringify(v: unknown): string {
  if (typeof v === "string") return /\s/.test(v) ? JSON.stringify(v) : v;
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/** A logger that writes nothing (tests, benchmarks). */
export const silentLogger: Logger = createLogger({ write: () => {} });
