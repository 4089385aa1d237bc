import { randomUUID } from 'node:crypto';
import type Redis from 'ioredis';
import type { RedisAuthBreaker } from '../../src/redis';
import { LocalAuthBreaker } from '../../src/stores/memory-breaker';
import type { BreakerCall } from '../../src/stores/types';
import { closedAfterEach, describeRedis, useRedisServer } from '../helpers/redis-server';

/** Counts the commands clients send while `body` runs, by name (`MONITOR`; a script's own calls left out). */
async function commandsDuring(client: Redis, body: () => Promise<void>): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  const monitor = await client.monitor();
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    const name = String(args[0]).toLowerCase();
    if (source !== 'lua' && name !== 'ping') counts[name] = (counts[name] ?? 0) + 1;
  });
  await body();
  // MONITOR lines arrive on their own connection: let the last ones land.
  await new Promise((resolve) => setTimeout(resolve, 50));
  await monitor.disconnect();
  return counts;
}

describeRedis('RedisAuthBreaker: a success resets the fleet’s counts', () => {
  const redis = useRedisServer();
  const made = closedAfterEach();

  /** Two replicas' breakers on one Redis, sharing `key`. */
  async function replicas(key: string): Promise<[RedisAuthBreaker, RedisAuthBreaker]> {
    const breaker = { key, failureThreshold: 5 };
    const [a, b] = await Promise.all([0, 1].map(async () => made.store({ client: await redis.connect(), breaker })));
    return [a?.breaker as RedisAuthBreaker, b?.breaker as RedisAuthBreaker];
  }

  const calls = (): { jane: BreakerCall; joe: BreakerCall } => {
    const scope = `partner-${randomUUID()}`;
    return { jane: { scope, session: `jane-${randomUUID()}` }, joe: { scope, session: `joe-${randomUUID()}` } };
  };

  it('sends no DEL for a success admitted while nothing was counted anywhere', async () => {
    const [a] = await replicas(`breaker-${randomUUID()}`);
    const { jane } = calls();
    const commands = await commandsDuring(await redis.connect(), async () => {
      await a.admit(jane);
      await a.record(jane, 'success');
    });
    expect(commands).toEqual({ eval: 1 });
  });

  it("resets another replica's failures of another session (the scope's count) and of the same session", async () => {
    const [a, b] = await replicas(`breaker-${randomUUID()}`);
    const { jane, joe } = calls();
    const client = await redis.connect();
    await b.record(joe, 'transient-failure');
    await b.record(jane, 'transient-failure');
    const { scope, session } = a.keysFor(jane);
    expect(await client.exists(scope.failures, session.failures, scope.manyFailing)).toBe(3);

    await expect(a.admit(jane)).resolves.toEqual({ allowed: true, probe: false });
    const commands = await commandsDuring(client, () => a.record(jane, 'success'));
    expect(commands).toEqual({ del: 1 });
    expect(await client.exists(scope.failures, session.failures, scope.firstFailing, scope.manyFailing)).toBe(0);
  });

  it('deletes again once a failure was counted after a clean admission, at the next admission', async () => {
    const [a, b] = await replicas(`breaker-${randomUUID()}`);
    const { jane, joe } = calls();
    const client = await redis.connect();
    await a.admit(jane);
    await a.record(jane, 'success');
    await b.record(joe, 'transient-failure');
    await a.admit(jane);
    await a.record(jane, 'success');
    expect(await client.exists(a.keysFor(jane).scope.failures)).toBe(0);
  });

  it('deletes when the latest admission found counts, though an earlier one (never recorded) was clean', async () => {
    const [a, b] = await replicas(`breaker-${randomUUID()}`);
    const { jane, joe } = calls();
    const client = await redis.connect();
    // A clean admission whose call never records (its caller gave up), then a failure elsewhere in the fleet.
    await a.admit(jane);
    await b.record(joe, 'transient-failure');
    await a.admit(jane);
    await a.record(jane, 'success');
    expect(await client.exists(a.keysFor(jane).scope.failures)).toBe(0);
  });

  it('deletes after its own failure, even when the admission before it was clean', async () => {
    const [a] = await replicas(`breaker-${randomUUID()}`);
    const { jane } = calls();
    const client = await redis.connect();
    await a.admit(jane);
    await a.record(jane, 'transient-failure');
    await a.record(jane, 'success');
    expect(await client.exists(a.keysFor(jane).session.failures, a.keysFor(jane).scope.failures)).toBe(0);
  });

  it("counts one session's failures toward the scope only up to its share, across replicas", async () => {
    const [a, b] = await replicas(`breaker-${randomUUID()}`);
    const { jane, joe } = calls();
    const [kim, sam] = ['kim', 'sam'].map((name) => ({ scope: jane.scope, session: `${name}-${randomUUID()}` }));
    // Jane's account keeps failing on both replicas, and Joe has a blip: not the partner's auth server.
    for (let failure = 0; failure < 5; failure += 1) {
      await a.record(jane, 'transient-failure');
      await b.record(jane, 'transient-failure');
    }
    await b.record(joe, 'transient-failure');
    await b.record(joe, 'transient-failure');
    await expect(a.admit(sam as BreakerCall)).resolves.toEqual({ allowed: true, probe: false });
    expect(a.snapshot(jane)).toMatchObject({ state: 'open', failures: 5, level: 'session' });
    await b.record(kim as BreakerCall, 'transient-failure');
    await expect(a.admit(sam as BreakerCall)).resolves.toMatchObject({ allowed: false });
    expect(a.snapshot(sam as BreakerCall)).toMatchObject({ state: 'open', failures: 5, level: 'scope' });
  });

  it("reports a failing session's own count while its circuit is closed, as LocalAuthBreaker does", async () => {
    const [a, b] = await replicas(`breaker-${randomUUID()}`);
    const local = new LocalAuthBreaker({ failureThreshold: 5 });
    const { jane, joe } = calls();
    // Three failures: under the threshold, and more than the two its scope counts of one session.
    for (let failure = 0; failure < 3; failure += 1) {
      await a.record(jane, 'transient-failure');
      await local.record(jane, 'transient-failure');
    }
    expect(a.snapshot(jane)).toMatchObject({ state: 'closed', failures: 3 });
    expect(a.snapshot(jane)).toEqual(local.snapshot(jane));
    // Another replica's admission reads the same counts from Redis.
    await b.admit(jane);
    await local.admit(jane);
    expect(b.snapshot(jane)).toEqual(local.snapshot(jane));
    expect(b.snapshot(joe)).toEqual(local.snapshot(joe));
  });

  it('counts no failure of a session whose own circuit is open for the scope (threshold 1)', async () => {
    const store = made.store({
      client: await redis.connect(),
      breaker: { key: `breaker-${randomUUID()}`, failureThreshold: 1 },
    });
    const breaker = store.breaker as RedisAuthBreaker;
    const { jane, joe } = calls();
    for (let failure = 0; failure < 3; failure += 1) await breaker.record(jane, 'transient-failure');
    expect(breaker.snapshot(joe)).toMatchObject({ state: 'closed', failures: 1 });
    await breaker.record(joe, 'transient-failure');
    const sam = { scope: joe.scope, session: `sam-${randomUUID()}` };
    expect(breaker.snapshot(sam)).toMatchObject({ state: 'open', level: 'scope', failures: 2 });
  });

  it('runs its scripts with the longest windowMs and openMs it accepts (Number.MAX_SAFE_INTEGER)', async () => {
    const longest = Number.MAX_SAFE_INTEGER;
    const store = made.store({
      client: await redis.connect(),
      breaker: { key: `breaker-${randomUUID()}`, failureThreshold: 1, windowMs: longest, openMs: longest },
    });
    const breaker = store.breaker as RedisAuthBreaker;
    const { jane } = calls();
    await breaker.record(jane, 'transient-failure');
    expect(breaker.snapshot(jane)).toMatchObject({ state: 'open', level: 'session' });
    expect(breaker.snapshot(jane).unavailable).toBeUndefined();
    await expect(breaker.admit(jane)).resolves.toMatchObject({ allowed: false });
  });

  it('opens for a Retry-After too long for its scripts (a manager with maxRetryAfterMs: Infinity) at the longest it holds', async () => {
    const store = made.store({
      client: await redis.connect(),
      breaker: { key: `breaker-${randomUUID()}`, failureThreshold: 1 },
    });
    const breaker = store.breaker as RedisAuthBreaker;
    const { jane } = calls();
    await breaker.record(jane, 'transient-failure', 1e23);
    expect(breaker.snapshot(jane)).toMatchObject({ state: 'open', level: 'session' });
    expect(breaker.snapshot(jane).unavailable).toBeUndefined();
    await expect(breaker.admit(jane)).resolves.toMatchObject({ allowed: false });
  });

  it("shows every session of a scope the scope's circuit once one of them saw it open", async () => {
    const [a] = await replicas(`breaker-${randomUUID()}`);
    const { jane, joe } = calls();
    const [kim, sam] = ['kim', 'sam'].map((name) => ({ scope: jane.scope, session: `${name}-${randomUUID()}` }));
    // Five failures of three sessions (none counts for more than two of them) open the scope.
    for (let failure = 0; failure < 2; failure += 1)
      for (const call of [jane, joe, kim]) await a.record(call as BreakerCall, 'transient-failure');
    expect(a.snapshot(jane)).toMatchObject({ state: 'open' });
    // Sam never asked Redis: the scope's circuit, one for all its sessions, refuses him too.
    expect(a.snapshot(sam as BreakerCall)).toMatchObject({ state: 'open', level: 'scope' });
    await a.admit(sam as BreakerCall).then((admission) => expect(admission.allowed).toBe(false));
    expect(a.snapshot({ scope: `other-${randomUUID()}`, session: sam?.session ?? '' })).toMatchObject({
      state: 'closed',
    });
  });
});
