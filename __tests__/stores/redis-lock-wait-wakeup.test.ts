import type { Cluster } from 'ioredis';
import pino from 'pino';
import { RedisNotifications } from '../../src/stores/redis-notifications';
import { describeRedis, untilSubscribers, useRedisServer } from '../helpers/redis-server';

const never = (): AbortSignal => new AbortController().signal;
/** One turn of the event loop: a wait that a timer would end is still pending after it. */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describeRedis('RedisNotifications: a lock wait and the notifications it may miss', () => {
  const redis = useRedisServer();

  it('ends the next wait at once for a notification that arrived between two waits', async () => {
    const client = await redis.connect();
    const notifications = new RedisNotifications(client, pino({ level: 'silent' }), () => client.info('server'));
    const channel = `{${redis.uniqueKey('wait')}}:published`;
    try {
      // Resolves once the channel is subscribed: a message published from here on reaches it.
      const watch = await notifications.watch(channel, 10_000);
      let heard: () => void = () => undefined;
      const arrived = new Promise<void>((resolve) => (heard = resolve));
      // Listeners run in the order they listened: this one after the wait's own.
      const stop = notifications.listen(channel, () => heard());
      await client.publish(channel, '2');
      await arrived;
      let woken = false;
      void watch.next(60_000, never()).then(() => (woken = true));
      await turn();
      expect(woken).toBe(true);
      stop();
      watch.stop();
    } finally {
      notifications.close();
    }
  });
});

describeRedis('RedisNotifications: a subscription begun before the pub/sub mode is known', () => {
  const redis = useRedisServer();

  it('subscribes a channel once the pub/sub mode can be asked, after a failed first detection', async () => {
    const client = await redis.connect();
    let answer: () => Promise<string> = () => Promise.reject(new Error('down'));
    // A cluster client as the detection sees it (INFO decides); its subscriber a plain connection.
    const cluster = {
      isCluster: true,
      options: { shardedSubscribers: false },
      duplicate: () => client.duplicate({ enableOfflineQueue: true }),
    } as unknown as Cluster;
    const notifications = new RedisNotifications(cluster, pino({ level: 'silent' }), () => answer());
    const channel = `{${redis.uniqueKey('mode')}}:published`;
    jest.useFakeTimers({
      doNotFake: [
        'nextTick',
        'queueMicrotask',
        'setImmediate',
        'clearImmediate',
        'setInterval',
        'clearInterval',
        'hrtime',
        'performance',
      ],
    });
    try {
      notifications.listen(channel, () => undefined);
      await jest.advanceTimersByTimeAsync(0);
      await expect(notifications.mode()).resolves.toBeUndefined();
      answer = () => Promise.resolve('# Server\r\nredis_version:6.2.14\r\n');
      await jest.advanceTimersByTimeAsync(1_000);
    } finally {
      jest.useRealTimers();
    }
    try {
      await untilSubscribers(client, channel, 1);
    } finally {
      notifications.close();
    }
  });
});

describeRedis('RedisNotifications: subscriptions while the subscriber connection is still connecting', () => {
  const redis = useRedisServer();

  it('keeps every subscription, the one queued before the connection and one asked during its handshake', async () => {
    const client = await redis.connect();
    const [queued, duringHandshake] = [redis.uniqueKey('queued'), redis.uniqueKey('handshake')].map(
      (key) => `{${key}}:published`,
    ) as [string, string];
    // A SUBSCRIBE written between the connection's 'connect' and its ready check put it in subscriber mode before
    // the check's INFO, which Redis then refused: ioredis dropped the connection and the queued subscription with it.
    const withHandshakeListen = {
      isCluster: false,
      duplicate: (options: object) => {
        const subscriber = client.duplicate(options);
        subscriber.once('connect', () => notifications.listen(duringHandshake, () => undefined));
        return subscriber;
      },
    } as unknown as typeof client;
    const notifications = new RedisNotifications(withHandshakeListen, pino({ level: 'silent' }), () =>
      client.info('server'),
    );
    try {
      notifications.listen(queued, () => undefined);
      await untilSubscribers(client, duringHandshake, 1);
      await untilSubscribers(client, queued, 1);
    } finally {
      notifications.close();
    }
  });
});
