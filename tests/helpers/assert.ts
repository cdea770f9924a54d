/**
 * Small assertion helpers (Deno's `@std/assert` lives on JSR, which these
 * machines cannot reach; `node:assert` does the comparing).
 * @module
 */
import nodeAssert from "node:assert/strict";

/** Deep strict equality. */
export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  if (message === undefined) nodeAssert.deepStrictEqual(actual, expected);
  else nodeAssert.deepStrictEqual(actual, expected, message);
}

/** Truthiness. */
export function assert(value: unknown, message?: string): asserts value {
  if (message === undefined) nodeAssert.ok(value);
  else nodeAssert.ok(value, message);
}

/** `text` contains `part`. */
export function assertStringIncludes(text: string, part: string, message?: string): void {
  if (!text.includes(part)) {
    throw new Error(
      message ??
        `expected ${JSON.stringify(text.slice(0, 2000))} to include ${JSON.stringify(part)}`,
    );
  }
}

/** `fn` throws an instance of `type`; returns the error. */
export function assertThrows<E extends Error>(
  fn: () => unknown,
  type: new (...args: never[]) => E,
): E {
  try {
    fn();
  } catch (error) {
    if (error instanceof type) return error;
    throw new Error(`expected ${type.name}, got ${error}`);
  }
  throw new Error(`expected ${type.name} to be thrown`);
}

/** `promise` rejects with an instance of `type`; returns the error. */
export async function assertRejects<E extends Error>(
  promise: Promise<unknown>,
  type: new (...args: never[]) => E,
): Promise<E> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof type) return error;
    throw new Error(`expected ${type.name}, got ${error}`);
  }
  throw new Error(`expected ${type.name} to be thrown`);
}
