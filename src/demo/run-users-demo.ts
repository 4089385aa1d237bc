/**
 * The `--users N` demo: one TokenManagerPool (a session per end user) against the embedded
 * sandbox, N simulated users sending requests through one axios instance, and the sandbox
 * checking that every bearer belongs to the user the request names.
 */
import { definedOnly } from '../defaults';
import { ConfigurationError } from '../errors';
import { TokenManagerPool } from '../pool/pool';
import { AlixAuthProvider } from '../providers/alix/provider';
import { SANDBOX_USER_HEADER } from '../sandbox/core';
import {
  DEMO_RETRY,
  REVOCATION_NOTE,
  pause,
  formatTable,
  latencyRow,
  runDemoLoops,
  type DemoLatency,
  type DemoRunOptions,
} from './runner';

/** Options of {@link runUsersDemo}; `accessTokenTtlMs` defaults to a third of `durationMs`, within 3_000–15_000. */
export interface UsersDemoOptions extends DemoRunOptions {
  /** Simulated end users, each with its own session in the pool. */
  users: number;
  /** The pool's cap on auth calls running at once. @default 4 */
  maxConcurrentAuth?: number;
  /** Mean pause between two requests of one user, in ms (each pause is 50–150 % of it). @default 250 */
  requestIntervalMs?: number;
}

/** Defaults of {@link UsersDemoOptions} (the token lifetime's follows from `durationMs`). */
export const DEFAULT_USERS_DEMO_OPTIONS = Object.freeze({
  durationMs: 45_000,
  maxConcurrentAuth: 4,
  requestIntervalMs: 250,
  json: false,
  retry: DEMO_RETRY,
});

/** The most users the demo simulates. */
export const MAX_DEMO_USERS = 10_000;

/** What the many-users demo measured, as printed in its summary and with `--json`. */
export interface UsersDemoSummary {
  mode: 'users';
  durationMs: number;
  users: number;
  /** The sandbox's access token lifetime, ms. */
  accessTokenTtlMs: number;
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
  latencyMs: DemoLatency;
  /** No user mismatch, no unrecovered 401, no failed request: the exit code is 0. */
  ok: boolean;
}

/** How long the revocation waits for requests and auth calls in flight to settle, ms. */
const QUIESCE_LIMIT_MS = 2_000;

function minMax(values: number[]): { min: number; max: number } {
  return values.length === 0 ? { min: 0, max: 0 } : { min: Math.min(...values), max: Math.max(...values) };
}

const range = ({ min, max }: { min: number; max: number }): string => (min === max ? String(min) : `${min}–${max}`);

/**
 * Runs the many-users demo: a sandbox with short-lived tokens, a `TokenManagerPool` built with
 * `AlixAuthProvider.forUsers()`, one axios instance attached to the pool, and one request loop
 * per user (`alixSession` picks the session, `X-Alix-User` lets the sandbox check the bearer's
 * user). Midway the sandbox revokes every access token; each user's next request gets a 401
 * and is replayed with that user's refreshed token, with auth calls capped at
 * `maxConcurrentAuth`. Resolves to the summary; its `ok` decides the exit code.
 * @throws {ConfigurationError} when `users` is not a whole number from 1 to {@link MAX_DEMO_USERS}.
 * @example
 * const summary = await runUsersDemo({ users: 50, durationMs: 20_000 });
 * process.exitCode = summary.ok ? 0 : 1;
 */
