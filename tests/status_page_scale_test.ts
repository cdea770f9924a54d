/**
 * The status page at a big bot's size: 1,000 shards from a fake control source
 * (no Discord connection), served by the real handler and opened in headless
 * Chromium on the real clock, where the page times its own render and the test
 * clicks and filters as a person would.
 */
import { assert, assertEquals, assertStringIncludes } from "./helpers/assert.ts";
import { chromiumAvailable, type ChromiumPage, openInChromium } from "./helpers/chromium.ts";
import { createControlHandler } from "../src/control/server.ts";
import type { ControlSource } from "../src/control/source.ts";
import type { ShardsAnswer, ShardState, ShardStatus, WorkerInfo } from "../src/control/wire.ts";
import { createCounters } from "../src/counters.ts";
import type { GatewayStats } from "../src/service.ts";

const SECRET = "gateway-secret";

/** The page's order: what is down first, connected last. */
const RANK: Record<string, number> = {
  offline: 0,
  disconnected: 1,
  unidentified: 2,
  identifying: 3,
  connecting: 4,
  resuming: 5,
  connected: 6,
};

/** A mix like a big bot's bad minute: most connected, some on the way back, a few down. */
function stateOf(id: number): ShardState {
  if (id % 97 === 5) return "offline";
  if (id % 41 === 3) return "disconnected";
  if (id % 31 === 7) return "identifying";
  if (id % 23 === 11) return "resuming";
  return "connected";
}

/** `count` shards on 4 workers and two hosts of a cluster; offline ones held by none. */
function fakeShards(count: number): ShardStatus[] {
  return Array.from({ length: count }, (_, id) => {
    const state = stateOf(id);
    return {
      id,
      totalShards: count,
      state,
      latencyMs: state === "connected" ? 40 + id % 60 : null,
      guilds: 1000 + id,
      unavailable: id % 13 === 0 ? 2 : 0,
      loading: state === "identifying" ? 7 : 0,
      sessionId: state === "connected" ? `session-${id}` : null,
      lastEventAt: Date.now() - 1000,
      eventsPerSecond: id % 10,
      queue: { memory: id % 5, disk: 0 },
      member: state === "offline" ? undefined : id < 500 ? "host-a" : "host-b",
      leaseAgeMs: state === "offline" ? undefined : 1500,
    };
  });
}

/** `count` workers of `perWorker` shards each; those in `restarting` crashed twice. */
function fakeWorkers(count: number, perWorker: number, restarting: number[] = []): WorkerInfo[] {
  return Array.from({ length: count }, (_, index) => ({
    index,
    firstShardId: index * perWorker,
    lastShardId: index * perWorker + perWorker - 1,
    state: restarting.includes(index) ? "restarting" : "running",
    restarts: restarting.includes(index) ? 2 : 0,
    lastCrashAt: null,
    lastCrash: null,
    events: 1_000_000,
    heapUsed: 64 * 1048576,
  }));
}

/**
 * A control source answering from fixed data: `shardsAt(n)` gives the n-th `/status` call's
 * shards, held by 4 workers unless `workers` says otherwise.
 */
function fakeSource(
  shardsAt: (call: number) => ShardStatus[],
  workers = fakeWorkers(4, 250),
): ControlSource {
  let calls = 0;
  const stats: GatewayStats = {
    identifies: 0,
    resumes: 0,
    closesByCode: new Map(),
    downSince: new Map(),
  };
  const current = () => shardsAt(calls);
  return {
    alive: () => true,
    readiness: () => ({ ready: true, reasons: [] }),
    range: () => {
      const shards = current();
      return { first: 0, last: shards.length - 1, total: shards.length };
    },
    shards: () => shardsAt(calls++),
    shardForGuild: () => 0,
    send: () => Promise.resolve(),
    restart: () => Promise.resolve(),
    counters: createCounters,
    stats: () => stats,
    backlogAgeMs: () => 0,
    cacheSizes: () => ({ guilds: 0, editedMessages: 0 }),
    history: () => [],
    workers: () => workers,
    close() {},
  };
}

/** Serves `source` on a local port and opens the page at `path`; `fn` gets the page. */
async function withPage(
  source: ControlSource,
  path: string,
  fn: (page: ChromiumPage) => Promise<void>,
) {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    createControlHandler(source, { authorization: SECRET }),
  );
  const url = `http://127.0.0.1:${(server.addr as Deno.NetAddr).port}${path}#key=${SECRET}`;
  try {
    const page = await openInChromium(url);
    try {
      await page.waitFor(
        `document.getElementById("dash")?.hasAttribute("data-render-ms")`,
        "a render",
      );
      await fn(page);
    } finally {
      await page.close();
    }
  } finally {
    await server.shutdown();
  }
}

