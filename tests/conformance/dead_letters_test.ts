/** The dead-letter suite against the file sink. */
import { createFileDeadLetters, type DeadLetter } from "../../src/delivery/mod.ts";
import { deadLetterConformance } from "./dead_letters_suite.ts";

deadLetterConformance("createFileDeadLetters", async () => {
  const dir = await Deno.makeTempDir({ prefix: "conformance-dead-letters-" });
  const path = `${dir}/dead-letters.jsonl`;
  return {
    sink: createFileDeadLetters({ path }),
    async read() {
      let text = "";
      try {
        text = await Deno.readTextFile(path);
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      }
      return text.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as DeadLetter);
    },
    cleanup: () => Deno.remove(dir, { recursive: true }),
  };
}, { exclusive: true });
