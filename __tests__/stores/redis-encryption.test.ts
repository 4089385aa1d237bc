import { randomBytes, randomUUID } from 'node:crypto';
import type Redis from 'ioredis';
import { ErrorCodes } from '../../src/errors';
import type { TokenManager } from '../../src/manager/token-manager';
import type { RedisTokenStore, RedisTokenStoreOptions } from '../../src/redis';
import type { TokenSet } from '../../src/token-set';
import { FakeProvider } from '../helpers/fake-provider';
import type { FakeProviderOptions } from '../helpers/fake-provider';
import { INSTANT_RETRY } from '../helpers/manager';
import { captureLogger, closedAfterEach, describeRedis, useRedisServer } from '../helpers/redis-server';

const KEYS = { k1: randomBytes(32), k2: randomBytes(32).toString('base64'), k3: randomBytes(32) };
const ENCRYPTION = { keys: { k1: KEYS.k1 }, current: 'k1' };

/** A session as Redis holds it. */
interface RawSession {
  version: number;
  identity: string;
  sealed?: string;
  tokens?: unknown;
}

/** A provider whose tokens are random (so any 8-character fragment is searchable), each one recorded. */
class RandomTokenProvider extends FakeProvider {
  readonly issued: string[] = [];

  constructor(options: Omit<FakeProviderOptions, 'identity'> & { id: string }) {
    super({ ...options, identity: { id: options.id } });
  }

  override issue(): TokenSet {
    const tokens = super.issue();
    const accessToken = randomBytes(24).toString('base64url');
    const refreshToken = randomBytes(24).toString('base64url');
    this.issued.push(accessToken, refreshToken);
    return { ...tokens, accessToken, refreshToken };
  }
}

/** Every key in the database with its value as text, whatever its type. */
async function dumpAll(client: Redis): Promise<Map<string, string>> {
  const values = new Map<string, string>();
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'COUNT', 1_000);
    cursor = next;
    for (const key of keys) {
      const type = await client.type(key);
      if (type === 'string') values.set(key, (await client.get(key)) ?? '');
      else if (type === 'hash') values.set(key, JSON.stringify(await client.hgetall(key)));
      else values.set(key, ((await client.dumpBuffer(key)) ?? Buffer.alloc(0)).toString('latin1'));
    }
  } while (cursor !== '0');
  return values;
}

