import { randomUUID } from 'node:crypto';
import type Redis from 'ioredis';
import type { RedisTokenStore } from '../../src/redis';
import type { TokenManager } from '../../src/manager/token-manager';
import type { LifecycleEvent } from '../../src/manager/types';
import { FakeProvider } from '../helpers/fake-provider';
import { INSTANT_RETRY } from '../helpers/manager';
import { closedAfterEach, describeRedis, untilSubscribers, useRedisServer } from '../helpers/redis-server';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Counts the commands clients send from now on, by name (`MONITOR`; a script's own calls are
 * not commands a client sent, and are left out). `stop()` returns the counts.
 */
async function countCommands(client: Redis): Promise<{ stop(): Promise<Record<string, number>> }> {
  const counts: Record<string, number> = {};
  const monitor = await client.monitor();
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    if (source === 'lua') return;
    const name = String(args[0]).toLowerCase();
    counts[name] = (counts[name] ?? 0) + 1;
  });
  return {
    async stop() {
      await monitor.disconnect();
      return counts;
    },
  };
}

/** Resolves once every manager serves `token`, polling the hot path (no I/O). */
async function untilAllServe(managers: readonly TokenManager[], token: string, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const served = await Promise.all(managers.map((manager) => manager.getAccessToken()));
    if (served.every((each) => each === token)) return;
    if (Date.now() > until) throw new Error(`not every manager serves ${token}: ${served.join(', ')}`);
    await sleep(20);
  }
}

/** One session held by K replicas: the provider, the managers, their stores and each one's lifecycle events. */
interface Fleet {
  provider: FakeProvider;
  managers: TokenManager[];
  stores: RedisTokenStore[];
  events: LifecycleEvent[][];
}

/**
 * 8 s tokens: the refresher's point at expiry − 4 s, the others' fallbacks in [expiry − 3.05 s, − 1.15 s]. The
 * refresher has ≥ 950 ms to refresh and publish before a fallback fires, even on a loaded machine.
 */
const MANAGER_OPTIONS = { refreshBeforeExpiryMs: 4_000, expirySkewMs: 200, refreshJitterMs: 0, retry: INSTANT_RETRY };

describeRedis('RedisTokenStore hand-over', () => {
  const redis = useRedisServer();
  const made = closedAfterEach();

  /** K replicas of one identity, each with its own client and store; resolves once all hold the first token. */
  async function fleet(replicas: number): Promise<Fleet> {
    const identity = { id: `fleet-${randomUUID()}` };
    const provider = new FakeProvider({ now: () => Date.now(), accessTtlMs: 8_000, identity });
    const storeOptions = { lockTtlMs: 2_000, lockWaitMs: 3_000, pollIntervalMs: 100 };
    const stores = await Promise.all(
      Array.from({ length: replicas }, async () => made.store({ client: await redis.connect(), ...storeOptions })),
    );
    const events: LifecycleEvent[][] = stores.map(() => []);
    const managers = stores.map((store, index) => {
      const manager = made.manager({ provider, store, ...MANAGER_OPTIONS });
      manager.on('lifecycle', (event) => events[index]?.push(event));
      return manager;
    });
    await Promise.all(managers.map((manager) => manager.getAccessToken()));
    expect(provider.calls).toHaveLength(1);
    // Every store listens on the session's channel before anything is counted (a loaded machine may take seconds).
    const channel = stores[0]?.keysFor(managers[0]?.storeKey ?? '').channel ?? '';
    await untilSubscribers(await redis.connect(), channel, replicas);
    for (const list of events) list.splice(0);
    return { provider, managers, stores, events };
  }

  it.each([8, 16])(
    'refreshes once per lifetime across %i replicas for ≤ K + 6 commands, others adopt',
    async (replicas) => {
      const { provider, managers, events } = await fleet(replicas);
      const counter = await countCommands(await redis.connect());

      // The refresher's timer fires at expiry − 4 s; the others' fallbacks only after it.
      await untilAllServe(managers, 'access-2', 8_000);
      const commands = await counter.stop();

      expect(provider.calls.map((call) => call.kind)).toEqual(['authenticate', 'refresh']);
      const runs = events.map((list) => list.filter((event) => event.type === 'refresh-started').length);
      expect(runs.filter((count) => count > 0)).toEqual([1]);
      const adopted = events.map((list) => list.filter((event) => event.type === 'adopted').length);
      expect(adopted.filter((count) => count === 1)).toHaveLength(replicas - 1);
      const total = Object.values(commands).reduce((sum, calls) => sum + calls, 0);
      expect(total).toBeLessThanOrEqual(replicas + 6);
      // SET NX (lock), GET, EVAL (breaker admit), EVAL (fenced write + publish), EVAL (release); one GET per other
      // replica. No breaker DEL: nothing was counted when the call was admitted.
      expect(commands).toEqual({ set: 1, get: replicas, eval: 3 });
    },
    30_000,
  );

  it('keeps one subscriber connection per store across lifetimes', async () => {
    const { managers } = await fleet(3);
    const counter = await redis.connect();
    const clientsBefore = (await counter.client('LIST')) as string;
    await untilAllServe(managers, 'access-2', 8_000);
    await untilAllServe(managers, 'access-3', 8_000);
    const clientsAfter = (await counter.client('LIST')) as string;
    const subscribers = (list: string): number => list.split('\n').filter((line) => / sub=[1-9]/.test(line)).length;
    expect(subscribers(clientsBefore)).toBe(3);
    expect(subscribers(clientsAfter)).toBe(3);
  }, 30_000);

  it('adopts a hand-over it hears with one read, and ignores its own write', async () => {
    const { provider, managers, events } = await fleet(2);
    const [first, second] = managers as [TokenManager, TokenManager];
    await first.getAccessToken({ forceRefresh: true });
    await untilAllServe(managers, 'access-2', 8_000);
    expect(provider.calls).toHaveLength(2);
    expect(events[1]?.filter((event) => event.type === 'refresh-started')).toHaveLength(0);
    expect(events[1]?.filter((event) => event.type === 'adopted')).toHaveLength(1);
    // The writer heard its own publication and read nothing for it.
    expect(events[0]?.filter((event) => event.type === 'adopted')).toHaveLength(0);
    second.close();
    await first.getAccessToken({ forceRefresh: true });
    expect(await first.getAccessToken()).toBe('access-3');
  });
});
