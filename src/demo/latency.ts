/** Request latencies, kept in full so percentiles are exact (the demo's volumes are small). */
export class LatencyRecorder {
  readonly #samples: number[] = [];

  record(ms: number): void {
    this.#samples.push(ms);
  }

  get count(): number {
    return this.#samples.length;
  }

  /** The `p`-th percentile (0–100) in ms, nearest-rank; 0 with no samples. */
  percentile(p: number): number {
    if (this.#samples.length === 0) return 0;
    const sorted = [...this.#samples].sort((a, b) => a - b);
    const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
    return sorted[rank] as number;
  }
}
