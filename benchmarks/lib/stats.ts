/** Small statistics helpers: every figure in the report is a median with its min–max. */

/** A figure measured over several runs. */
export interface Summary {
  median: number;
  min: number;
  max: number;
  runs: number[];
}

/** The median (mean of the two middle values for an even count), min and max of `values`. */
export function summarize(values: readonly number[]): Summary {
  if (values.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN, runs: [] };
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const median =
    sorted.length % 2 === 1
      ? (sorted[middle] as number)
      : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
  return { median, min: sorted[0] as number, max: sorted[sorted.length - 1] as number, runs: [...values] };
}

/** Summarizes one numeric field across run records. */
export function summarizeField<T>(runs: readonly T[], pick: (run: T) => number): Summary {
  return summarize(runs.map(pick));
}

/** The q-quantile (0..1) of unsorted samples, nearest-rank. */
export function quantile(samples: Float64Array | readonly number[], q: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = Float64Array.from(samples).sort();
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] as number;
}

/** Elapsed ms since `start` (from `process.hrtime.bigint()`). */
export function elapsedMs(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}
