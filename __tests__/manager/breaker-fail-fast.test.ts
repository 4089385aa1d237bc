import { AuthUnavailableError, ErrorCodes } from '../../src/errors';
import { TokenManager } from '../../src/manager/token-manager';
import { TokenManagerPool } from '../../src/pool/pool';
import type { InternalTokenManagerOptions, InternalTokenManagerPoolOptions } from '../../src/internal';
import type { TokenProvider } from '../../src/providers/types';
import type { TokenSet } from '../../src/token-set';
import { flushPromises } from '../helpers/fake-provider';
import { ManualClock } from '../helpers/manual-clock';

const TOKEN_MS = 4_000;
const OUTAGE_MS = 20_000;

/** An auth server that answers 503 to every call while `down`. */
function outageProvider(clock: ManualClock, state: { down: boolean; calls: number }, user = ''): TokenProvider {
  let serial = 0;
  const answer = (): Promise<TokenSet> => {
    state.calls += 1;
    if (state.down)
      return Promise.reject(new AuthUnavailableError({ operation: 'authenticate', reason: 'http', status: 503 }));
    serial += 1;
    const now = clock.now();
    return Promise.resolve({
      accessToken: `access-${user}${serial}`,
      accessTokenExpiresAt: now + TOKEN_MS,
      refreshToken: `refresh-${user}${serial}`,
      refreshTokenExpiresAt: now + 86_400_000,
    });
  };
  return { authenticate: answer, refresh: answer, identity: { id: `identity-${user}`, scope: 'partner' } };
}

/** The p99 of some durations. */
function p99(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)] ?? 0;
}

/**
 * Drives callers every 50 ms through a 20 s outage that starts once every session holds a 4 s
 * token, and returns how long the callers that failed waited, each session's from its breaker's first opening.
 */
async function failWaitsDuringOutage(
  clock: ManualClock,
  state: { down: boolean; calls: number },
  call: (index: number) => Promise<string>,
  callers: number,
  breakerOpen: (index: number) => boolean,
): Promise<number[]> {
  for (let index = 0; index < callers; index += 1) await call(index);
  state.down = true;
  const waits: number[] = [];
  const opened = new Set<number>();
  const endsAt = clock.now() + OUTAGE_MS;
  while (clock.now() < endsAt) {
    for (let index = 0; index < callers; index += 1) {
      const startedAt = clock.now();
      const counted = opened.has(index);
      call(index).then(
        () => undefined,
        (error: unknown) => {
          if (counted && (error as { code?: string }).code === ErrorCodes.AUTH_UNAVAILABLE)
            waits.push(clock.now() - startedAt);
        },
      );
    }
    for (let step = 0; step < 5; step += 1) {
      await flushPromises(50);
      clock.advance(10);
      for (let index = 0; index < callers; index += 1) if (breakerOpen(index)) opened.add(index);
    }
  }
  state.down = false;
  await flushPromises(50);
  return waits;
}

describe('A failed half-open probe ends the run at once', () => {
  it('fails callers without a token within 50 ms p99 through a 20 s outage, for three single managers', async () => {
    const clock = new ManualClock(1_000_000);
    const state = { down: false, calls: 0 };
    const managers = [0, 1, 2].map(
      () =>
        new TokenManager({
          provider: outageProvider(clock, state),
          now: clock.now,
          timers: clock,
          refreshJitterMs: 0,
          refreshBeforeExpiryMs: 1_000,
          expirySkewMs: 500,
        } as InternalTokenManagerOptions),
    );
    const waits = await failWaitsDuringOutage(
      clock,
      state,
      (index) => (managers[index] as TokenManager).getAccessToken(),
      managers.length,
      (index) => (managers[index] as TokenManager).status().breaker?.state === 'open',
    );
    expect(waits.length).toBeGreaterThan(100);
    expect(p99(waits)).toBeLessThanOrEqual(50);
    for (const manager of managers) manager.close();
  });

  it('does the same for a pool of 20 users', async () => {
    const clock = new ManualClock(1_000_000);
    const state = { down: false, calls: 0 };
    const pool = new TokenManagerPool({
      createProvider: (key) => outageProvider(clock, state, key),
      now: clock.now,
      timers: clock,
      refreshJitterMs: 0,
      refreshBeforeExpiryMs: 1_000,
      expirySkewMs: 500,
    } as InternalTokenManagerPoolOptions);
    const keys = Array.from({ length: 20 }, (_, index) => `user-${index}`);
    const waits = await failWaitsDuringOutage(
      clock,
      state,
      (index) => pool.getAccessToken(keys[index] as string),
      keys.length,
      (index) => pool.get(keys[index] as string).status().breaker?.state === 'open',
    );
    expect(waits.length).toBeGreaterThan(100);
    expect(p99(waits)).toBeLessThanOrEqual(50);
    await pool.close();
  });
});
