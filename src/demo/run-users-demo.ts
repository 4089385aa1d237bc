/**
 * The `--users N` demo: one TokenManagerPool (a session per end user) against the embedded
 * sandbox, N simulated users sending requests through one axios instance, and the sandbox
 * checking that every bearer belongs to the user the request names.
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import axios from 'axios';
import { attachTokenManager } from '../adapters/axios';
import { definedOnly } from '../defaults';
import { ConfigurationError } from '../errors';
import type { RetryOptions } from '../manager/options';
import { TokenManagerPool } from '../pool/pool';
import { AlixAuthProvider } from '../providers/alix/provider';
import { SANDBOX_USER_HEADER } from '../sandbox/core';
import { startAlixSandbox } from '../sandbox/server';
import type { AlixSandbox } from '../sandbox/server';
import { LatencyRecorder } from './latency';
import { DEMO_PROGRESS_INTERVAL_MS } from './run-demo';
import { formatUsersProgress, formatUsersSummary } from './users-report';
import type { UsersDemoProgress, UsersDemoSummary } from './users-report';

/** Options of {@link runUsersDemo}. */
export interface UsersDemoOptions {
  /** Simulated end users, each with its own session in the pool. */
  users: number;
  /** How long the users send requests, in ms. @default 45_000 */
  durationMs?: number;
  /**
   * Lifetime of the sandbox's access tokens, in ms.
   * @default a third of `durationMs`, within 3_000–15_000 (so even a short run shows refreshes)
   */
  accessTokenTtlMs?: number;
  /** The pool's cap on auth calls running at once. @default 4 */
  maxConcurrentAuth?: number;
  /** Mean pause between two requests of one user, in ms (each pause is 50–150 % of it). @default 250 */
  requestIntervalMs?: number;
  /** Print only the JSON summary. @default false */
  json?: boolean;
  /** Where to print. @default process.stdout */
  output?: NodeJS.WriteStream | NodeJS.WritableStream;
  /** Redraw one live line (TTY) instead of periodic plain lines. @default output.isTTY */
  live?: boolean;
  /**
   * The pool's retries within a refresh; fields given replace the demo's.
   * @default { minTimeoutMs: 200, maxTimeoutMs: 1_000, maxRetryTimeMs: 10_000 }
   */
  retry?: RetryOptions;
  /**
   * How often the progress line is redrawn (live) or printed, in ms.
   * @default 250 live, else a fifth of `durationMs` within 1_000–5_000
   */
  progressIntervalMs?: number;
}

/** Defaults of {@link UsersDemoOptions} (the token lifetime's follows from `durationMs`). */
export const DEFAULT_USERS_DEMO_OPTIONS = Object.freeze({
  durationMs: 45_000,
  maxConcurrentAuth: 4,
  requestIntervalMs: 250,
  json: false,
  retry: Object.freeze({ minTimeoutMs: 200, maxTimeoutMs: 1_000, maxRetryTimeMs: 10_000 }),
});

/** The most users the demo simulates. */
export const MAX_DEMO_USERS = 10_000;

const REVOCATION_NOTE = 'server revoked all access tokens';
/** How long the revocation waits for requests and auth calls in flight to settle, ms. */
const QUIESCE_LIMIT_MS = 2_000;

/** The default token lifetime for a run of `durationMs`: a third of it, within 3–15 s, whole seconds. */
export function defaultUsersDemoTokenTtlMs(durationMs: number): number {
  return Math.min(15_000, Math.max(3_000, Math.round(durationMs / 3 / 1000) * 1000));
}