interface Rendered {
  id: number;
  state: string;
  hidden: boolean;
  tag: string;
}

/** Every element with class `shard`, in document order. */
const shardElements = (page: ChromiumPage) =>
  page.evaluate<Rendered[]>(`[...document.querySelectorAll(".shard")].map((e) => ({
    id: Number(e.dataset.shardId), state: e.dataset.state, hidden: e.hidden, tag: e.tagName }))`);

/** The ids of the cells a filter leaves shown, in id order. */
const shownIds = async (page: ChromiumPage) =>
  (await shardElements(page)).filter((c) => !c.hidden).map((c) => c.id).toSorted((a, b) => a - b);

/** Picks `value` in the select `id`, as a person would. */
const choose = (page: ChromiumPage, id: string, value: string) =>
  page.evaluate(`(() => { const s = document.getElementById(${JSON.stringify(id)});
    s.value = ${JSON.stringify(value)}; s.dispatchEvent(new Event("change")); })()`);

const options = (page: ChromiumPage, id: string) =>
  page.evaluate<string[]>(
    `[...document.getElementById(${JSON.stringify(id)}).options].map((o) => o.value)`,
  );

/** The facts panel's rows, by name; undefined while it is hidden. */
const facts = (page: ChromiumPage) =>
  page.evaluate<Record<string, string> | undefined>(`(() => {
    const panel = document.getElementById("facts");
    if (panel.hidden) return undefined;
    const rows = [...panel.querySelectorAll("[data-fact]")];
    return Object.fromEntries([["title", document.getElementById("facts-title").textContent],
      ...rows.map((r) => [r.dataset.fact, r.querySelector("dd").textContent])]);
  })()`);

function countBy<T>(items: T[], key: (item: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of items) out[key(item)] = (out[key(item)] ?? 0) + 1;
  return out;
}

const chromium = {
  // .ci/run installs Debian's chromium; a machine without it cannot run these tests.
  ignore: !chromiumAvailable(),
  sanitizeOps: false,
  sanitizeResources: false,
};

Deno.test({
  name: "the status page shows 1,000 shards as cells, worst first, within a second of rendering",
  ...chromium,
  async fn() {
    const shards = fakeShards(1000);
    const handle = createControlHandler(fakeSource(() => shards), { authorization: SECRET });
    const api = (await (await handle(
      new Request("http://x/shards", { headers: { authorization: SECRET } }),
    )).json()) as ShardsAnswer;
    assertEquals(api.shards.length, 1000);

    await withPage(fakeSource(() => shards), "/", async (page) => {
      // The issue asks for 1,000 shards "within a second": the page times its own first
      // render (building every cell, layout included) and writes it down. This is the one
      // timed assertion of the suite; it times no network, and a render measured in tens of
      // milliseconds keeps it far from the limit on a loaded machine.
      const renderMs = Number(
        await page.evaluate<string>(`document.getElementById("dash").dataset.renderMs`),
      );
      assert(renderMs > 0, `the page timed its render: ${renderMs}`);
      assert(renderMs < 1000, `first render of 1,000 shards took ${renderMs} ms`);

      const cells = await shardElements(page);
      assertEquals(cells.length, 1000);
      assert(cells.every((c) => !c.hidden && c.tag === "SPAN"), "cells, none filtered");
      assertEquals(cells.map((c) => c.id).toSorted((a, b) => a - b), api.shards.map((s) => s.id));
      assertEquals(countBy(cells, (c) => c.state), countBy(api.shards, (s) => s.state));
      const byId = new Map(api.shards.map((s) => [s.id, s.state]));
      assert(cells.every((c) => byId.get(c.id) === c.state), "each cell in its shard's state");
      for (let i = 1; i < cells.length; i++) {
        const [a, b] = [cells[i - 1], cells[i]];
        const order = RANK[a.state] - RANK[b.state] || a.id - b.id;
        assert(order < 0, `worst first: ${a.state} #${a.id} before ${b.state} #${b.id}`);
      }
      assertEquals([cells[0].state, cells.at(-1)!.state], ["offline", "connected"]);

      // The filters offer the states, workers and hosts there are.
      assertEquals(
        await options(page, "f-state"),
        ["", "problem", "offline", "disconnected", "identifying", "resuming", "connected"],
      );
      assertEquals(await options(page, "f-worker"), ["", "0", "1", "2", "3"]);
      assertEquals(await options(page, "f-member"), ["", "-", "host-a", "host-b"]);
    });
  },
});

