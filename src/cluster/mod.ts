/**
 * Several processes sharing one bot's shards through Redis (`REDIS_URL`): shared identify
 * limits, sessions, shard leases with failover, and commands routed to a shard's holder.
 * @module
 */
export * from "./cluster.ts";
export * from "./commands.ts";
export * from "./identify.ts";
export * from "./redis.ts";
export * from "./redis_store.ts";
export * from "./sessions.ts";
export * from "./shard_leases.ts";
export * from "./store.ts";