/** The email of simulated user `index` (1-based): `user-0001@demo.alix.test`. */
export function demoUserEmail(index: number, users: number): string {
  return `user-${String(index).padStart(String(users).length, '0')}@demo.alix.test`;
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function statusOf(error: unknown): number | undefined {
  const status = (error as { response?: { status?: unknown } } | null)?.response?.status;
  return typeof status === 'number' ? status : undefined;
}

function minMax(values: number[]): { min: number; max: number } {
  return values.length === 0 ? { min: 0, max: 0 } : { min: Math.min(...values), max: Math.max(...values) };
}

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
  const { durationMs, maxConcurrentAuth, requestIntervalMs, json } = options;
  const settings = {
    ...DEFAULT_USERS_DEMO_OPTIONS,
    ...definedOnly({ durationMs, maxConcurrentAuth, requestIntervalMs, json }),
  };
  const ttlMs = options.accessTokenTtlMs ?? defaultUsersDemoTokenTtlMs(settings.durationMs);
  const retry = { ...DEFAULT_USERS_DEMO_OPTIONS.retry, ...definedOnly(options.retry ?? {}) };
  const output = options.output ?? process.stdout;
  const live = options.live ?? ((output as NodeJS.WriteStream).isTTY === true && !settings.json);
  const plainIntervalMs = Math.min(DEMO_PROGRESS_INTERVAL_MS.plain, Math.max(1_000, settings.durationMs / 5));
  const progressIntervalMs = options.progressIntervalMs ?? (live ? DEMO_PROGRESS_INTERVAL_MS.live : plainIntervalMs);
  const say = (text: string): void => {
    if (!settings.json) output.write(`${text}\n`);
  };

  const sandbox = await startAlixSandbox({ accessTokenTtlMs: ttlMs });
  const pool = new TokenManagerPool({
    createProvider: AlixAuthProvider.forUsers({
      baseUrl: sandbox.url,
      partnerCode: sandbox.partnerCode,
      secretKey: sandbox.secretKey,
      privateKey: sandbox.privateKeyPem,
      timeoutMs: 2_000,
    }),
    maxConcurrentAuth: settings.maxConcurrentAuth,
    refreshBeforeExpiryMs: ttlMs / 3,
    expirySkewMs: Math.min(1_000, ttlMs / 6),
    retry,
    backgroundRetryDelayMs: 500,
  });
  const agent = new http.Agent({ keepAlive: true });
  const api = axios.create({ baseURL: sandbox.url, httpAgent: agent });
  const detach = attachTokenManager(api, pool);

  const emails = Array.from({ length: users }, (_, index) => demoUserEmail(index + 1, users));
  const latency = new LatencyRecorder();
  const counts = { requests: 0, successes: 0, failures: 0, unrecovered401s: 0, forbidden: 0 };
  const recovered = new Set<string>();
  let maxLatency = 0;
  let inFlight = 0;
  let revokedAt: number | undefined;
  let hold: Promise<void> | undefined;
  let note = '';
  const startedAt = performance.now();
  const deadline = startedAt + settings.durationMs;

  say(
    `Alix sandbox at ${sandbox.url} — ${users} users, one session each; access tokens live ${ttlMs / 1000} s; ` +
      `at most ${settings.maxConcurrentAuth} auth calls at once; ${settings.durationMs / 1000} s`,
  );

  const userLoop = async (email: string): Promise<void> => {
    while (performance.now() < deadline) {
      if (hold !== undefined) await hold;
      const began = performance.now();
      counts.requests += 1;
      inFlight += 1;
      try {
        await api.get('/api/v2/cards', { alixSession: email, headers: { [SANDBOX_USER_HEADER]: email } });
        counts.successes += 1;
        if (revokedAt !== undefined && began > revokedAt) recovered.add(email);
      } catch (error) {
        counts.failures += 1;
        const status = statusOf(error);
        if (status === 401) counts.unrecovered401s += 1;
        if (status === 403) counts.forbidden += 1;
      } finally {
        inFlight -= 1;
      }
      const took = performance.now() - began;
      latency.record(took);
      maxLatency = Math.max(maxLatency, took);
      await pause(settings.requestIntervalMs * (0.5 + Math.random()));
    }
  };

  const snapshot = (): UsersDemoProgress => {
    const status = pool.status();
    return {
      elapsedMs: performance.now() - startedAt,
      users,
      requests: counts.requests,
      successes: counts.successes,
      failures: counts.failures,
      unrecovered401s: counts.unrecovered401s,
      userMismatches: sandbox.userCounters().resourceUserMismatches,
      server401s: sandbox.counters().resource401s,
      sessions: status.sessions,
      refreshes: status.refreshCount,
      signIns: status.signInCount,
      authInFlight: status.authInFlight,
      authQueued: status.authQueued,
      authInFlightPeak: status.authInFlightPeak,
      maxConcurrentAuth: status.maxConcurrentAuth,
      note,
    };
  };

  /**
   * Revokes every access token while no request and no auth call is in flight (requests wait a
   * moment): a token issued just before the revocation but delivered after it would otherwise
   * reach a replay already revoked, a race of the demo's making rather than the library's.
   */
  const revoke = async (): Promise<void> => {
    let release = (): void => undefined;
    hold = new Promise((resolve) => (release = resolve));
    const giveUpAt = performance.now() + QUIESCE_LIMIT_MS;
    while (!quiet(pool, inFlight) && performance.now() < giveUpAt) await pause(5);
    sandbox.revokeAccessTokens();
    revokedAt = performance.now();
    hold = undefined;
    release();
    note = REVOCATION_NOTE;
    if (!live) say(`>>> ${note}: each user's next request gets a 401 and is replayed with that user's refreshed token`);
  };
  let revoking: Promise<void> | undefined;
  const revocation = setTimeout(() => (revoking = revoke()), settings.durationMs * 0.5);
  const noteCleared = setInterval(() => {
    if (note === REVOCATION_NOTE && recovered.size === users) {
      note = '';
      if (!live) say(`<<< every user's requests succeed again after the revocation`);
    }
  }, 100);
  const ticker = setInterval(() => {
    // One terminal row, or the redraw would leave the wrapped rest behind.
    const width = Math.max(20, ((output as NodeJS.WriteStream).columns ?? 200) - 1);
    if (live) output.write(`\r\x1b[2K${formatUsersProgress(snapshot()).slice(0, width)}`);
    else say(formatUsersProgress(snapshot()));
  }, progressIntervalMs);

  let summary: UsersDemoSummary;
  try {
    await Promise.all(emails.map(userLoop));
    await revoking;
    summary = summarize(sandbox, pool, emails, {
      durationMs: Math.round(performance.now() - startedAt),
      ttlMs,
      counts,
      recovered: recovered.size,
      latencyMs: {
        p50: roundTenth(latency.percentile(50)),
        p99: roundTenth(latency.percentile(99)),
        max: roundTenth(maxLatency),
      },
    });
  } finally {
    clearTimeout(revocation);
    clearInterval(noteCleared);
    clearInterval(ticker);
    detach();
    pool.close();
    agent.destroy();
    await sandbox.close();
  }
  if (live) output.write('\n');
  if (settings.json) output.write(`${JSON.stringify(summary, null, 2)}\n`);
  else say(formatUsersSummary(summary));
  return summary;
}

