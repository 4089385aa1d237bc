/** The counts the demo keeps while it runs. */
export interface DemoCounts {
  requests: number;
  successes: number;
  failures: number;
  /** 401s the sandbox answered (each was replayed once by the interceptor). */
  server401s: number;
  /** Token sets obtained: refreshes plus sign-ins. */
  refreshes: number;
  signIns: number;
}

/** What the demo measured, as printed in its summary and with `--json`. */
export interface DemoSummary extends DemoCounts {
  durationMs: number;
  concurrency: number;
  /** Auth calls the sandbox failed on purpose (the injected 503 burst). */
  authFailures: number;
  /** Whether the mid-run revocation was followed by successful requests. */
  revocationRecovered: boolean;
  latencyMs: { p50: number; p99: number; max: number };
}

/** A live snapshot for the progress line. */
export interface DemoProgress extends DemoCounts {
  elapsedMs: number;
  p50: number;
  p99: number;
  /** Until the manager's next proactive refresh, ms; null while none is planned. */
  nextRefreshInMs: number | null;
  note: string;
}

/** One progress line (no newline). */
export function formatProgress(progress: DemoProgress): string {
  const next =
    progress.nextRefreshInMs === null ? '—' : `${(Math.max(0, progress.nextRefreshInMs) / 1000).toFixed(1)}s`;
  return (
    `[${(progress.elapsedMs / 1000).toFixed(1).padStart(5)}s] ` +
    `requests ${progress.requests} · ok ${progress.successes} · failed ${progress.failures} · ` +
    `401s ${progress.server401s} · refreshes ${progress.refreshes} (sign-ins ${progress.signIns}) · ` +
    `p50 ${progress.p50.toFixed(1)}ms p99 ${progress.p99.toFixed(1)}ms · next refresh ${next}` +
    (progress.note === '' ? '' : ` · ${progress.note}`)
  );
}

/** The closing table. */
export function formatSummary(summary: DemoSummary): string {
  const rows: Array<[string, string]> = [
    ['duration', `${(summary.durationMs / 1000).toFixed(1)} s`],
    ['concurrent loops', String(summary.concurrency)],
    ['requests', String(summary.requests)],
    ['successes', String(summary.successes)],
    ['failures', String(summary.failures)],
    ['401s answered by the server', String(summary.server401s)],
    ['token sets obtained', `${summary.refreshes} (${summary.signIns} sign-in)`],
    ['auth calls failed (injected 503s)', String(summary.authFailures)],
    ['revocation recovered', summary.revocationRecovered ? 'yes' : 'no'],
    [
      'latency p50 / p99 / max',
      `${summary.latencyMs.p50.toFixed(1)} / ${summary.latencyMs.p99.toFixed(1)} / ` +
        `${summary.latencyMs.max.toFixed(1)} ms`,
    ],
  ];
  return formatTable(rows);
}

/** A two-column table of label/value rows; the value column is at least 24 characters wide. */
export function formatTable(rows: ReadonlyArray<readonly [string, string]>): string {
  const width = Math.max(...rows.map(([label]) => label.length));
  const valueWidth = Math.max(24, ...rows.map(([, value]) => value.length));
  const line = `+${'-'.repeat(width + 2)}+${'-'.repeat(valueWidth + 2)}+`;
  return [line, ...rows.map(([label, value]) => `| ${label.padEnd(width)} | ${value.padEnd(valueWidth)} |`), line].join(
    '\n',
  );
}
