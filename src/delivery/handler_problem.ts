/**
 * Why the event handler is not taking events: what `/readyz` shows and what the logs say
 * to check, from the answers of failed attempts.
 * @module
 */
import type { DeliveryResult } from "../transport/types.ts";
import type { DeliveryCounters } from "../counters.ts";
import type { Logger } from "../log.ts";

/** Why the handler is not taking events, when it is not. */
export interface HandlerProblem {
  /** `unavailable`: answers that point at a setting (3xx, 401, 403, 404, 405); `failing`: errors, 5xx. */
  kind: "unavailable" | "failing";
  status?: number;
  error: string;
  /** What to check. */
  hint: string;
  /** Epoch ms of the first failure in this stretch. */
  since: number;
}

/** Options of {@linkcode createProblemTracker}. */
export interface ProblemTrackerOptions {
  counters: DeliveryCounters;
  logger: Logger;
  /** How often a handler that stays "unavailable" is logged again, ms. */
  unavailableLogIntervalMs: number;
  now: () => number;
}

/** The handler's current problem; see {@linkcode createProblemTracker}. */
export interface ProblemTracker {
  /** Notes a failed attempt of `events` events. */
  failed(result: DeliveryResult & { ok: false }, events: number): void;
  /** Notes a delivery: the problem, if any, is over. */
  recovered(): void;
  /** The problem right now; `undefined` while the handler takes events. */
  current(): HandlerProblem | undefined;
}

/** Creates the {@linkcode ProblemTracker}. */
export function createProblemTracker(options: ProblemTrackerOptions): ProblemTracker {
  const { counters, logger: log, unavailableLogIntervalMs, now } = options;
  let problem: (HandlerProblem & { loggedAt: number }) | undefined;
  return {
    failed(result, events) {
      const kind = result.verdict === "unavailable" ? "unavailable" : "failing";
      if (kind === "unavailable") counters.unavailable += events;
      if (problem?.kind === kind && problem.status === result.status) {
        if (kind === "unavailable" && now() - problem.loggedAt >= unavailableLogIntervalMs) {
          problem.loggedAt = now();
          log.error(`the event handler is unavailable: ${problem.hint}`, {
            status: result.status,
            error: result.error,
            forMs: now() - problem.since,
          });
        }
        return;
      }
      problem = {
        kind,
        status: result.status,
        error: result.error,
        hint: hintFor(result),
        since: problem?.since ?? now(),
        loggedAt: now(),
      };
      if (kind === "unavailable") {
        log.error(`the event handler is unavailable: ${problem.hint}`, {
          status: result.status,
          error: result.error,
        });
      }
    },
    recovered() {
      if (!problem) return;
      log.info("the event handler accepts events again", {
        afterMs: now() - problem.since,
        status: problem.status,
      });
      problem = undefined;
    },
    current() {
      if (!problem) return undefined;
      const { loggedAt: _, ...rest } = problem;
      return rest;
    },
  };
}

/** What to check, for a failed attempt's log line and `/readyz`. */
export function hintFor(result: DeliveryResult & { ok: false }): string {
  const status = result.status;
  if (status === undefined) return `the handler cannot be reached (${result.error})`;
  if (status >= 300 && status < 400) {
    return "EVENT_HANDLER_URL answers with a redirect; set it to the URL the handler serves";
  }
  if (status === 401 || status === 403) {
    return `the handler refuses EVENT_HANDLER_AUTHORIZATION (HTTP ${status}); check both sides use the same secret`;
  }
  if (status === 404 || status === 405) {
    return `nothing takes POST at EVENT_HANDLER_URL (HTTP ${status}); check the path, or the ingress during a deploy`;
  }
  return `the handler answers HTTP ${status}`;
}
