import { createRestManager, type RestManager } from "../../deps.ts";

/** Options of {@linkcode createRestClient}. */
export interface RestClientOptions {
  /** Bot token (Discordeno derives the application id from it). */
  token: string;
  /** Base URL of the REST proxy; Discordeno appends `/v10/...`. */
  url: string;
  /** Secret the REST proxy expects in `Authorization`. */
  authorization: string;
}

/** A Discordeno REST manager that talks to the bot's REST proxy, never to Discord directly. */
export function createRestClient(options: RestClientOptions): RestManager {
  return createRestManager({
    token: options.token,
    proxy: { baseUrl: options.url, authorization: options.authorization },
  });
}

/** HTTP status of a failed Discordeno REST call, if it got an answer. */
export function restErrorStatus(error: unknown): number | undefined {
  const cause = (error as { cause?: { status?: unknown } })?.cause;
  return typeof cause?.status === "number" ? cause.status : undefined;
}

/** Short, log-safe description of a failed Discordeno REST call. */
export function describeRestError(error: unknown): string {
  const cause = (error as { cause?: { status?: number; body?: string } })?.cause;
  if (cause && typeof cause.status === "number") {
    return `HTTP ${cause.status}${cause.body ? ` ${String(cause.body).slice(0, 200)}` : ""}`;
  }
  return error instanceof Error ? error.message : String(error);
}