describeRedis('RedisTokenStore with encryption', () => {
  const redis = useRedisServer();
  const made = closedAfterEach();

  function makeStore(client: Redis, options: Partial<RedisTokenStoreOptions> = {}): RedisTokenStore {
    const timings = { lockTtlMs: 1_000, lockWaitMs: 1_500, pollIntervalMs: 50, commandTimeoutMs: 500 };
    return made.store({ ...timings, encryption: ENCRYPTION, ...options, client });
  }

  function makeManager(store: RedisTokenStore, provider: FakeProvider, now = (): number => Date.now()): TokenManager {
    return made.manager({ provider, store, now, refreshJitterMs: 0, retry: INSTANT_RETRY });
  }

  /** The raw value under a session key, parsed. */
  async function rawSession(client: Redis, store: RedisTokenStore, key: string): Promise<RawSession> {
    return JSON.parse((await client.get(store.keysFor(key).session)) ?? 'null') as RawSession;
  }

  /** The raw value's sealing key id (`a1.<keyId>.…`). */
  async function sealedWith(client: Redis, store: RedisTokenStore, key: string): Promise<string | undefined> {
    return /^a1\.(\w+)\./.exec((await rawSession(client, store, key)).sealed ?? '')?.[1];
  }

  // 3 replicas × 3 sessions × 3 token lifetimes (a sign-in and two refreshes per session).
  it('leaves no token, nor an 8-character fragment of one, in Redis after a fleet run with rotations', async () => {
    let offsetMs = 0;
    const now = (): number => Date.now() + offsetMs;
    const run = randomUUID();
    const providers = ['alice', 'bob', 'carol'].map(
      (user) => new RandomTokenProvider({ now, accessTtlMs: 60_000, id: `${run}-${user}` }),
    );
    const stores = await Promise.all([0, 1, 2].map(async () => makeStore(await redis.connect(), { now })));
    const fleet = stores.flatMap((store) => providers.map((provider) => makeManager(store, provider, now)));
    for (let lifetime = 1; lifetime <= 3; lifetime += 1) {
      await Promise.all(fleet.map((manager) => manager.getAccessToken()));
      offsetMs += 61_000;
    }
    const kinds = providers.map((provider) => provider.calls.map((call) => call.kind));
    expect(kinds).toEqual(providers.map(() => ['authenticate', 'refresh', 'refresh']));

    const values = await dumpAll(await redis.connect());
    const sessions = [...values.keys()].filter((key) => key.includes(run));
    expect(sessions).toHaveLength(3);
    const everything = [...values.entries()].map(([key, value]) => `${key}\n${value}`).join('\n');
    const tokens = providers.flatMap((provider) => provider.issued);
    expect(tokens).toHaveLength(18);
    const fragmentsOf = (token: string): string[] =>
      Array.from({ length: token.length - 7 }, (_, at) => token.slice(at, at + 8));
    const fragments = tokens.flatMap(fragmentsOf);
    expect(fragments.filter((fragment) => everything.includes(fragment))).toEqual([]);
    const sealed = {
      version: expect.any(Number),
      identity: expect.any(String),
      sealed: expect.stringMatching(/^a1\.k1\./),
    };
    for (const key of sessions) expect(JSON.parse(values.get(key) ?? '')).toEqual(sealed);
  });

  it('refuses a value moved to another session, and one with a byte flipped: absent, warned once a store', async () => {
    const client = await redis.connect();
    const { logger, lines } = captureLogger();
    const run = randomUUID();
    const alice = new RandomTokenProvider({ now: () => Date.now(), accessTtlMs: 60_000, id: `${run}-alice` });
    const bob = new RandomTokenProvider({ now: () => Date.now(), accessTtlMs: 60_000, id: `${run}-bob` });
    const aliceManager = makeManager(makeStore(client, { logger }), alice);
    const aliceToken = await aliceManager.getAccessToken();
    const bobStore = makeStore(await redis.connect(), { logger });
    const bobKey = makeManager(bobStore, bob).storeKey;

    // Alice's value copied under Bob's key: Bob's manager signs in instead of serving it.
    const aliceValue = (await client.get(bobStore.keysFor(aliceManager.storeKey).session)) ?? '';
    await client.set(bobStore.keysFor(bobKey).session, aliceValue);
    const bobLog = captureLogger();
    const bobManager = makeManager(makeStore(await redis.connect(), { logger: bobLog.logger }), bob);
    const bobToken = await bobManager.getAccessToken();
    expect(bobToken).not.toBe(aliceToken);
    expect(bob.authenticateCount).toBe(1);
    expect(bobManager.status().counts.unreadableSessions).toBeGreaterThanOrEqual(1);

    // One character of Alice's sealed value changed: a new replica signs in, never serves a forged session.
    const sessionKey = bobStore.keysFor(aliceManager.storeKey).session;
    const stored = JSON.parse((await client.get(sessionKey)) ?? '') as { sealed: string };
    const middle = Math.floor(stored.sealed.length / 2);
    const other = stored.sealed[middle] === 'A' ? 'B' : 'A';
    const flipped = `${stored.sealed.slice(0, middle)}${other}${stored.sealed.slice(middle + 1)}`;
    await client.set(sessionKey, JSON.stringify({ ...stored, sealed: flipped }));
    const replicaLog = captureLogger();
    const replica = makeManager(makeStore(await redis.connect(), { logger: replicaLog.logger }), alice);
    await expect(replica.getAccessToken()).resolves.not.toBe(aliceToken);
    expect(alice.authenticateCount).toBe(2);
    expect(replica.status()).toMatchObject({ counts: { unreadableSessions: expect.any(Number) }, lastError: null });
    expect(replica.status().counts.unreadableSessions).toBeGreaterThanOrEqual(1);

    // Warned once per store: at warn the first time, at debug after that.
    for (const store of [bobLog, replicaLog]) {
      const unreadable = store.lines.filter((line) => line.event === 'store-value-unreadable');
      expect(unreadable.filter((line) => line.level === 40)).toHaveLength(1);
    }
    const unreadable = [...bobLog.lines, ...replicaLog.lines].filter((line) => line.event === 'store-value-unreadable');
    expect(unreadable.length).toBeGreaterThanOrEqual(2);
    expect(JSON.stringify([lines, bobLog.lines, replicaLog.lines])).not.toContain(aliceToken);
    // The store's own read reports the code the manager counts.
    const reader = makeStore(await redis.connect());
    await client.set(sessionKey, JSON.stringify({ ...stored, sealed: flipped }));
    await expect(reader.get(aliceManager.storeKey)).rejects.toMatchObject({ code: ErrorCodes.STORE_UNREADABLE });
  });

  it('rotates across three keys: reads every listed one; a refresh re-writes the value under the current', async () => {
    const client = await redis.connect();
    const id = `rotation-${randomUUID()}`;
    const provider = new RandomTokenProvider({ now: () => Date.now(), accessTtlMs: 60_000, id });
    const withKeys = (keys: Record<string, Buffer | string>, current: string): RedisTokenStore =>
      makeStore(client, { encryption: { keys, current } });
    const firstStore = withKeys({ k1: KEYS.k1 }, 'k1');
    const first = makeManager(firstStore, provider);
    const key = first.storeKey;
    const signedIn = await first.getAccessToken();
    const sealedNow = (): Promise<string | undefined> => sealedWith(client, firstStore, key);
    expect(await sealedNow()).toBe('k1');

    const second = makeManager(withKeys({ k1: KEYS.k1, k2: KEYS.k2 }, 'k2'), provider);
    await expect(second.getAccessToken()).resolves.toBe(signedIn); // adopted: read under k1
    expect(await sealedNow()).toBe('k1');
    const refreshed = await second.getAccessToken({ forceRefresh: true });
    expect(await sealedNow()).toBe('k2');

    const third = makeManager(withKeys({ k2: KEYS.k2, k3: KEYS.k3 }, 'k3'), provider);
    await expect(third.getAccessToken()).resolves.toBe(refreshed); // k1 retired: the value is under k2 by now
    await third.getAccessToken({ forceRefresh: true });
    expect(await sealedNow()).toBe('k3');
    const fourth = makeManager(withKeys({ k3: KEYS.k3 }, 'k3'), provider);
    await fourth.getAccessToken();
    expect(provider.calls.map((call) => call.kind)).toEqual(['authenticate', 'refresh', 'refresh']);
    expect([second, third, fourth].map((manager) => manager.status().counts.unreadableSessions)).toEqual([0, 0, 0]);

    // A replica that lists only a retired key cannot open the value: it signs in (counted), never fails.
    const stale = makeManager(withKeys({ k1: KEYS.k1 }, 'k1'), provider);
    await expect(stale.getAccessToken()).resolves.toEqual(expect.any(String));
    expect(stale.status().counts.unreadableSessions).toBeGreaterThanOrEqual(1);
    expect(provider.authenticateCount).toBe(2);
  });

  it('refuses a planted plaintext session: signs in instead of serving it, warns, re-writes it sealed', async () => {
    const client = await redis.connect();
    const { logger, lines } = captureLogger();
    const id = `planted-${randomUUID()}`;
    const provider = new RandomTokenProvider({ now: () => Date.now(), accessTtlMs: 60_000, id });
    // Someone with write access but no key writes a session of their own, with the right identity, in plaintext.
    const planter = makeManager(
      makeStore(client, { encryption: undefined }),
      new RandomTokenProvider({ now: () => Date.now(), id }),
    );
    const planted = await planter.getAccessToken();
    const key = planter.storeKey;

    const store = makeStore(await redis.connect(), { logger });
    await expect(store.get(key)).rejects.toMatchObject({
      code: ErrorCodes.STORE_UNREADABLE,
      message: expect.stringContaining('it is not encrypted'),
    });
    const managerLog = captureLogger();
    const manager = makeManager(makeStore(await redis.connect(), { logger: managerLog.logger }), provider);
    const token = await manager.getAccessToken();
    expect(token).not.toBe(planted);
    expect(provider.authenticateCount).toBe(1);
    expect(manager.status().counts.unreadableSessions).toBeGreaterThanOrEqual(1);
    const raw = await rawSession(client, store, key);
    expect(raw).toEqual({ version: 2, identity: id, sealed: expect.stringMatching(/^a1\.k1\./) });
    expect(JSON.stringify(raw)).not.toContain(planted);
    // Each store warns once of its own (the first read), at debug after that.
    for (const log of [lines, managerLog.lines]) {
      const unreadable = log.filter((line) => line.event === 'store-value-unreadable');
      expect(unreadable.filter((line) => line.level === 40)).toHaveLength(1);
    }
    const unreadable = [...lines, ...managerLog.lines].filter((line) => line.event === 'store-value-unreadable');
    expect(unreadable.length).toBeGreaterThanOrEqual(2);
    expect([...lines, ...managerLog.lines].filter((line) => line.event === 'store-value-plaintext')).toEqual([]);
  });

  it('validates readPlaintext: a boolean, in either form of the option', async () => {
    const client = await redis.connect();
    const cipher = { seal: async (text: string) => text, open: async (text: string) => text };
    for (const form of [ENCRYPTION, { cipher }]) {
      const encryption = { ...form, readPlaintext: 'yes' as unknown as boolean };
      expect(() => makeStore(client, { encryption })).toThrow(/RedisTokenStore option encryption.readPlaintext must/);
      expect(makeStore(client, { encryption: { ...form, readPlaintext: true } }).keysFor('k').session).toBe('{k}');
    }
  });

  it('with readPlaintext, reads a plaintext session once and re-writes it sealed at once (fenced)', async () => {
    const client = await redis.connect();
    const id = `migration-${randomUUID()}`;
    const provider = new RandomTokenProvider({ now: () => Date.now(), accessTtlMs: 60_000, id });
    const plainStore = makeStore(client, { encryption: undefined });
    const before = makeManager(plainStore, provider);
    const token = await before.getAccessToken();
    const key = before.storeKey;
    const plain = { version: 1, tokens: expect.objectContaining({ accessToken: token }) };
    expect(await rawSession(client, plainStore, key)).toMatchObject(plain);

    const { logger, lines } = captureLogger();
    const migrating = { encryption: { ...ENCRYPTION, readPlaintext: true }, logger };
    const after = makeManager(makeStore(await redis.connect(), migrating), provider);
    await expect(after.getAccessToken()).resolves.toBe(token);
    expect(provider.calls).toHaveLength(1);
    expect(lines.filter((line) => line.event === 'store-value-plaintext')).toEqual([
      expect.objectContaining({ level: 40, key }),
    ]);
    const raw = await rawSession(client, plainStore, key);
    expect(raw).toEqual({ version: 2, identity: provider.identity?.id, sealed: expect.stringMatching(/^a1\.k1\./) });
    expect(JSON.stringify(raw)).not.toContain(token);

    // A replica still without encryption (a rolling deploy) cannot read it: absent, counted, it signs in.
    const old = makeManager(makeStore(await redis.connect(), { encryption: undefined }), provider);
    await expect(old.getAccessToken()).resolves.toEqual(expect.any(String));
    expect(old.status().counts.unreadableSessions).toBeGreaterThanOrEqual(1);
  });

  it('warns of a plaintext session once per store: a second store (another tenant) warns of its own', async () => {
    const logs = [captureLogger(), captureLogger()];
    for (const { logger } of logs) {
      const key = `plain-${randomUUID()}`;
      const tokens = { accessToken: 'a', accessTokenExpiresAt: Date.now() + 60_000 };
      await makeStore(await redis.connect(), { encryption: undefined }).set(key, { identity: 'id', tokens });
      const store = makeStore(await redis.connect(), { encryption: { ...ENCRYPTION, readPlaintext: true }, logger });
      await store.get(key);
    }
    for (const { lines } of logs)
      expect(lines.filter((line) => line.event === 'store-value-plaintext')).toEqual([
        expect.objectContaining({ level: 40 }),
      ]);
  });

  it('with readPlaintext, still serves a plaintext session whose sealed re-write fails (the next write seals it)', async () => {
    const key = `plain-${randomUUID()}`;
    const session = { identity: 'id', tokens: { accessToken: 'a', accessTokenExpiresAt: Date.now() + 60_000 } };
    await makeStore(await redis.connect(), { encryption: undefined }).set(key, session);
    const { logger, lines } = captureLogger();
    const cipher = { seal: () => Promise.reject(new Error('kms down')), open: async () => undefined };
    const store = makeStore(await redis.connect(), { encryption: { cipher, readPlaintext: true }, logger });
    await expect(store.get(key)).resolves.toEqual(session);
    expect(lines.filter((line) => line.event === 'store-value-plaintext').map((line) => line.level)).toEqual([40, 20]);
  });

  it("tells lock waiters of the release after a plaintext session's re-write under the lock (silent)", async () => {
    const client = await redis.connect();
    const key = `migration-${randomUUID()}`;
    const tokens = { accessToken: 'a', accessTokenExpiresAt: Date.now() + 60_000 };
    await makeStore(client, { encryption: undefined }).set(key, { identity: 'id', tokens });
    const store = makeStore(await redis.connect(), { encryption: { ...ENCRYPTION, readPlaintext: true } });
    const { channel } = store.keysFor(key);
    const listener = await redis.connect();
    const heard: string[] = [];
    listener.on('message', (_channel: string, message: string) => heard.push(message));
    await listener.subscribe(channel);
    const locked = await store.acquireRefreshLock(key, { signal: new AbortController().signal });
    if (!locked.acquired) throw new Error('the lock was free');
    await store.get(key);
    await locked.lock.release();
    // Messages on one channel arrive in order: the marker comes after whatever the release published.
    const marked = new Promise((resolve) =>
      listener.on('message', (_channel: string, message: string) => message === 'marker' && resolve(message)),
    );
    await client.publish(channel, 'marker');
    await marked;
    expect(heard).toEqual(['released', 'marker']);
  });
});
