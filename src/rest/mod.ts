/**
 * The REST side: a Discordeno REST manager pointed at the bot's REST proxy,
 * and the one call the gateway needs at start (`GET /gateway/bot`).
 * @module
 */
export * from "./client.ts";
export * from "./gateway_bot.ts";
