/**
 * One end user's failures stay that user's: in a pool with the default breaker, a user whose
 * sign-in always fails (500) or who is rate-limited (429, Retry-After 600) backs off alone,
 * and every other user is still signed in.
 */
import { TokenManagerPool } from '../../src/pool/pool';
import { AlixAuthProvider } from '../../src/providers/alix/provider';
import { startAlixSandbox } from '../../src/sandbox/server';
import type { AlixSandbox } from '../../src/sandbox/server';
import { INSTANT_RETRY } from '../helpers/manager';

let sandbox: AlixSandbox;
beforeAll(async () => {
  sandbox = await startAlixSandbox();
});
afterAll(() => sandbox.close());
afterEach(() => {
  sandbox.clearFaults();
  sandbox.resetCounters();
});

function makePool(): TokenManagerPool {
  const forUser = AlixAuthProvider.forUsers({
    baseUrl: sandbox.url,
    partnerCode: sandbox.partnerCode,
    secretKey: sandbox.secretKey,
    privateKey: sandbox.privateKeyPem,
  });
  return new TokenManagerPool({ createProvider: forUser, retry: INSTANT_RETRY });
}

const newUser = (index: number): string => `user-${index}@example.com`;

describe('TokenManagerPool: one user failing never refuses the others', () => {
  it('serves 20 new users after one failed 3 times with 500, and 96 of 96 while that one keeps asking', async () => {
    const pool = makePool();
    const bad = 'broken-account@example.com';
    sandbox.injectFaults(Number.POSITIVE_INFINITY, {
      type: 'status',
      status: 500,
      endpoint: 'authenticate',
      userEmail: bad,
    });
    for (let ask = 0; ask < 3; ask += 1)
      await expect(pool.getAccessToken(bad)).rejects.toMatchObject({ code: 'ERR_ALIX_AUTH_UNAVAILABLE' });

    const first = await Promise.allSettled(
      Array.from({ length: 20 }, (_, index) => pool.getAccessToken(newUser(index))),
    );
    expect(first.filter((result) => result.status === 'fulfilled')).toHaveLength(20);

    let served = 0;
    for (let index = 20; index < 116; index += 1) {
      await expect(pool.getAccessToken(bad)).rejects.toMatchObject({ code: 'ERR_ALIX_AUTH_UNAVAILABLE' });
      if (
        await pool.getAccessToken(newUser(index)).then(
          () => true,
          () => false,
        )
      )
        served += 1;
    }
    expect(served).toBe(96);
    // The bad user backs off alone: its own breaker admits one probe per openMs (5 s) after
    // the threshold (5 failures), so 99 asks cost a handful of sign-ins, not 99 × 5.
    expect(sandbox.authCallsFor(bad).authenticate).toBeLessThanOrEqual(6);
    expect(pool.get(bad).status().breaker).toMatchObject({ state: 'open', level: 'session' });
    await pool.close();
  });

  it('holds only the rate-limited user for its Retry-After; 20 of 20 others are served', async () => {
    const pool = makePool();
    const limited = 'rate-limited@example.com';
    sandbox.injectFaults(Number.POSITIVE_INFINITY, {
      type: 'status',
      status: 429,
      retryAfterSeconds: 600,
      endpoint: 'authenticate',
      userEmail: limited,
    });
    for (let ask = 0; ask < 6; ask += 1) await pool.getAccessToken(limited).catch(() => undefined);
    const others = await Promise.allSettled(
      Array.from({ length: 20 }, (_, index) => pool.getAccessToken(newUser(index))),
    );
    expect(others.filter((result) => result.status === 'fulfilled')).toHaveLength(20);
    const refused = await pool.getAccessToken(limited).catch((error: unknown) => error);
    expect(refused).toMatchObject({ code: 'ERR_ALIX_AUTH_UNAVAILABLE', reason: 'breaker' });
    expect((refused as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(590_000);
    await pool.close();
  });
});
