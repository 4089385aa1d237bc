import { randomUUID } from 'node:crypto';
import type { TokenManager } from '../../src/manager/token-manager';
import { TokenManagerPool } from '../../src/pool/pool';
import type { LifecycleEvent } from '../../src/manager/types';
import type { RedisTokenStoreOptions } from '../../src/redis';
import { FakeProvider } from '../helpers/fake-provider';
import { INSTANT_RETRY } from '../helpers/manager';
import { describeRedisCluster, useRedisCluster } from '../helpers/redis-cluster';
import { closedAfterEach } from '../helpers/redis-server';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describeRedisCluster('RedisTokenStore on a Redis Cluster (3 masters, 3 replicas)', () => {
  const cluster = useRedisCluster({ masters: 3, replicas: 1, nodeTimeoutMs: 1_000 });
  const made = closedAfterEach();

  async function replicas(
    count: number,
    provider: FakeProvider,
    now: () => number,
    options: Partial<RedisTokenStoreOptions> = {},
  ): Promise<TokenManager[]> {
    return Promise.all(
      Array.from({ length: count }, async () => {
        const store = made.store({
          client: await cluster.connect(),
          now,
          lockTtlMs: 2_000,
          lockWaitMs: 60_000,
          pollIntervalMs: 30_000,
          ...options,
        });
        return made.manager({ provider, store, now, refreshJitterMs: 0, retry: INSTANT_RETRY });
      }),
    );
  }

  it('gives 4 replicas one auth call per token lifetime, waiters woken by pub/sub across nodes', async () => {
    let offsetMs = 0;
    const now = (): number => Date.now() + offsetMs;
    const provider = new FakeProvider({ now, accessTtlMs: 60_000, identity: { id: `cluster-${randomUUID()}` } });
    // Polling every 30 s: only a notification through the cluster can end a wait within the test's timeout.
    const fleet = await replicas(4, provider, now);
    for (let lifetime = 1; lifetime <= 3; lifetime += 1) {
      const tokens = await Promise.all(fleet.map((manager) => manager.getAccessToken()));
      expect(new Set(tokens)).toEqual(new Set([`access-${lifetime}`]));
      offsetMs += 61_000;
    }
    expect(provider.calls.map((call) => call.kind)).toEqual(['authenticate', 'refresh', 'refresh']);
    const { session, lock } = made.stores[0]?.keysFor(fleet[0]?.storeKey ?? '') ?? { session: '', lock: '' };
    expect([session, lock]).toEqual([`{${fleet[0]?.storeKey ?? ''}}`, `{${fleet[0]?.storeKey ?? ''}}:lock`]);
  });

  it('gives K=3 pool replicas × 60 users one auth call per used session per lifetime, each session locked on its own', async () => {
    let offsetMs = 0;
    const now = (): number => Date.now() + offsetMs;
    const run = randomUUID();
    const users = Array.from({ length: 60 }, (_, index) => `user${index}@example.com`);
    const prefix = (user: string): string => `${user.split('@')[0] ?? ''}-`;
    const providers = new Map(
      users.map((user) => [
        user,
        new FakeProvider({ now, accessTtlMs: 60_000, identity: { id: `${run}-${user}` }, prefix: prefix(user) }),
      ]),
    );
    const pools: TokenManagerPool[] = [];
    for (let replica = 0; replica < 3; replica += 1) {
      const store = made.store({
        client: await cluster.connect(),
        now,
        lockTtlMs: 2_000,
        lockWaitMs: 10_000,
        pollIntervalMs: 200,
      });
      pools.push(
        new TokenManagerPool({
          createProvider: (key) => providers.get(key) as FakeProvider,
          store,
          now,
          retry: INSTANT_RETRY,
          maxConcurrentAuth: 16,
        }),
      );
    }
    try {
      // One user's auth call hangs: the others' sessions are not held up by its lock.
      const stuck = providers.get(users[0] ?? '') as FakeProvider;
      stuck.options.manual = true;
      const stuckTokens = Promise.all(pools.map((pool) => pool.getAccessToken(users[0] ?? '')));
      for (let lifetime = 1; lifetime <= 2; lifetime += 1) {
        const rest = users.slice(1);
        const tokens = await Promise.all(
          pools.flatMap((pool) => rest.map(async (user) => [user, await pool.getAccessToken(user)] as const)),
        );
        for (const [user, token] of tokens) expect(token).toBe(`${prefix(user)}access-${lifetime}`);
        if (lifetime === 1) {
          expect(stuck.calls).toHaveLength(1);
          stuck.release();
          stuck.options.manual = false;
          expect(new Set(await stuckTokens)).toEqual(new Set([`${prefix(users[0] ?? '')}access-1`]));
          await Promise.all(pools.map((pool) => pool.getAccessToken(users[0] ?? '')));
        }
        offsetMs += 61_000;
      }
      for (const user of users.slice(1))
        expect(providers.get(user)?.calls.map((call) => call.kind)).toEqual(['authenticate', 'refresh']);
    } finally {
      for (const pool of pools) pool.close();
    }
  });

  it('keeps serving through a master killed mid-refresh and refreshes once the replica took over: no expired token, no error', async () => {
    let offsetMs = 0;
    const now = (): number => Date.now() + offsetMs;
    const provider = new FakeProvider({ now, accessTtlMs: 60_000, identity: { id: `failover-${randomUUID()}` } });
    const fleet = await replicas(4, provider, now, { commandTimeoutMs: 300, pollIntervalMs: 100, lockWaitMs: 5_000 });
    const events: LifecycleEvent[] = [];
    for (const manager of fleet) manager.on('lifecycle', (event) => events.push(event));
    expect(new Set(await Promise.all(fleet.map((manager) => manager.getAccessToken())))).toEqual(new Set(['access-1']));
    const sessionKey = made.stores[0]?.keysFor(fleet[0]?.storeKey ?? '').session ?? '';
    const master = await cluster.masterFor(sessionKey);

    // Inside the refresh window (the token is still valid): the refresh starts and hangs at the auth server.
    provider.options.manual = true;
    offsetMs = 40_000;
    expect(new Set(await Promise.all(fleet.map((manager) => manager.getAccessToken())))).toEqual(new Set(['access-1']));
    for (let attempt = 0; attempt < 200 && provider.calls.length < 2; attempt += 1) await sleep(10);
    expect(provider.calls).toHaveLength(2);

    await cluster.kill(master);
    const served: string[] = [];
    const failures: unknown[] = [];
    const failover = cluster.waitForFailover(sessionKey, master);
    let done = false;
    void failover.then(
      () => (done = true),
      () => (done = true),
    );
    while (!done) {
      for (const manager of fleet)
        await manager.getAccessToken().then(
          (token) => served.push(token),
          (error: unknown) => failures.push(error),
        );
      await sleep(50);
    }
    await failover;
    // Calls made from here on go through: a replica whose jittered refresh point came during the failover may
    // only now reach the auth server, and a call held after this release would hang until its deadline.
    provider.options.manual = false;
    provider.release();
    for (
      let attempt = 0;
      attempt < 100 && fleet.some((manager) => manager.status().state === 'refreshing');
      attempt += 1
    )
      await sleep(50);

    // Past the old token's last valid moment: every replica must hold (or get) a new one.
    offsetMs = 55_000;
    const after = await Promise.all(fleet.map((manager) => manager.getAccessToken()));
    expect(failures).toEqual([]);
    expect(new Set(served)).toEqual(new Set(['access-1']));
    expect(after.every((token) => token !== 'access-1')).toBe(true);
    // The refresh that hung during the failover, plus at most one per replica that lost the lock to the failover.
    expect(provider.calls.length).toBeLessThanOrEqual(1 + fleet.length);
    expect(events.filter((event) => event.type === 'refresh-ended' && event.outcome === 'failed')).toEqual([]);
  });
});
