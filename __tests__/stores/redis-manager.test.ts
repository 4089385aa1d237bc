import { randomUUID } from 'node:crypto';
import type Redis from 'ioredis';
import type { RedisTokenStore } from '../../src/redis';
import type { RedisTokenStoreOptions } from '../../src/redis';
import type { TokenManager } from '../../src/manager/token-manager';
import type { InternalTokenManagerOptions } from '../../src/manager/options';
import type { LifecycleEvent } from '../../src/manager/types';
import { AuthRejectedError } from '../../src/errors';
import { FakeProvider, makeTokenSet } from '../helpers/fake-provider';
import type { FakeProviderOptions } from '../helpers/fake-provider';
import { INSTANT_RETRY } from '../helpers/manager';
import { ManualClock } from '../helpers/manual-clock';
import type { TokenSet } from '../../src/token-set';
import { closedAfterEach, describeRedis, freePort, itOwnServer, useRedisServer } from '../helpers/redis-server';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A fake provider that says whose session it makes (its store key derives from `id`) and,
 * with a `tokenPrefix`, marks its tokens so a mix-up between identities shows.
 */
function identifiedProvider(id: string, options: FakeProviderOptions, tokenPrefix = ''): FakeProvider {
  class IdentifiedProvider extends FakeProvider {
    override issue(): TokenSet {
      const tokens = super.issue();
      return {
        ...tokens,
        accessToken: `${tokenPrefix}${tokens.accessToken}`,
        refreshToken: `${tokenPrefix}${tokens.refreshToken ?? ''}`,
      };
    }
  }
  return new IdentifiedProvider({ ...options, identity: { id } });
}

/** A fresh identity id per test, so tests never share a session key. */
const newIdentity = (name: string): string => `${name}-${randomUUID()}`;

/** Calls getAccessToken() on every manager every `everyMs` until `done()` holds (bounded); returns the failures. */
async function hammer(managers: TokenManager[], done: () => boolean, everyMs = 20): Promise<unknown[]> {
  const failures: unknown[] = [];
  for (let rounds = 0; !done(); rounds += 1) {
    if (rounds === 500) throw new Error('hammered 500 rounds and done() never held');
    await Promise.all(
      managers.map((manager) => manager.getAccessToken().catch((error: unknown) => failures.push(error))),
    );
    await sleep(everyMs);
  }
  return failures;
}

/** Polls `done` until it holds; a bound against a hang (throws naming `what`), never a timing assertion. */
async function until(what: string, done: () => boolean | Promise<boolean>, withinMs = 5_000): Promise<void> {
  for (const giveUpAt = Date.now() + withinMs; !(await done()); await sleep(10)) {
    if (Date.now() > giveUpAt) throw new Error(`never happened within ${withinMs} ms: ${what}`);
  }
}

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

