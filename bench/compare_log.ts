/**
 * Progress lines of the comparison benchmark (`bench/compare.ts`), each with
 * the seconds since the harness started.
 * @module
 */

const startedAt = performance.now();

/** Progress lines, with the seconds since the start. */
export const log = (msg: string) => {
  const lead = msg.startsWith("\n") ? "\n" : "";
  const elapsed = ((performance.now() - startedAt) / 1000).toFixed(1).padStart(6);
  console.log(`${lead}[${elapsed} s] ${msg.trimStart()}`);
};
