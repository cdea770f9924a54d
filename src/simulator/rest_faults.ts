import type { RestRoute } from "./types.ts";

/** One injected failure. */
export interface Fault {
  status: number;
  retryAfterSeconds: number;
}

/** Queued failures per REST route, consumed one per request. */
export interface FaultQueue {
  add(route: RestRoute, statuses: number[], retryAfterSeconds: number): void;
  take(route: RestRoute): Fault | undefined;
}

const ROUTES: readonly RestRoute[] = ["gateway/bot", "interactions"];

/** Creates an empty fault queue; `add` validates its arguments up front. */
export function createFaultQueue(): FaultQueue {
  const queues = new Map<RestRoute, Fault[]>();
  return {
    add(route, statuses, retryAfterSeconds) {
      if (!ROUTES.includes(route)) {
        throw new TypeError(
          `failRest route must be one of ${ROUTES.join(", ")}, got ${String(route)}`,
        );
      }
      if (!Array.isArray(statuses)) {
        throw new TypeError(`failRest statuses must be an array, got ${String(statuses)}`);
      }
      for (const status of statuses) {
        if (!Number.isInteger(status) || status < 400 || status > 599) {
          throw new RangeError(
            `failRest statuses must be HTTP error codes (400-599), got ${status}`,
          );
        }
      }
      if (!(retryAfterSeconds >= 0) || !Number.isFinite(retryAfterSeconds)) {
        throw new RangeError(
          `failRest retryAfterSeconds must be a finite number >= 0, got ${retryAfterSeconds}`,
        );
      }
      const queue = queues.get(route) ?? [];
      for (const status of statuses) queue.push({ status, retryAfterSeconds });
      queues.set(route, queue);
    },
    take: (route) => queues.get(route)?.shift(),
  };
}
