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
  /** Strings that must never appear in output. */
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
  const redact = (text: string) => {
    for (const s of secrets) if (s) text = text.replaceAll(s, "[redacted]");
    return text;
  };
  const emit = (lvl: LogLevel, base: LogFields, msg: string, fields?: LogFields) => {
    if (ORDER[lvl] < ORDER[level]) return;
    const all = { ...base, ...fields };
    for (const [k, v] of Object.entries(all)) {
      if (v === undefined) delete all[k];
      else if (v instanceof Error) {
        all[k] = v.message + (v.cause ? ` (cause: ${stringify(v.cause)})` : "");
      }
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
    write(lvl, redact(line));
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
