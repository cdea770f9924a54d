/**
 * The gateway stage: shards, the identify queue, close-code policy.
 * Discord -> shard -> `onDispatch` is the only way events leave this folder.
 * @module
 */
export * from "./close_codes.ts";
export * from "./identify_queue.ts";
export * from "./sessions.ts";
export * from "./shards.ts";
export * from "./group.ts";
