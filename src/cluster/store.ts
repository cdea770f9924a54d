/**
 * What the cluster keeps in a shared store: expiring leases held by one owner, and the live
 * members. Redis implements it (`redis_store.ts`); the lease model test drives an in-memory one
 * on a simulated clock, and a conformance test holds both to the same behaviour.
 * @module
 */

/** A live process of the cluster, as it announces itself. */
export interface MemberInfo {
  id: string;
  /** Shards it holds leases for now. */
  owned: number;
  /** Epoch ms of its start. */
  startedAt: number;
}

/** Leases and members. Every method may reject when the store is unreachable. */
export interface ClusterStore {
  /**
   * Takes lease `key` for `owner` for `ms` if nobody holds it; if `owner` already holds it,
   * extends it. Resolves true when `owner` holds it afterwards.
   */
  claim(key: string, owner: string, ms: number): Promise<boolean>;
  /** Extends `owner`'s leases by `ms`; for each key, false when `owner` no longer holds it. */
  renew(keys: readonly string[], owner: string, ms: number): Promise<boolean[]>;
  /** Ends `owner`'s lease (nothing if someone else holds it now). */
  release(key: string, owner: string): Promise<void>;
  /** Who holds each key now (null: free), with the lease's remaining ms. */
  holders(keys: readonly string[]): Promise<({ owner: string; ttlMs: number } | null)[]>;
  /** Announces a member for `ms` (its heartbeat). */
  announce(info: MemberInfo, ms: number): Promise<void>;
  /** Removes a member at once (a clean stop). */
  leave(id: string): Promise<void>;
  /** The members whose announcement has not expired. */
  members(): Promise<MemberInfo[]>;
}
