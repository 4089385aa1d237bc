/**
 * Two pools (two replicas) on one Redis: tenant safety across processes, one sign-in per user
 * fleet-wide, bounded Redis keys per user, and the adapters' pool routing.
 */
import { createHash, randomUUID } from 'node:crypto';
import type Redis from 'ioredis';
import type { RedisTokenStore } from '../../src/redis';
import type { RedisTokenStoreOptions } from '../../src/redis';
import { TokenManagerPool } from '../../src/pool/pool';
import type { InternalTokenManagerPoolOptions } from '../../src/pool/options';
import { AlixAuthProvider } from '../../src/providers/alix';
import axios from 'axios';
import type { AxiosAdapter } from 'axios';
import { attachTokenManager } from '../../src/adapters/axios';
import { ConfigurationError } from '../../src/errors';
import { FakeProvider } from '../helpers/fake-provider';
import { INSTANT_RETRY } from '../helpers/manager';
import { makeRsaKeyPair } from '../helpers/alix-keys';
import { ManualClock } from '../helpers/manual-clock';
import { closedAfterEach, describeRedis, untilSubscribers, useRedisServer } from '../helpers/redis-server';

/** Every user's provider, shared by the replicas (one auth server): counts calls per user fleet-wide. */
function fleetProviders(now: () => number, accessTtlMs = 60_000) {
  const run = randomUUID();
  const providers = new Map<string, FakeProvider>();
  const createProvider = (key: string): FakeProvider => {
    let provider = providers.get(key);
    if (provider === undefined) {
      const id = createHash('sha256').update(`${run}\n${key}`).digest('hex').slice(0, 32);
      provider = new FakeProvider({ now, accessTtlMs, prefix: `${id}.`, identity: { id, scope: run, user: key } });
      providers.set(key, provider);
    }
    return provider;
  };
  return { providers, createProvider };
}

/** Lets I/O run until `condition` holds (no timer, no time bound: jest's test timeout is the bound). */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setImmediate(resolve));
}

describe('AlixAuthProvider.forUsers() identities', () => {
  const common = {
    baseUrl: 'https://api.alix.example',
    partnerCode: 'acme',
    secretKey: 'secret',
    privateKey: makeRsaKeyPair().privatePem,
  };

  it('gives every distinct email its own identity, store key and breaker circuit', () => {
    const forUser = AlixAuthProvider.forUsers(common);
    const emails = [
      'jane@example.com',
      'Jane@example.com',
      'jos\u00e9@example.com',
      'jose\u0301@example.com',
      'a:b@example.com',
      'a@example.com:b',
      'alix-token-manager:session:jane@example.com',
    ];
    const ids = emails.map((email) => forUser(email).identity.id);
    expect(new Set(ids).size).toBe(emails.length);
    for (const email of emails) expect(forUser(email).identity.user).toBe(email);
  });

  it('refuses an email with a newline or NUL by name, without echoing it', () => {
    const forUser = AlixAuthProvider.forUsers(common);
    for (const email of ['jane@example.com\nbob@example.com', 'jane@example.com\u0000']) {
      expect(() => forUser(email)).toThrow(ConfigurationError);
      expect(() => forUser(email)).toThrow(/userEmail must not/);
    }
  });
});

