/** What the `--users N` demo prints: its live line and its closing table. */
import { formatTable } from './report';

/** The counts the many-users demo keeps while it runs. */
export interface UsersDemoCounts {
  /** Requests sent (each one for one user, with its `alixSession` and `X-Alix-User`). */
  requests: number;
  successes: number;
  /** Requests that failed in the end, for any reason (the two below included). */
  failures: number;
  /** Requests that still got 401 after the interceptor's one replay. */
  unrecovered401s: number;
  /** Resource requests the sandbox refused (403, errorCode 44) because the bearer was another user's. */
  userMismatches: number;
  /** 401s the sandbox answered (each replayed once with that user's fresh token). */
  server401s: number;
  /** Sessions the pool holds. */
  sessions: number;
  /** Token sets obtained by all sessions: refreshes plus sign-ins. */
  refreshes: number;
  signIns: number;
  /** The most auth calls the pool ran at once; never above `maxConcurrentAuth`. */
  authInFlightPeak: number;
  maxConcurrentAuth: number;
}

/** A live snapshot for the progress line. */
export interface UsersDemoProgress extends UsersDemoCounts {
  elapsedMs: number;
  users: number;
  /** Auth calls running now, across the pool. */
  authInFlight: number;
  /** Auth calls waiting for a slot. */
  authQueued: number;
  note: string;
}

/** What the many-users demo measured, as printed in its summary and with `--json`. */
export interface UsersDemoSummary extends UsersDemoCounts {
  mode: 'users';
  durationMs: number;
  users: number;
  /** The sandbox's access token lifetime, ms. */
  accessTokenTtlMs: number;
  /** Auth calls the sandbox received (sign-ins and refreshes). */
  authCalls: number;
  /** Users the sandbox saw auth calls for (all of them, when every user got a session). */
  usersSeenBySandbox: number;
  /** The fewest and most sign-ins the sandbox counted for one user. */
  signInsPerUser: { min: number; max: number };
  /** The fewest and most refresh calls the sandbox counted for one user. */
  refreshesPerUser: { min: number; max: number };
  /** Users with a successful request sent after the mid-run revocation. */
  usersRecovered: number;
  latencyMs: { p50: number; p99: number; max: number };
  /** No user mismatch, no unrecovered 401, no failed request: the exit code is 0. */
  ok: boolean;
}

/** One progress line (no newline). */
export function formatUsersProgress(progress: UsersDemoProgress): string {
  return (
    `[${(progress.elapsedMs / 1000).toFixed(1).padStart(5)}s] ` +
    `users ${progress.users} · sessions ${progress.sessions} · requests ${progress.requests} · ok ` +
    `${progress.successes} · ` +
    `401s ${progress.server401s} (unrecovered ${progress.unrecovered401s}) · mismatches ${progress.userMismatches} · ` +
    `refreshes ${progress.refreshes} (sign-ins ${progress.signIns}) · ` +
    `auth in flight ${progress.authInFlight} (queued ${progress.authQueued}) peak ` +
    `${progress.authInFlightPeak}/${progress.maxConcurrentAuth}` +
    (progress.note === '' ? '' : ` · ${progress.note}`)
  );
}

/** The closing table. */
export function formatUsersSummary(summary: UsersDemoSummary): string {
  const range = ({ min, max }: { min: number; max: number }): string => (min === max ? String(min) : `${min}–${max}`);
  return formatTable([
    ['duration', `${(summary.durationMs / 1000).toFixed(1)} s`],
    ['users / sessions held', `${summary.users} / ${summary.sessions}`],
    ['access token lifetime', `${summary.accessTokenTtlMs / 1000} s`],
    ['requests', String(summary.requests)],
    ['successes', String(summary.successes)],
    ['failures', String(summary.failures)],
    ['user mismatches (403)', String(summary.userMismatches)],
    ['401s answered / unrecovered', `${summary.server401s} / ${summary.unrecovered401s}`],
    ['users recovered after revocation', `${summary.usersRecovered} of ${summary.users}`],
    ['token sets obtained', `${summary.refreshes} (${summary.signIns} sign-ins)`],
    ['auth calls at the sandbox', `${summary.authCalls} for ${summary.usersSeenBySandbox} users`],
    ['sign-ins / refreshes per user', `${range(summary.signInsPerUser)} / ${range(summary.refreshesPerUser)}`],
    ['peak concurrent auth calls', `${summary.authInFlightPeak} (max ${summary.maxConcurrentAuth})`],
    [
      'latency p50 / p99 / max',
      `${summary.latencyMs.p50.toFixed(1)} / ${summary.latencyMs.p99.toFixed(1)} / ` +
        `${summary.latencyMs.max.toFixed(1)} ms`,
    ],
    ['result', summary.ok ? 'ok' : 'FAILED'],
  ]);
}