describeRedis('RedisTokenStore with TokenManager', () => {
  const redis = useRedisServer();
  const made = closedAfterEach();

  /** One replica's store: its own client, serving every session of that replica. */
  function makeStore(client: Redis, options: Partial<RedisTokenStoreOptions> = {}): RedisTokenStore {
    return made.store({
      lockTtlMs: 1_000,
      lockWaitMs: 1_500,
      pollIntervalMs: 50,
      commandTimeoutMs: 200,
      ...options,
      client,
    });
  }

  function makeManager(
    store: RedisTokenStore,
    options: Partial<InternalTokenManagerOptions> & { provider: FakeProvider },
  ): TokenManager {
    return made.manager({ refreshJitterMs: 0, retry: INSTANT_RETRY, ...options, store });
  }

  /**
   * For tests that count sign-ins: a replica that gives up waiting (for the lock, a Redis reply or its own store
   * deadline) signs in itself, by design. So Redis's bounds outlast what a loaded machine takes, and the managers'
   * deadlines run on a clock that never moves: a slow run stays slow, and signs in no more often.
   */
  const patientStore: Partial<RedisTokenStoreOptions> = {
    lockTtlMs: 30_000,
    lockWaitMs: 60_000,
    commandTimeoutMs: 15_000,
  };
  const patientManager = (): Pick<InternalTokenManagerOptions, 'timers'> => ({ timers: new ManualClock(0) });

  it('lets 8 replicas of one identity share one sign-in, and one refresh once their tokens expire', async () => {
    let offsetMs = 0;
    const now = (): number => Date.now() + offsetMs;
    const identity = newIdentity('partner');
    const provider = identifiedProvider(identity, { now, accessTtlMs: 60_000 });
    const replicas = await Promise.all(
      Array.from({ length: 8 }, async () =>
        makeManager(makeStore(await redis.connect(), { now, ...patientStore }), { provider, now, ...patientManager() }),
      ),
    );

    const first = await Promise.all(replicas.map((manager) => manager.getAccessToken()));
    expect(provider.calls).toHaveLength(1);
    expect(new Set(first)).toEqual(new Set(['access-1']));

    offsetMs = 61_000;
    const second = await Promise.all(replicas.map((manager) => manager.getAccessToken()));
    expect(provider.calls.map((call) => call.kind)).toEqual(['authenticate', 'refresh']);
    expect(new Set(second)).toEqual(new Set(['access-2']));

    // The default key derives from the identity, and the value carries it.
    const key = `alix-token-manager:session:${identity}`;
    expect(replicas[0]?.storeKey).toBe(key);
    const reader = makeStore(await redis.connect(), patientStore);
    expect(await reader.get(key)).toEqual({ identity, tokens: expect.objectContaining({ accessToken: 'access-2' }) });
  });

  it('keeps 3 identities × 3 replicas apart on one store per replica: one sign-in per identity, each served its own token', async () => {
    const identities = [newIdentity('alice'), newIdentity('bob'), newIdentity('carol')];
    const providers = identities.map((id, index) =>
      identifiedProvider(id, { now: () => Date.now(), accessTtlMs: 60_000 }, `id${index}-`),
    );
    const stores3 = await Promise.all([0, 1, 2].map(async () => makeStore(await redis.connect(), patientStore)));
    // Every replica's store serves all three identities' managers.
    const fleet = stores3.flatMap((store) =>
      providers.map((provider, index) => ({ index, manager: makeManager(store, { provider, ...patientManager() }) })),
    );

    const tokens = await Promise.all(fleet.map(({ manager }) => manager.getAccessToken()));
    expect(providers.map((provider) => provider.calls.length)).toEqual([1, 1, 1]);
    expect(tokens).toEqual(fleet.map(({ index }) => `id${index}-access-1`));
    const reader = makeStore(await redis.connect(), patientStore);
    for (const [position, { index }] of fleet.entries()) {
      const stored = await reader.get(`alix-token-manager:session:${identities[index] ?? ''}`);
      expect(stored?.identity).toBe(identities[index]);
      expect(tokens[position]).toBe(stored?.tokens.accessToken);
    }
  });

  it('never serves another identity the session found under a shared storeKey', async () => {
    const storeKey = `alix-token-manager:shared:${randomUUID()}`;
    const store = makeStore(await redis.connect());
    const alice = identifiedProvider(newIdentity('alice'), { now: () => Date.now(), accessTtlMs: 60_000 }, 'alice-');
    const bob = identifiedProvider(newIdentity('bob'), { now: () => Date.now(), accessTtlMs: 60_000 }, 'bob-');
    expect(await makeManager(store, { provider: alice, storeKey }).getAccessToken()).toBe('alice-access-1');
    expect(await makeManager(makeStore(await redis.connect()), { provider: bob, storeKey }).getAccessToken()).toBe(
      'bob-access-1',
    );
    expect(bob.authenticateCount).toBe(1);
  });

  it('signs in once for 5 replicas whose clients are still connecting (enableOfflineQueue: false)', async () => {
    const identity = newIdentity('partner');
    const provider = identifiedProvider(identity, { now: () => Date.now(), accessTtlMs: 60_000 });
    const lifecycle: LifecycleEvent[] = [];
    const replicas = Array.from({ length: 5 }, () => {
      // Used straight after creation, as docs/scaling.md shows: no await on the connection.
      const client = redis.createClient({ lazyConnect: false });
      expect(client.status).toBe('connecting');
      const manager = makeManager(makeStore(client, patientStore), { provider, ...patientManager() });
      manager.on('lifecycle', (event) => lifecycle.push(event));
      return manager;
    });
    const tokens = await Promise.all(replicas.map((manager) => manager.getAccessToken()));
    expect(provider.calls).toHaveLength(1);
    expect(new Set(tokens)).toEqual(new Set(['access-1']));
    expect(lifecycle.filter((event) => event.type === 'store-failed')).toEqual([]);
  });

  itOwnServer('serves every call while Redis restarts and publishes to it again afterwards', async () => {
    const identity = newIdentity('partner');
    const provider = identifiedProvider(identity, { now: () => Date.now(), accessTtlMs: 1_200 });
    const timing = { provider, refreshBeforeExpiryMs: 500, expirySkewMs: 100 };
    const replicas = await Promise.all(
      Array.from({ length: 3 }, async () => makeManager(makeStore(await redis.connect()), timing)),
    );

    // A call counts for the phase it started and ended in: phases end on events, so no count depends on speed.
    const served = { up: 0, down: 0, back: 0 };
    let phase: keyof typeof served = 'up';
    const failures: unknown[] = [];
    let stopped = false;
    const running = (async () => {
      while (!stopped) {
        await Promise.all(
          replicas.map(async (manager) => {
            const from = phase;
            try {
              await manager.getAccessToken();
              if (phase === from) served[from] += 1;
            } catch (error) {
              failures.push(error);
            }
          }),
        );
        await sleep(20);
      }
    })();

    // Stopped however the test ends: a loop left running would keep jest alive.
    try {
      await until('a call served before the kill', () => served.up > 0);
      await redis.kill();
      phase = 'down';
      // Down until a replica refreshed without Redis, and calls were served after that refresh too.
      const providerCalls = provider.calls.length;
      await until('a refresh while Redis is down', () => provider.calls.length > providerCalls);
      const servedBeforeRefresh = served.down;
      await until('a call served after that refresh', () => served.down > servedBeforeRefresh);
      await redis.start();
      phase = 'back';
      const reader = makeStore(await redis.connect(), patientStore);
      const key = `alix-token-manager:session:${identity}`;
      // Polled: a refresh between the two reads would change the token and fail a single comparison.
      await until(
        'the restarted Redis holds the session the replicas serve',
        async () => (await reader.get(key))?.tokens.accessToken === (await replicas[0]?.getAccessToken()),
      );
      await until('a call served after the restart', () => served.back > 0);
    } finally {
      stopped = true;
      await running;
    }

    expect(failures).toEqual([]);
  });

  it('shares a session whose provider says "no refresh token" with null (as the manager accepts it): one sign-in for two replicas', async () => {
    const identity = newIdentity('no-refresh');
    // A JavaScript provider without refresh tokens: null for both, which the manager treats as none.
    class NullRefreshProvider extends FakeProvider {
      override issue(): TokenSet {
        const { accessToken, accessTokenExpiresAt } = super.issue();
        return { accessToken, accessTokenExpiresAt, refreshToken: null, refreshTokenExpiresAt: null } as never;
      }
    }
    const provider = new NullRefreshProvider({
      now: () => Date.now(),
      accessTtlMs: 60_000,
      identity: { id: identity },
    });
    const [first, second] = [
      makeStore(await redis.connect(), patientStore),
      makeStore(await redis.connect(), patientStore),
    ];
    const failed: string[] = [];
    const manager = makeManager(first, { provider, ...patientManager() });
    manager.on('lifecycle', (event) => {
      if (event.type === 'store-failed') failed.push(event.message);
    });
    expect(await manager.getAccessToken()).toBe('access-1');
    expect(failed).toEqual([]);
    expect(await makeManager(second, { provider, ...patientManager() }).getAccessToken()).toBe('access-1');
    expect(provider.calls).toHaveLength(1);
  });

  it.each([
    ['fails fast (no offline queue)', {}],
    ['queues offline (ioredis defaults)', { enableOfflineQueue: true, maxRetriesPerRequest: 20 }],
  ])(
    'serves and refreshes process-locally, and reports it, when Redis is down: a client that %s',
    async (_label, clientOptions) => {
      const client = redis.createClient({ port: await freePort(), ...clientOptions });
      const provider = identifiedProvider(newIdentity('partner'), { now: () => Date.now(), accessTtlMs: 600 });
      // A store call ends at its commandTimeoutMs (200 ms) or sooner, long before the manager's storeTimeoutMs.
      const options = { provider, refreshBeforeExpiryMs: 200, expirySkewMs: 50, storeTimeoutMs: 10_000 };
      const manager = makeManager(makeStore(client), options);
      const failed = new Set<string>();
      manager.on('lifecycle', (event) => {
        if (event.type === 'store-failed') failed.add(event.operation);
      });

      const startedAt = Date.now();
      await manager.getAccessToken();
      expect(Date.now() - startedAt).toBeLessThan(5_000);
      // Until two refreshes ran, each failing to take the lock and to write (Redis is down).
      const failures = await hammer([manager], () => provider.calls.length >= 3);

      expect(failures).toEqual([]);
      expect(provider.calls.length).toBeGreaterThanOrEqual(3);
      expect(provider.calls.map((call) => call.kind)).toEqual(['authenticate', 'refresh', 'refresh']);
      expect(failed).toContain('lock');
      expect(failed).toContain('write');
    },
  );

  it('never spends a refresh token twice when the holder could not write its rotated session once', async () => {
    let offsetMs = 0;
    const now = (): number => Date.now() + offsetMs;
    const provider = new RotatingProvider({ now, accessTtlMs: 60_000, identity: { id: newIdentity('fleet') } });
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
    const patient = { now, breaker: false, ...patientStore } as const;
    const a = makeManager(makeStore(clientA, patient), { provider, now, ...patientManager() });
    const b = makeManager(makeStore(await redis.connect(), patient), { provider, now, ...patientManager() });
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

  it.each([
    ['holding the lock', { lockTtlMs: 30_000, lockWaitMs: 45_000 }, undefined],
    ['without the lock (its holder hangs)', { lockTtlMs: 100, lockWaitMs: 300 }, 'hung-holder'],
  ])(
    'writes a refresh whose session version the store forgot meanwhile (10,000 other keys read), %s: the fleet adopts it',
    async (_label, lockOptions, lockHolder) => {
      let offsetMs = 0;
      const now = (): number => Date.now() + offsetMs;
      const provider = new RotatingProvider({ now, accessTtlMs: 60_000, identity: { id: newIdentity('evicted') } });
      // 10,000 reads queue on one connection; a loaded machine can take over a second to answer the last.
      const slowOptions = { now, breaker: false, commandTimeoutMs: 30_000, ...lockOptions } as const;
      const clientA = await redis.connect();
      const storeA = makeStore(clientA, slowOptions);
      const a = makeManager(storeA, { provider, now, acquireTimeoutMs: 60_000, storeTimeoutMs: 30_000 });
      const b = makeManager(makeStore(await redis.connect(), { now, breaker: false }), { provider, now });
      const failed: string[] = [];
      a.on('lifecycle', (event) => {
        if (event.type === 'store-failed') failed.push(event.message);
      });
      await a.getAccessToken();
      await b.getAccessToken();
      const { lock } = storeA.keysFor(a.storeKey);
      if (lockHolder !== undefined) await clientA.set(lock, lockHolder, 'PX', 60_000);

      offsetMs = 61_000;
      provider.options.manual = true;
      const refreshing = a.getAccessToken();
      await until('the refresh reaches the auth server', () => provider.pendingCount === 1);
      // A pool's other sessions use the same store while this refresh waits on the auth server.
      const others = Array.from({ length: 10_000 }, (_, index) => `${redis.uniqueKey('other')}:${index}`);
      for (let start = 0; start < others.length; start += 1_000) {
        await Promise.all(others.slice(start, start + 1_000).map((key) => storeA.get(key)));
      }
      provider.options.manual = false;
      provider.release();
      const fromA = await refreshing;
      if (lockHolder !== undefined) await clientA.del(lock);

      // The lock may fail (its holder hangs); the write may not.
      expect(failed).toEqual(lockHolder === undefined ? [] : [expect.stringContaining('still held')]);
      expect((await storeA.get(a.storeKey))?.tokens.refreshToken).toBe('refresh-2');
      // The other replica adopts the new session instead of spending the rotated refresh token and signing in.
      expect(await b.getAccessToken()).toBe(fromA);
      expect(provider.reused).toEqual([]);
      expect(provider.authenticateCount).toBe(1);
    },
  );

  it('leaves a newer session another replica wrote while it refreshed without the lock', async () => {
    let offsetMs = 0;
    const now = (): number => Date.now() + offsetMs;
    const identity = newIdentity('raced');
    const provider = new RotatingProvider({ now, accessTtlMs: 60_000, identity: { id: identity } });
    const client = await redis.connect();
    const store = makeStore(client, { now, breaker: false, lockTtlMs: 100, lockWaitMs: 300 });
    const manager = makeManager(store, { provider, now });
    await manager.getAccessToken();
    await client.set(store.keysFor(manager.storeKey).lock, 'hung-holder', 'PX', 60_000);

    offsetMs = 61_000;
    provider.options.manual = true;
    const refreshing = manager.getAccessToken();
    await until('the refresh reaches the auth server', () => provider.pendingCount === 1);
    const other = makeStore(await redis.connect(), { now, breaker: false });
    await other.get(manager.storeKey);
    const newer = { identity, tokens: makeTokenSet(now(), { accessToken: 'newer', expiresInMs: 120_000 }) };
    await other.set(manager.storeKey, newer);
    provider.release();
    await refreshing;

    expect(await other.get(manager.storeKey)).toEqual(newer);
  });
});
