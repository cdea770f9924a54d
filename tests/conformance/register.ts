/**
 * How every suite registers its cases: one `Deno.test` per case, named
 * `"<suite> conformance (<implementation>): <case>"`, so a failure names the rule broken and the
 * implementation that broke it.
 * @module
 */

/** A contract case: runs against a fresh fixture from the implementation's factory. */
export interface ConformanceCase<F> {
  /** What the implementation must do, as a sentence ("grants a bucket's shards in call order"). */
  name: string;
  fn(fixture: F): Promise<void> | void;
}

/** What every suite accepts besides its own options. */
export interface ConformanceOptions {
  /**
   * Cases (by name) this implementation is known to fail: they are registered as ignored, with
   * the reason in the test name, so the gap stays visible in every run instead of vanishing.
   * A known gap is a bug to fix, never a way to make a suite pass.
   */
  knownGaps?: Record<string, string>;
}

/** A fixture the suite is done with. */
export interface Cleanable {
  cleanup(): Promise<void>;
}

/**
 * Registers `cases` for `implementation`: each gets a fresh fixture from `make` and has it
 * cleaned up, pass or fail.
 */
export function registerCases<F extends Cleanable>(
  suite: string,
  implementation: string,
  make: () => Promise<F>,
  cases: readonly ConformanceCase<F>[],
  options: ConformanceOptions = {},
): void {
  const gaps = options.knownGaps ?? {};
  for (const name of Object.keys(gaps)) {
    if (!cases.some((c) => c.name === name)) {
      throw new TypeError(`knownGaps names no case of the ${suite} suite: ${JSON.stringify(name)}`);
    }
  }
  for (const c of cases) {
    const gap = gaps[c.name];
    Deno.test({
      name: `${suite} conformance (${implementation}): ${c.name}` +
        (gap === undefined ? "" : ` [KNOWN GAP: ${gap}]`),
      ignore: gap !== undefined,
      async fn() {
        const fixture = await make();
        try {
          await c.fn(fixture);
        } finally {
          await fixture.cleanup();
        }
      },
    });
  }
}
