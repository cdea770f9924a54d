import { assert, assertEquals, assertStringIncludes } from "./helpers/assert.ts";
import { createLogger, createRedactor } from "../src/log.ts";

function capture(secrets: string[], format: "pretty" | "json" = "pretty") {
  const lines: string[] = [];
  const logger = createLogger({ secrets, format, write: (_l, line) => lines.push(line) });
  return { lines, logger };
}

const LONG = "a-long-random-secret-0123456789";

Deno.test("createLogger() redacts a long secret anywhere in a line, in both formats", () => {
  for (const format of ["pretty", "json"] as const) {
    const { lines, logger } = capture([LONG], format);
    logger.with({ header: `Bearer ${LONG}` }).warn(`message with ${LONG}inside`, {
      nested: { list: [`x${LONG}x`] },
      error: new Error(`refused ${LONG}`),
    });
    assertEquals(lines.length, 1);
    assert(!lines[0].includes(LONG), lines[0]);
    assertEquals(lines[0].split("[redacted]").length - 1, 4, lines[0]);
  }
});

Deno.test("createLogger() redacts a secret with a quote or backslash in its JSON-escaped form", () => {
  const secret = 'quote"and\\backslash-secret';
  const { lines, logger } = capture([secret], "json");
  logger.info("x", { value: { inner: secret }, text: `said ${secret}` });
  assert(!lines[0].includes(JSON.stringify(secret).slice(1, -1)), lines[0]);
  assert(!lines[0].includes(secret), lines[0]);
});

Deno.test("createLogger() redacts a short secret where it stands alone in fields, not inside words", () => {
  const { lines, logger } = capture(["abc"]);
  logger.info("abcdef is a word", {
    authorization: "abc",
    url: "http://x/?k=abc&y=1",
    quoted: 'said "abc"',
    word: "abcdef",
    glued: "xabc",
  });
  const line = lines[0];
  assertStringIncludes(line, "authorization=[redacted]");
  assertStringIncludes(line, "url=http://x/?k=[redacted]&y=1");
  assertStringIncludes(line, 'quoted="said \\"[redacted]\\""');
  assertStringIncludes(line, "word=abcdef");
  assertStringIncludes(line, "glued=xabc");
  assertStringIncludes(line, "abcdef is a word", "messages keep their words");
});

Deno.test("createLogger() keeps JSON lines valid when a short secret is a number", () => {
  const { lines, logger } = capture(["1234"], "json");
  logger.info("sent", { shardId: 1234, s: 12345, list: [1234, "k=1234"] });
  const parsed = JSON.parse(lines[0]);
  assertEquals(parsed.shardId, "[redacted]");
  assertEquals(parsed.s, 12345);
  assertEquals(parsed.list, ["[redacted]", "k=[redacted]"]);
});

Deno.test("createLogger() leaves messages readable with a one-character secret", () => {
  const { lines, logger } = capture(["a"]);
  logger.info("a shard is a shard", { secret: "a", word: "a b" });
  assertStringIncludes(lines[0], "INFO  a shard is a shard secret=[redacted]");
  assertStringIncludes(lines[0], 'word="[redacted] b"');
});

Deno.test("createRedactor() prefers the longer of two overlapping secrets", () => {
  const r = createRedactor(["short1", `${LONG}-short1`]);
  assertEquals(r.text(`x ${LONG}-short1 y`), "x [redacted] y");
  assertEquals(r.value(`${LONG}-short1`), "[redacted]");
  assertEquals(r.value("short1"), "[redacted]");
  assertEquals(createRedactor([]).value("anything"), "anything");
  assertEquals(createRedactor(["", "ab"]).text("ab"), "ab", "short ones only in field values");
});
