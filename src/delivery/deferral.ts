/**
 * Acknowledging interactions on the bot's behalf, through the REST proxy,
 * when they cannot reach the bot within Discord's 3 s deadline.
 * @module
 */
import { InteractionResponseTypes, InteractionTypes, type RestManager } from "../../deps.ts";
import { describeRestError, restErrorStatus } from "../rest/client.ts";
import type { InteractionInfo } from "./types.ts";

/** How a deferral went. */
export type DeferOutcome =
  | { kind: "deferred"; callbackType: number }
  /** Discord says the interaction was already answered (40060): the bot has it. */
  | { kind: "already-acknowledged" }
  | { kind: "failed"; reason: string; status?: number };

/** Acknowledges one interaction. */
export interface InteractionDeferrer {
  /** Never throws. */
  defer(interaction: InteractionInfo): Promise<DeferOutcome>;
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
  rest: Pick<RestManager, "sendInteractionResponse">;
  /** Deferred channel messages are ephemeral (flag 64). @default false */
  ephemeral?: boolean;
  /** Give up after, ms; Discord's deadline is 3 s from creation. @default 2500 */
  timeoutMs?: number;
}

/** The {@linkcode InteractionDeferrer} that posts the callback through the REST proxy. */
export function createRestDeferrer(options: RestDeferrerOptions): InteractionDeferrer {
  const { rest, ephemeral = false, timeoutMs = 2500 } = options;
  return {
    async defer(interaction) {
      const type = deferCallbackType(interaction);
      const data = type === InteractionResponseTypes.ApplicationCommandAutocompleteResult
        ? { choices: [] }
        : type === InteractionResponseTypes.DeferredChannelMessageWithSource && ephemeral
        ? { flags: 64 }
        : undefined;
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        await Promise.race([
          rest.sendInteractionResponse(interaction.id, interaction.token, { type, data }),
          new Promise((_, reject) => {
            timer = setTimeout(
              () => reject(new Error(`no answer within ${timeoutMs} ms`)),
              timeoutMs,
            );
          }),
        ]);
        return { kind: "deferred", callbackType: type };
      } catch (error) {
        const status = restErrorStatus(error);
        const description = describeRestError(error);
        if (status === 400 && description.includes("40060")) {
          return { kind: "already-acknowledged" };
        }
        return { kind: "failed", reason: description, status };
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
