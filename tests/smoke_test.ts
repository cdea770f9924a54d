import { assert, assertEquals, assertStringIncludes } from "./helpers/assert.ts";

async function run(args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  return {
    code: out.code,
    text: new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr),
  };
}

/** `deno task demo` with `args`: the task's own permissions (deno.json). */
function runDemo(args: string[]) {
  return run([
    "run",
    "--allow-net",
    "--allow-env",
    "--allow-read",
    "--allow-write",
    "--allow-run=redis-server",
    "src/demo/main.ts",
    ...args,
  ]);
}

Deno.test("deno task demo shows events flowing from the simulator through the proxy", async () => {
  const { code, text } = await runDemo([
    "--seconds",
    "4",
  ]);
  assertEquals(code, 0, text);
  assertStringIncludes(text, "READY");
  assertStringIncludes(text, "MESSAGE_CREATE");
  const received = /received (\d+), delivered (\d+)/.exec(text);
  assert(received, text);
  assert(Number(received[1]) > 0 && received[1] === received[2], received[0]);
});

Deno.test("deno task demo --reshard shows a live reshard with its counts", async () => {
  const { code, text } = await runDemo([
    "--reshard",
    "--shards",
    "2",
    "--seconds",
    "60",
  ]);
  assertEquals(code, 0, text);
  assertStringIncludes(text, "reshard 2 -> 4: preparing");
  assertStringIncludes(text, "reshard 2 -> 4 done in");
  assertStringIncludes(text, "RESHARDED_DD");
  const received = /received (\d+), delivered (\d+)/.exec(text);
  assert(received && received[1] === received[2], received?.[0] ?? text);
});

Deno.test("deno task bench --smoke runs the harness end to end", async () => {
  const out = await Deno.makeTempDir();
  const { code, text } = await run([
    "run",
    "--allow-net",
    "--allow-env",
    "--allow-read",
    "--allow-write",
    "--allow-run",
    "bench/main.ts",
    "--smoke",
    "--out",
    out,
  ]);
  assertEquals(code, 0, text);
  const result = JSON.parse(await Deno.readTextFile(`${out}/results.smoke.json`));
  assertEquals(result.mode, "smoke");
  for (const d of result.drains) assert(d.eventsPerSecond > 0);
  assertEquals(result.memory.inMemory + result.memory.onDisk, result.memory.events);
  assertEquals(result.restart.identifiesOnRestart, 0, "the restart resumed");
  for (const r of result.reshards) assertEquals([r.missing, r.doubled], [0, 0]);
  await Deno.remove(out, { recursive: true });
});

Deno.test("bench/compare.ts --smoke runs every contender end to end", async () => {
  const out = await Deno.makeTempDir();
  const { code, text } = await run(["run", "-A", "bench/compare.ts", "--smoke", "--out", out]);
  assertEquals(code, 0, text.slice(-3000));
  const result = JSON.parse(await Deno.readTextFile(`${out}/compare.smoke.json`));
  assertEquals(Object.keys(result.contenders), [
    "service",
    "service-batch",
    "service-1w",
    "service-2w",
    "service-batch-2w",
    "baseline",
    "peer",
    "ceiling",
  ]);
  // With the shards on worker threads, every event still arrives, in order.
  for (const name of ["service-1w", "service-2w", "service-batch-2w"]) {
    const sink = result.contenders[name].sink;
    assert(sink.events > 0, `${name}: ${sink.events} events`);
    assertEquals(sink.outOfOrder, 0, name);
  }
  // Batching reached the sink as batches, every event counted, none out of order.
  const batch = result.contenders["service-batch"].sink;
  assert(batch.events > batch.requests, `${batch.events} events in ${batch.requests} requests`);
  assertEquals(batch.outOfOrder, 0);
  assertStringIncludes(text, "done in");
  await Deno.remove(out, { recursive: true });
});

Deno.test("deno task demo --redis-streams: events reach a consume() bot through Redis streams", async () => {
  const { code, text } = await runDemo([
    "--redis-streams",
    "--seconds",
    "5",
  ]);
  assertEquals(code, 0, text);
  assertStringIncludes(text, "MESSAGE_CREATE");
  const received = /received (\d+), delivered (\d+)/.exec(text);
  assert(received && Number(received[1]) > 0 && received[1] === received[2], text.slice(-2000));
  const appended = /streams: appended (\d+)/.exec(text);
  assert(appended && Number(appended[1]) > 0, text.slice(-2000));
});
