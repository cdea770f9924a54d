/** Gateway intent bits the simulator knows (Discord API v10). */
export const Intents = {
  Guilds: 1 << 0,
  GuildMembers: 1 << 1,
  GuildModeration: 1 << 2,
  GuildExpressions: 1 << 3,
  GuildIntegrations: 1 << 4,
  GuildWebhooks: 1 << 5,
  GuildInvites: 1 << 6,
  GuildVoiceStates: 1 << 7,
  GuildPresences: 1 << 8,
  GuildMessages: 1 << 9,
  GuildMessageReactions: 1 << 10,
  GuildMessageTyping: 1 << 11,
  DirectMessages: 1 << 12,
  DirectMessageReactions: 1 << 13,
  DirectMessageTyping: 1 << 14,
  MessageContent: 1 << 15,
  GuildScheduledEvents: 1 << 16,
  AutoModerationConfiguration: 1 << 20,
  AutoModerationExecution: 1 << 21,
  GuildMessagePolls: 1 << 24,
  DirectMessagePolls: 1 << 25,
} as const;

/** Every bit Discord accepts in `identify.intents`. */
export const KNOWN_INTENTS: number = Object.values(Intents).reduce(
  (all, bit) => all | bit,
  0,
);

/** Intents that must be enabled for the application before use. */
export const PRIVILEGED_INTENTS: number = Intents.GuildMembers |
  Intents.GuildPresences | Intents.MessageContent;

/** Outcome of checking identify intents, mapped to a close code by the caller. */
export type IntentCheck = "ok" | "invalid" | "disallowed";

/**
 * Checks `identify.intents` like Discord: anything but a non-negative integer
 * made of known bits is invalid (4013); privileged bits the application has
 * not been granted are disallowed (4014).
 */
export function checkIntents(
  intents: unknown,
  allowedPrivileged: number,
): IntentCheck {
  if (
    typeof intents !== "number" || !Number.isSafeInteger(intents) ||
    intents < 0 || intents > 0x7fffffff
  ) {
    return "invalid";
  }
  if ((intents & ~KNOWN_INTENTS) !== 0) return "invalid";
  if ((intents & PRIVILEGED_INTENTS & ~allowedPrivileged) !== 0) {
    return "disallowed";
  }
  return "ok";
}

/** Whether `intents` includes every bit of `required`. */
export function hasIntents(intents: number, required: number): boolean {
  return (intents & required) === required;
}
