/**
 * The counters moved to `src/counters.ts` (every stage shares them); this forwards to them so
 * imports of the old path keep working until they are updated.
 * @module
 */
export * from "../counters.ts";
