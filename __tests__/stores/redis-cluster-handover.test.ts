import { randomUUID } from 'node:crypto';
import type { Cluster } from 'ioredis';
import { RedisTokenStore } from '../../src/redis';
import { TokenManager } from '../../src/manager/token-manager';
import type { LifecycleEvent } from '../../src/manager/types';
import { FakeProvider } from '../helpers/fake-provider';
import { INSTANT_RETRY } from '../helpers/manager';
import { describeRedisCluster, useRedisCluster } from '../helpers/redis-cluster';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const MANAGER_OPTIONS = { refreshBeforeExpiryMs: 2_000, expirySkewMs: 200, refreshJitterMs: 0, retry: INSTANT_RETRY };

describeRedisCluster('RedisTokenStore hand-over on a Redis Cluster (3 masters)', () => {
  const cluster = useRedisCluster({ masters: 3, replicas: 0 });
  const stores: RedisTokenStore[] = [];
  const managers: TokenManager[] = [];
  afterEach(async () => {
    for (const manager of managers.splice(0)) manager.close();
    await Promise.all(stores.splice(0).map((store) => store.close()));
  });

  it('uses sharded pub/sub on Redis ≥ 7: 4 replicas × 6 sessions, one refresh each, others adopt', async () => {
    const clients: Cluster[] = await Promise.all(Array.from({ length: 4 }, () => cluster.connect()));
    const events: LifecycleEvent[] = [];
    const providers = Array.from(
      { length: 6 },
      () => new FakeProvider({ now: () => Date.now(), accessTtlMs: 4_000, identity: { id: `c-${randomUUID()}` } }),
    );
    for (const client of clients) {
      const store = new RedisTokenStore({ client, lockTtlMs: 2_000, lockWaitMs: 3_000, pollIntervalMs: 100 });
      stores.push(store);
      for (const provider of providers) {
        const manager = new TokenManager({ provider, store, ...MANAGER_OPTIONS });
        manager.on('lifecycle', (event) => events.push(event));
        managers.push(manager);
      }
    }
    const major = Number(/redis_version:(\d+)/.exec(await (clients[0] as Cluster).info('server'))?.[1]);
    expect(await stores[0]?.pubSubMode()).toBe(major >= 7 ? 'sharded' : 'classic');

    await Promise.all(managers.map((manager) => manager.getAccessToken()));
    await sleep(300);
    events.splice(0);
    // Until every manager serves the second token: the refreshers' points come at expiry − 2 s.
    for (let waited = 0; ; waited += 50) {
      const served = await Promise.all(managers.map((manager) => manager.getAccessToken()));
      if (served.every((token) => token === 'access-2')) break;
      if (waited > 4_000) throw new Error(`not every manager serves access-2: ${served.join(', ')}`);
      await sleep(50);
    }
    const kinds = providers.map((provider) => provider.calls.map((call) => call.kind));
    expect(kinds).toEqual(providers.map(() => ['authenticate', 'refresh']));
    expect(events.filter((event) => event.type === 'refresh-started')).toHaveLength(6);
    expect(events.filter((event) => event.type === 'adopted')).toHaveLength(18);
  });
});
