/** How `alix-token doctor` prints its checks: a table for people, JSON for scripts. */
import type { DoctorCheck, DoctorCheckStatus } from './checks';

/** The whole report, as printed with `--json`. */
export interface DoctorReport {
  /** True when no check failed (warnings allowed). */
  ok: boolean;
  /** The process exit code: 0 all good, 1 a check failed, 2 bad configuration. */
  exitCode: number;
  /** Names of the failed checks, in order. */
  failed: string[];
  checks: DoctorCheck[];
}

const MARKS: Readonly<Record<DoctorCheckStatus, string>> = Object.freeze({
  ok: 'ok',
  warn: 'warn',
  failed: 'FAIL',
  skipped: 'skip',
});

/** The report as an aligned table with a closing verdict line (ends with a newline). */
export function formatDoctorTable(report: DoctorReport): string {
  const nameWidth = Math.max(...report.checks.map((check) => check.name.length));
  const rows = report.checks.map(
    (check) => `  ${MARKS[check.status].padEnd(4)}  ${check.name.padEnd(nameWidth)}  ${check.detail}`,
  );
  const verdict = report.ok
    ? 'All checks passed.'
    : `${report.failed.length} check${report.failed.length === 1 ? '' : 's'} failed: ${report.failed.join(', ')}`;
  return `${rows.join('\n')}\n\n${verdict}\n`;
}

/** The report as pretty JSON (ends with a newline). */
export function formatDoctorJson(report: DoctorReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}
