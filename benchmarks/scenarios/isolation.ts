/**
 * Scenario 12, isolation and bounds (issues 18 and 24), one child process per part:
 * - bad user: a 1,000-user pool against the embedded sandbox (real HTTP on loopback), one user
 *   whose sign-in answers 500 forever and who is asked every 50 ms; the others sign in in
 *   batches spread over the run. Are the others served, and does the bad user back off alone?
 * - churn: 100,000 users through `maxSessions: 1,000` with the default `maxStoredSessions`:
 *   heap and the private store's entries after the churn and after `close()`.
 * - outage (isolation-outage.ts): single managers and a pool through an auth outage, real timers.
 */
import { AlixAuthProvider, TokenManagerPool } from '../../src/index';
import { DEFAULT_AUTH_BREAKER_OPTIONS } from '../../src/stores/memory-breaker';
import { DEFAULT_TOKEN_MANAGER_POOL_OPTIONS } from '../../src/pool/options';
import type { RetryOptions, TokenProvider } from '../../src/index';
import { startAlixSandbox } from '../../src/sandbox/index';
import { FakeProvider, snapshotMemory } from '../lib/fakes';
import type { OutageRun } from './isolation-outage';

export interface BadUserParams {
  users: number;
  /** The other users sign in in this many batches, one started every `spanMs / batches`. */
  batches: number;
  spanMs: number;
  askEveryMs: number;
  /** --quick only: a 20 ms first retry delay, so the bad user's circuit opens within the short run. */
  retry: RetryOptions | null;
}

export interface BadUserRun {
  params: BadUserParams;
  others: number;
  served: number;
  /** Of the others, refused with `ERR_ALIX_AUTH_UNAVAILABLE` reason `breaker`. */
  refusedByBreaker: number;
  /** Every other user's failure, by `code/reason`. */
  otherFailures: Record<string, number>;
  /** Others that signed in after the bad user's circuit was first seen open. */
  servedWhileBadOpen: number;
  badAsks: number;
  /** The bad user's outcomes, by `code/reason` (or `token`). */
  badOutcomes: Record<string, number>;
  /** Sign-in and refresh calls for the bad user that reached the sandbox. */
  badAuthCalls: number;
  failureThreshold: number;
  openMs: number;
  /** failureThreshold + one probe per openMs over the run + 1 in flight. */
  badAuthCallBound: number;
  /** When the bad user's circuit was first seen open, ms after the run began; and at which level. */
  badOpenedAfterMs: number | null;
  badLevel: string | null;
  durationMs: number;
}

export interface ChurnRun {
  users: number;
  maxSessions: number;
  maxStoredSessions: number;
  gcExposed: boolean;
  heapStart: number;
  heapAfterChurn: number;
  heapAfterClose: number;
  storedAfterChurn: number | null;
  storedAfterClose: number | null;
  sessionsAfterChurn: number;
  sessionsAfterClose: number;
  signIns: number;
  failures: number;
  churnMs: number;
}

/** Everything scenario 12 measured. */
export interface IsolationResult {
  badUser: BadUserRun;
  churn: ChurnRun;
  outage: OutageRun;
}

export const AUTH_UNAVAILABLE = 'ERR_ALIX_AUTH_UNAVAILABLE';
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
export const key = (index: number): string => `user-${index}@example.com`;

/** `code/reason` of a failure (`code` alone without a reason). */
export function kindOf(error: unknown): string {
  const { code, reason } = error as { code?: unknown; reason?: unknown };
  const name = typeof code === 'string' ? code : error instanceof Error ? error.name : 'unknown';
  return typeof reason === 'string' ? `${name}/${reason}` : name;
}

export function tally(counts: Record<string, number>, kind: string): void {
  counts[kind] = (counts[kind] ?? 0) + 1;
}

