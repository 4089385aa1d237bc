import { randomUUID } from 'node:crypto';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type Redis from 'ioredis';
import { TokenStoreError } from '../../src/errors';
import { RedisTokenStore } from '../../src/redis';
import type { RedisTokenStoreOptions, StoredSession } from '../../src/redis';
import { documentedAcl } from '../helpers/documented-acl';
import { makeTokenSet } from '../helpers/fake-provider';
import {
  captureLogger,
  describeRedis,
  freePort,
  itOwnServer,
  untilSubscribers,
  useRedisServer,
} from '../helpers/redis-server';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const never = (): AbortSignal => new AbortController().signal;
const session = (identity = 'id'): StoredSession => ({ identity, tokens: makeTokenSet(Date.now()) });

/** Runs `test` against a server that accepts connections and never answers (a client stays connecting). */
async function withSilentServer(test: (port: number) => Promise<void>): Promise<void> {
  const sockets = new Set<net.Socket>();
  const silent = net.createServer((socket) => sockets.add(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  try {
    await test((silent.address() as AddressInfo).port);
  } finally {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  }
}

describeRedis('RedisTokenStore: connecting and ACLs', () => {
  const redis = useRedisServer();
  const stores: RedisTokenStore[] = [];
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((store) => store.close()));
  });

  function makeStore(client: Redis, options: Partial<RedisTokenStoreOptions> = {}): RedisTokenStore {
    const store = new RedisTokenStore({ lockTtlMs: 2_000, lockWaitMs: 3_000, pollIntervalMs: 50, ...options, client });
    stores.push(store);
    return store;
  }

  describe('a client that is still connecting', () => {
    it('reads, locks and writes through a store used straight after new Redis() with enableOfflineQueue: false', async () => {
      const client = redis.createClient({ lazyConnect: false });
      const store = makeStore(client);
      // What docs/scaling.md shows: no await between creating the client and using the store.
      expect(client.status).toBe('connecting');
      const [readKey, lockKey, writeKey] = [redis.uniqueKey('read'), redis.uniqueKey('lock'), redis.uniqueKey('write')];
      const [read, lock, written] = await Promise.all([
        store.get(readKey),
        store.acquireRefreshLock(lockKey, { signal: never() }),
        store.set(writeKey, session()),
      ]);
      expect(read).toBeUndefined();
      expect(lock.acquired).toBe(true);
      expect(written).toBeUndefined();
      expect(client.status).toBe('ready');
      expect(await store.get(writeKey)).toEqual(expect.objectContaining({ identity: 'id' }));
    });

    it('connects a lazyConnect client that never connected, as ioredis would on its first command', async () => {
      const client = redis.createClient({ lazyConnect: true });
      const store = makeStore(client);
      expect(client.status).toBe('wait');
      const key = redis.uniqueKey('session');
      await store.set(key, session());
      expect(client.status).toBe('ready');
      expect((await store.get(key))?.identity).toBe('id');
    });

    it('waits for each connection attempt: a client connecting again after a disconnect is waited for too', async () => {
      const client = redis.createClient({ lazyConnect: true });
      const store = makeStore(client);
      const key = redis.uniqueKey('session');
      await store.set(key, session());
      const ended = new Promise((resolve) => client.once('end', resolve));
      client.disconnect();
      await ended;
      void client.connect().catch(() => undefined);
      expect(client.status).toBe('connecting');
      expect((await store.get(key))?.identity).toBe('id');
      expect(client.status).toBe('ready');
    });

    it('fails at once, not after connectTimeoutMs, when the connection attempt is refused', async () => {
      const client = redis.createClient({ lazyConnect: false, port: await freePort() });
      const store = makeStore(client, { connectTimeoutMs: 15_000 });
      expect(client.status).toBe('connecting');
      const startedAt = Date.now();
      await expect(store.get(redis.uniqueKey('session'))).rejects.toThrow(/closed before it was ready/);
      expect(Date.now() - startedAt).toBeLessThan(5_000);
    });

    it('gives up after connectTimeoutMs when the server accepts the connection but never answers', () =>
      withSilentServer(async (port) => {
        // ioredis's own connect timeout is far longer: only the store's bound can end the wait.
        const client = redis.createClient({ lazyConnect: false, port, connectTimeout: 20_000 });
        const store = makeStore(client, { connectTimeoutMs: 300 });
        const startedAt = Date.now();
        const failure = store.set(redis.uniqueKey('session'), session());
        await expect(failure).rejects.toBeInstanceOf(TokenStoreError);
        await expect(failure).rejects.toThrow(/not ready after 300 ms/);
        const waitedMs = Date.now() - startedAt;
        expect(waitedMs).toBeGreaterThanOrEqual(280);
        // Long before ioredis's own 20 s.
        expect(waitedMs).toBeLessThan(10_000);
        client.disconnect();
      }));

    it('ends a lock wait at its signal, or at lockWaitMs, while the client is still connecting', () =>
      withSilentServer(async (port) => {
        const client = redis.createClient({ lazyConnect: false, port, connectTimeout: 20_000 });
        // Each command's own bounds far longer too: only the wait's deadline may end it.
        const bounds = { connectTimeoutMs: 15_000, commandTimeoutMs: 15_000 };
        const store = makeStore(client, { lockTtlMs: 100, lockWaitMs: 200, ...bounds });
        const abort = new AbortController();
        let startedAt = Date.now();
        const aborted = store.acquireRefreshLock(redis.uniqueKey('lock'), { signal: abort.signal });
        abort.abort(new Error('caller gave up'));
        await expect(aborted).rejects.toThrow('caller gave up');
        expect(Date.now() - startedAt).toBeLessThan(5_000);
        startedAt = Date.now();
        const timedOut = store.acquireRefreshLock(redis.uniqueKey('lock'), { signal: never() });
        await expect(timedOut).rejects.toThrow(/still held after waiting 200 ms/);
        expect(Date.now() - startedAt).toBeLessThan(5_000);
        client.disconnect();
      }));
  });

  describe('a client whose connection was lost', () => {
    it('fails at once while it waits to reconnect, even with an offline queue that would hold the command', async () => {
      // The offline queue would keep the command until the reconnect, 10 s from now.
      const client = await redis.connect({ enableOfflineQueue: true, retryStrategy: () => 10_000 });
      const store = makeStore(client, { commandTimeoutMs: 5_000 });
      const admin = await redis.connect();
      const reconnecting = new Promise((resolve) => client.once('reconnecting', resolve));
      const id = await client.client('ID');
      await admin.client('KILL', 'ID', String(id));
      await reconnecting;
      expect(client.status).toBe('reconnecting');
      await expect(store.get(redis.uniqueKey('session'))).rejects.toThrow(/the connection is reconnecting/);
      client.disconnect();
    });

    itOwnServer('subscribes again once a client whose retryStrategy gave up is connected again', async () => {
      // The store's subscriber connection is a copy of the client: it gives up too.
      const client = await redis.connect({ retryStrategy: () => null });
      const { logger, lines } = captureLogger();
      const store = makeStore(client, { logger });
      const key = redis.uniqueKey('session');
      const published = new Promise<void>((resolve) => store.watch(key, resolve));
      await untilSubscribers(await redis.connect(), store.keysFor(key).channel, 1);
      const ended = new Promise((resolve) => client.once('end', resolve));
      await redis.kill();
      await ended;
      await redis.start();
      await client.connect();
      const admin = await redis.connect();
      await untilSubscribers(admin, store.keysFor(key).channel, 1);
      await makeStore(admin).set(key, session());
      await published;
      expect(lines).toContainEqual(expect.objectContaining({ event: 'subscriber-ended', level: 40 }));
    });

    it('subscribes again on a new connection when only the subscriber connection gave up', async () => {
      const client = await redis.connect({ retryStrategy: () => null });
      const store = makeStore(client);
      const key = redis.uniqueKey('session');
      const published = new Promise<void>((resolve) => store.watch(key, resolve));
      const admin = await redis.connect();
      await untilSubscribers(admin, store.keysFor(key).channel, 1);
      await admin.client('KILL', 'TYPE', 'pubsub');
      expect(client.status).toBe('ready');
      await untilSubscribers(admin, store.keysFor(key).channel, 1);
      await makeStore(admin).set(key, session());
      await published;
    });

    it('subscribes again each time the client is back after its subscriber connection gave up', async () => {
      const client = await redis.connect({ retryStrategy: () => null });
      const { logger, lines } = captureLogger();
      const store = makeStore(client, { logger });
      const key = redis.uniqueKey('session');
      let published = 0;
      store.watch(key, () => (published += 1));
      const admin = await redis.connect();
      const writer = makeStore(admin);
      for (const round of [1, 2]) {
        await untilSubscribers(admin, store.keysFor(key).channel, 1);
        const ended = new Promise((resolve) => client.once('end', resolve));
        client.disconnect();
        await ended;
        // The subscriber gives up while the client is down: the store waits for the client's 'ready'.
        await admin.client('KILL', 'TYPE', 'pubsub');
        while (lines.filter((line) => line.event === 'subscriber-ended').length < round) await sleep(10);
        await client.connect();
        await untilSubscribers(admin, store.keysFor(key).channel, 1);
        await writer.get(key);
        await writer.set(key, session());
        while (published < round) await sleep(10);
      }
    });
  });

  describe('close()', () => {
    it('takes off the client every listener the store added, even one waiting for it to be ready again', async () => {
      const client = await redis.connect({ retryStrategy: () => null });
      const events = ['ready', 'close', 'end', 'error'] as const;
      const before = events.map((event) => client.listenerCount(event));
      const { logger, lines } = captureLogger();
      const store = makeStore(client, { logger });
      const admin = await redis.connect();
      const ended = new Promise((resolve) => client.once('end', resolve));
      client.disconnect();
      await ended;
      // The client is down when a subscriber connection gives up: the store waits for the client's 'ready'. Twice:
      // a watch after the first made a new subscriber connection.
      for (const count of [1, 2]) {
        const key = redis.uniqueKey('session');
        store.watch(key, () => undefined);
        await untilSubscribers(admin, store.keysFor(key).channel, 1);
        await admin.client('KILL', 'TYPE', 'pubsub');
        while (lines.filter((line) => line.event === 'subscriber-ended').length < count) await sleep(10);
      }
      await store.close();
      expect(events.map((event) => client.listenerCount(event))).toEqual(before);
    });

    it('opens no subscriber connection for a watch it closed before the subscription was made', async () => {
      const client = await redis.connect();
      const duplicate = jest.spyOn(client, 'duplicate');
      const store = makeStore(client);
      store.watch(redis.uniqueKey('session'), () => undefined);
      await store.close();
      await store.pubSubMode();
      await new Promise((resolve) => setImmediate(resolve));
      expect(duplicate).not.toHaveBeenCalled();
    });

    it('ends a wait for a connecting client at once, and takes its listeners off the client', () =>
      withSilentServer(async (port) => {
        const client = redis.createClient({ lazyConnect: false, port, connectTimeout: 20_000 });
        const events = ['ready', 'close', 'end'] as const;
        const before = events.map((event) => client.listenerCount(event));
        const store = makeStore(client, { connectTimeoutMs: 15_000 });
        const reading = store.get(redis.uniqueKey('session'));
        await store.close();
        // At once, not after connectTimeoutMs (past the test's timeout).
        await expect(reading).rejects.toThrow(/the store was closed/);
        expect(events.map((event) => client.listenerCount(event))).toEqual(before);
        client.disconnect();
      }));
  });

  describe('ACL users', () => {
    async function createUser(admin: Redis, rules: string[]): Promise<{ username: string; password: string }> {
      const username = `alix-test-${randomUUID()}`;
      const password = randomUUID();
      await admin.call('ACL', 'SETUSER', username, 'on', `>${password}`, ...rules);
      return { username, password };
    }

    itOwnServer(
      'writes for a user without channel permission, warns once that PUBLISH failed, and lets waiters poll',
      async () => {
        const admin = await redis.connect();
        const user = await createUser(admin, ['~{alix-test:*', 'resetchannels', '+@all']);
        const { logger, lines } = captureLogger();
        const holder = makeStore(await redis.connect(user), { logger });
        const waiter = makeStore(await redis.connect(user), { logger });
        const key = redis.uniqueKey('session');
        await expect(
          admin.call('ACL', 'DRYRUN', user.username, 'PUBLISH', holder.keysFor(key).channel, 'x'),
        ).resolves.toMatch(/no permissions/);

        const written = session('acl');
        await holder.set(key, written);
        expect(JSON.parse((await admin.get(holder.keysFor(key).session)) ?? 'null')).toMatchObject({
          version: 1,
          identity: 'acl',
        });
        await holder.get(key);
        await holder.set(key, session('acl'));
        const publishWarnings = lines.filter((line) => line.event === 'store-publish-failed' && line.level === 40);
        expect(publishWarnings).toHaveLength(1);
        expect(publishWarnings[0]?.msg).toMatch(/pub\/sub notification failed; waiters fall back to polling/);

        await waiter.get(key);
        const lock = await holder.acquireRefreshLock(key, { signal: never() });
        expect(lock.acquired).toBe(true);
        const waiting = waiter.acquireRefreshLock(key, { signal: never() });
        for (let attempt = 0; attempt < 200 && !lines.some((line) => line.event === 'subscribe-failed'); attempt += 1)
          await sleep(10);
        expect(lines).toContainEqual(expect.objectContaining({ event: 'subscribe-failed', level: 40 }));
        await holder.set(key, session('acl'));
        expect(await waiting).toEqual({ acquired: false });
        if (lock.acquired) await lock.lock.release();
        expect(await admin.exists(holder.keysFor(key).lock)).toBe(0);
      },
    );

    itOwnServer('never logs the password a subscriber connection was refused with', async () => {
      const admin = await redis.connect();
      const user = await createUser(admin, ['~{alix-test:*', 'allchannels', '+@all']);
      const { logger, lines, text } = captureLogger();
      const store = makeStore(await redis.connect(user), { logger });
      // The subscriber connection, made after this, authenticates with the password the client still holds.
      await admin.call('ACL', 'SETUSER', user.username, 'resetpass', `>${randomUUID()}`);
      const logged = new Promise<void>((resolve) => {
        const push = lines.push.bind(lines);
        lines.push = (...added) => (
          added.some((line) => line.event === 'subscriber-error') && resolve(),
          push(...added)
        );
      });
      const stop = store.watch(redis.uniqueKey('session'), () => undefined);
      await logged;
      stop();
      expect(text()).toMatch(/WRONGPASS/);
      expect(text()).not.toContain(user.password);
    });

    itOwnServer('warns again of a PUBLISH outage that starts after a notification went out', async () => {
      const admin = await redis.connect();
      const user = await createUser(admin, ['~{alix-test:*', 'resetchannels', '+@all']);
      const { logger, lines } = captureLogger();
      const store = makeStore(await redis.connect(user), { logger });
      const key = redis.uniqueKey('session');
      const write = async (): Promise<void> => {
        await store.get(key);
        await store.set(key, session('acl'));
      };

      await write();
      await write();
      await admin.call('ACL', 'SETUSER', user.username, 'allchannels');
      await write();
      await admin.call('ACL', 'SETUSER', user.username, 'resetchannels');
      await write();
      await write();

      // pino levels: warn (40) as an outage starts, debug (20) while it lasts.
      const levels = lines.filter((line) => line.event === 'store-publish-failed').map((line) => line.level);
      expect(levels).toEqual([40, 20, 40, 20]);
    });

    itOwnServer('runs the whole protocol, notifications included, as the user docs/scaling.md defines', async () => {
      const admin = await redis.connect();
      const [setuser, command, , on, , ...rules] = documentedAcl();
      expect([setuser, command, on]).toEqual(['ACL', 'SETUSER', 'on']);
      const user = await createUser(admin, rules);
      const { logger, lines } = captureLogger();
      const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
      try {
        // Polling far slower than the test: the hand-over must come by pub/sub.
        const options = { logger, lockTtlMs: 20_000, lockWaitMs: 30_000, pollIntervalMs: 10_000 };
        const holder = makeStore(await redis.connect(user), options);
        const waiter = makeStore(await redis.connect(user), options);
        const key = `alix-token-manager:session:test-${randomUUID()}`;
        expect(await waiter.get(key)).toBeUndefined();
        const lock = await holder.acquireRefreshLock(key, { signal: never() });
        const waiting = waiter.acquireRefreshLock(key, { signal: never() });
        for (let attempt = 0; attempt < 200; attempt += 1) {
          const [, count] = (await admin.pubsub('NUMSUB', waiter.keysFor(key).channel)) as [string, number];
          if (Number(count) === 1) break;
          await sleep(10);
        }
        const publishedAt = Date.now();
        const written = session('documented');
        await holder.get(key);
        await holder.set(key, written);
        expect(await waiting).toEqual({ acquired: false });
        expect(Date.now() - publishedAt).toBeLessThan(options.pollIntervalMs / 2);
        expect(await waiter.get(key)).toEqual(written);
        if (lock.acquired) await lock.lock.release();
        await holder.delete(key);
        expect(await admin.exists(holder.keysFor(key).session, holder.keysFor(key).lock)).toBe(0);
        // The breaker's keys and commands are covered by the documented ACL too.
        const call = { scope: 'partner-a', session: key };
        await holder.breaker?.record(call, 'transient-failure');
        expect(holder.breaker?.snapshot(call).failures).toBe(1);
        expect(await holder.breaker?.admit(call)).toEqual({ allowed: true, probe: false });
        await holder.breaker?.record(call, 'success');
        expect(await admin.exists(`{alix-token-manager:breaker:partner-a}:failures`)).toBe(0);
        expect(lines.filter((line) => Number(line.level) >= 40)).toEqual([]);
        expect(warn).not.toHaveBeenCalled();
      } finally {
        warn.mockRestore();
      }
    });
  });
});
