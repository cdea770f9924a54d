/**
 * The contract of a {@linkcode SessionStore}, for any implementation: round trip, what a later
 * save does to earlier records, call order, and a damaged or unreachable store loading as empty.
 * @module
 */
import type { SessionRecord, SessionStore } from "../../src/gateway/mod.ts";
import { assertEquals } from "../helpers/assert.ts";
import { type ConformanceCase, type ConformanceOptions, registerCases } from "./register.ts";

/** The shards the suite writes sessions for: a set of {@linkcode TOTAL_SHARDS}. */
export const SHARDS: readonly number[] = [0, 1, 2, 3];
/** The shard count of every record the suite writes. */
export const TOTAL_SHARDS = 4;

/** A store under test. */
export interface SessionStoreFixture {
  store: SessionStore;
  /**
   * Stores `valid` plus one malformed record, the way a bug or a hand edit would leave them
   * in this backend.
   */
  plantMalformed(valid: SessionRecord[]): Promise<void>;
  /** Damages the store in the named way (see `damages` in the options). */
  damage?(kind: string): Promise<void>;
  /** Fenced stores: gives shard `shardId`'s write right (its lease) to another process. */
  revoke?(shardId: number, totalShards: number): Promise<void>;
  cleanup(): Promise<void>;
}

/** Options of {@linkcode sessionStoreConformance}. */
export interface SessionStoreConformanceOptions extends ConformanceOptions {
  /**
   * What `save(records)` does to stored shards `records` does not name: `"replace"` drops them
   * (the interface's "replaces the stored sessions"; a store one process owns), `"merge"` keeps
   * them (a store processes share, each writing its own shards; `save([])` changes nothing).
   * @default {"replace"}
   */
  save?: "replace" | "merge";
  /**
   * Writes are fenced: a save stores only the shards whose write right (lease) this process
   * holds, and skips the others without failing. The fixture must hold the right for
   * {@linkcode SHARDS} from the start and implement `revoke`. @default false
   */
  fenced?: boolean;
  /**
   * Names of the ways the fixture's `damage()` can break the store ("the file is not JSON",
   * "Redis is down"); each becomes a case: `load()` then resolves to `[]` and never throws.
   * @default {[]}
   */
  damages?: string[];
}

/** Registers the session store suite for `name`; `make` returns a fresh, empty store. */
export function sessionStoreConformance(
  name: string,
  make: () => Promise<SessionStoreFixture>,
  options: SessionStoreConformanceOptions = {},
): void {
  const { save = "replace", fenced = false, damages = [] } = options;
  if (save !== "replace" && save !== "merge") {
    throw new TypeError(`save must be "replace" or "merge", got ${save}`);
  }
  const cases = [...commonCases(save), ...damages.map(damageCase)];
  if (fenced) cases.push(fencedCase);
  registerCases("SessionStore", name, make, cases, options);
}

/** A valid record of shard `shardId` at sequence `seq`. */
export function sessionRecord(shardId: number, seq: number): SessionRecord {
  return {
    shardId,
    sessionId: `session-${shardId}-${seq}`,
    resumeGatewayUrl: `wss://resume-${shardId}.example/?v=10`,
    totalShards: TOTAL_SHARDS,
    seq,
    savedAt: 1_700_000_000_000 + seq,
  };
}

function commonCases(save: "replace" | "merge"): ConformanceCase<SessionStoreFixture>[] {
  return [
    {
      name: "a new store loads empty",
      async fn({ store }) {
        assertEquals(await store.load(), []);
      },
    },
    {
      name: "load() returns what save() stored, field for field",
      async fn({ store }) {
        const records = SHARDS.map((s) => sessionRecord(s, 10 + s));
        await store.save(records);
        assertEquals(byShard(await store.load()), records);
      },
    },
    {
      name: save === "replace"
        ? "a later save replaces every stored session (save([]) empties the store)"
        : "a later save replaces the shards it names and keeps the others (save([]) changes nothing)",
      async fn({ store }) {
        await store.save([0, 1, 2].map((s) => sessionRecord(s, 5)));
        const later = [sessionRecord(1, 9), sessionRecord(3, 9)];
        await store.save(later);
        const expected = save === "replace"
          ? later
          : [sessionRecord(0, 5), sessionRecord(1, 9), sessionRecord(2, 5), sessionRecord(3, 9)];
        assertEquals(byShard(await store.load()), expected);
        await store.save([]);
        assertEquals(byShard(await store.load()), save === "replace" ? [] : expected);
      },
    },
    {
      name: "saves apply in call order: the last of several concurrent saves wins",
      async fn({ store }) {
        await Promise.all([1, 2, 3, 4, 5].map((seq) => store.save([sessionRecord(2, seq)])));
        assertEquals(await store.load(), [sessionRecord(2, 5)]);
      },
    },
    {
      name: "a malformed record is skipped and the valid ones load",
      async fn(fixture) {
        const valid = [sessionRecord(0, 3), sessionRecord(3, 4)];
        await fixture.plantMalformed(valid);
        assertEquals(byShard(await fixture.store.load()), valid);
      },
    },
  ];
}

function damageCase(kind: string): ConformanceCase<SessionStoreFixture> {
  return {
    name: `loads empty, without throwing, when ${kind}`,
    async fn(fixture) {
      if (!fixture.damage) throw new TypeError("options.damages needs fixture.damage()");
      await fixture.store.save([sessionRecord(0, 1)]);
      await fixture.damage(kind);
      assertEquals(await fixture.store.load(), []);
    },
  };
}

const fencedCase: ConformanceCase<SessionStoreFixture> = {
  name: "a save skips, without failing, the shards whose write right another process took",
  async fn(fixture) {
    if (!fixture.revoke) throw new TypeError("options.fenced needs fixture.revoke()");
    const { store } = fixture;
    await store.save([sessionRecord(2, 1), sessionRecord(3, 1)]);
    await fixture.revoke(3, TOTAL_SHARDS);
    // The process that lost shard 3 still holds an older sequence: it must not overwrite.
    await store.save([sessionRecord(2, 2), sessionRecord(3, 0)]);
    assertEquals(byShard(await store.load()), [sessionRecord(2, 2), sessionRecord(3, 1)]);
  },
};

function byShard(records: SessionRecord[]): SessionRecord[] {
  return [...records].sort((a, b) => a.totalShards - b.totalShards || a.shardId - b.shardId);
}
