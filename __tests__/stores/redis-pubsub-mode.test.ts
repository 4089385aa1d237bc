import type { Cluster } from 'ioredis';
import pino from 'pino';
import { RedisNotifications } from '../../src/stores/redis-notifications';
import { FENCED_SET_SCRIPT } from '../../src/stores/redis-scripts';
import { describeRedis, useRedisServer } from '../helpers/redis-server';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('RedisNotifications.mode()', () => {
  /** Enough of a `Cluster` for the detection: a cluster client whose ioredis knows `shardedSubscribers`. */
  const cluster = { isCluster: true, options: { shardedSubscribers: false } } as unknown as Cluster;

  it('is unknown while INFO fails, publishes both ways meanwhile, and asks again a second later', async () => {
    let answer: () => Promise<string> = () => Promise.reject(new Error('down'));
    const notifications = new RedisNotifications(cluster, pino({ level: 'silent' }), () => answer());
    await expect(notifications.mode()).resolves.toBeUndefined();
    await expect(notifications.publishCommand()).resolves.toBe('BOTH');
    answer = () => Promise.resolve('# Server\r\nredis_version:7.0.15\r\n');
    // Not asked again at once: a down Redis is not asked for every write.
    await expect(notifications.mode()).resolves.toBeUndefined();
    await sleep(1_050);
    await expect(notifications.mode()).resolves.toBe('sharded');
    await expect(notifications.publishCommand()).resolves.toBe('SPUBLISH');
    notifications.close();
  });

  it('clears the timer that subscribes again once the mode may be known, on close()', async () => {
    jest.useFakeTimers();
    try {
      const down = (): Promise<string> => Promise.reject(new Error('down'));
      const notifications = new RedisNotifications(cluster, pino({ level: 'silent' }), down);
      notifications.listen('{k}:published', () => undefined);
      // The detection fails, and a retry of the subscription is armed for a second later.
      await jest.advanceTimersByTimeAsync(0);
      expect(jest.getTimerCount()).toBe(1);
      notifications.close();
      expect(jest.getTimerCount()).toBe(0);
    } finally {
      jest.useRealTimers();
    }
  });

  it('is classic on a cluster before Redis 7', async () => {
    const info = (): Promise<string> => Promise.resolve('redis_version:6.2.14');
    const notifications = new RedisNotifications(cluster, pino({ level: 'silent' }), info);
    await expect(notifications.mode()).resolves.toBe('classic');
    notifications.close();
  });
});

describeRedis('FENCED_SET_SCRIPT publishing both ways', () => {
  const redis = useRedisServer();

  it('reaches a classic subscriber when the mode is not known (BOTH)', async () => {
    const client = await redis.connect();
    const subscriber = await redis.connect();
    const key = `{${redis.uniqueKey('both')}}`;
    const heard: string[] = [];
    subscriber.on('message', (_channel: string, message: string) => heard.push(message));
    await subscriber.subscribe(`${key}:published`);
    const channel = `${key}:published`;
    const reply = await client.eval(FENCED_SET_SCRIPT, 2, key, channel, '0', '{"version":1}', '10000', '', 'BOTH');
    expect(reply).toEqual([1, 1, '']);
    await sleep(50);
    expect(heard).toEqual(['1']);
  });
});
