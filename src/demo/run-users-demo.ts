/**
 * The `--users N` demo: one TokenManagerPool (a session per end user) against the embedded
 * sandbox, N simulated users sending requests through one axios instance, and the sandbox
 * checking that every bearer belongs to the user the request names.
 */
import { sleep, systemClock } from '../clock';
import { definedOnly } from '../defaults';
import { assertConfig } from '../errors';
import { TokenManagerPool } from '../pool/pool';
import { AlixAuthProvider } from '../providers/alix/provider';
import { SANDBOX_USER_HEADER } from '../sandbox/core';
import { REVOCATION_NOTE, latencyRow, runDemoLoops, type DemoRunOptions } from './runner';

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
});

/** The most users the demo simulates. */
export const MAX_DEMO_USERS = 10_000;

/** What the many-users demo measured, as printed in its summary and with `--json`. */
export type UsersDemoSummary = Awaited<ReturnType<typeof runUsersDemo>>;

/** How long the revocation waits for background refreshes in flight to settle, ms. */
const QUIESCE_LIMIT_MS = 2_000;

/** Of one value per user (there is always at least one user). */
const minMax = (values: number[]) => ({ min: Math.min(...values), max: Math.max(...values) });

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
export async function runUsersDemo(options: UsersDemoOptions) {
  const { users } = options;
  const usersValid = Number.isInteger(users) && users >= 1 && users <= MAX_DEMO_USERS;
  assertConfig(usersValid, `runUsersDemo(): users must be a whole number from 1 to ${MAX_DEMO_USERS}`);
  const settings = { ...DEFAULT_USERS_DEMO_OPTIONS, ...definedOnly(options) };
  // A third of the run, within 3–15 s, whole seconds: even a short run shows refreshes.
  const ttlMs =
    options.accessTokenTtlMs ?? Math.min(15_000, Math.max(3_000, Math.round(settings.durationMs / 3000) * 1000));
  return runDemoLoops({ ...settings, accessTokenTtlMs: ttlMs }, (run) => {
    const { sandbox, counts } = run;
    const pool = new TokenManagerPool({
      createProvider: AlixAuthProvider.forUsers(run.partner),
      maxConcurrentAuth: settings.maxConcurrentAuth,
      refreshBeforeExpiryMs: ttlMs / 3,
      expirySkewMs: Math.min(1_000, ttlMs / 6),
      retry: run.retry,
    });
    // `user-0001@demo.alix.test` …
    const userNumber = (i: number): string => String(i + 1).padStart(String(users).length, '0');
    const emails = Array.from({ length: users }, (_, i) => `user-${userNumber(i)}@demo.alix.test`);
    const recovered = new Set<string>();
    let unrecovered401s = 0;
    /** No request and no auth call in flight or waiting: a revocation now cannot race a token on its way. */
    const quiet = (): boolean => {
      const { auth, states } = pool.status();
      return run.inFlight === 0 && auth.inFlight === 0 && auth.queued === 0 && states.refreshing === 0;
    };
    /**
     * Revokes every access token while no request and no auth call is in flight (requests wait a
     * moment): a token issued just before the revocation but delivered after it would otherwise
     * reach a replay already revoked, a race of the demo's making rather than the library's.
     * Held requests all land, however slow the machine; only background refreshes, which many
     * users keep going without a pause, are given up on.
     */
    const revoke = async (): Promise<void> => {
      let release = (): void => undefined;
      run.hold = new Promise((resolve) => (release = resolve));
      while (run.inFlight > 0) await sleep(systemClock, 5);
      const giveUpAt = performance.now() + QUIESCE_LIMIT_MS;
      while (!quiet() && performance.now() < giveUpAt) await sleep(systemClock, 5);
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
        if ((error as { response?: { status?: unknown } } | null)?.response?.status === 401) unrecovered401s += 1;
      },
      pauseMs: () => settings.requestIntervalMs * (0.5 + Math.random()),
      phases: [[0.5, revoke]],
      progress: () => {
        const status = pool.status();
        return (
          `users ${users} · sessions ${status.sessions.held} · ` +
          `requests ${counts.requests} · ok ${counts.successes} · ` +
          `401s ${sandbox.counters().resource401s} (unrecovered ${unrecovered401s}) · ` +
          `mismatches ${sandbox.userCounters().resourceUserMismatches} · ` +
          `refreshes ${status.refreshCount} (sign-ins ${status.counts.signIns}) · ` +
          `auth in flight ${status.auth.inFlight} (queued ${status.auth.queued}) peak ` +
          `${status.auth.peak}/${status.auth.max}`
        );
      },
      summarize: (durationMs, latencyMs) => {
        const status = pool.status();
        const counters = sandbox.counters();
        // Every 403 (errorCode 44) a request got is one the sandbox counted.
        const { byUser, resourceUserMismatches: userMismatches } = sandbox.userCounters();
        const perUser = emails.map((email) => sandbox.authCallsFor(email));
        return {
          mode: 'users' as const,
          durationMs,
          users,
          accessTokenTtlMs: ttlMs,
          ...counts,
          unrecovered401s, // still 401 after the interceptor's one replay
          userMismatches, // 403 (errorCode 44): the bearer was another user's
          server401s: counters.resource401s, // each replayed once with that user's fresh token
          sessions: status.sessions.held,
          refreshes: status.refreshCount,
          signIns: status.counts.signIns,
          authInFlightPeak: status.auth.peak, // never above maxConcurrentAuth
          maxConcurrentAuth: status.auth.max,
          authCalls: counters.authenticate + counters.refresh,
          usersSeenBySandbox: byUser.size,
          signInsPerUser: minMax(perUser.map((calls) => calls.authenticate)),
          refreshesPerUser: minMax(perUser.map((calls) => calls.refresh)),
          usersRecovered: recovered.size,
          latencyMs,
          // No user mismatch, no unrecovered 401, no failed request: the exit code is 0.
          ok: userMismatches === 0 && unrecovered401s === 0 && counts.failures === 0,
        };
      },
      rows: (summary) => [
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
      ],
    };
  });
}
