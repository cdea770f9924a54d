/**
 * Third-party dependencies, pinned in `deno.json` (`npm:@discordeno/*@21.0.0`).
 *
 * Everything from outside the project comes through this file, so an upgrade
 * is one diff. Deno's registries (JSR, deno.land) are not used: HTTP serving is
 * the built-in `Deno.serve` and `.env` loading is the built-in `--env-file`.
 * @module
 */
export {
  createGatewayManager,
  DiscordenoShard,
  ShardSocketCloseCodes,
  ShardState,
} from "@discordeno/gateway";
export type { GatewayManager, ShardSocketRequest } from "@discordeno/gateway";
export { createRestManager } from "@discordeno/rest";
export type { RestManager } from "@discordeno/rest";
export {
  GatewayCloseEventCodes,
  GatewayIntents,
  GatewayOpcodes,
  InteractionResponseTypes,
  InteractionTypes,
} from "@discordeno/types";
export type { DiscordGatewayPayload } from "@discordeno/types";
