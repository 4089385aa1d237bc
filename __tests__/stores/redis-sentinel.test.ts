import { randomUUID } from 'node:crypto';
import type Redis from 'ioredis';
import type { TokenManager } from '../../src/manager/token-manager';
import { FakeProvider } from '../helpers/fake-provider';
import { INSTANT_RETRY } from '../helpers/manager';
import { REDIS_TESTS, closedAfterEach, describeRedis } from '../helpers/redis-server';
import { useRedisSentinel } from '../helpers/redis-sentinel';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// A Sentinel set-up needs servers this process starts (a REDIS_URL alone cannot provide one).
const describeSentinel = REDIS_TESTS.ownServer ? describeRedis : describe.skip;

describeSentinel('RedisTokenStore on a Sentinel-managed Redis (master, replica, sentinel)', () => {
  const sentinel = useRedisSentinel();
  const made = closedAfterEach();
  const clients: Redis[] = [];
  afterEach(() => {
    for (const client of clients.splice(0)) client.disconnect();
  });

  function replicas(count: number, provider: FakeProvider, now: () => number): TokenManager[] {
    return Array.from({ length: count }, () => {
      const client = sentinel.connect();
      clients.push(client);
      const store = made.store({
        client,
        now,
        lockTtlMs: 2_000,
        lockWaitMs: 10_000,
        pollIntervalMs: 100,
        commandTimeoutMs: 300,
      });
      return made.manager({ provider, store, now, refreshJitterMs: 0, retry: INSTANT_RETRY });
    });
  }

  it('gives 3 replicas one auth call per token lifetime through a client configured with sentinels', async () => {
    let offsetMs = 0;
    const now = (): number => Date.now() + offsetMs;
    const provider = new FakeProvider({ now, accessTtlMs: 60_000, identity: { id: `sentinel-${randomUUID()}` } });
    const fleet = replicas(3, provider, now);
    for (let lifetime = 1; lifetime <= 3; lifetime += 1) {
      expect(new Set(await Promise.all(fleet.map((manager) => manager.getAccessToken())))).toEqual(
        new Set([`access-${lifetime}`]),
      );
      offsetMs += 61_000;
    }
    expect(provider.calls.map((call) => call.kind)).toEqual(['authenticate', 'refresh', 'refresh']);
  });

  it('serves the held token through a master crash, and after the failover the next lifetime costs one auth call', async () => {
    let offsetMs = 0;
    const now = (): number => Date.now() + offsetMs;
    const provider = new FakeProvider({
      now,
      accessTtlMs: 60_000,
      identity: { id: `sentinel-failover-${randomUUID()}` },
    });
    const fleet = replicas(2, provider, now);
    expect(new Set(await Promise.all(fleet.map((manager) => manager.getAccessToken())))).toEqual(new Set(['access-1']));
    await sentinel.waitForReplica(made.stores[0]?.keysFor(fleet[0]?.storeKey ?? '').session ?? '');

    const oldMaster = await sentinel.masterPort();
    await sentinel.killMaster();
    const failover = sentinel.waitForFailover(oldMaster);
    let done = false;
    void failover.then(
      () => (done = true),
      () => (done = true),
    );
    const served = new Set<string>();
    const failures: unknown[] = [];
    while (!done) {
      for (const manager of fleet)
        await manager.getAccessToken().then(
          (token) => served.add(token),
          (error: unknown) => failures.push(error),
        );
      await sleep(50);
    }
    await failover;
    expect(await sentinel.masterPort()).not.toBe(oldMaster);
    expect([failures, [...served]]).toEqual([[], ['access-1']]);

    // The clients find the new master through the sentinel; then one refresh serves both replicas.
    for (const client of clients) {
      for (
        let attempt = 0;
        attempt < 100 &&
        !(await client.ping().then(
          () => true,
          () => false,
        ));
        attempt += 1
      )
        await sleep(100);
    }
    offsetMs += 61_000;
    expect(new Set(await Promise.all(fleet.map((manager) => manager.getAccessToken())))).toEqual(new Set(['access-2']));
    expect(provider.calls.map((call) => call.kind)).toEqual(['authenticate', 'refresh']);
  });
});
