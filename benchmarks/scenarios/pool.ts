/**
 * Scenario 10, many end users in one process (`TokenManagerPool`, SPEC §7):
 * - idle: N sessions each holding a token, then idle: heap per session and timers in use;
 * - burst: N sessions created at once against an auth server with latency: peak concurrent
 *   auth calls and time until every session holds a token;
 * - steady: U active users under steady load across 5 token lifetimes: 401s (a token used
 *   after its expiry) and auth calls per used session per lifetime;
 * - hot: pool lookup + getAccessToken() on a cached token vs one manager's getAccessToken().
 */
import { TokenManager, TokenManagerPool } from '../../src/index';
import type { TokenProvider, TokenSet } from '../../src/index';
import type { InternalTokenManagerPoolOptions } from '../../src/internal';
import { FakeProvider, ManualClock, SlowProvider, snapshotMemory } from '../lib/fakes';
import type { PoolMixedRun } from './pool-mixed';

export interface PoolIdleRun {
  sessions: number;
  gcExposed: boolean;
  /** Heap per idle session: left unused for a whole token lifetime, it rests (no manager). */
  heapPerSession: number;
  /** Heap per session while in use (each with its manager), for comparison. */
  heapPerActiveSession: number;
  restingSessions: number;
  /** Of which the two token strings (about 300 characters each, like Alix JWTs), bytes. */
  tokenBytesPerSession: number;
  timersInUse: number;
  createMs: number;
}

export interface PoolBurstRun {
  sessions: number;
  maxConcurrentAuth: number;
  authLatencyMs: number;
  peakConcurrentAuth: number;
  allHoldTokenMs: number;
  failures: number;
}

export interface PoolSteadyRun {
  users: number;
  lifetimes: number;
  ttlMs: number;
  requests: number;
  unauthorized: number;
  authCalls: number;
  authCallsPerSessionPerLifetime: number;
}

export interface PoolHotRun {
  calls: number;
  keys: number;
  poolOpsPerSec: number;
  managerOpsPerSec: number;
  /** Median of 7 interleaved pairs in one process. */
  ratio: number;
  /** With several processes: each one's ratio (this run is the median one). */
  processRatios?: number[];
}

export interface PoolResult {
  idle: PoolIdleRun;
  burst: PoolBurstRun;
  steady: PoolSteadyRun;
  hot: PoolHotRun;
  mixed: PoolMixedRun;
}

const key = (index: number): string => `user-${index}@example.com`;

/**
 * N sessions signed in at once (15-minute tokens) on a manual clock, then left unused: each is
 * refreshed once at its refresh point (it was used within its token's lifetime), and rests at
 * the next one. Heap is measured with all sessions in use and again once they all rest.
 */
export async function runPoolIdle(sessions: number): Promise<PoolIdleRun> {
  const ttlMs = 15 * 60_000;
  const clock = new ManualClock();
  const provider = new FakeProvider({ ttlMs, now: clock.now });
  const keys = Array.from({ length: sessions }, (_, index) => key(index));
  const before = await snapshotMemory();
  const started = performance.now();
  // An idle TTL of 2 h keeps every session through the two token lifetimes measured.
  const pool = new TokenManagerPool({
    createProvider: () => provider,
    now: clock.now,
    timers: clock,
    maxSessions: sessions,
    idleTtlMs: 2 * 60 * 60_000,
    maxConcurrentAuth: 64,
  } as InternalTokenManagerPoolOptions);
  for (let offset = 0; offset < sessions; offset += 5_000) {
    await Promise.all(keys.slice(offset, offset + 5_000).map((name) => pool.getAccessToken(name)));
  }
  const createMs = performance.now() - started;
  const active = await snapshotMemory();
  const token = await pool.getAccessToken(key(0));
  await clock.advanceBy(26 * 60_000, 1_000);
  const idle = await snapshotMemory();
  const result: PoolIdleRun = {
    sessions,
    gcExposed: before.gcExposed,
    heapPerSession: (idle.heapUsed - before.heapUsed) / sessions,
    heapPerActiveSession: (active.heapUsed - before.heapUsed) / sessions,
    restingSessions: pool.status().sessions.resting,
    tokenBytesPerSession: 2 * (token.length + 16),
    timersInUse: clock.live,
    createMs,
  };
  pool.close();
  return result;
}

