/**
 * Once-per-run marker files: the first test file to print a notice leaves one in the temp
 * directory, named after the run's main process, so the other files stay quiet; the run's
 * global teardown removes them (see global-teardown.ts).
 */
import { readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The once-per-run marker every Redis notice shares, so a run prints one line at most. */
export const REDIS_SKIP_MARKER = 'alix-redis-skip-notice';

/** Every marker name, for the teardown. */
export const RUN_MARKERS: readonly string[] = Object.freeze([REDIS_SKIP_MARKER]);

/** The run's main process: the parent of jest's workers, or jest itself in band. */
export function runId(): number {
  return process.env.JEST_WORKER_ID === undefined ? process.pid : process.ppid;
}

/** The marker file of `marker` for this run. */
export function runMarkerPath(marker: string, run: number = runId()): string {
  return path.join(os.tmpdir(), `${marker}-${run}`);
}

/** Removes this run's markers (called by jest's global teardown, in the run's main process). */
export function removeRunMarkers(run: number = process.pid): void {
  const names = new Set(RUN_MARKERS.map((marker) => path.basename(runMarkerPath(marker, run))));
  for (const name of readdirSync(os.tmpdir())) {
    if (names.has(name)) rmSync(path.join(os.tmpdir(), name), { force: true });
  }
}
