/**
 * An in-memory {@linkcode ClusterStore} on a clock the test controls: the lease model test runs
 * many members through it deterministically. `tests/cluster_store_test.ts` holds it to the same
 * behaviour as the Redis one.
 * @module
 */
import type { ClusterStore, MemberInfo } from "../../src/cluster/store.ts";

/** The store plus a switch that makes it unreachable. */
export interface MemoryClusterStore extends ClusterStore {
  /** While true every call rejects (Redis down or partitioned). */
  down: boolean;
  /** The raw lease table, for invariant checks. */
  leases(): Map<string, { owner: string; expiresAt: number }>;
}

/** Creates the store; `now` is the test's clock. */
export function createMemoryClusterStore(now: () => number): MemoryClusterStore {
  const leases = new Map<string, { owner: string; expiresAt: number }>();
  const members = new Map<string, { info: MemberInfo; expiresAt: number }>();
  const live = (key: string) => {
    const l = leases.get(key);
    if (l && l.expiresAt <= now()) {
      leases.delete(key);
      return undefined;
    }
    return l;
  };
  const store: MemoryClusterStore = {
    down: false,
    leases: () => {
      for (const k of [...leases.keys()]) live(k);
      return leases;
    },
    claim(key, owner, ms) {
      if (store.down) return Promise.reject(new Error("store down"));
      const l = live(key);
      if (l && l.owner !== owner) return Promise.resolve(false);
      leases.set(key, { owner, expiresAt: now() + ms });
      return Promise.resolve(true);
    },
    renew(keys, owner, ms) {
      if (store.down) return Promise.reject(new Error("store down"));
      return Promise.resolve(keys.map((k) => {
        const l = live(k);
        if (!l || l.owner !== owner) return false;
        l.expiresAt = now() + ms;
        return true;
      }));
    },
    release(key, owner) {
      if (store.down) return Promise.reject(new Error("store down"));
      if (live(key)?.owner === owner) leases.delete(key);
      return Promise.resolve();
    },
    holders(keys) {
      if (store.down) return Promise.reject(new Error("store down"));
      return Promise.resolve(keys.map((k) => {
        const l = live(k);
        return l ? { owner: l.owner, ttlMs: l.expiresAt - now() } : null;
      }));
    },
    announce(info, ms) {
      if (store.down) return Promise.reject(new Error("store down"));
      members.set(info.id, { info: { ...info }, expiresAt: now() + ms });
      return Promise.resolve();
    },
    leave(id) {
      if (store.down) return Promise.reject(new Error("store down"));
      members.delete(id);
      return Promise.resolve();
    },
    members() {
      if (store.down) return Promise.reject(new Error("store down"));
      const out: MemberInfo[] = [];
      for (const [id, m] of members) {
        if (m.expiresAt <= now()) members.delete(id);
        else out.push({ ...m.info });
      }
      return Promise.resolve(out.sort((a, b) => a.id < b.id ? -1 : 1));
    },
  };
  return store;
}