export async function runPoolBurst(
  sessions: number,
  maxConcurrentAuth: number,
  authLatencyMs: number,
): Promise<PoolBurstRun> {
  const provider = new SlowProvider(authLatencyMs);
  const pool = new TokenManagerPool({
    createProvider: () => provider,
    maxSessions: sessions,
    maxConcurrentAuth,
    acquireTimeoutMs: 120_000,
    retry: { maxRetryTimeMs: 120_000 },
  });
  const started = performance.now();
  const results = await Promise.allSettled(
    Array.from({ length: sessions }, (_, index) => pool.getAccessToken(key(index))),
  );
  const allHoldTokenMs = performance.now() - started;
  pool.close();
  return {
    sessions,
    maxConcurrentAuth,
    authLatencyMs,
    peakConcurrentAuth: provider.peak,
    allHoldTokenMs,
    failures: results.filter((r) => r.status === 'rejected').length,
  };
}

export async function runPoolSteady(users: number, lifetimes: number, ttlMs: number): Promise<PoolSteadyRun> {
  const expiries = new Map<string, number>();
  let authCalls = 0;
  const createProvider = (): TokenProvider => {
    const issue = async (): Promise<TokenSet> => {
      authCalls += 1;
      await new Promise((resolve) => setTimeout(resolve, 2));
      const now = Date.now();
      const accessToken = `t${authCalls}x${Math.random().toString(36).slice(2)}`;
      expiries.set(accessToken, now + ttlMs);
      return {
        accessToken,
        accessTokenExpiresAt: now + ttlMs,
        refreshToken: `r${authCalls}`,
        refreshTokenExpiresAt: now + 86_400_000,
      };
    };
    return { authenticate: issue, refresh: issue };
  };
  const pool = new TokenManagerPool({
    createProvider,
    maxConcurrentAuth: 16,
    refreshBeforeExpiryMs: Math.round(ttlMs * 0.35),
    expirySkewMs: Math.round(ttlMs * 0.1),
  });
  let requests = 0;
  let unauthorized = 0;
  const endAt = Date.now() + lifetimes * ttlMs;
  const userLoop = async (name: string): Promise<void> => {
    while (Date.now() < endAt) {
      const token = await pool.getAccessToken(name);
      requests += 1;
      if ((expiries.get(token) ?? 0) <= Date.now()) unauthorized += 1;
      await new Promise((resolve) => setTimeout(resolve, 20 + Math.random() * 30));
    }
  };
  await Promise.all(Array.from({ length: users }, (_, index) => userLoop(key(index))));
  pool.close();
  // As in the replicas scenario: a token serves from its arrival to its refresh point, on
  // average ttl − window + half the jitter cap (the jitter is uniform over (window − skew) / 2).
  // The first sign-in of each session is not a refresh of a lifetime, so it is left out.
  const windowMs = Math.min(Math.round(ttlMs * 0.35), ttlMs / 2);
  const servicePeriodMs = ttlMs - windowMs + (windowMs - Math.round(ttlMs * 0.1)) / 4;
  const periods = (lifetimes * ttlMs) / servicePeriodMs;
  return {
    users,
    lifetimes,
    ttlMs,
    requests,
    unauthorized,
    authCalls,
    authCallsPerSessionPerLifetime: (authCalls - users) / (users * periods),
  };
}

export async function runPoolHot(calls: number, keys: number): Promise<PoolHotRun> {
  const provider = new FakeProvider({ ttlMs: 60 * 60_000 });
  const pool = new TokenManagerPool({ createProvider: () => provider, maxConcurrentAuth: 64 });
  const names = Array.from({ length: keys }, (_, index) => key(index));
  await Promise.all(names.map((name) => pool.getAccessToken(name)));
  const manager = new TokenManager({ provider });
  await manager.getAccessToken();
  const timeOf = async (run: () => Promise<void>): Promise<number> => {
    await run();
    const started = performance.now();
    await run();
    return performance.now() - started;
  };
  // Both loops have the same shape (a pass over the keys), so only the lookup differs.
  const rounds = Math.max(1, Math.round(calls / keys));
  const poolRun = async (): Promise<void> => {
    for (let round = 0; round < rounds; round += 1) for (const name of names) await pool.getAccessToken(name);
  };
  const managerRun = async (): Promise<void> => {
    for (let round = 0; round < rounds; round += 1) for (const _name of names) await manager.getAccessToken();
  };
  // Pairs run back to back (pool, then manager): the ratio of each pair, median of 7, is
  // robust to the load of a shared machine drifting during the run.
  const pairs: Array<{ poolMs: number; managerMs: number }> = [];
  for (let pair = 0; pair < 7; pair += 1)
    pairs.push({ poolMs: await timeOf(poolRun), managerMs: await timeOf(managerRun) });
  pool.close();
  manager.close();
  const median = (values: number[]): number => values.sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
  const total = rounds * keys;
  return {
    calls: total,
    keys,
    poolOpsPerSec: median(pairs.map((pair) => total / (pair.poolMs / 1000))),
    managerOpsPerSec: median(pairs.map((pair) => total / (pair.managerMs / 1000))),
    ratio: median(pairs.map((pair) => pair.managerMs / pair.poolMs)),
  };
}
