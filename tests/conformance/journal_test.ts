/** The journal suite against the SQLite journal, in memory and in a file. */
import { createSqliteJournal, type Journal } from "../../src/delivery/mod.ts";
import { journalConformance } from "./journal_suite.ts";

journalConformance('createSqliteJournal({path: ":memory:"})', () => {
  const journal = createSqliteJournal({ path: ":memory:" });
  return Promise.resolve({
    journal,
    cleanup: () => Promise.resolve(journal.close()),
  });
});

journalConformance("createSqliteJournal({path: <file>})", async () => {
  const dir = await Deno.makeTempDir({ prefix: "conformance-journal-" });
  const path = `${dir}/journal.sqlite`;
  let open: Journal = createSqliteJournal({ path, synchronous: "full" });
  return {
    get journal() {
      return open;
    },
    reopen() {
      open.close();
      open = createSqliteJournal({ path });
      return Promise.resolve(open);
    },
    async cleanup() {
      open.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}, { durable: true });