export async function runUsersDemo(options: UsersDemoOptions): Promise<UsersDemoSummary> {
  const { users } = options;
  if (!Number.isInteger(users) || users < 1 || users > MAX_DEMO_USERS) {
    throw new ConfigurationError(`runUsersDemo(): users must be a whole number from 1 to ${MAX_DEMO_USERS}`);
  }
  const settings = { ...DEFAULT_USERS_DEMO_OPTIONS, ...definedOnly(options) };
  // A third of the run, within 3–15 s, whole seconds: even a short run shows refreshes.
  const ttlMs =
    options.accessTokenTtlMs ?? Math.min(15_000, Math.max(3_000, Math.round(settings.durationMs / 3000) * 1000));
  const retry = { ...DEMO_RETRY, ...definedOnly(options.retry ?? {}) };
  return runDemoLoops({ ...settings, accessTokenTtlMs: ttlMs, retry }, (run) => {
    const { sandbox, counts } = run;
    const pool = new TokenManagerPool({
      createProvider: AlixAuthProvider.forUsers(run.partner),
      maxConcurrentAuth: settings.maxConcurrentAuth,
      refreshBeforeExpiryMs: ttlMs / 3,
      expirySkewMs: Math.min(1_000, ttlMs / 6),
      retry,
    });
    // `user-0001@demo.alix.test` …
    const emails = Array.from(
      { length: users },
      (_, i) => `user-${String(i + 1).padStart(String(users).length, '0')}@demo.alix.test`,
    );
    const recovered = new Set<string>();
    let unrecovered401s = 0;
    let forbidden = 0;
    /** No request and no auth call in flight or waiting: a revocation now cannot race a token on its way. */
    const quiet = (): boolean => {
      const status = pool.status();
      return (
        run.inFlight === 0 && status.authInFlight === 0 && status.authQueued === 0 && status.states.refreshing === 0
      );
    };
    /**
     * Revokes every access token while no request and no auth call is in flight (requests wait a
     * moment): a token issued just before the revocation but delivered after it would otherwise
     * reach a replay already revoked, a race of the demo's making rather than the library's.
     */
    const revoke = async (): Promise<void> => {
      let release = (): void => undefined;
      run.hold = new Promise((resolve) => (release = resolve));
      const giveUpAt = performance.now() + QUIESCE_LIMIT_MS;
      while (!quiet() && performance.now() < giveUpAt) await pause(5);
      run.revoke("each user's next request gets a 401 and is replayed with that user's refreshed token");
      run.hold = undefined;
      release();
    };
    return {
      client: pool,
      banner:
        `Alix sandbox at ${sandbox.url} — ${users} users, one session each; access tokens live ${ttlMs / 1000} s; ` +
        `at most ${settings.maxConcurrentAuth} auth calls at once; ${settings.durationMs / 1000} s`,
      loops: emails,
      request: (api, email) =>
        api.get('/api/v2/cards', { alixSession: email, headers: { [SANDBOX_USER_HEADER]: email } }),
      recovered: (email) => {
        recovered.add(email);
        if (recovered.size === users)
          run.endPhase(REVOCATION_NOTE, "every user's requests succeed again after the revocation");
      },
      failed: (error) => {
        const status = (error as { response?: { status?: unknown } } | null)?.response?.status;
        if (status === 401) unrecovered401s += 1;
        if (status === 403) forbidden += 1;
      },
      pauseMs: () => settings.requestIntervalMs * (0.5 + Math.random()),
      phases: [[0.5, revoke]],
      progress: () => {
        const status = pool.status();
        return (
          `[${(run.elapsedMs() / 1000).toFixed(1).padStart(5)}s] ` +
          `users ${users} · sessions ${status.sessions} · requests ${counts.requests} · ok ${counts.successes} · ` +
          `401s ${sandbox.counters().resource401s} (unrecovered ${unrecovered401s}) · ` +
          `mismatches ${sandbox.userCounters().resourceUserMismatches} · ` +
          `refreshes ${status.refreshCount} (sign-ins ${status.signInCount}) · ` +
          `auth in flight ${status.authInFlight} (queued ${status.authQueued}) peak ` +
          `${status.authInFlightPeak}/${status.maxConcurrentAuth}` +
          (run.note === '' ? '' : ` · ${run.note}`)
        );
      },
      summarize: (durationMs, latencyMs) => {
        const status = pool.status();
        const counters = sandbox.counters();
        const { byUser, resourceUserMismatches } = sandbox.userCounters();
        const perUser = emails.map((email) => sandbox.authCallsFor(email));
        // The client's 403s and the sandbox's count are the same requests; the larger one is reported.
        const userMismatches = Math.max(resourceUserMismatches, forbidden);
        return {
          mode: 'users',
          durationMs,
          users,
          accessTokenTtlMs: ttlMs,
          ...counts,
          unrecovered401s,
          userMismatches,
          server401s: counters.resource401s,
          sessions: status.sessions,
          refreshes: status.refreshCount,
          signIns: status.signInCount,
          authInFlightPeak: status.authInFlightPeak,
          maxConcurrentAuth: status.maxConcurrentAuth,
          authCalls: counters.authenticate + counters.refresh,
          usersSeenBySandbox: byUser.size,
          signInsPerUser: minMax(perUser.map((calls) => calls.authenticate)),
          refreshesPerUser: minMax(perUser.map((calls) => calls.refresh)),
          usersRecovered: recovered.size,
          latencyMs,
          ok: userMismatches === 0 && unrecovered401s === 0 && counts.failures === 0,
        };
      },
      table: (summary) =>
        formatTable([
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
          latencyRow(summary.latencyMs),
          ['result', summary.ok ? 'ok' : 'FAILED'],
        ]),
    };
  });
}
