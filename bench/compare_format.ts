/**
 * Number formats and small readings of results shared by the comparison
 * benchmark's tables.
 * @module
 */
import { type ContenderName, CONTENDERS } from "./compare_procs.ts";
import type { SustainedResult } from "./compare_search.ts";

/** The table columns: every contender, in the order the harness runs them. */
export const COLUMNS: readonly ContenderName[] = CONTENDERS;

export const fmtInt = (n: number) => Math.round(n).toLocaleString("en-US");

export const fmtRatio = (r: number) =>
  !Number.isFinite(r) ? "-" : r >= 10 ? `${r.toFixed(0)}×` : `${r.toFixed(r < 1 ? 2 : 1)}×`;

export const fmtMs = (v: number) =>
  Number.isNaN(v) ? "-" : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);

/** No failing rate was found above it, or the emitter fell short: the figure is a lower bound. */
export function isLowerBound(r: SustainedResult | null | undefined): boolean {
  return !!r && r.rate > 0 && (r.emitterBound || !r.bracketed);
}

export function rateOf(r: SustainedResult | null | undefined): number | undefined {
  return r && r.rate > 0 ? r.rate : undefined;
}

/** CPU per forwarded event at the sustained rate, µs of one core, from the median window. */
export function perEventUs(
  r: SustainedResult | null | undefined,
): { contender: number; sink?: number; harness: number } | undefined {
  if (!r?.cpu || !(r.deliveredRate > 0)) return undefined;
  const us = (pct: number) => pct * 1e4 / r.deliveredRate;
  return {
    contender: us(r.cpu.contender),
    sink: r.cpu.sink === undefined ? undefined : us(r.cpu.sink),
    harness: us(r.cpu.harness),
  };
}
