/**
 * Scenario 12, part C (issue 24): three single managers and a 20-user pool, each session holding
 * a 4 s token when a 20 s auth outage (every call 503) begins; a call per session every 50 ms.
 * How long do callers without a token wait once their session's breaker has opened (real timers)?
 */
import { AuthUnavailableError, TokenManager, TokenManagerPool } from '../../src/index';
import type { BreakerStatus, ProviderIdentity, RetryOptions, TokenProvider, TokenSet } from '../../src/index';
import { quantile } from '../lib/stats';
import { AUTH_UNAVAILABLE, key, kindOf, sleep, tally } from './isolation';

export interface OutageParams {
  tokenMs: number;
  outageMs: number;
  callEveryMs: number;
  singles: number;
  poolUsers: number;
  /** --quick only: a 20 ms first retry delay, so breakers open within the 3 s outage. */
  retry: RetryOptions | null;
}

/** How long failed calls waited for their error, ms. */
export interface WaitSummary {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

export interface OutageGroupRun {
  sessions: number;
  /** Sessions whose breaker was seen open during the outage. */
  opened: number;
  /** The level of each session's breaker when first seen open (`session` or `scope`). */
  levels: Record<string, number>;
  /** When the first and the last session's breaker was first seen open, ms after the outage began. */
  firstOpenedAfterMs: number | null;
  lastOpenedAfterMs: number | null;
  calls: number;
  served: number;
  failed: number;
  /** Every failure during the outage, by `code/reason`. */
  failures: Record<string, number>;
  /** Failures during the outage with another code than `ERR_ALIX_AUTH_UNAVAILABLE`. */
  notAuthUnavailable: number;
  /** The goal's figure: failed calls started after their session's breaker was first seen open (any error). */
  waits: WaitSummary;
  /** For comparison: failed calls started before it (they joined the run whose failures opened it). */
  waitsBeforeOpen: WaitSummary;
}

export interface OutageRun {
  params: OutageParams;
  singles: OutageGroupRun;
  pool: OutageGroupRun;
  authCallsDuringOutage: number;
  /** How late the last call of the outage started, ms after the outage began (≈ outageMs). */
  lastCallAfterMs: number;
}

/** Whether the auth server is down, and how many calls reached it. */
interface OutageState {
  down: boolean;
  calls: number;
  callsWhileDown: number;
}

/** An in-process auth server: `tokenMs` tokens after ~5 ms, or a 503 after ~5 ms while down. */
class OutageProvider implements TokenProvider {
  #serial = 0;

  constructor(
    private readonly state: OutageState,
    private readonly tokenMs: number,
    readonly identity: ProviderIdentity,
  ) {}

  authenticate(): Promise<TokenSet> {
    return this.#answer('authenticate');
  }

  refresh(): Promise<TokenSet> {
    return this.#answer('refresh');
  }

  async #answer(operation: 'authenticate' | 'refresh'): Promise<TokenSet> {
    const down = this.state.down;
    this.state.calls += 1;
    if (down) this.state.callsWhileDown += 1;
    await sleep(5);
    if (down) throw new AuthUnavailableError({ operation, reason: 'http', status: 503 });
    this.#serial += 1;
    const now = Date.now();
    return {
      accessToken: `outage-access-${this.#serial}`,
      accessTokenExpiresAt: now + this.tokenMs,
      refreshToken: `outage-refresh-${this.#serial}`,
      refreshTokenExpiresAt: now + 86_400_000,
    };
  }
}

/** One session under load: how to call it, whether its breaker is open, and what its callers saw. */
interface OutageSession {
  call: () => Promise<string>;
  breaker: () => BreakerStatus | null;
  openedAt: number | null;
  level: string | null;
}

function summarizeWaits(waits: readonly number[]): WaitSummary {
  return {
    count: waits.length,
    p50: quantile(waits, 0.5),
    p99: quantile(waits, 0.99),
    max: waits.length === 0 ? Number.NaN : Math.max(...waits),
  };
}

/** What one group (the single managers, or the pool's sessions) saw during the outage. */
class OutageTally {
  calls = 0;
  served = 0;
  readonly failures: Record<string, number> = {};
  readonly waits: number[] = [];
  readonly waitsBeforeOpen: number[] = [];