describeRedis('two pools on one Redis', () => {
  const redis = useRedisServer();
  const made = closedAfterEach();
  const pools: TokenManagerPool[] = [];
  afterEach(async () => {
    await Promise.all(pools.splice(0).map((pool) => pool.close()));
  });

  function makeStore(client: Redis, options: Partial<RedisTokenStoreOptions> = {}): RedisTokenStore {
    return made.store({ ...options, client });
  }

  async function makeReplica(
    createProvider: (key: string) => FakeProvider,
    now: () => number,
    options: Partial<InternalTokenManagerPoolOptions> = {},
    storeOptions: Partial<RedisTokenStoreOptions> = {},
  ): Promise<{ pool: TokenManagerPool; store: RedisTokenStore }> {
    const store = makeStore(await redis.connect(), { now, ...storeOptions });
    const pool = new TokenManagerPool({ createProvider, store, now, retry: INSTANT_RETRY, ...options });
    pools.push(pool);
    return { pool, store };
  }

  it('signs each of 100 users in once fleet-wide and keeps one Redis key per user, expiring', async () => {
    const now = (): number => Date.now();
    const { providers, createProvider } = fleetProviders(now);
    // A lock that cannot be taken, or a session that cannot be read, in time is signed in without (a second sign-in,
    // by design): the managers' deadlines run on a clock that never moves, so a loaded machine slows the runs but
    // ends none of their waits. Redis's own command timeout stays real: far above what these users queue.
    const neverDue = { timers: new ManualClock(0) };
    const slowRedis = { commandTimeoutMs: 15_000 };
    const replica = (): ReturnType<typeof makeReplica> => makeReplica(createProvider, now, neverDue, slowRedis);
    const [one, two] = [await replica(), await replica()];
    // Many enough to queue each replica's 8 auth slots 12 deep, so that a user's lock is waited on while other users
    // sign in; 1,000 only added Redis round trips, which on a loaded machine reached the time limits.
    const users = Array.from({ length: 100 }, (_, index) => `user${index}-${randomUUID()}@example.com`);

    const tokens = await Promise.all(
      users.flatMap((user) => [one.pool.getAccessToken(user), two.pool.getAccessToken(user)]),
    );
    // Each user's bearer is theirs, on both replicas.
    for (const [index, token] of tokens.entries())
      expect(token.startsWith(`${providers.get(users[index >> 1] as string)?.identity?.id ?? '?'}.`)).toBe(true);
    const calls = users.map((user) => providers.get(user)?.calls.length);
    expect(new Set(calls)).toEqual(new Set([1]));

    const keys: string[] = [];
    const client = await redis.connect();
    const prefixes = users.map((user) => one.pool.get(user).storeKey);
    let cursor = '0';
    do {
      const [next, found] = await client.scan(cursor, 'COUNT', 1_000);
      cursor = next;
      keys.push(...found);
    } while (cursor !== '0');
    const ours = keys.filter((key) => prefixes.some((prefix) => key.includes(prefix)));
    // One session key per user (no lock left behind), each with a TTL.
    expect(ours).toHaveLength(users.length);
    const ttls = await Promise.all(ours.map((key) => client.pttl(key)));
    expect(ttls.every((ttl) => ttl > 0)).toBe(true);
  });

  it("never wakes B's session with A's hand-over, and B never adopts A's session", async () => {
    const now = (): number => Date.now();
    const { providers, createProvider } = fleetProviders(now);
    const [one, two] = [await makeReplica(createProvider, now), await makeReplica(createProvider, now)];
    const [alice, bob] = [`alice-${randomUUID()}@example.com`, `bob-${randomUUID()}@example.com`];
    const adopted: string[] = [];
    let aliceAdopted: () => void = () => undefined;
    two.pool.on('lifecycle', (event) => {
      if (event.type !== 'adopted') return;
      adopted.push(event.session);
      if (event.session === alice) aliceAdopted();
    });
    await Promise.all([one.pool.getAccessToken(alice), two.pool.getAccessToken(alice), two.pool.getAccessToken(bob)]);
    adopted.splice(0);
    const bobToken = await two.pool.getAccessToken(bob);

    // Both replicas listen on Alice's channel before one publishes (a store subscribes in the background).
    const channel = two.store.keysFor(two.pool.get(alice).storeKey).channel;
    await untilSubscribers(await redis.connect(), channel, 2);
    // Replica one refreshes Alice: replica two adopts it for Alice alone.
    const handedOver = new Promise<void>((resolve) => (aliceAdopted = resolve));
    const fresh = await one.pool.getAccessToken(alice, { forceRefresh: true });
    await handedOver;
    expect(adopted).toEqual([alice]);
    expect(await two.pool.getAccessToken(alice)).toBe(fresh);
    expect(await two.pool.getAccessToken(bob)).toBe(bobToken);
    expect(providers.get(bob)?.calls).toHaveLength(1);
  });

  it('adopts, on a replica that evicted A, the refresh the other replica is running for A', async () => {
    let offsetMs = 0;
    const now = (): number => Date.now() + offsetMs;
    const { providers, createProvider } = fleetProviders(now);
    const [one, two] = [await makeReplica(createProvider, now), await makeReplica(createProvider, now)];
    const alice = `alice-${randomUUID()}@example.com`;
    await one.pool.getAccessToken(alice);
    await two.pool.getAccessToken(alice);
    const provider = providers.get(alice) as FakeProvider;
    provider.options.manual = true;
    offsetMs = 61_000;
    const refreshing = two.pool.getAccessToken(alice);
    await until(() => provider.pendingCount === 1);
    expect(one.pool.delete(alice)).toBe(true);
    const waiting = one.pool.getAccessToken(alice);
    provider.release();
    const [a, b] = await Promise.all([refreshing, waiting]);
    expect(a).toBe(b);
    expect(provider.calls.map((call) => call.kind)).toEqual(['authenticate', 'refresh']);
  });
});

describe("axios routing through a pool: a request never carries another user's bearer", () => {
  it("replays A's 401 with A's fresh token while B's sign-in is still running, under concurrency", async () => {
    const { createProvider } = fleetProviders(Date.now);
    const pool = new TokenManagerPool({ createProvider, retry: INSTANT_RETRY });
    const [alice, bob] = ['alice@example.com', 'bob@example.com'];
    const prefixOf = (user: string): string => `${createProvider(user).identity?.id ?? '?'}.`;
    const sent: Array<{ user: string; bearer: string }> = [];
    const rejected = new Set([`Bearer ${prefixOf(alice)}access-1`]);
    const transport: AxiosAdapter = async (config) => {
      const user = String(config.headers.get('x-user'));
      const bearer = String(config.headers.get('Authorization'));
      sent.push({ user, bearer });
      const status = rejected.has(bearer) ? 401 : 200;
      return { data: null, status, statusText: '', headers: {}, config };
    };
    const instance = axios.create({ baseURL: 'https://api.alix.example', adapter: transport, validateStatus: null });
    attachTokenManager(instance, pool);
    await pool.getAccessToken(alice);
    createProvider(bob).options.manual = true;

    const request = (user: string) => instance.get('/v2/cards', { alixSession: user, headers: { 'x-user': user } });
    const bobs = [request(bob), request(bob)];
    const alices = [request(alice), request(alice), request(alice)];
    await until(() => createProvider(bob).pendingCount === 1);
    const aliceStatuses = (await Promise.all(alices)).map((response) => response.status);
    createProvider(bob).release();
    const bobStatuses = (await Promise.all(bobs)).map((response) => response.status);

    expect({ aliceStatuses, bobStatuses }).toEqual({ aliceStatuses: [200, 200, 200], bobStatuses: [200, 200] });
    for (const { user, bearer } of sent) expect(bearer.startsWith(`Bearer ${prefixOf(user)}`)).toBe(true);
    expect(createProvider(alice).calls.map((call) => call.kind)).toEqual(['authenticate', 'refresh']);
    await pool.close();
  });
});
