/**
 * The transport stage: how an event reaches the bot.
 * @module
 */
export * from "./types.ts";
export * from "./http.ts";
export * from "./http1.ts";
export * from "./redis_streams.ts";
