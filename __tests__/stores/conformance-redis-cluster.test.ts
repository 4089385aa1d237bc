import { randomBytes } from 'node:crypto';
import type { Cluster } from 'ioredis';
import { RedisTokenStore } from '../../src/redis';
import { describeTokenStoreConformance } from '../../src/sandbox/index';
import { describeRedisCluster, useRedisCluster } from '../helpers/redis-cluster';

describeRedisCluster('RedisTokenStore conformance (Redis Cluster, 3 masters)', () => {
  const cluster = useRedisCluster({ masters: 3, replicas: 0 });
  const encryption = { keys: { k1: randomBytes(32) }, current: 'k1' };
  let raw: Promise<Cluster> | undefined;
  /** One connection for the kit's raw reads and writes. */
  const rawClient = (): Promise<Cluster> => (raw ??= cluster.connect());
  const timings = { lockTtlMs: 300, lockWaitMs: 3_000, pollIntervalMs: 50, commandTimeoutMs: 1_000 };
  const breaker = { openMs: 200 };

  describeTokenStoreConformance(
    'RedisTokenStore on a cluster, with encryption',
    async () => new RedisTokenStore({ ...timings, breaker, encryption, client: await cluster.connect() }),
    {
      fencing: true,
      lock: { lockTtlMs: 300, handOverMs: 1_500 },
      encryption: {
        read: async (key) => (await (await rawClient()).get(`{${key}}`)) ?? undefined,
        write: async (key, value) => void (await (await rawClient()).set(`{${key}}`, value)),
      },
    },
  );
});
