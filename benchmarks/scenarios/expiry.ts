/**
 * Scenario 4, expiry crossing under steady load: short-lived sandbox tokens, 8 paced loops
 * of GET /api/v2/cards for about ten token lifetimes. Counts 401s, refreshes and sign-ins,
 * and compares the latency of requests that overlapped an auth call with the others.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { AlixAuthProvider } from '../../src/index';
import type { TokenSet } from '../../src/index';
import { generatePartnerKeyPair, startAlixSandbox } from '../../src/sandbox/index';
import { TimedProvider, createContender, type AuthInterval, type ContenderName } from '../lib/contenders';
import { quantile } from '../lib/stats';

export interface LatencyFigures {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

export interface ExpiryRun {
  contender: ContenderName;
  ttlMs: number;
  durationMs: number;
  /** Mean lifetime of the access tokens issued, as the client received them, ms. */
  meanLifetimeMs: number;
  /** durationMs / meanLifetimeMs. */
  lifetimes: number;
  requests: number;
  failures: number;
  server401s: number;
  refreshes: number;
  signIns: number;
  overlapped: LatencyFigures;
  clear: LatencyFigures;
  /** Ours only: the longest any request waited in the interceptor for its token, ms. */
  maxTokenWaitMs: number;
  /** Ours only: requests that waited more than 1 ms for their token. */
  tokenWaitsOver1Ms: number;
}

export interface ExpiryParams {
  ttlMs: number;
  lifetimes: number;
  loops: number;
  thinkMs: number;
}

/** The manager's windows for 3 s tokens: refresh from 1 s before expiry, wait only in the last 200 ms. */
export const EXPIRY_MANAGER_OPTIONS = Object.freeze({
  refreshBeforeExpiryMs: 1_000,
  expirySkewMs: 200,
  refreshJitterMs: 0,
});

function figures(samples: number[]): LatencyFigures {
  return {
    count: samples.length,
    p50: quantile(samples, 0.5),
    p99: quantile(samples, 0.99),
    max: samples.length === 0 ? Number.NaN : samples.reduce((a, b) => Math.max(a, b), 0),
  };
}

function overlaps(start: number, end: number, intervals: readonly AuthInterval[]): boolean {
  return intervals.some((interval) => interval.start <= end && start <= interval.end);
}

/** Records how long each issued access token lives, seen from the client at arrival. */
class LifetimeRecorder extends TimedProvider {
  readonly lifetimesMs: number[] = [];

  override async authenticate(signal?: AbortSignal): Promise<TokenSet> {
    return this.#record(await super.authenticate(signal));
  }

  override async refresh(refreshToken: string, signal?: AbortSignal): Promise<TokenSet> {
    return this.#record(await super.refresh(refreshToken, signal));
  }

  #record(set: TokenSet): TokenSet {
    this.lifetimesMs.push(set.accessTokenExpiresAt - Date.now());
    return set;
  }
}

export async function runExpiry(name: ContenderName, params: ExpiryParams): Promise<ExpiryRun> {
  const { privateKeyPem } = await generatePartnerKeyPair();
  const sandbox = await startAlixSandbox({ privateKeyPem, accessTokenTtlMs: params.ttlMs });
  const provider = new LifetimeRecorder(
    new AlixAuthProvider({
      baseUrl: sandbox.url,
      partnerCode: sandbox.partnerCode,
      secretKey: sandbox.secretKey,
      privateKey: privateKeyPem,
    }),
  );
  const contender = await createContender(name, sandbox.url, provider, params.loops, EXPIRY_MANAGER_OPTIONS);
  try {
    await contender.api.get('/api/v2/cards');
    sandbox.resetCounters();
    provider.intervals.length = 0;
    contender.tokenWaitsMs.length = 0;

    // Nominal lifetime plus the half second the sandbox's whole-second expiries add on average.
    const durationMs = params.lifetimes * (params.ttlMs + 500);
    const started = performance.now();
    const deadline = started + durationMs;
    const latencies: Array<{ start: number; end: number }> = [];
    let failures = 0;
    const loop = async (): Promise<void> => {
      // Bounded by time; the count cap is a second guard.
      for (let i = 0; i < 1_000_000 && performance.now() < deadline; i += 1) {
        const start = performance.now();
        try {
          await contender.api.get('/api/v2/cards', { timeout: 10_000 });
          latencies.push({ start, end: performance.now() });
        } catch {
          failures += 1;
        }
        await sleep(params.thinkMs);
      }
    };
    await Promise.all(Array.from({ length: params.loops }, loop));
    const elapsedMs = performance.now() - started;

    const counters = sandbox.counters();
    const overlapped: number[] = [];
    const clear: number[] = [];
    for (const { start, end } of latencies)
      (overlaps(start, end, provider.intervals) ? overlapped : clear).push(end - start);
    const meanLifetimeMs =
      provider.lifetimesMs.reduce((sum, ms) => sum + ms, 0) / Math.max(1, provider.lifetimesMs.length);
    return {
      contender: name,
      ttlMs: params.ttlMs,
      durationMs: elapsedMs,
      meanLifetimeMs,
      lifetimes: elapsedMs / meanLifetimeMs,
      requests: latencies.length + failures,
      failures,
      server401s: counters.resource401s,
      refreshes: counters.refresh,
      signIns: counters.authenticate,
      overlapped: figures(overlapped),
      clear: figures(clear),
      maxTokenWaitMs: contender.tokenWaitsMs.reduce((a, b) => Math.max(a, b), 0),
      tokenWaitsOver1Ms: contender.tokenWaitsMs.filter((waitMs) => waitMs > 1).length,
    };
  } finally {
    contender.close();
    await sandbox.close();
  }
}
