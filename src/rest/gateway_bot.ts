import type { RestManager } from "../../deps.ts";
import { backoffDelay, delay } from "../backoff.ts";
import type { Logger } from "../log.ts";
import { describeRestError, restErrorStatus } from "./client.ts";

/** What `GET /gateway/bot` says, in the shape the gateway stage uses. */
export interface GatewayBotInfo {
  url: string;
  shards: number;
  sessionStartLimit: {
    total: number;
    remaining: number;
    resetAfter: number;
    maxConcurrency: number;
  };
}

/** The REST proxy refused our credentials; retrying cannot help. */
export class RestAuthError extends Error {
  /** 401 or 403. */
  readonly status: number;
  constructor(status: number, options?: ErrorOptions) {
    super(
      `the REST proxy answered ${status} to GET /gateway/bot: check REST_AUTHORIZATION (and that the proxy's token is valid)`,
      options,
    );
    this.name = "RestAuthError";
    this.status = status;
  }
}

/** Options of {@linkcode fetchGatewayBot}. */
export interface FetchGatewayBotOptions {
  logger: Logger;
  signal?: AbortSignal;
  /** @default 1000 */
  baseMs?: number;
  /** @default 30000 */
  maxMs?: number;
}

/**
 * Fetches `GET /gateway/bot` through the REST proxy, retrying with capped
 * exponential backoff while the proxy is unreachable or answers 5xx/429.
 *
 * @throws {RestAuthError} on 401/403; the signal's reason once aborted.
 */
export async function fetchGatewayBot(
  rest: Pick<RestManager, "getGatewayBot">,
  options: FetchGatewayBotOptions,
): Promise<GatewayBotInfo> {
  const { logger, signal, baseMs = 1000, maxMs = 30_000 } = options;
  for (let attempt = 0;; attempt++) {
    signal?.throwIfAborted();
    try {
      const info = await rest.getGatewayBot();
      return validate(info as unknown as GatewayBotInfo);
    } catch (error) {
      const status = restErrorStatus(error);
      if (status === 401 || status === 403) throw new RestAuthError(status, { cause: error });
      if (
        status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429
      ) {
        throw new Error(
          `the REST proxy answered GET /gateway/bot with ${describeRestError(error)}`,
          {
            cause: error,
          },
        );
      }
      const wait = backoffDelay(attempt, { baseMs, maxMs });
      logger.warn("GET /gateway/bot through the REST proxy failed; retrying", {
        attempt: attempt + 1,
        error: describeRestError(error),
        retryInMs: wait,
      });
      await delay(wait, signal);
    }
  }
}

function validate(info: GatewayBotInfo): GatewayBotInfo {
  const l = info?.sessionStartLimit;
  if (
    typeof info?.url !== "string" || !Number.isInteger(info.shards) || info.shards < 1 || !l ||
    !Number.isInteger(l.maxConcurrency) || l.maxConcurrency < 1
  ) {
    throw new Error(`GET /gateway/bot returned an unexpected body: ${JSON.stringify(info)}`);
  }
  return info;
}
