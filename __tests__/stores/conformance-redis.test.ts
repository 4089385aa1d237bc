import { randomBytes } from 'node:crypto';
import type Redis from 'ioredis';
import type { RedisTokenStoreOptions } from '../../src/redis';
import { RedisTokenStore } from '../../src/redis';
import { describeTokenStoreConformance } from '../../src/sandbox/index';
import { describeRedis, useRedisServer } from '../helpers/redis-server';

/** Short lock lifetimes and open periods, so the lock and breaker checks finish well within jest's 5 s per test. */
const TIMINGS: Partial<RedisTokenStoreOptions> = {
  lockTtlMs: 300,
  lockWaitMs: 3_000,
  pollIntervalMs: 50,
  commandTimeoutMs: 500,
  breaker: { openMs: 200 },
};
const LOCK = { lockTtlMs: 300, handOverMs: 1_500 };

describeRedis('RedisTokenStore conformance (single node)', () => {
  const redis = useRedisServer();
  const encryption = { keys: { k1: randomBytes(32) }, current: 'k1' };
  /** The session key's Redis name (docs/scaling.md, Keys). */
  const redisKey = (key: string): string => `{${key}}`;
  let raw: Promise<Redis> | undefined;
  /** One connection for the kit's raw reads and writes. */
  const rawClient = (): Promise<Redis> => (raw ??= redis.connect());

  // Each store gets its own connection: another process's view of the same Redis.
  const createStore = async (): Promise<RedisTokenStore> =>
    new RedisTokenStore({ ...TIMINGS, client: await redis.connect() });
  describeTokenStoreConformance('RedisTokenStore', createStore, { fencing: true, lock: LOCK });

  describeTokenStoreConformance(
    'RedisTokenStore with encryption',
    async () => new RedisTokenStore({ ...TIMINGS, encryption, client: await redis.connect() }),
    {
      fencing: true,
      lock: LOCK,
      encryption: {
        read: async (key) => (await (await rawClient()).get(redisKey(key))) ?? undefined,
        write: async (key, value) => void (await (await rawClient()).set(redisKey(key), value)),
      },
    },
  );
});
