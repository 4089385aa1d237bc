/** Number formatting and markdown tables for the report. */
import type { Summary } from './stats';

/** 12_345_678 → "12.3M", 12_345 → "12.3k", 12.345 → "12.3". */
export function compact(value: number, digits = 3): string {
  if (!Number.isFinite(value)) return 'n/a';
  const abs = Math.abs(value);
  if (abs >= 1e6) return `${(value / 1e6).toPrecision(digits)}M`;
  if (abs >= 1e4) return `${(value / 1e3).toPrecision(digits)}k`;
  if (Number.isInteger(value) || abs >= 100) return Math.round(value).toLocaleString('en-US');
  return value.toPrecision(digits);
}

/** "2.2 MB", "356 B". */
export function bytes(value: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  const abs = Math.abs(value);
  if (abs >= 1024 * 1024) return `${(value / 1024 / 1024).toFixed(1)} MB`;
  if (abs >= 10 * 1024) return `${(value / 1024).toFixed(1)} kB`;
  return `${Math.round(value)} B`;
}

/** "median (min–max)", or just the value when every run agreed. */
export function spread(summary: Summary, show: (value: number) => string = (v) => compact(v)): string {
  const median = show(summary.median);
  if (summary.runs.length <= 1) return median;
  const min = show(summary.min);
  const max = show(summary.max);
  return min === max ? median : `${median} (${min}–${max})`;
}

/** A markdown table. */
export function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}