Deno.test({
  name:
    "the status page filters 1,000 shards by state, worker and host, and shows a shard's facts on hover and click",
  ...chromium,
  async fn() {
    const shards = fakeShards(1000);
    await withPage(fakeSource(() => shards), "/", async (page) => {
      const ids = (keep: (s: ShardStatus) => boolean) => shards.filter(keep).map((s) => s.id);
      await choose(page, "f-state", "problem");
      assertEquals(await shownIds(page), ids((s) => s.state !== "connected"));
      await choose(page, "f-worker", "1");
      const problemsOfWorker1 = ids((s) => s.state !== "connected" && s.id >= 250 && s.id < 500);
      assertEquals(await shownIds(page), problemsOfWorker1);
      await choose(page, "f-member", "-");
      const noHolder = ids((s) => s.state === "offline" && s.id >= 250 && s.id < 500);
      assert(noHolder.length > 0);
      assertEquals(await shownIds(page), noHolder);
      assertStringIncludes(
        await page.evaluate<string>(`document.getElementById("shown").textContent`),
        `${noHolder.length} of 1,000 shards shown`,
      );
      // The view is in the address, to be shared; the secret is not.
      assertEquals(
        await page.evaluate<string>("location.search + location.hash"),
        "?state=problem&worker=1&member=-",
      );
      // Another poll keeps the filters.
      const polled = await page.evaluate<string>(`document.getElementById("updated").textContent`);
      await page.waitFor(
        `document.getElementById("updated").textContent !== ${JSON.stringify(polled)}`,
        "the next poll",
      );
      assertEquals(await shownIds(page), noHolder);

      const [picked] = noHolder;
      const cell = `document.querySelector('.shard[data-shard-id="${picked}"]')`;
      await page.evaluate(`${cell}.dispatchEvent(new MouseEvent("mouseover", { bubbles: true }))`);
      const title = await page.evaluate<string>(`${cell}.title`);
      assertStringIncludes(title, `Shard #${picked}\nstate: offline`);
      assertStringIncludes(title, "worker: #1 (shards 250–499)");

      assertEquals(await facts(page), undefined);
      await page.evaluate(`${cell}.click()`);
      const shown = await facts(page);
      assert(shown, "a click opens the facts");
      assertEquals(shown.title, `Shard #${picked}`);
      assertEquals(shown.state, "offline");
      assertEquals(shown.worker, "#1 (shards 250–499)");
      assertEquals(shown.host, "none holds it");
      assertEquals(shown.guilds, `${(1000 + picked).toLocaleString("en-US")} guilds`);
      assert(await page.evaluate(`${cell}.classList.contains("picked")`), "the cell is marked");
      await page.evaluate(`document.getElementById("facts-close").click()`);
      assertEquals(await facts(page), undefined);
    });
  },
});

Deno.test({
  name:
    "the status page opens a shared view from its address, and sums up many workers in one line",
  ...chromium,
  async fn() {
    const shards = fakeShards(1000);
    // Ten workers of 100 shards; #4 is restarting. A connected shard of host-b on worker 9.
    const workers = fakeWorkers(10, 100, [4]);
    const picked = shards.find((s) => s.state === "connected" && s.id >= 900)!;
    await withPage(
      fakeSource(() => shards, workers),
      `/?state=connected&worker=9&member=host-b&shard=${picked.id}`,
      async (page) => {
        assertEquals(
          await shownIds(page),
          shards.filter((s) => s.state === "connected" && s.id >= 900).map((s) => s.id),
        );
        const shown = await facts(page);
        assert(shown, "the facts of the shard in the address");
        assertEquals([shown.title, shown.state, shown.host, shown.worker], [
          `Shard #${picked.id}`,
          "connected",
          "host-b",
          "#9 (shards 900–999)",
        ]);
        assertEquals(shown.latency, `${picked.latencyMs} ms`);
        assertEquals(shown["lease age"], "1.5 s");
        assertEquals(
          await page.evaluate<string>(`document.getElementById("workers").textContent`),
          "Workers: 10, 9 running, 10M events, heap 640 MiB in all · " +
            "#4 shards 400-499 restarting, 1,000,000 events, heap 64 MiB, 2 restarts",
        );
      },
    );
  },
});

Deno.test({
  name: "the status page goes from cells back to cards when the shard count drops to 48",
  ...chromium,
  async fn() {
    const many = fakeShards(1000);
    const few = fakeShards(48);
    // The first /status has 1,000 shards, every later one 48 (the count a reshard leaves).
    await withPage(fakeSource((call) => call === 0 ? many : few), "/", async (page) => {
      await page.waitFor(`document.querySelectorAll(".shard").length === 48`, "48 cards");
      const cards = await shardElements(page);
      assert(cards.every((s) => s.tag === "DIV"), "cards");
      assertEquals(cards.map((s) => s.id), few.map((s) => s.id), "in id order");
      assertEquals(
        await page.evaluate(
          `["cells", "tools", "facts"].map((id) => document.getElementById(id).hidden)`,
        ),
        [true, true, true],
      );
    });
  },
});
