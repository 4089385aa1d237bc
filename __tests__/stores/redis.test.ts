import type Redis from 'ioredis';
import { ConfigurationError, ErrorCodes, TokenStoreError } from '../../src/errors';
import { RedisTokenStore } from '../../src/redis';
import type { RedisTokenStoreOptions, StoredSession } from '../../src/redis';
import type { TokenSet } from '../../src/token-set';
import { makeTokenSet } from '../helpers/fake-provider';
import { captureLogger, describeRedis, redisTestMode, useRedisServer } from '../helpers/redis-server';

describe('Redis test mode', () => {
  it('runs with a server or REDIS_URL, skips locally without either, and fails under CI without either', () => {
    expect(redisTestMode({ serverFound: true, url: undefined, ci: true })).toBe('run');
    expect(redisTestMode({ serverFound: false, url: 'redis://127.0.0.1:6379', ci: true })).toBe('run');
    expect(redisTestMode({ serverFound: false, url: undefined, ci: false })).toBe('skip');
    expect(redisTestMode({ serverFound: false, url: '', ci: false })).toBe('skip');
    expect(redisTestMode({ serverFound: false, url: undefined, ci: true })).toBe('fail');
  });
});

describeRedis('RedisTokenStore: sessions', () => {
  const redis = useRedisServer();

  async function makeStore(options: Partial<RedisTokenStoreOptions> = {}): Promise<RedisTokenStore> {
    const client = options.client ?? (await redis.connect());
    return new RedisTokenStore({ lockTtlMs: 300, lockWaitMs: 1_000, pollIntervalMs: 50, ...options, client });
  }

  const session = (identity: string, tokens: TokenSet = makeTokenSet(Date.now())): StoredSession => ({
    identity,
    tokens,
  });

  /** Reads 10,000 other keys through `store`: they push `key` out of its version map. */
  async function readOtherKeys(store: RedisTokenStore, key: string): Promise<void> {
    const keys = Array.from({ length: 10_000 }, (_, index) => `${key}:other:${index}`);
    for (let start = 0; start < keys.length; start += 1_000) {
      await Promise.all(keys.slice(start, start + 1_000).map((otherKey) => store.get(otherKey)));
    }
  }

  /** The stored value's JSON as Redis holds it. */
  async function raw(client: Redis, key: string): Promise<Record<string, unknown>> {
    return JSON.parse((await client.get(`{${key}}`)) ?? 'null') as Record<string, unknown>;
  }

  it('returns what was set under a key, identity included, and forgets it on delete', async () => {
    const client = await redis.connect();
    const store = await makeStore({ client });
    const key = redis.uniqueKey('session');
    const stored = session('identity-a');
    expect(await store.get(key)).toBeUndefined();
    await store.set(key, stored);
    expect(await store.get(key)).toEqual(stored);
    expect(await raw(client, key)).toEqual({ version: 1, identity: 'identity-a', tokens: stored.tokens });
    await store.delete(key);
    expect(await store.get(key)).toBeUndefined();
    expect(await client.exists(`{${key}}`)).toBe(0);
  });

  it('keeps two identities in one store apart: each key returns only its own session', async () => {
    const store = await makeStore();
    const [keyA, keyB] = [redis.uniqueKey('a'), redis.uniqueKey('b')];
    const sessionA = session(
      'identity-a',
      makeTokenSet(Date.now(), { accessToken: 'access-a', refreshToken: 'refresh-a' }),
    );
    const sessionB = session(
      'identity-b',
      makeTokenSet(Date.now(), { accessToken: 'access-b', refreshToken: 'refresh-b' }),
    );
    await store.get(keyA);
    await store.get(keyB);
    await store.set(keyA, sessionA);
    expect(await store.get(keyB)).toBeUndefined();
    await store.set(keyB, sessionB);
    expect(await store.get(keyA)).toEqual(sessionA);
    expect(await store.get(keyB)).toEqual(sessionB);

    await store.delete(keyA);
    expect(await store.get(keyA)).toBeUndefined();
    expect(await store.get(keyB)).toEqual(sessionB);
  });

  it('expires a key with the refresh token, or with the access token when there is none', async () => {
    const client = await redis.connect();
    const store = await makeStore({ client });
    const [withRefreshKey, accessOnlyKey] = [redis.uniqueKey('refresh'), redis.uniqueKey('access')];
    await store.set(
      withRefreshKey,
      session('id', makeTokenSet(Date.now(), { refreshTokenExpiresAt: Date.now() + 10_000 })),
    );
    const withRefresh = await client.pttl(store.keysFor(withRefreshKey).session);
    expect(withRefresh).toBeGreaterThan(9_000);
    expect(withRefresh).toBeLessThanOrEqual(10_000);

    await store.set(accessOnlyKey, session('id', { accessToken: 'a', accessTokenExpiresAt: Date.now() + 5_000 }));
    const withoutRefresh = await client.pttl(store.keysFor(accessOnlyKey).session);
    expect(withoutRefresh).toBeGreaterThan(4_000);
    expect(withoutRefresh).toBeLessThanOrEqual(5_000);
  });

  it('stores a session whose refresh token "never" expires (a custom provider\'s huge finite expiry), as the manager accepts it', async () => {
    const client = await redis.connect();
    const store = await makeStore({ client });
    const key = redis.uniqueKey('forever');
    const stored = session('id', makeTokenSet(Date.now(), { refreshTokenExpiresAt: Number.MAX_VALUE }));
    await store.set(key, stored);
    expect(await store.get(key)).toEqual(stored);
    expect(await client.pttl(store.keysFor(key).session)).toBeGreaterThan(0);
  });

  it.each([
    ['not JSON', '{oops', 'not JSON', 1],
    [
      'a version-1 value (no identity)',
      JSON.stringify({ version: 3, tokens: makeTokenSet(0) }),
      'no identity (written by version 1)',
      4,
    ],
    [
      'an identity that is not a string',
      JSON.stringify({ version: 2, identity: 7, tokens: makeTokenSet(0) }),
      'identity is not a non-empty string',
      3,
    ],
    [
      'an empty identity',
      JSON.stringify({ version: 2, identity: '', tokens: makeTokenSet(0) }),
      'identity is not a non-empty string',
      3,
    ],
    [
      'a wrong token shape',
      JSON.stringify({ version: 1, identity: 'id', tokens: { accessToken: 5, accessTokenExpiresAt: 'soon' } }),
      'accessToken must be a non-empty string',
      2,
    ],
    ['no version', JSON.stringify({ identity: 'id', tokens: makeTokenSet(0) }), 'no valid version', 1],
    [
      'a negative version',
      JSON.stringify({ version: -1, identity: 'id', tokens: makeTokenSet(0) }),
      'no valid version',
      1,
    ],
    // Redis's script must count these as 0 too, or every write would be refused until the value expires.
    [
      'a fractional version',
      JSON.stringify({ version: 1.5, identity: 'id', tokens: makeTokenSet(0) }),
      'no valid version',
      1,
    ],
    [
      'an unsafe version',
      JSON.stringify({ version: 2 ** 60, identity: 'id', tokens: makeTokenSet(0) }),
      'no valid version',
      1,
    ],
  ])(
    'treats %s as absent, logs why without the value, and lets the next write replace it',
    async (_label, value, problem, nextVersion) => {
      const client = await redis.connect();
      const { logger, lines, text } = captureLogger();
      const store = await makeStore({ client, logger });
      const key = redis.uniqueKey('session');
      await client.set(store.keysFor(key).session, value.replace('}', ',"refreshToken":"secret-refresh"}'));
      expect(await store.get(key)).toBeUndefined();
      expect(lines).toContainEqual(expect.objectContaining({ event: 'store-value-invalid', level: 40, key, problem }));
      expect(text()).not.toContain('secret-refresh');
      // The write is fenced on the version the bad value carried, so it replaces it.
      const next = session('identity-v2');
      await store.set(key, next);
      expect(await store.get(key)).toEqual(next);
      expect((await raw(client, key)).version).toBe(nextVersion);
    },
  );

  it('refuses to store a session without an identity or with a malformed token set, and writes nothing', async () => {
    const client = await redis.connect();
    const store = await makeStore({ client });
    const key = redis.uniqueKey('session');
    const tokens = makeTokenSet(Date.now());
    await expect(store.set(key, { tokens } as unknown as StoredSession)).rejects.toThrow(
      /malformed session .*identity is not a non-empty string/,
    );
    await expect(store.set(key, { identity: 'id', tokens: { ...tokens, accessToken: '' } })).rejects.toBeInstanceOf(
      TokenStoreError,
    );
    await expect(store.set('', session('id'))).rejects.toThrow(/non-empty string/);
    expect(await client.exists(`{${key}}`)).toBe(0);
  });

  it('retries a write whose reply was lost: its own value, already written, is a success and not a stale write', async () => {
    const client = await redis.connect();
    const store = await makeStore({ client });
    const key = redis.uniqueKey('lost-reply');
    const evaluate = client.eval.bind(client);
    // The script runs on the server, then the connection drops before its reply arrives.
    jest.spyOn(client, 'eval').mockImplementationOnce(async (...args: Parameters<typeof client.eval>) => {
      await evaluate(...args);
      throw new Error('Connection is closed.');
    });
    const stored = session('id');
    await store.set(key, stored);
    expect(await raw(client, key)).toMatchObject({ version: 1 });
    // The store knows the version it wrote: its next write follows on.
    await store.set(key, session('id', makeTokenSet(Date.now(), { accessToken: 'next' })));
    expect(await raw(client, key)).toMatchObject({ version: 2, tokens: { accessToken: 'next' } });
  });

  it('refuses a stale write per key and keeps the newer session; other keys are unaffected', async () => {
    const client = await redis.connect();
    const [key, otherKey] = [redis.uniqueKey('session'), redis.uniqueKey('other')];
    const slow = await makeStore({ client });
    const fast = await makeStore({ client });
    await slow.get(key);
    await fast.get(key);
    const newer = session('id', makeTokenSet(Date.now(), { accessToken: 'newer' }));
    await fast.set(key, newer);

    const stale = slow.set(key, session('id', makeTokenSet(Date.now(), { accessToken: 'stale' })));
    await expect(stale).rejects.toBeInstanceOf(TokenStoreError);
    // Its own code: the manager re-reads and writes again on this refusal, never on a store that is down.
    await expect(stale).rejects.toMatchObject({ code: ErrorCodes.STORE_STALE_WRITE });
    await expect(stale).rejects.toThrow(
      /stale write refused: the session at .* is at version 1, this write was based on version 0/,
    );
    expect(await slow.get(key)).toEqual(newer);
    // Having read the newer session, the same store may write again.
    await slow.set(key, session('id', makeTokenSet(Date.now(), { accessToken: 'next' })));
    expect((await fast.get(key))?.tokens.accessToken).toBe('next');

    // The fence is per key: fast's write to key says nothing about otherKey.
    await slow.get(otherKey);
    await slow.set(otherKey, session('other'));
    expect((await raw(client, otherKey)).version).toBe(1);
  });

  it('refuses the write of a store whose version map evicted the key: it never overwrites a newer session', async () => {
    const client = await redis.connect();
    // 10,000 reads queue on one connection; a loaded CI machine can take over a second to answer the last.
    const writer = await makeStore({ client, commandTimeoutMs: 30_000 });
    const other = await makeStore({ client });
    const key = redis.uniqueKey('session');
    await other.get(key);
    await other.set(key, session('id', makeTokenSet(Date.now())));
    await writer.get(key);
    await other.set(key, session('id', makeTokenSet(Date.now() + 1_000)));
    const newer = await client.get(writer.keysFor(key).session);
    await readOtherKeys(writer, key);
    await expect(writer.set(key, session('id', makeTokenSet(Date.now() + 2_000)))).rejects.toThrow(
      /stale write refused/,
    );
    expect(await client.get(writer.keysFor(key).session)).toBe(newer);
  });

  it('keeps the write base of a key whose lock it holds however many keys it reads, and still fences with it', async () => {
    const client = await redis.connect();
    const writer = await makeStore({ client, commandTimeoutMs: 30_000, lockTtlMs: 30_000, lockWaitMs: 45_000 });
    const other = await makeStore({ client });
    const key = redis.uniqueKey('held');
    await other.set(key, session('id', makeTokenSet(Date.now())));
    const held = await writer.acquireRefreshLock(key, { signal: new AbortController().signal });
    await writer.get(key);
    // A replica that gave up waiting for the lock writes without it.
    await other.get(key);
    await other.set(key, session('id', makeTokenSet(Date.now() + 1_000)));
    const newer = await client.get(writer.keysFor(key).session);
    await readOtherKeys(writer, key);
    await expect(writer.set(key, session('id', makeTokenSet(Date.now() + 2_000)))).rejects.toThrow(
      /stale write refused: the session at .* is at version 2, this write was based on version 1/,
    );
    expect(await client.get(writer.keysFor(key).session)).toBe(newer);
    if (held.acquired) await held.lock.release();
    await writer.close();
  });

  it('refuses a write based on a version read before the key was deleted and written again (no ABA)', async () => {
    const key = redis.uniqueKey('aba');
    const stale = await makeStore();
    const other = await makeStore();
    await stale.get(key);
    await stale.set(key, session('id', makeTokenSet(Date.now(), { accessToken: 'first' })));
    // A sign-out (or FLUSHALL, or the key's expiry), then another replica signs in: version 1 again.
    await other.delete(key);
    expect(await other.get(key)).toBeUndefined();
    await other.set(key, session('id', makeTokenSet(Date.now(), { accessToken: 'signed-in-again' })));

    // The stale store never read that session: its write must be refused, not replace it.
    const write = stale.set(key, session('id', makeTokenSet(Date.now(), { accessToken: 'stale' })));
    await expect(write).rejects.toThrow(/stale write refused/);
    expect((await other.get(key))?.tokens.accessToken).toBe('signed-in-again');
    // Once it has read the new session, its next write goes through.
    await stale.get(key);
    await stale.set(key, session('id', makeTokenSet(Date.now(), { accessToken: 'refreshed' })));
    expect((await other.get(key))?.tokens.accessToken).toBe('refreshed');
  });

  it('refuses a write based on a read (not a write) of a version since deleted and written again (no ABA)', async () => {
    const key = redis.uniqueKey('aba-read');
    const stale = await makeStore();
    const other = await makeStore();
    await other.set(key, session('id', makeTokenSet(Date.now(), { accessToken: 'first' })));
    expect((await stale.get(key))?.tokens.accessToken).toBe('first');
    await other.delete(key);
    await other.set(key, session('id', makeTokenSet(Date.now(), { accessToken: 'signed-in-again' })));

    // Both values are version 1: only what the stale store read tells them apart.
    const write = stale.set(key, session('id', makeTokenSet(Date.now(), { accessToken: 'stale' })));
    await expect(write).rejects.toThrow(/stale write refused/);
    expect((await other.get(key))?.tokens.accessToken).toBe('signed-in-again');
  });

  it('overwrites, once read, a planted value holding bytes that are not UTF-8: its fence is the bytes Redis holds', async () => {
    const client = await redis.connect();
    const store = await makeStore({ client });
    const key = redis.uniqueKey('not-utf8');
    await store.set(key, session('id', makeTokenSet(Date.now(), { accessToken: 'first' })));
    const stored = JSON.stringify(await raw(client, key)).slice(0, -1);
    // A field holding the byte 0xFF: JSON to Lua and to the store, but ioredis hands it over as U+FFFD.
    const planted = [Buffer.from(`${stored},"planted":"`), Buffer.from([0xff]), Buffer.from('"}')];
    await client.set(`{${key}}`, Buffer.concat(planted));

    expect((await store.get(key))?.tokens.accessToken).toBe('first');
    await store.set(key, session('id', makeTokenSet(Date.now(), { accessToken: 'refreshed' })));
    expect((await store.get(key))?.tokens.accessToken).toBe('refreshed');
  });

  it('overwrites, once read, a value whose version JSON.parse and Lua read apart (cjson is lenient, and shallower)', async () => {
    const client = await redis.connect();
    const store = await makeStore({ client });
    const tokens = makeTokenSet(Date.now());
    const deep = `${'['.repeat(1_001)}${']'.repeat(1_001)}`;
    for (const extra of ['NaN', '0x1', 'Infinity', '+1', '01', '1.', deep]) {
      const key = redis.uniqueKey('json-apart');
      await client.set(`{${key}}`, `{"version":5,"identity":"id","tokens":${JSON.stringify(tokens)},"x":${extra}}`);

      await store.get(key);
      await store.set(key, session('id', tokens));
      expect(await store.get(key)).toEqual(session('id', tokens));
    }
    // The store's own JSON of an identity holding a lone surrogate (`"\ud800"`) is one cjson refuses.
    const key = redis.uniqueKey('lone-surrogate');
    await store.set(key, session('id-\ud800', tokens));
    await store.get(key);
    await store.set(key, session('id-\ud800', makeTokenSet(Date.now(), { accessToken: 'refreshed' })));
    expect((await store.get(key))?.tokens.accessToken).toBe('refreshed');
  });

  it('forgets a key version on delete, so the next write starts a new key at version 1', async () => {
    const client = await redis.connect();
    const store = await makeStore({ client });
    const key = redis.uniqueKey('session');
    await store.set(key, session('id'));
    await store.get(key);
    await store.set(key, session('id'));
    expect((await raw(client, key)).version).toBe(2);
    await store.delete(key);
    await store.set(key, session('id'));
    expect((await raw(client, key)).version).toBe(1);
  });

  it('rejects quickly with TokenStoreError when Redis is unreachable', async () => {
    const client = await redis.connect();
    client.disconnect();
    // Its deadlines far longer than the test's bound: only failing at once passes.
    const store = await makeStore({ client, commandTimeoutMs: 30_000, connectTimeoutMs: 30_000 });
    const key = redis.uniqueKey('session');
    const startedAt = Date.now();
    await expect(store.get(key)).rejects.toMatchObject({ code: ErrorCodes.STORE });
    await expect(store.set(key, session('id'))).rejects.toBeInstanceOf(TokenStoreError);
    await expect(store.delete(key)).rejects.toBeInstanceOf(TokenStoreError);
    expect(Date.now() - startedAt).toBeLessThan(5_000);
  });

  it('reads an option given as undefined as not given (its default applies)', async () => {
    const client = await redis.connect();
    const unset = {
      lockTtlMs: undefined,
      lockWaitMs: undefined,
      pollIntervalMs: undefined,
      commandTimeoutMs: undefined,
    };
    const others = { connectTimeoutMs: undefined, encryption: undefined, logger: undefined, now: undefined };
    const store = new RedisTokenStore({ client, ...unset, ...others, breaker: { key: undefined, openMs: undefined } });
    const key = redis.uniqueKey('session');
    const stored = session('identity-a');
    await store.set(key, stored);
    expect(await store.get(key)).toEqual(stored);
    await expect(store.get('{alix-token-manager:breaker:x}:tripped')).rejects.toThrow(TokenStoreError);
    expect(new RedisTokenStore({ client, breaker: undefined }).breaker).toBeDefined();
  });

  it('validates its options at construction, and names the removed key option', async () => {
    const client = await redis.connect();
    expect(() => new RedisTokenStore({ client: {} as never })).toThrow(ConfigurationError);
    expect(() => new RedisTokenStore({ client, key: 'alix:session' } as RedisTokenStoreOptions)).toThrow(
      /option key was removed in version 2/,
    );
    expect(() => new RedisTokenStore({ client, pollIntervalMs: 0 })).toThrow(/pollIntervalMs/);
    expect(() => new RedisTokenStore({ client, connectTimeoutMs: -1 })).toThrow(/connectTimeoutMs/);
    expect(() => new RedisTokenStore({ client, lockTtlMs: 60_000 })).toThrow(/lockWaitMs .* must exceed lockTtlMs/);
    // Equal is not enough: a crashed holder's lock would expire just as the wait gives up.
    expect(() => new RedisTokenStore({ client, lockTtlMs: 45_000 })).toThrow(/lockWaitMs .* must exceed lockTtlMs/);
    expect(new RedisTokenStore({ client }).keysFor('k')).toEqual({
      session: '{k}',
      lock: '{k}:lock',
      channel: '{k}:published',
    });
    expect(new RedisTokenStore({ client }).keysFor('app:{tenant}:k')).toEqual({
      session: 'app:{tenant}:k',
      lock: 'app:{tenant}:k:lock',
      channel: 'app:{tenant}:k:published',
    });
    expect(() => new RedisTokenStore({ client, breaker: { failureThreshold: 0 } })).toThrow(/failureThreshold/);
    expect(() => new RedisTokenStore({ client, breaker: { key: '' } })).toThrow(/breaker.key/);
    // Beyond it, the failure script would fail after its INCR (a PX Redis refuses), leaving a count without expiry.
    const tooLong = Number.MAX_SAFE_INTEGER + 2;
    expect(() => new RedisTokenStore({ client, breaker: { windowMs: tooLong } })).toThrow(ConfigurationError);
    expect(() => new RedisTokenStore({ client, breaker: { openMs: 9.3e18 } })).toThrow(/breaker option openMs/);
    expect(new RedisTokenStore({ client, breaker: false }).breaker).toBeUndefined();
  });
});
