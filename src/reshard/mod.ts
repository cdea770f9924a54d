/**
 * Resharding without downtime: when to reshard and to how many shards, the switch's
 * dedupe, and the state machine that runs two shard sets side by side.
 * @module
 */
export * from "./overlap.ts";
export * from "./plan.ts";
export * from "./resharder.ts";