/** No request and no auth call in flight or waiting: a revocation now cannot race a token on its way. */
function quiet(pool: TokenManagerPool, requestsInFlight: number): boolean {
  const status = pool.status();
  return (
    requestsInFlight === 0 && status.authInFlight === 0 && status.authQueued === 0 && status.states.refreshing === 0
  );
}

interface RunTotals {
  durationMs: number;
  ttlMs: number;
  counts: { requests: number; successes: number; failures: number; unrecovered401s: number; forbidden: number };
  recovered: number;
  latencyMs: UsersDemoSummary['latencyMs'];
}

function summarize(
  sandbox: AlixSandbox,
  pool: TokenManagerPool,
  emails: string[],
  totals: RunTotals,
): UsersDemoSummary {
  const status = pool.status();
  const counters = sandbox.counters();
  const { byUser, resourceUserMismatches } = sandbox.userCounters();
  const perUser = emails.map((email) => sandbox.authCallsFor(email));
  const { counts } = totals;
  // The client's 403s and the sandbox's count are the same requests; the larger one is reported.
  const userMismatches = Math.max(resourceUserMismatches, counts.forbidden);
  return {
    mode: 'users',
    durationMs: totals.durationMs,
    users: emails.length,
    accessTokenTtlMs: totals.ttlMs,
    requests: counts.requests,
    successes: counts.successes,
    failures: counts.failures,
    unrecovered401s: counts.unrecovered401s,
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
    usersRecovered: totals.recovered,
    latencyMs: totals.latencyMs,
    ok: userMismatches === 0 && counts.unrecovered401s === 0 && counts.failures === 0,
  };
}

const roundTenth = (ms: number): number => Math.round(ms * 10) / 10;
