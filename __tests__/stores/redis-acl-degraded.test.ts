/**
 * A breaker or lock that Redis refuses (an ACL without their keys) is protection lost: the
 * store warns once per process, health() says which, and tokens are still served.
 */
import { randomUUID } from 'node:crypto';
import { TokenManager } from '../../src/manager/token-manager';
import { RedisTokenStore } from '../../src/redis';
import { FakeProvider } from '../helpers/fake-provider';
import { INSTANT_RETRY } from '../helpers/manager';
import { captureLogger, describeRedis, itOwnServer, useRedisServer } from '../helpers/redis-server';

describeRedis('RedisTokenStore: a breaker and lock the ACL refuses', () => {
  const redis = useRedisServer();

  itOwnServer('serves tokens, warns once for each, and reports both in health()', async () => {
    const admin = await redis.connect();
    const username = `alix-test-${randomUUID()}`;
    const password = randomUUID();
    // The session key `{alix-test:…}` only: not its `:lock` key, not the breaker's keys.
    await admin.call('ACL', 'SETUSER', username, 'on', `>${password}`, '~{alix-test:*}', '&*', '+@all');
    const { logger, lines } = captureLogger();
    const store = new RedisTokenStore({
      client: await redis.connect({ username, password }),
      logger,
      lockTtlMs: 1_000,
      lockWaitMs: 2_000,
    });
    let time = Date.now();
    const provider = new FakeProvider({
      now: () => time,
      accessTtlMs: 60_000,
      identity: { id: 'acl-user', scope: 'partner' },
    });
    const manager = new TokenManager({
      provider,
      store,
      storeKey: redis.uniqueKey('session'),
      now: () => time,
      retry: INSTANT_RETRY,
      refreshJitterMs: 0,
    });
    try {
      await expect(manager.getAccessToken()).resolves.toBe('access-1');
      for (let round = 2; round <= 4; round += 1) {
        await expect(manager.getAccessToken({ forceRefresh: true })).resolves.toBe(`access-${round}`);
        time += 1_000;
      }
      expect(lines.filter((line) => line.event === 'breaker-refused' && line.level === 40)).toHaveLength(1);
      expect(lines.filter((line) => line.event === 'lock-refused' && line.level === 40)).toHaveLength(1);
      const health = manager.health({ minValidityMs: 1_000 });
      expect(health.status).toBe('degraded');
      expect(health.reasons).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/^auth breaker unavailable: .*ACL/),
          expect.stringMatching(/^refresh lock unavailable: /),
        ]),
      );
      expect(manager.status().breaker).toMatchObject({ state: 'closed', unavailable: expect.stringMatching(/ACL/) });
    } finally {
      manager.close();
      await store.close();
    }
  });
  itOwnServer('says the ACL refuses the breaker when only a command its scripts call is refused', async () => {
    const admin = await redis.connect();
    const username = `alix-test-${randomUUID()}`;
    const password = randomUUID();
    // Every key, but not EXISTS: Redis 7.0 refuses it inside the script without the NOPERM of a refused EVAL.
    await admin.call('ACL', 'SETUSER', username, 'on', `>${password}`, '~*', '&*', '+@all', '-exists');
    const { logger, lines } = captureLogger();
    const store = new RedisTokenStore({ client: await redis.connect({ username, password }), logger });
    try {
      const call = { scope: 'partner', session: redis.uniqueKey('session') };
      expect(await store.breaker?.admit(call)).toEqual({ allowed: true, probe: false });
      expect(store.breaker?.snapshot(call)).toMatchObject({ unavailable: expect.stringMatching(/ACL/) });
      // Warned once per store: this store's first refusal is at warn, whatever another store warned of before.
      expect(lines).toContainEqual(expect.objectContaining({ event: 'breaker-refused', level: 40 }));
      expect(lines.filter((line) => line.event === 'breaker-unavailable')).toEqual([]);
    } finally {
      await store.close();
    }
  });
});
