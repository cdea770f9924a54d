/**
 * The delivery stage between the shards and the transport: queue, journal,
 * dead letters, interaction deferral, counters.
 * @module
 */
export * from "../counters.ts";
export * from "./dead_letters.ts";
export * from "./deferral.ts";
export * from "./journal.ts";
export * from "./queue.ts";
export * from "./types.ts";
export * from "./adopt.ts";
export * from "./redeliver.ts";
