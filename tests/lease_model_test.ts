/**
 * Seeded randomized model test of the shard leases (`src/cluster/shard_leases.ts`): members
 * join, tick, pause (SIGSTOP), resume, die, and the store goes down and comes back, on a
 * simulated clock. Checked after every step: no shard is trusted by two members at once
 * (safety). Checked after a calm period at the end: every shard runs on exactly one live
 * member, the shares differ by at most one, and each member runs what it holds (liveness).
 *
 * - `deno task test`: `SEEDS` seeds (default 200).
 * - `deno task fuzz` (with `--fuzz`): `FUZZ_SEEDS` (default 5000).
 * - `SEED=n deno test -A tests/lease_model_test.ts`: replays seed n and prints its trace.
 * @module
 */
import { createShardLeases, type ShardLeases } from "../src/cluster/shard_leases.ts";
import { silentLogger } from "../src/log.ts";
import { createMemoryClusterStore } from "./helpers/memory_cluster_store.ts";
import { createRng, type Rng } from "./helpers/prng.ts";

const FUZZ = Deno.args.includes("--fuzz");
const SEED = Deno.env.get("SEED");
const COUNT = Number(Deno.env.get(FUZZ ? "FUZZ_SEEDS" : "SEEDS") ?? (FUZZ ? 5000 : 200));
const LEASE_MS = 9000;

interface Member {
  id: string;
  leases: ShardLeases;
  state: "live" | "paused" | "dead";
  /** Shards the member's service runs (started on acquire, stopped on loss or hand-over). */
  running: Set<number>;
}

/** Lets every pending promise of the members settle (the store answers in microtasks). */
const settle = async () => {
  for (let i = 0; i < 40; i++) await Promise.resolve();
};

async function runSeed(seed: number, trace: string[]): Promise<void> {
  const rng: Rng = createRng(seed);
  let t = 1_000_000;
  const now = () => t;
  const store = createMemoryClusterStore(now);
  const totalShards = rng.int(1, 24);
  const members: Member[] = [];
  let nextId = 0;
  const say = (s: string) => trace.push(`t=${t - 1_000_000} ${s}`);

  const join = () => {
    const id = `m${nextId++}`;
    const running = new Set<number>();
    const m: Member = {
      id,
      running,
      state: "live",
      leases: createShardLeases({
        store,
        memberId: id,
        totalShards,
        assignment: "auto",
        leaseMs: LEASE_MS,
        leaseKey: (s) => `lease:${s}`,
        logger: silentLogger,
        now,
        hooks: {
          acquired: (s) => {
            running.add(s);
            return Promise.resolve();
          },
          lost: (s) => void running.delete(s),
          handOver: (s) => {
            running.delete(s);
            return Promise.resolve();
          },
        },
      }),
    };
    members.push(m);
    say(`join ${id}`);
  };

  const tick = async (m: Member) => {
    await m.leases.tick();
    await settle();
  };

  /** No shard trusted by two members (a paused one counts: it may wake any moment). */
  const checkSafety = () => {
    for (let s = 0; s < totalShards; s++) {
      const trusting = members.filter((m) => m.state !== "dead" && m.leases.valid(s));
      if (trusting.length > 1) {
        throw new Error(
          `shard ${s} trusted by ${trusting.map((m) => m.id).join(" and ")} at t=${t - 1_000_000}`,
        );
      }
    }
  };

  join();
  const steps = rng.int(20, 120);
  for (let i = 0; i < steps; i++) {
    const live = members.filter((m) => m.state === "live");
    const paused = members.filter((m) => m.state === "paused");
    const op = rng.weighted(
      [
        ["tick-all", 6],
        ["tick-one", 4],
        ["advance", 6],
        ["join", members.length < 6 ? 1 : 0],
        ["kill", live.length > 1 ? 0.5 : 0],
        ["pause", live.length > 1 ? 0.5 : 0],
        ["resume", paused.length > 0 ? 1 : 0],
        ["store", 0.4],
      ] as const,
    );
    switch (op) {
      case "tick-all":
        for (const m of live) await tick(m);
        break;
      case "tick-one":
        if (live.length > 0) await tick(rng.pick(live));
        break;
      case "advance":
        t += rng.int(0, Math.floor(LEASE_MS / 2));
        break;
      case "join":
        join();
        break;
      case "kill": {
        const m = rng.pick(live);
        m.state = "dead";
        m.running.clear();
        say(`kill ${m.id}`);
        break;
      }
      case "pause": {
        const m = rng.pick(live);
        m.state = "paused";
        say(`pause ${m.id}`);
        break;
      }
      case "resume": {
        const m = rng.pick(paused);
        m.state = "live";
        say(`resume ${m.id}`);
        await tick(m); // its timer fires first on wake
        break;
      }
      case "store":
        store.down = !store.down;
        say(`store ${store.down ? "down" : "up"}`);
        break;
    }
    if (op === "tick-all" || op === "tick-one" || op === "advance") say(op);
    checkSafety();
  }

  // Calm: the store up, everyone awake, rounds every third of a lease.
  store.down = false;
  for (const m of members) if (m.state === "paused") m.state = "live";
  say("calm");
  const live = members.filter((m) => m.state === "live");
  for (let r = 0; r < totalShards * 2 + 12; r++) {
    t += LEASE_MS / 3;
    for (const m of live) await tick(m);
    checkSafety();
  }
  const counts = live.map((m) => m.leases.owned().length);
  for (let s = 0; s < totalShards; s++) {
    const holders = live.filter((m) => m.leases.valid(s));
    if (holders.length !== 1) {
      throw new Error(`after calm, shard ${s} has ${holders.length} holders (counts ${counts})`);
    }
  }
  if (Math.max(...counts) - Math.min(...counts) > 1) {
    throw new Error(`after calm, shares are uneven: ${counts.join(", ")} of ${totalShards}`);
  }
  for (const m of live) {
    const owned = m.leases.owned().join(",");
    const running = [...m.running].sort((a, b) => a - b).join(",");
    if (owned !== running) throw new Error(`${m.id} holds [${owned}] but runs [${running}]`);
  }
}

if (SEED !== undefined) {
  Deno.test(`shard leases keep the model's promises for seed ${SEED}`, async () => {
    const trace: string[] = [];
    try {
      await runSeed(Number(SEED), trace);
    } finally {
      console.log(trace.join("\n"));
    }
  });
} else {
  Deno.test(`shard leases keep the model's promises over ${COUNT} seeds`, async () => {
    const failures: string[] = [];
    for (let seed = 1; seed <= COUNT; seed++) {
      try {
        await runSeed(seed, []);
      } catch (error) {
        failures.push(`seed ${seed}: ${(error as Error).message}`);
        if (failures.length >= 5) break;
      }
    }
    if (failures.length > 0) {
      throw new Error(
        `${failures.join("\n")}\nReplay one: SEED=<n> deno test -A tests/lease_model_test.ts`,
      );
    }
  });
}
