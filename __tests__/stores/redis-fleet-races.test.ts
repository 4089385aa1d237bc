import { randomUUID } from 'node:crypto';
import type Redis from 'ioredis';
import type { RedisTokenStore, RedisTokenStoreOptions } from '../../src/redis';
import type { TokenManagerOptions } from '../../src/manager/options';
import { AuthRejectedError } from '../../src/errors';
import type { TokenSet } from '../../src/token-set';
import { FakeProvider } from '../helpers/fake-provider';
import { INSTANT_RETRY } from '../helpers/manager';
import { closedAfterEach, describeRedis, useRedisServer } from '../helpers/redis-server';

/**
 * The Alix auth server as a fleet sees it: every refresh token works once (it rotates), a second
 * use is refused, and every refresh token the fleet sent is recorded.
 */
class RotatingProvider extends FakeProvider {
  readonly #live = new Set<string>();
  readonly reused: string[] = [];

  override issue(): TokenSet {
    const tokens = super.issue();
    this.#live.add(tokens.refreshToken as string);
    return tokens;
  }

  override async refresh(refreshToken: string, signal?: AbortSignal): Promise<TokenSet> {
    if (!this.#live.delete(refreshToken)) {
      this.reused.push(refreshToken);
      this.usedRefreshTokens.push(refreshToken);
      this.calls.push({ kind: 'refresh', refreshToken, signal });
      throw new AuthRejectedError({ operation: 'refresh', status: 400, errorCode: 32, apiMessage: 'spent' });
    }
    return super.refresh(refreshToken, signal);
  }
}

describeRedis('a fleet of replicas on one real Redis', () => {
  const redis = useRedisServer();
  const made = closedAfterEach();

  function makeStore(client: Redis, options: Partial<RedisTokenStoreOptions> = {}): RedisTokenStore {
    return made.store({
      lockTtlMs: 1_000,
      lockWaitMs: 1_500,
      pollIntervalMs: 50,
      commandTimeoutMs: 200,
      breaker: false,
      ...options,
      client,
    });
  }

  function makeManager(store: RedisTokenStore, options: Partial<TokenManagerOptions> & { provider: FakeProvider }) {
    return made.manager({ refreshJitterMs: 0, retry: INSTANT_RETRY, ...options, store });
  }

  const newProvider = (now: () => number): RotatingProvider =>
    new RotatingProvider({ now, accessTtlMs: 60_000, identity: { id: `fleet-${randomUUID()}` } });

  it('never spends a refresh token twice when the holder could not write its rotated session once', async () => {
    let offsetMs = 0;
    const now = (): number => Date.now() + offsetMs;
    const provider = newProvider(now);
    const clientA = await redis.connect();
    let failWrites = 0;
    const evalOnce = clientA.eval.bind(clientA) as (...args: unknown[]) => Promise<unknown>;
    (clientA as unknown as { eval: (...args: unknown[]) => Promise<unknown> }).eval = (...args) => {
      if (failWrites > 0 && String(args[0]).includes("redis.call('SET'")) {
        failWrites -= 1;
        return Promise.reject(new Error('Connection is closed.'));
      }
      return evalOnce(...args);
    };
    const a = makeManager(makeStore(clientA, { now }), { provider, now });
    const b = makeManager(makeStore(await redis.connect(), { now }), { provider, now });
    await a.getAccessToken();
    await b.getAccessToken();
    expect(provider.calls.map((call) => call.kind)).toEqual(['authenticate']);

    offsetMs = 61_000;
    failWrites = 1;
    const fromA = await a.getAccessToken();
    const fromB = await b.getAccessToken();
    expect(provider.reused).toEqual([]);
    expect(provider.authenticateCount).toBe(1);
    expect(fromB).toBe(fromA);
  });
});
