import { randomUUID } from 'node:crypto';
import type { Cluster, ClusterOptions } from 'ioredis';
import { RedisTokenStore } from '../../src/redis';
import type { RedisAuthBreaker, RedisTokenStoreOptions, StoredSession } from '../../src/redis';
import { TokenManager } from '../../src/manager/token-manager';
import type { LifecycleEvent } from '../../src/manager/types';
import { nodeCommand } from '../../scripts/redis-cluster';
import { documentedAcl } from '../helpers/documented-acl';
import { FakeProvider, makeTokenSet } from '../helpers/fake-provider';
import { INSTANT_RETRY } from '../helpers/manager';
import { CLUSTER_CLIENT_OPTIONS, describeRedisCluster, useRedisCluster } from '../helpers/redis-cluster';
import type { ClusterNode } from '../helpers/redis-cluster';
import { captureLogger, REAL_TIME_BUT_INTERVALS } from '../helpers/redis-server';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const never = (): AbortSignal => new AbortController().signal;
const session = (identity: string): StoredSession => ({ identity, tokens: makeTokenSet(Date.now()) });

const MANAGER_OPTIONS = { refreshBeforeExpiryMs: 2_000, expirySkewMs: 200, refreshJitterMs: 0, retry: INSTANT_RETRY };

describeRedisCluster('RedisTokenStore hand-over on a Redis Cluster (3 masters)', () => {
  const cluster = useRedisCluster({ masters: 3, replicas: 0 });
  const stores: RedisTokenStore[] = [];
  const managers: TokenManager[] = [];
  afterEach(async () => {
    jest.useRealTimers();
    for (const manager of managers.splice(0)) manager.close();
    await Promise.all(stores.splice(0).map((store) => store.close()));
  });

  /** Runs one command on the master that serves `key` (as the default user), e.g. to see a key the store wrote. */
  async function onMaster(key: string, ...command: string[]): Promise<string> {
    return nodeCommand((await cluster.masterFor(key)).port, ...command);
  }

  /** One name from `make()` per master: each node checks a command against its own copy of the ACL. */
  async function onEveryMaster(make: () => string): Promise<string[]> {
    const found = new Map<ClusterNode, string>();
    for (let attempt = 0; attempt < 100 && found.size < 3; attempt += 1) {
      const name = make();
      const master = await cluster.masterFor(name);
      if (!found.has(master)) found.set(master, name);
    }
    if (found.size < 3) throw new Error(`names on only ${found.size} of 3 masters`);
    return [...found.values()];
  }

  /** Subscriptions to `channel` summed over the nodes (a sharded one is on its master, a classic one on any). */
  async function subscribers(mode: string, channel: string): Promise<number> {
    const command = mode === 'sharded' ? 'SHARDNUMSUB' : 'NUMSUB';
    const counts = await Promise.all(
      cluster.nodes.map(async (node) =>
        Number((await nodeCommand(node.port, 'PUBSUB', command, channel)).split(',')[1]),
      ),
    );
    return counts.reduce((sum, count) => sum + count, 0);
  }

  /** Waits (bounded) until `channel` has `count` subscriptions: a hand-over then can only come by pub/sub. */
  async function untilSubscribed(mode: string, channel: string, count: number): Promise<void> {
    for (let attempt = 0; attempt < 500; attempt += 1) {
      // A node a loaded machine lets nodeCommand reach only after its connectTimeout counts as not yet.
      if ((await subscribers(mode, channel).catch(() => 0)) >= count) return;
      await sleep(10);
    }
    throw new Error(`${channel} never had ${count} subscriptions (is SSUBSCRIBE/SUBSCRIBE allowed?)`);
  }

  /**
   * Creates, on every node (a cluster does not share its ACL), a user with the rules of the `ACL SETUSER` line
   * docs/scaling.md gives, as written there: the options that connect a `Cluster` client as that user.
   */
  async function documentedUser(): Promise<ClusterOptions> {
    const acl = documentedAcl();
    expect(acl.slice(0, 5)).toEqual(['ACL', 'SETUSER', 'alix-token-manager', 'on', '>CHANGE-ME']);
    const username = `alix-test-${randomUUID()}`;
    const password = randomUUID();
    const rules = acl.slice(3).map((rule) => (rule === '>CHANGE-ME' ? `>${password}` : rule));
    for (const node of cluster.nodes) await nodeCommand(node.port, 'ACL', 'SETUSER', username, ...rules);
    return { redisOptions: { ...CLUSTER_CLIENT_OPTIONS.redisOptions, username, password } };
  }

  describe('as the Redis user docs/scaling.md defines (its ACL SETUSER line, set on every node)', () => {
    const { logger, lines } = captureLogger();
    let warn: jest.SpyInstance;
    beforeEach(() => {
      lines.splice(0);
      // ioredis warns on console of a refused ready check.
      warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    });
    afterEach(() => warn.mockRestore());

    async function userStore(user: ClusterOptions, options: Partial<RedisTokenStoreOptions>): Promise<RedisTokenStore> {
      let timer: NodeJS.Timeout | undefined;
      // A Cluster client whose ready check is refused never gets ready: say so rather than hit the test's timeout.
      const notReady = new Promise<never>((_resolve, reject) => {
        const text = 'the Cluster client was not ready within 5 s as the documented user (is CLUSTER INFO allowed?)';
        timer = setTimeout(() => reject(new Error(text)), 5_000);
      });
      const client = await Promise.race([cluster.connect(user), notReady]).finally(() => clearTimeout(timer));
      const store = new RedisTokenStore({ client, logger, ...options });
      stores.push(store);
      return store;
    }

    /**
     * Nothing refused or failed: no warning (a refused PUBLISH, SUBSCRIBE, breaker script…), nor a refusal logged at
     * debug because this store warned of it already (once per store), nor a failed lock extension.
     */
    function expectNothingRefused(): void {
      const refusal = (line: Record<string, unknown>): boolean =>
        Number(line.level) >= 40 || /-(refused|failed|unavailable)$/.test(String(line.event));
      expect(lines.filter(refusal)).toEqual([]);
      expect(warn).not.toHaveBeenCalled();
    }

    it('writes (fenced), locks, extends, releases and hands over by pub/sub on every master', async () => {
      const user = await documentedUser();
      // Polling far slower than the test: a hand-over must come by pub/sub. The test drives the watchdog's interval
      // and ages the lock in Redis itself: a loaded machine's stalls cannot expire it.
      const options = { lockTtlMs: 30_000, lockWaitMs: 60_000, pollIntervalMs: 10_000 };
      jest.useFakeTimers({ doNotFake: [...REAL_TIME_BUT_INTERVALS] });
      const holder = await userStore(user, options);
      const waiter = await userStore(user, options);
      const major = Number(/redis_version:(\d+)/.exec(await nodeCommand(cluster.nodes[0]?.port ?? 0, 'INFO'))?.[1]);
      const mode = await holder.pubSubMode();
      expect(mode).toBe(major >= 7 ? 'sharded' : 'classic');
      expect(await waiter.pubSubMode()).toBe(mode);

      for (const key of await onEveryMaster(() => `alix-token-manager:session:acl-${randomUUID()}`)) {
        const { session: sessionKey, lock: lockKey, channel } = holder.keysFor(key);
        expect(await waiter.get(key)).toBeUndefined();
        const lock = await holder.acquireRefreshLock(key, { signal: never() });
        expect(lock.acquired).toBe(true);
        const waiting = waiter.acquireRefreshLock(key, { signal: never() });
        await untilSubscribed(mode, channel, 1);
        // Aged to half its TTL, the lock gets it back only if the watchdog's owner-checked PEXPIRE runs.
        const agedMs = options.lockTtlMs / 2;
        await onMaster(key, 'PEXPIRE', lockKey, String(agedMs));
        await jest.advanceTimersByTimeAsync(options.lockTtlMs / 3);
        for (let polls = 0; Number(await onMaster(key, 'PTTL', lockKey)) <= agedMs; polls += 1) {
          if (polls === 500) throw new Error(`the watchdog never extended ${lockKey}`);
          await sleep(10);
        }

        const written = session('documented');
        await holder.get(key);
        const publishedAt = Date.now();
        await holder.set(key, written);
        expect(await waiting).toEqual({ acquired: false });
        expect(Date.now() - publishedAt).toBeLessThan(options.pollIntervalMs / 2);
        // The waiter's last read was before that write: the fenced write script refuses its stale write.
        await expect(waiter.set(key, session('stale'))).rejects.toThrow(/stale write refused/);
        expect(await waiter.get(key)).toEqual(written);
        if (lock.acquired) await lock.lock.release();
        expect(await onMaster(key, 'EXISTS', lockKey)).toBe('0');

        // A lock released without a write: the release script's notification wakes the waiter, which takes it.
        const again = await holder.acquireRefreshLock(key, { signal: never() });
        const taking = waiter.acquireRefreshLock(key, { signal: never() });
        await untilSubscribed(mode, channel, 1);
        const releasedAt = Date.now();
        if (again.acquired) await again.lock.release();
        const taken = await taking;
        expect(taken.acquired).toBe(true);
        expect(Date.now() - releasedAt).toBeLessThan(options.pollIntervalMs / 2);
        if (taken.acquired) await taken.lock.release();

        await holder.delete(key);
        expect(await onMaster(key, 'EXISTS', sessionKey, lockKey)).toBe('0');
      }
      expectNothingRefused();
    });

    it("shares the breaker's circuits between replicas on every master: counts, trips, refuses, resets", async () => {
      const user = await documentedUser();
      const options = { breaker: { failureThreshold: 2, openMs: 60_000 } };
      const [first, second] = [await userStore(user, options), await userStore(user, options)];
      const scopes = await onEveryMaster(() => `alix-token-manager:breaker:partner-${randomUUID()}`);
      for (const scope of scopes.map((name) => name.slice('alix-token-manager:breaker:'.length))) {
        const call = { scope, session: `alix-token-manager:session:acl-${randomUUID()}` };
        const keys = (first.breaker as RedisAuthBreaker).keysFor(call);
        const names = [...Object.values(keys.session), ...Object.values(keys.scope)];
        // As the manager does around each auth call: admit, then record the outcome.
        expect(await first.breaker?.admit(call)).toEqual({ allowed: true, probe: false });
        await first.breaker?.record(call, 'transient-failure');
        expect(first.breaker?.snapshot(call)).toMatchObject({ state: 'closed', failures: 1 });
        // The other replica's admission reads the fleet's count from Redis.
        expect(await second.breaker?.admit(call)).toEqual({ allowed: true, probe: false });
        expect(second.breaker?.snapshot(call)).toMatchObject({ state: 'closed', failures: 1 });
        await second.breaker?.record(call, 'transient-failure');
        expect(second.breaker?.snapshot(call)).toMatchObject({ state: 'open', failures: 2 });
        expect(await first.breaker?.admit(call)).toEqual({ allowed: false, retryAfterMs: expect.any(Number) });
        expect(Number(await onMaster(keys.scope.tripped, 'EXISTS', ...names))).toBeGreaterThan(0);

        await first.breaker?.record(call, 'success');
        expect(await onMaster(keys.scope.tripped, 'EXISTS', ...names)).toBe('0');
        expect(await second.breaker?.admit(call)).toEqual({ allowed: true, probe: false });
        for (const store of [first, second]) expect(store.breaker?.snapshot(call)).not.toHaveProperty('unavailable');
      }
      expectNothingRefused();
    });

    it('gets a token end to end: two managers, two stores, one auth call, the other adopts it by pub/sub', async () => {
      const user = await documentedUser();
      const options = { lockTtlMs: 2_000, lockWaitMs: 15_000, pollIntervalMs: 10_000 };
      const provider = new FakeProvider({
        now: () => Date.now(),
        accessTtlMs: 60_000,
        manual: true,
        identity: { id: `acl-${randomUUID()}` },
      });
      const fleet = [await userStore(user, options), await userStore(user, options)].map((store) => {
        const manager = new TokenManager({ provider, store, ...MANAGER_OPTIONS });
        managers.push(manager);
        return manager;
      });
      const { storeKey } = fleet[0] as TokenManager;
      const tokens = Promise.all(fleet.map((manager) => manager.getAccessToken()));
      // One manager holds the lock at the auth server; the other waits, subscribed.
      for (let attempt = 0; attempt < 500 && provider.calls.length === 0; attempt += 1) await sleep(10);
      await untilSubscribed(String(await stores.at(-1)?.pubSubMode()), `{${storeKey}}:published`, 1);
      const releasedAt = Date.now();
      provider.release();
      expect(await tokens).toEqual(['access-1', 'access-1']);
      expect(Date.now() - releasedAt).toBeLessThan(options.pollIntervalMs / 2);
      expect(provider.calls.map((call) => call.kind)).toEqual(['authenticate']);
      expect(await onMaster(storeKey, 'EXISTS', `{${storeKey}}`)).toBe('1');
      for (const manager of fleet) expect(manager.status().breaker).toMatchObject({ state: 'closed', failures: 0 });
      for (const manager of fleet) expect(manager.status().breaker).not.toHaveProperty('unavailable');
      expectNothingRefused();
    });
  });

  it('uses sharded pub/sub on Redis ≥ 7: 4 replicas × 6 sessions, one refresh each, others adopt', async () => {
    const clients: Cluster[] = await Promise.all(Array.from({ length: 4 }, () => cluster.connect()));
    const events: LifecycleEvent[] = [];
    // Only the first replica's clock jumps to the refresh window: the other replicas' tokens stay outside theirs
    // however slow the machine, so they can only learn of the refreshed sessions by pub/sub.
    let jumpedMs = 0;
    const ahead = (): number => Date.now() + jumpedMs;
    const accessTtlMs = 60_000;
    const providers = Array.from(
      { length: 6 },
      () => new FakeProvider({ now: ahead, accessTtlMs, identity: { id: `c-${randomUUID()}` } }),
    );
    for (const [replica, client] of clients.entries()) {
      const store = new RedisTokenStore({ client, lockTtlMs: 2_000, lockWaitMs: 3_000, pollIntervalMs: 100 });
      stores.push(store);
      for (const provider of providers) {
        const now = replica === 0 ? ahead : undefined;
        const manager = new TokenManager({ provider, store, ...MANAGER_OPTIONS, now });
        manager.on('lifecycle', (event) => events.push(event));
        managers.push(manager);
      }
    }
    const major = Number(/redis_version:(\d+)/.exec(await (clients[0] as Cluster).info('server'))?.[1]);
    expect(await stores[0]?.pubSubMode()).toBe(major >= 7 ? 'sharded' : 'classic');

    await Promise.all(managers.map((manager) => manager.getAccessToken()));
    const signedInUntil = Date.now() + accessTtlMs;
    events.splice(0);
    // Every replica listens for each session's hand-over before the refreshes publish one.
    const mode = String(await stores[0]?.pubSubMode());
    for (const { storeKey } of managers.slice(0, 6)) await untilSubscribed(mode, `{${storeKey}}:published`, 4);
    jumpedMs = accessTtlMs - MANAGER_OPTIONS.refreshBeforeExpiryMs + 500;
    for (let polls = 0; ; polls += 1) {
      const served = await Promise.all(managers.map((manager) => manager.getAccessToken()));
      if (served.every((token) => token === 'access-2')) break;
      if (polls === 300) throw new Error(`not every manager serves access-2: ${served.join(', ')}`);
      await sleep(10);
    }
    const kinds = providers.map((provider) => provider.calls.map((call) => call.kind));
    expect(kinds).toEqual(providers.map(() => ['authenticate', 'refresh']));
    expect(events.filter((event) => event.type === 'refresh-started')).toHaveLength(6);
    // A late hand-over of the first sessions, were there one, would adopt tokens no newer than signedInUntil.
    const adopted = events.filter((event) => event.type === 'adopted' && event.accessTokenExpiresAt > signedInUntil);
    expect(adopted).toHaveLength(18);
  });
});