export async function runIsolationBadUser(params: BadUserParams): Promise<BadUserRun> {
  const sandbox = await startAlixSandbox();
  const bad = 'broken-account@example.com';
  const fault = { type: 'status', status: 500, endpoint: 'authenticate', userEmail: bad } as const;
  sandbox.injectFaults(Number.POSITIVE_INFINITY, fault);
  const createProvider = AlixAuthProvider.forUsers({
    baseUrl: sandbox.url,
    partnerCode: sandbox.partnerCode,
    secretKey: sandbox.secretKey,
    privateKey: sandbox.privateKeyPem,
  });
  const pool = new TokenManagerPool({ createProvider, ...(params.retry === null ? {} : { retry: params.retry }) });
  const others = Array.from({ length: params.users - 1 }, (_, index) => key(index));
  const otherFailures: Record<string, number> = {};
  const badOutcomes: Record<string, number> = {};
  const badCalls: Array<Promise<void>> = [];
  let served = 0;
  let servedWhileBadOpen = 0;
  let badOpenedAt: number | null = null;
  let badLevel: string | null = null;
  let asking = true;
  const started = performance.now();

  const askBad = async (): Promise<void> => {
    while (asking) {
      badCalls.push(
        pool.getAccessToken(bad).then(
          () => tally(badOutcomes, 'token'),
          (error: unknown) => tally(badOutcomes, kindOf(error)),
        ),
      );
      const breaker = pool.get(bad).status().breaker;
      if (badOpenedAt === null && breaker?.state === 'open') {
        badOpenedAt = performance.now();
        badLevel = breaker.level;
      }
      await sleep(params.askEveryMs);
    }
  };
  const signIn = async (name: string): Promise<void> => {
    try {
      await pool.getAccessToken(name);
      served += 1;
      if (badOpenedAt !== null) servedWhileBadOpen += 1;
    } catch (error) {
      tally(otherFailures, kindOf(error));
    }
  };
  const asker = askBad();
  const perBatch = Math.ceil(others.length / params.batches);
  const batches: Array<Promise<unknown>> = [];
  for (let batch = 0; batch < params.batches; batch += 1) {
    const due = started + (batch * params.spanMs) / params.batches;
    await sleep(Math.max(0, due - performance.now()));
    batches.push(Promise.all(others.slice(batch * perBatch, (batch + 1) * perBatch).map(signIn)));
  }
  await Promise.all(batches);
  const durationMs = performance.now() - started;
  asking = false;
  await asker;
  await Promise.all(badCalls);
  const calls = sandbox.authCallsFor(bad);
  await pool.close();
  await sandbox.close();
  const { failureThreshold, openMs } = DEFAULT_AUTH_BREAKER_OPTIONS;
  return {
    params,
    others: others.length,
    served,
    refusedByBreaker: otherFailures[`${AUTH_UNAVAILABLE}/breaker`] ?? 0,
    otherFailures,
    servedWhileBadOpen,
    badAsks: badCalls.length,
    badOutcomes,
    badAuthCalls: calls.authenticate + calls.refresh,
    failureThreshold,
    openMs,
    badAuthCallBound: failureThreshold + Math.floor(durationMs / openMs) + 1,
    badOpenedAfterMs: badOpenedAt === null ? null : badOpenedAt - started,
    badLevel,
    durationMs,
  };
}

/** One shared instant provider, seen by each session with its own identity (one partner scope). */
function churnProviders(): (name: string) => TokenProvider {
  const shared = new FakeProvider({ ttlMs: 60 * 60_000 });
  return (name) => ({
    authenticate: () => shared.authenticate(),
    refresh: () => shared.refresh(),
    identity: { id: `churn:${name}`, scope: 'bench-partner', user: name },
  });
}

/** Signs `users` users in, 100 at a time, through `pool`; returns how many failed. */
async function churn(pool: TokenManagerPool, users: number, prefix: string): Promise<number> {
  let failures = 0;
  for (let offset = 0; offset < users; offset += 100) {
    const names = Array.from({ length: Math.min(100, users - offset) }, (_, index) => `${prefix}${offset + index}`);
    const results = await Promise.allSettled(names.map((name) => pool.getAccessToken(name)));
    failures += results.filter((result) => result.status === 'rejected').length;
  }
  return failures;
}

export async function runIsolationChurn(users: number): Promise<ChurnRun> {
  const maxSessions = 1_000;
  const { maxStoredSessions } = DEFAULT_TOKEN_MANAGER_POOL_OPTIONS;
  // A small churn first, closed and dropped: the code it compiles and the objects built once
  // per process are then in the baseline, not in the figures measured.
  const warm = new TokenManagerPool({ createProvider: churnProviders(), maxSessions: 100 });
  await churn(warm, 2_000, 'warm-');
  await warm.close();

  const start = await snapshotMemory();
  const pool = new TokenManagerPool({ createProvider: churnProviders(), maxSessions });
  const started = performance.now();
  const failures = await churn(pool, users, 'user-');
  const churnMs = performance.now() - started;
  const afterChurn = await snapshotMemory();
  const status = pool.status();
  await pool.close();
  const afterClose = await snapshotMemory();
  return {
    users,
    maxSessions,
    maxStoredSessions,
    gcExposed: start.gcExposed,
    heapStart: start.heapUsed,
    heapAfterChurn: afterChurn.heapUsed,
    heapAfterClose: afterClose.heapUsed,
    storedAfterChurn: status.sessions.stored,
    storedAfterClose: pool.status().sessions.stored,
    sessionsAfterChurn: status.sessions.held,
    sessionsAfterClose: pool.status().sessions.held,
    signIns: status.counts.signIns,
    failures,
    churnMs,
  };
}
