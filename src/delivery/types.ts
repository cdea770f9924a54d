import type { OutboundEvent } from "../transport/types.ts";

/** What the delivery stage needs to know about an INTERACTION_CREATE to defer it. */
export interface InteractionInfo {
  id: string;
  token: string;
  /** 2 command, 3 component, 4 autocomplete, 5 modal submit. */
  type: number;
  /** A modal submitted from a message component carries `message`. */
  hasMessage: boolean;
}

/** An event waiting for delivery: plain, serializable data. */
export interface QueuedEvent extends OutboundEvent {
  /** Dispatch name. */
  t: string;
  /** Discord's sequence number within the shard's session. */
  s: number;
  /** Shard count of the set the shard belongs to (two sets live side by side during a reshard). */
  totalShards?: number;
  /** The Discord session the event arrived on (`s` restarts with each session). */
  session?: string;
  /** Epoch ms the proxy received it from Discord. */
  receivedAt: number;
  /** Present on INTERACTION_CREATE. */
  interaction?: InteractionInfo;
  /** The bot answered this interaction before the proxy could defer it: do not deliver again. */
  acknowledged?: boolean;
  /** Global order of arrival; assigned by the queue. */
  pos?: number;
}
