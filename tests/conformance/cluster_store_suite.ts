/**
 * The contract of a {@linkcode ClusterStore}, for any implementation: leases (claim, renew,
 * release, holders, expiry) and members (announce, leave, expiry).
 * @module
 */
import type { ClusterStore } from "../../src/cluster/mod.ts";
import { assert, assertEquals } from "../helpers/assert.ts";
import { type ConformanceCase, type ConformanceOptions, registerCases } from "./register.ts";

/** A store under test, on a clock the fixture moves. */
export interface ClusterStoreFixture {
  store: ClusterStore;
  /**
   * Lets at least `ms` pass on the store's clock: real time for a server, an advanced clock for a
   * simulated store.
   */
  elapse(ms: number): Promise<void>;
  cleanup(): Promise<void>;
}

/** Options of {@linkcode clusterStoreConformance}. */
export type ClusterStoreConformanceOptions = ConformanceOptions;

/** A short lease the expiry cases outlive, ms. */
const SHORT = 250;
/** A lease no case outlives, ms. */
const LONG = 60_000;

/** Registers the cluster store suite for `name`; `make` returns a fresh, empty store. */
export function clusterStoreConformance(
  name: string,
  make: () => Promise<ClusterStoreFixture>,
  options: ClusterStoreConformanceOptions = {},
): void {
  registerCases("ClusterStore", name, make, cases, options);
}

const cases: ConformanceCase<ClusterStoreFixture>[] = [
  {
    name: "claim() takes a free lease, refuses another owner's and extends the owner's own",
    async fn({ store }) {
      assertEquals(await store.claim("k", "a", 1000), true);
      assertEquals(await store.claim("k", "b", LONG), false);
      const [before] = await store.holders(["k"]);
      assert(before?.owner === "a", JSON.stringify(before));
      assert(before.ttlMs > 0 && before.ttlMs <= 1000, `ttl ${before.ttlMs}`);
      assertEquals(await store.claim("k", "a", LONG), true);
      const [after] = await store.holders(["k"]);
      assert(after?.owner === "a", JSON.stringify(after));
      assert(after.ttlMs > 1000 && after.ttlMs <= LONG, `extended ttl ${after.ttlMs}`);
    },
  },
  {
    name: "renew() extends only the owner's leases and answers per key",
    async fn({ store }) {
      assertEquals(await store.renew([], "a", LONG), []);
      await store.claim("held", "a", 1000);
      await store.claim("other", "b", 1000);
      assertEquals(await store.renew(["held", "other", "free"], "a", LONG), [true, false, false]);
      const [held, other, free] = await store.holders(["held", "other", "free"]);
      assert(held !== null && held.owner === "a" && held.ttlMs > 1000, JSON.stringify(held));
      assert(other !== null && other.owner === "b" && other.ttlMs <= 1000, JSON.stringify(other));
      assertEquals(free, null);
      // Renewing does not take a free lease.
      assertEquals((await store.holders(["free"]))[0], null);
    },
  },
  {
    name: "release() frees the owner's lease and leaves another owner's alone",
    async fn({ store }) {
      await store.claim("k", "a", LONG);
      await store.release("k", "b");
      assertEquals((await store.holders(["k"]))[0]?.owner, "a");
      await store.release("k", "a");
      assertEquals(await store.holders(["k"]), [null]);
      await store.release("k", "a"); // releasing a free lease is harmless
      assertEquals(await store.claim("k", "b", LONG), true);
    },
  },
  {
    name: "holders() answers in key order, null for free keys",
    async fn({ store }) {
      assertEquals(await store.holders([]), []);
      await store.claim("x", "a", LONG);
      await store.claim("z", "c", LONG);
      const owners = (await store.holders(["z", "y", "x"])).map((h) => h?.owner ?? null);
      assertEquals(owners, ["c", null, "a"]);
    },
  },
  {
    name: "a lease expires after its time: nobody holds it, another owner can claim it",
    async fn({ store, elapse }) {
      await store.claim("k", "a", SHORT);
      await store.claim("kept", "a", LONG);
      await elapse(SHORT * 2);
      assertEquals(await store.holders(["k"]), [null]);
      assertEquals(await store.renew(["k", "kept"], "a", LONG), [false, true]);
      assertEquals(await store.claim("k", "b", LONG), true);
    },
  },
  {
    name: "members() lists announced members until they leave or their announcement expires",
    async fn({ store, elapse }) {
      assertEquals(await store.members(), []);
      await store.announce({ id: "m1", owned: 2, startedAt: 10 }, SHORT);
      await store.announce({ id: "m0", owned: 1, startedAt: 20 }, LONG);
      await store.announce({ id: "m2", owned: 0, startedAt: 30 }, LONG);
      // A heartbeat replaces what the member said before.
      await store.announce({ id: "m2", owned: 5, startedAt: 30 }, LONG);
      assertEquals(sorted(await store.members()), [
        { id: "m0", owned: 1, startedAt: 20 },
        { id: "m1", owned: 2, startedAt: 10 },
        { id: "m2", owned: 5, startedAt: 30 },
      ]);
      await elapse(SHORT * 2);
      assertEquals(sorted(await store.members()).map((m) => m.id), ["m0", "m2"]);
      await store.leave("m0");
      await store.leave("nobody");
      assertEquals(sorted(await store.members()).map((m) => m.id), ["m2"]);
    },
  },
];

function sorted<T extends { id: string }>(members: T[]): T[] {
  return [...members].sort((a, b) => a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}
