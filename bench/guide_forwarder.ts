/**
 * The forwarding half of the Discordeno guide's standalone gateway process
 * ("Step 2: Creating A Standalone Gateway Process", /work/shared/docs/seed-gateway-guide.txt):
 * one `fetch` per dispatch to the event handler, and on failure the guide's
 * retry queue. Shared by the baseline (`bench/baseline.ts`, Discordeno) and the
 * peer (`bench/peer_djs.ts`, `@discordjs/ws`), so that only the gateway library
 * differs between them.
 *
 * Written as the guide's full listing, changed only where it cannot run on
 * Discordeno 21 / Deno:
 * - `rest.runMethod(rest, "post", endpoints.INTERACTION_ID_TOKEN(...), body)` is
 *   now an injected `respond(id, token, body)` (Discordeno 21 has no `runMethod`);
 * - `res.text()` in `handleQueue` is not awaited in the guide; a rejection there
 *   is unhandled, which kills a Deno process, so it gets a `.catch`.
 *
 * Kept as the guide has it (this is the baseline):
 * - `queue.processing` is never set to `true` anywhere. So the "if the queue is
 *   running, add to the queue" branch never runs: new events bypass a queue
 *   that is retrying and overtake older ones (per-shard order is lost), and
 *   every failed `fetch` schedules its own `handleQueue` loop (N failures start
 *   N loops, which then race each other).
 * - The first `fetch` is not awaited by Discordeno or discord.js: dispatches are
 *   forwarded with unbounded concurrency and no backpressure.
 * - A 4xx or 5xx answer counts as delivered (`fetch` only rejects on network
 *   errors), so only an unreachable handler fills the retry queue, and the
 *   queue has no bound.
 * @module
 */

/** A dispatch as the gateway library hands it over (Discord's snake_case payload). */
export interface GatewayPayload {
  op: number;
  t?: string | null;
  s?: number | null;
  d?: unknown;
}

/** An event waiting in the retry queue. */
export interface QueuedEvent {
  data: GatewayPayload;
  shardId: number;
}

/** The guide's queue. */
export interface GatewayQueue {
  processing: boolean;
  events: QueuedEvent[];
}

/** Options of {@linkcode createGuideForwarder}. */
export interface GuideForwarderOptions {
  /** `EVENT_HANDLER_URL`. */
  url: string;
  /** `EVENT_HANDLER_SECRET_KEY` / `gateway.secretKey` in the guide. */
  authorization: string;
  /** Posts an interaction callback through the REST proxy (the guide's `rest.runMethod`). */
  respond(interactionId: string, token: string, body: Record<string, unknown>): Promise<unknown>;
  /** Invite code in the guide's "temporary issue" reply. @default {"discordeno"} */
  botServerInviteCode?: string;
}

/** The guide's forwarder. */
export interface GuideForwarder {
  /** The guide's `handleDiscordPayload(_, data, shardId)`. */
  handleDiscordPayload(data: GatewayPayload, shardId: number): Promise<unknown>;
  readonly queue: GatewayQueue;
}

// Discord's numbers for the types the guide names.
const InteractionTypes = { MessageComponent: 3, ApplicationCommandAutocomplete: 4, ModalSubmit: 5 };
const InteractionResponseTypes = {
  ChannelMessageWithSource: 4,
  DeferredChannelMessageWithSource: 5,
  DeferredUpdateMessage: 6,
};

/** Creates the guide's forwarder. */
export function createGuideForwarder(options: GuideForwarderOptions): GuideForwarder {
  const { url: EVENT_HANDLER_URL, authorization: EVENT_HANDLER_SECRET_KEY, respond } = options;
  const BOT_SERVER_INVITE_CODE = options.botServerInviteCode ?? "discordeno";

  const queue: GatewayQueue = {
    processing: false,
    events: [],
  };

  async function handleDiscordPayload(data: GatewayPayload, shardId: number) {
    // IF QUEUE IS RUNNING JUST ADD TO QUEUE
    if (queue.processing) {
      if (data.t === "INTERACTION_CREATE") return handleInteractionQueueing(data, shardId);

      return queue.events.push({ shardId, data });
    }

    await fetch(EVENT_HANDLER_URL, {
      headers: {
        Authorization: EVENT_HANDLER_SECRET_KEY,
        "Content-Type": "application/json",
      },
      method: "POST",
      body: JSON.stringify({
        shardId,
        data,
      }),
    })
      // THIS IS FOR DENO MEMORY LEAK
      .then((res) => res.text())
      .catch(() => {
        // IF FAILED TRY TO QUEUE MAYBE LISTENER IS DOWN
        if (data.t === "INTERACTION_CREATE") handleInteractionQueueing(data, shardId);
        else queue.events.push({ shardId, data });

        setTimeout(handleQueue, 1000);
      });
  }

  async function handleQueue() {
    // TRY THE FIRST ITEM IN THE QUEUE
    const event = queue.events.shift();
    // QUEUE IS EMPTY
    if (!event) {
      console.log("GATEWAY QUEUE ENDING");
      queue.processing = false;
      return;
    }

    await fetch(EVENT_HANDLER_URL, {
      headers: {
        Authorization: EVENT_HANDLER_SECRET_KEY,
        "Content-Type": "application/json",
      },
      method: "POST",
      body: JSON.stringify({
        shardId: event.shardId,
        data: event.data,
      }),
    })
      .then((res) => {
        // The guide does not await this; a rejection would be unhandled (fatal in Deno).
        res.text().catch(() => null);
        handleQueue();
      })
      .catch(() => {
        // EVENT HANDLER STILL NOT ACCEPTING REQUEST. SO ADD BACK TO QUEUE
        queue.events.unshift(event);
        // RETRY IN ONE SECOND
        setTimeout(handleQueue, 1000);
      });
  }

  async function handleInteractionQueueing(data: GatewayPayload, shardId: number) {
    if (data.t !== "INTERACTION_CREATE") return;

    const interaction = data.d as { id: string; token: string; type: number };
    // IF THIS INTERACTION IS NOT DEFERABLE
    if (
      [InteractionTypes.ModalSubmit, InteractionTypes.ApplicationCommandAutocomplete].includes(
        interaction.type,
      )
    ) {
      return await respond(interaction.id, interaction.token, {
        type: InteractionResponseTypes.ChannelMessageWithSource,
        data: {
          content:
            `The bot is having a temporary issue, please try again or contact us at https://discord.gg/${BOT_SERVER_INVITE_CODE}`,
        },
      });
    }

    await respond(interaction.id, interaction.token, {
      // MESSAGE COMPONENTS NEED SPECIAL DEFER
      type: InteractionTypes.MessageComponent === interaction.type
        ? InteractionResponseTypes.DeferredUpdateMessage
        : InteractionResponseTypes.DeferredChannelMessageWithSource,
    });

    // ADD EVENT TO QUEUE
    queue.events.push({ shardId, data });
  }

  return { handleDiscordPayload, queue };
}
