/**
 * The code's shape, checked so it stays: Discordeno's gateway objects stay inside
 * `src/gateway/` (the shard-group seam), and a module in `src/` longer than ~400 lines says at its
 * top why it stays whole.
 * @module
 */
import { assertEquals } from "./helpers/assert.ts";

const SRC = new URL("../src/", import.meta.url);

async function* sources(dir: URL, prefix = ""): AsyncGenerator<{ path: string; text: string }> {
  for await (const entry of Deno.readDir(dir)) {
    const path = `${prefix}${entry.name}`;
    if (entry.isDirectory) yield* sources(new URL(`${entry.name}/`, dir), `${path}/`);
    else if (entry.name.endsWith(".ts")) {
      yield { path, text: await Deno.readTextFile(new URL(entry.name, dir)) };
    }
  }
}

/** What a module outside `src/gateway/` may take from Discordeno: REST, enums, hook types. */
const ALLOWED_OUTSIDE_GATEWAY = new Set([
  "RestManager",
  "createRestManager",
  "InteractionResponseTypes",
  "InteractionTypes",
  // The controller's hook types: a controller replaces the manager's and shards' methods.
  "DiscordenoShard",
  "GatewayManager",
]);

Deno.test("nothing outside src/gateway/ takes Discordeno's gateway objects but the controller's hook types", async () => {
  const offenders: string[] = [];
  for await (const { path, text } of sources(SRC)) {
    if (path.startsWith("gateway/") || path.startsWith("simulator/")) continue;
    for (const m of text.matchAll(/import\s+(?:type\s+)?\{([^}]*)\}\s+from\s+"([^"]+)"/g)) {
      const from = m[2];
      if (!/deps\.ts$|@discordeno\//.test(from)) continue;
      const names = m[1].split(",").map((n) =>
        n.replace(/\btype\b/, "").trim().split(/\s+as\s+/)[0]
      )
        .filter(Boolean);
      for (const name of names) {
        const hookOnly = name === "DiscordenoShard" || name === "GatewayManager";
        if (!ALLOWED_OUTSIDE_GATEWAY.has(name) || (hookOnly && path !== "controller.ts")) {
          offenders.push(`src/${path}: ${name} from ${from}`);
        }
      }
    }
  }
  assertEquals(offenders, []);
});

Deno.test("every src/ module over 400 lines says at its top why it stays whole", async () => {
  const unexplained: string[] = [];
  for await (const { path, text } of sources(SRC)) {
    const lines = text.split("\n").length;
    if (lines <= 400) continue;
    if (!/over 400 lines/i.test(text.split("\n").slice(0, 40).join("\n"))) {
      unexplained.push(`src/${path} (${lines} lines)`);
    }
  }
  assertEquals(unexplained, []);
});