  constructor(readonly sessions: readonly OutageSession[]) {}

  summary(outageStartedAt: number): OutageGroupRun {
    const opened = this.sessions.flatMap((session) => (session.openedAt === null ? [] : [session.openedAt]));
    const failed = Object.values(this.failures).reduce((a, b) => a + b, 0);
    const other = Object.entries(this.failures).filter(([kind]) => !kind.startsWith(AUTH_UNAVAILABLE));
    return {
      sessions: this.sessions.length,
      opened: opened.length,
      levels: this.sessions.reduce<Record<string, number>>((levels, { level }) => {
        if (level !== null) tally(levels, level);
        return levels;
      }, {}),
      firstOpenedAfterMs: opened.length === 0 ? null : Math.min(...opened) - outageStartedAt,
      lastOpenedAfterMs: opened.length === 0 ? null : Math.max(...opened) - outageStartedAt,
      calls: this.calls,
      served: this.served,
      failed,
      failures: this.failures,
      notAuthUnavailable: other.reduce((sum, [, n]) => sum + n, 0),
      waits: summarizeWaits(this.waits),
      waitsBeforeOpen: summarizeWaits(this.waitsBeforeOpen),
    };
  }
}

export async function runIsolationOutage(params: OutageParams): Promise<OutageRun> {
  const state: OutageState = { down: false, calls: 0, callsWhileDown: 0 };
  const retry = params.retry === null ? {} : { retry: params.retry };
  const managers = Array.from(
    { length: params.singles },
    (_, index) =>
      new TokenManager({
        provider: new OutageProvider(state, params.tokenMs, { id: `single-${index}`, scope: `single-${index}` }),
        ...retry,
      }),
  );
  const pool = new TokenManagerPool({
    createProvider: (name) => new OutageProvider(state, params.tokenMs, { id: `pool:${name}`, scope: 'bench-partner' }),
    ...retry,
  });
  const keys = Array.from({ length: params.poolUsers }, (_, index) => key(index));
  const singles = new OutageTally(
    managers.map((manager) => ({
      call: () => manager.getAccessToken(),
      breaker: () => manager.status().breaker,
      openedAt: null,
      level: null,
    })),
  );
  const pooled = new OutageTally(
    keys.map((name) => ({
      call: () => pool.getAccessToken(name),
      breaker: () => pool.get(name).status().breaker,
      openedAt: null,
      level: null,
    })),
  );
  // Every session holds a fresh token when the outage begins.
  await Promise.all([...singles.sessions, ...pooled.sessions].map((session) => session.call()));

  state.down = true;
  const outageStartedAt = performance.now();
  const endsAt = outageStartedAt + params.outageMs;
  const pending: Array<Promise<void>> = [];
  let lastCallAt = outageStartedAt;
  for (let tick = 0; performance.now() < endsAt; tick += 1) {
    for (const group of [singles, pooled]) {
      for (const session of group.sessions) {
        const startedAt = performance.now();
        const breaker = session.openedAt === null ? session.breaker() : null;
        if (breaker?.state === 'open') {
          session.openedAt = startedAt;
          session.level = breaker.level;
        }
        const counted = session.openedAt !== null;
        lastCallAt = startedAt;
        group.calls += 1;
        pending.push(
          session.call().then(
            () => {
              group.served += 1;
            },
            (error: unknown) => {
              const kind = kindOf(error);
              tally(group.failures, kind);
              (counted ? group.waits : group.waitsBeforeOpen).push(performance.now() - startedAt);
            },
          ),
        );
      }
    }
    await sleep(Math.max(0, outageStartedAt + (tick + 1) * params.callEveryMs - performance.now()));
  }
  state.down = false;
  const authCallsDuringOutage = state.callsWhileDown;
  await Promise.all(pending);
  for (const manager of managers) manager.close();
  await pool.close();
  return {
    params,
    singles: singles.summary(outageStartedAt),
    pool: pooled.summary(outageStartedAt),
    authCallsDuringOutage,
    lastCallAfterMs: lastCallAt - outageStartedAt,
  };
}
