/**
 * Acknowledging interactions on the bot's behalf, through the REST proxy,
 * when they cannot reach the bot within Discord's 3 s deadline.
 * @module
 */
import { InteractionResponseTypes, InteractionTypes } from "../../deps.ts";
import { readBodyStart } from "../transport/http.ts";
import type { InteractionInfo } from "./types.ts";

/** How a deferral went. */
export type DeferOutcome =
  | { kind: "deferred"; callbackType: number }
  /** Discord says the interaction was already answered (40060): the bot has it. */
  | { kind: "already-acknowledged" }
  | { kind: "failed"; reason: string; status?: number };

/** Acknowledges one interaction. */
export interface InteractionDeferrer {
  /** Never throws; gives up when `signal` aborts (Discord's 3 s deadline). */
  defer(interaction: InteractionInfo, signal?: AbortSignal): Promise<DeferOutcome>;
}

/**
 * The callback that holds an interaction without answering it:
 * command -> 5, component -> 6, modal -> 6 with a message else 5, autocomplete -> 8 (no choices;
 * it cannot be deferred).
 */
export function deferCallbackType(interaction: InteractionInfo): number {
  switch (interaction.type) {
    case InteractionTypes.MessageComponent:
      return InteractionResponseTypes.DeferredUpdateMessage;
    case InteractionTypes.ModalSubmit:
      return interaction.hasMessage
        ? InteractionResponseTypes.DeferredUpdateMessage
        : InteractionResponseTypes.DeferredChannelMessageWithSource;
    case InteractionTypes.ApplicationCommandAutocomplete:
      return InteractionResponseTypes.ApplicationCommandAutocompleteResult;
    default:
      return InteractionResponseTypes.DeferredChannelMessageWithSource;
  }
}

/** Options of {@linkcode createRestDeferrer}. */
export interface RestDeferrerOptions {
  /** The REST proxy's base URL (`REST_URL`). */
  url: string;
  /** The REST proxy's secret (`REST_AUTHORIZATION`). */
  authorization: string;
  /** Deferred channel messages are ephemeral (flag 64). @default false */
  ephemeral?: boolean;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
}

/**
 * The {@linkcode InteractionDeferrer} that posts the callback through the REST proxy,
 * at the route Discordeno's REST manager uses (`/v10/interactions/{id}/{token}/callback`).
 * It calls `fetch` itself because Discordeno's manager cannot abort a request, and a
 * callback must not leave after Discord's deadline.
 */
export function createRestDeferrer(options: RestDeferrerOptions): InteractionDeferrer {
  const { url, authorization, ephemeral = false, fetch: doFetch = fetch } = options;
  return {
    async defer(interaction, signal) {
      const type = deferCallbackType(interaction);
      const data = type === InteractionResponseTypes.ApplicationCommandAutocompleteResult
        ? { choices: [] }
        : type === InteractionResponseTypes.DeferredChannelMessageWithSource && ephemeral
        ? { flags: 64 }
        : undefined;
      const route = `/v10/interactions/${encodeURIComponent(interaction.id)}/${
        encodeURIComponent(interaction.token)
      }/callback`;
      let response: Response;
      try {
        response = await doFetch(url + route, {
          method: "POST",
          headers: { authorization, "content-type": "application/json" },
          body: JSON.stringify({ type, data }),
          signal,
        });
      } catch (error) {
        const reason = signal?.aborted
          ? "Discord's 3 s deadline passed before the REST proxy answered"
          : error instanceof Error
          ? `${error.message}${error.cause instanceof Error ? `: ${error.cause.message}` : ""}`
          : String(error);
        return { kind: "failed", reason };
      }
      // Discord's error answers are short; only the start of a longer body is read and kept.
      const body = await readBodyStart(response.body);
      if (response.ok) return { kind: "deferred", callbackType: type };
      if (response.status === 400 && /"code"\s*:\s*40060/.test(body)) {
        return { kind: "already-acknowledged" };
      }
      return {
        kind: "failed",
        reason: `HTTP ${response.status} ${body.slice(0, 200)}`,
        status: response.status,
      };
    },
  };
}
