/**
 * The transport stage: how an event reaches the bot.
 * @module
 */
export * from "./http.ts";
