import { randomUUID } from 'node:crypto';
import { AuthUnavailableError, ErrorCodes } from '../../src/errors';
import type { TokenManager } from '../../src/manager/token-manager';
import type { RedisAuthBreaker } from '../../src/redis';
import type { AuthBreakerOptions } from '../../src/stores/memory-breaker';
import type { BreakerCall } from '../../src/stores/types';
import type { TokenProvider } from '../../src/providers/types';
import type { TokenSet } from '../../src/token-set';
import { INSTANT_RETRY } from '../helpers/manager';
import { closedAfterEach, describeRedis, useRedisServer } from '../helpers/redis-server';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** An auth server the test can take down and bring back; counts calls from every replica. */
function flakyAuthServer(scope = 'partner-a'): {
  calls: number;
  down: boolean;
  providerFor: (id: string) => TokenProvider;
} {
  const server = {
    calls: 0,
    down: true,
    providerFor: (id: string): TokenProvider => ({ identity: { id, scope }, authenticate: answer, refresh: answer }),
  };
  async function answer(): Promise<TokenSet> {
    server.calls += 1;
    await sleep(5);
    if (server.down) throw new AuthUnavailableError({ operation: 'authenticate', reason: 'http', status: 503 });
    const now = Date.now();
    return {
      accessToken: `access-${server.calls}`,
      accessTokenExpiresAt: now + 60_000,
      refreshToken: `refresh-${server.calls}`,
      refreshTokenExpiresAt: now + 3_600_000,
    };
  }
  return server;
}

describeRedis('RedisTokenStore: the fleet-wide breaker', () => {
  const redis = useRedisServer();
  const made = closedAfterEach();

  async function fleet(
    count: number,
    breakerKey: string,
    server: ReturnType<typeof flakyAuthServer>,
    identity: (index: number) => string,
  ): Promise<TokenManager[]> {
    return Promise.all(
      Array.from({ length: count }, async (_, index) => {
        const store = made.store({
          client: await redis.connect(),
          lockTtlMs: 1_000,
          lockWaitMs: 2_000,
          pollIntervalMs: 50,
          breaker: { key: breakerKey, failureThreshold: 3, openMs: 400 },
        });
        return made.manager({
          provider: server.providerFor(identity(index)),
          store,
          retry: { ...INSTANT_RETRY, retries: 4 },
          refreshJitterMs: 0,
        });
      }),
    );
  }

  /** Every manager asks for a token every 20 ms for `durationMs`; returns the errors. */
  async function hammer(replicas: TokenManager[], durationMs: number): Promise<unknown[]> {
    const errors: unknown[] = [];
    const until = Date.now() + durationMs;
    while (Date.now() < until) {
      await Promise.all(
        replicas.map((manager) => manager.getAccessToken().catch((error: unknown) => errors.push(error))),
      );
      await sleep(20);
    }
    return errors;
  }

  it('caps 6 replicas × 3 sessions at their circuits, then one probe per openMs during an outage, then recovers', async () => {
    const server = flakyAuthServer();
    const ids = [`a-${randomUUID()}`, `b-${randomUUID()}`, `c-${randomUUID()}`];
    const replicas = await fleet(6, `breaker-${randomUUID()}`, server, (index) => ids[index % 3] ?? '');
    const startedAt = Date.now();
    const errors = await hammer(replicas, 2_000);
    const outageMs = Date.now() - startedAt;
    // Three sessions' failures open the scope (threshold 3, one counted per session); until then each session's
    // own circuit caps it at the threshold. Then one probe per openMs (400 ms), and the calls in flight when it
    // opened (one per session).
    expect(server.calls).toBeLessThanOrEqual(ids.length * 3 + Math.ceil(outageMs / 400) + ids.length);
    expect(replicas.map((manager) => manager.status().breaker?.level)).toContain('scope');
    expect(errors.length).toBeGreaterThan(20);
    expect(errors.filter((error) => (error as AuthUnavailableError).reason === 'breaker').length).toBeGreaterThan(
      errors.length * 0.9,
    );
    expect(errors[errors.length - 1]).toMatchObject({
      code: ErrorCodes.AUTH_UNAVAILABLE,
      retryAfterMs: expect.any(Number),
    });

    server.down = false;
    const before = server.calls;
    let tokens: string[] = [];
    for (let round = 0; round < 100 && tokens.length < replicas.length; round += 1) {
      await sleep(20);
      tokens = (await Promise.all(replicas.map((manager) => manager.getAccessToken().catch(() => undefined)))).filter(
        (token): token is string => token !== undefined,
      );
    }
    expect(tokens).toHaveLength(replicas.length);
    // One probe closes it (a second only if the first outlived its openMs lease); each session
    // then signs in once (its replicas share it through the store).
    expect(server.calls - before).toBeLessThanOrEqual(ids.length + 2);
    // The shared state is closed (a replica that adopted its session without an auth call may
    // still show the last state it saw until its next exchange with Redis).
    const call = { scope: 'partner-a', session: replicas[0]?.storeKey ?? '' };
    expect(await made.stores[0]?.breaker?.admit(call)).toEqual({ allowed: true, probe: false });
    expect(made.stores[0]?.breaker?.snapshot(call).state).toBe('closed');
  });

  it("shows one session's circuit to every replica that holds the session", async () => {
    const server = flakyAuthServer();
    const shared = `shared-${randomUUID()}`;
    const [first, second] = await fleet(2, `breaker-${randomUUID()}`, server, () => shared);
    await expect(first?.getAccessToken()).rejects.toMatchObject({ reason: 'breaker' });
    expect(server.calls).toBe(3);
    await expect(second?.getAccessToken()).rejects.toMatchObject({
      reason: 'breaker',
      retryAfterMs: expect.any(Number),
    });
    expect(server.calls).toBe(3);
    expect(second?.status().breaker).toMatchObject({ state: 'open', failures: 3, level: 'session' });
  });

  /** A breaker on its own key and connection, and one call per session name, all in one new partner's scope. */
  async function scopeOnRedis<Names extends string[]>(options: AuthBreakerOptions, ...sessions: Names) {
    const client = await redis.connect();
    const store = made.store({ client, breaker: { key: `breaker-${randomUUID()}`, ...options } });
    const scope = `partner-${randomUUID()}`;
    const calls = sessions.map((session) => ({ scope, session })) as { [K in keyof Names]: BreakerCall };
    return { client, breaker: store.breaker as RedisAuthBreaker, calls };
  }

  it("never shows one session's half-open circuit as its scope's to the scope's other sessions", async () => {
    const store = made.store({
      client: await redis.connect(),
      breaker: { key: `breaker-${randomUUID()}`, failureThreshold: 1, openMs: 100 },
    });
    const breaker = store.breaker as NonNullable<typeof store.breaker>;
    const userA = { scope: 'partner-a', session: 'user-a' };
    const userB = { scope: 'partner-a', session: 'user-b' };
    await breaker.record(userA, 'transient-failure');
    expect(breaker.snapshot(userA).state).toBe('open');
    expect(breaker.snapshot(userB)).toMatchObject({ state: 'closed', level: null });
    await sleep(150);
    // User A's own circuit lets its probe through; the scope's circuit never tripped.
    expect(await breaker.admit(userA)).toEqual({ allowed: true, probe: true });
    expect(breaker.snapshot(userA)).toMatchObject({ state: 'half-open', level: 'session' });
    expect(breaker.snapshot(userB)).toMatchObject({ state: 'closed', level: null });
  });

  it("shows the scope's probe as its half-open circuit, which a session refused by its own leaves alone", async () => {
    const { client, breaker, calls } = await scopeOnRedis(
      { failureThreshold: 1, openMs: 60_000 },
      'jane',
      'joe',
      'ann',
    );
    const [jane, joe, ann] = calls;
    // Two sessions failed: the scope tripped (and each session's own circuit).
    for (const call of [jane, joe]) await breaker.record(call, 'transient-failure');
    // The scope's open period ran out (as after openMs): Ann, whose own circuit is closed, probes the scope.
    await client.del(breaker.keysFor(ann).scope.open);
    expect(await breaker.admit(ann)).toEqual({ allowed: true, probe: true });
    expect(breaker.snapshot(ann)).toMatchObject({ state: 'half-open', level: 'scope' });
    // Jane's own circuit refuses her: the scope, which that answer did not look at, is still seen half-open.
    expect(await breaker.admit(jane)).toMatchObject({ allowed: false });
    expect(breaker.snapshot(ann)).toMatchObject({ state: 'half-open', level: 'scope' });
  });

  /** As after openMs: the open periods and probe leases of `calls`' circuits and their scope's ran out. */
  async function lapse(
    client: Awaited<ReturnType<typeof redis.connect>>,
    breaker: RedisAuthBreaker,
    calls: BreakerCall[],
  ) {
    const keys = calls.map((call) => breaker.keysFor(call));
    const leases = keys.flatMap(({ scope, session }) => [scope.probe, scope.excusedProbe, session.probe]);
    await client.del(...leases, ...keys.flatMap(({ scope, session }) => [scope.open, session.open]));
  }

  it('lets at most two probes through per openMs after an outage tripped every session: no herd', async () => {
    const options = { failureThreshold: 1, openMs: 60_000 };
    const { client, breaker, calls } = await scopeOnRedis(options, 'u0', 'u1', 'u2', 'u3', 'u4');
    // An outage: every user fails, which trips its own circuit and the scope's.
    for (const call of calls) await breaker.record(call, 'transient-failure');
    const admitEach = async () => {
      const allowed: boolean[] = [];
      for (const call of calls) allowed.push((await breaker.admit(call)).allowed);
      return allowed;
    };
    for (let round = 0; round < 3; round += 1) {
      const newcomer = { scope: calls[0].scope, session: `new-${round}` };
      await lapse(client, breaker, [...calls, newcomer]);
      // Of the failing sessions, one passes (on the lease they share); a session that never failed probes the scope.
      expect(await admitEach()).toEqual([true, false, false, false, false]);
      expect(await breaker.admit(newcomer)).toEqual({ allowed: true, probe: true });
      for (const failed of [calls[0], newcomer]) await breaker.record(failed, 'transient-failure');
    }
    // The server is back: the next of their calls, within openMs, closes the scope.
    await lapse(client, breaker, calls);
    expect(await admitEach()).toEqual([true, false, false, false, false]);
    await breaker.record(calls[0], 'success');
    expect(await breaker.admit({ ...calls[0], session: 'u9' })).toEqual({ allowed: true, probe: false });
  });

  it('never lets any number of broken accounts taking turns hold their scope open', async () => {
    const options = { failureThreshold: 1, openMs: 60_000 };
    const { client, breaker, calls } = await scopeOnRedis(options, 'b1', 'b2', 'b3', 'b4');
    // Four accounts fail on their own (a 500 for each of them alone): their own circuits trip, and the scope.
    for (const call of calls) await breaker.record(call, 'transient-failure');
    for (let round = 0; round < 8; round += 1) {
      await lapse(client, breaker, calls);
      // Each asks at every half-open moment, before anyone else, and fails.
      for (const call of calls)
        if ((await breaker.admit(call)).allowed) await breaker.record(call, 'transient-failure');
      expect(await breaker.admit({ ...calls[0], session: `u${round}` })).toEqual({ allowed: true, probe: true });
    }
  });

  it('never lets a session that fails on its own hold its scope open by asking first at each half-open moment', async () => {
    const options = { failureThreshold: 1, openMs: 60_000 };
    const { client, breaker, calls } = await scopeOnRedis(options, 'jane', 'joe', 'broken', 'ann');
    const [jane, joe, broken, ann] = calls;
    // An outage trips the scope; once it is over, one account keeps failing (a 500 for that user alone).
    for (const call of [jane, joe]) await breaker.record(call, 'transient-failure');
    for (let round = 0; round < 3; round += 1) {
      await lapse(client, breaker, [broken]);
      expect(await breaker.admit(broken)).toEqual({ allowed: true, probe: true });
      await breaker.record(broken, 'transient-failure');
    }
    // Its failure left the scope alone, as this process still shows it.
    expect(breaker.snapshot(ann)).toMatchObject({ state: 'half-open', level: 'scope' });
    expect(await breaker.admit(ann)).toEqual({ allowed: true, probe: true });
    expect(breaker.snapshot(broken)).toMatchObject({ state: 'open', level: 'session' });
  });

  it('never lets two broken accounts taking turns to ask first hold their scope open', async () => {
    const options = { failureThreshold: 1, openMs: 60_000 };
    const { client, breaker, calls } = await scopeOnRedis(options, 'jane', 'joe', 'first', 'second', 'ann');
    const [jane, joe, first, second, ann] = calls;
    // An outage trips the scope; once it is over, two accounts keep failing (a 500 for each of them alone).
    for (const call of [jane, joe]) await breaker.record(call, 'transient-failure');
    for (const broken of [first, second, first, second, first, second]) {
      await lapse(client, breaker, [broken]);
      expect(await breaker.admit(broken)).toMatchObject({ allowed: true });
      await breaker.record(broken, 'transient-failure');
    }
    expect(await breaker.admit(ann)).toEqual({ allowed: true, probe: true });
  });

  it('lets a session its tripped scope remembers failing through once per openMs, even with its own circuit closed', async () => {
    const options = { failureThreshold: 3, openMs: 60_000 };
    const { client, breaker, calls } = await scopeOnRedis(options, 'u1', 'u2', 'u3', 'u9');
    const [u1, u2, u3, u9] = calls;
    // u3's failure trips the scope (its own circuit counts one failure of three).
    for (const call of [u1, u2, u3]) await breaker.record(call, 'transient-failure');
    await lapse(client, breaker, [u3]);
    expect(await breaker.admit(u3)).toEqual({ allowed: true, probe: true });
    await breaker.record(u3, 'transient-failure');
    // Its retry waits openMs; the scope's probe is still another session's.
    expect(await breaker.admit(u3)).toMatchObject({ allowed: false });
    expect(await breaker.admit(u9)).toEqual({ allowed: true, probe: true });
  });

  it("lets one probe through a session's half-open circuit for the whole fleet per openMs", async () => {
    const client = await redis.connect();
    const options = { key: `breaker-${randomUUID()}`, failureThreshold: 1, openMs: 60_000 };
    const [a, b] = [
      made.store({ client, breaker: options }).breaker as RedisAuthBreaker | undefined,
      made.store({ client: await redis.connect(), breaker: options }).breaker,
    ];
    if (a === undefined || b === undefined) throw new Error('no breaker');
    const jane = { scope: `partner-${randomUUID()}`, session: 'jane' };
    await a.record(jane, 'transient-failure');
    // The open period ran out (as after openMs): half-open.
    await client.del(a.keysFor(jane).session.open);
    expect(await a.admit(jane)).toEqual({ allowed: true, probe: true });
    const second = await b.admit(jane);
    expect(second).toMatchObject({ allowed: false, retryAfterMs: expect.any(Number) });
    expect(second.allowed === false && second.retryAfterMs).toBeGreaterThan(59_000);
  });

  it("keeps a re-tripped scope open openMs when one session is rate-limited: the trip's evidence starts over", async () => {
    const { client, breaker, calls } = await scopeOnRedis({ failureThreshold: 2, openMs: 1_000 }, 'jane', 'joe');
    const [jane, joe] = calls;
    // Two sessions rate-limited: the scope trips for their Retry-After.
    await breaker.record(jane, 'transient-failure', 60_000);
    await breaker.record(joe, 'transient-failure', 60_000);
    const keys = breaker.keysFor(jane).scope;
    expect(await client.pttl(keys.open)).toBeGreaterThan(59_000);
    // Its open period ran out; one session alone is rate-limited again: the scope stays open openMs, not its Retry-After.
    await client.del(keys.open);
    await breaker.record({ ...jane, session: 'kim' }, 'transient-failure', 30_000);
    const left = await client.pttl(keys.open);
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThanOrEqual(1_000);
    // The script ran to its end: a Lua error would leave its first writes and report Redis unavailable.
    expect(breaker.snapshot(jane)).not.toHaveProperty('unavailable');
    expect(await client.pttl(keys.tripped)).toBeGreaterThan(60_000);
  });

  it('opens a scope openMs, not for a Retry-After that only one of its sessions was given (twice)', async () => {
    const { client, breaker, calls } = await scopeOnRedis({ failureThreshold: 5, openMs: 1_000 }, 'jane', 'joe', 'kim');
    const [jane, joe, kim] = calls;
    // Joe and Kim fail (the scope's evidence of more than one failing session); only Jane is rate-limited.
    for (const call of [joe, joe, kim]) await breaker.record(call, 'transient-failure');
    await breaker.record(jane, 'transient-failure', 60_000);
    await breaker.record(jane, 'transient-failure', 60_000);
    const left = await client.pttl(breaker.keysFor(jane).scope.open);
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThanOrEqual(1_000);
  });

  it("keeps a session's circuit tripped as long as a probe's Retry-After holds it open", async () => {
    const client = await redis.connect();
    const options = { key: `breaker-${randomUUID()}`, failureThreshold: 1, openMs: 1_000, windowMs: 1_000 };
    const breaker = made.store({ client, breaker: options }).breaker as RedisAuthBreaker;
    const jane = { scope: `partner-${randomUUID()}`, session: 'jane' };
    await breaker.record(jane, 'transient-failure');
    const { session } = breaker.keysFor(jane);
    // The open period ran out; the probe is answered 429 with a Retry-After far past the trip's lifetime.
    await client.del(session.open);
    expect(await breaker.admit(jane)).toEqual({ allowed: true, probe: true });
    await breaker.record(jane, 'transient-failure', 60_000);
    expect(await client.pttl(session.open)).toBeGreaterThan(59_000);
    // Without its tripped marker, admission ignores the open key: the session would be let through 58 s early.
    expect(await client.pttl(session.tripped)).toBeGreaterThan(59_000);
  });

  it('counts transient failures within windowMs only: the count expires with its window', async () => {
    const { client, breaker, calls } = await scopeOnRedis({ windowMs: 30_000 }, 'jane');
    const [jane] = calls;
    await breaker.record(jane, 'transient-failure');
    await breaker.record(jane, 'transient-failure');
    const { session, scope } = breaker.keysFor(jane);
    for (const failures of [session.failures, scope.failures]) {
      expect(await client.get(failures)).toBe('2');
      const left = await client.pttl(failures);
      expect(left).toBeGreaterThan(0);
      expect(left).toBeLessThanOrEqual(30_000);
    }
  });

  it('says it is unavailable while Redis cannot be reached, and no longer once Redis answers again', async () => {
    const { client, breaker, calls } = await scopeOnRedis({}, 'jane');
    const [jane] = calls;
    const ended = new Promise((resolve) => client.once('end', resolve));
    client.disconnect();
    await ended;
    expect(await breaker.admit(jane)).toEqual({ allowed: true, probe: false });
    expect(breaker.snapshot(jane).unavailable).toEqual(expect.any(String));
    // A failure it cannot count is dropped, never thrown at the manager.
    await expect(breaker.record(jane, 'transient-failure')).resolves.toBeUndefined();
    expect(breaker.snapshot(jane)).toMatchObject({ state: 'closed', failures: 0, unavailable: expect.any(String) });
    await client.connect();
    expect(await breaker.admit(jane)).toEqual({ allowed: true, probe: false });
    expect(breaker.snapshot(jane).unavailable).toBeUndefined();
  });

  it('goes by the last state it saw while Redis cannot be reached: an open circuit still refuses', async () => {
    const client = await redis.connect();
    const store = made.store({
      client,
      breaker: { key: `breaker-${randomUUID()}`, failureThreshold: 1, openMs: 60_000 },
    });
    const breaker = store.breaker as NonNullable<typeof store.breaker>;
    const jane = { scope: `partner-${randomUUID()}`, session: 'jane' };
    const joe = { scope: jane.scope, session: 'joe' };
    await breaker.record(jane, 'transient-failure');
    client.disconnect();
    const admission = await breaker.admit(jane);
    expect(admission).toMatchObject({ allowed: false, retryAfterMs: expect.any(Number) });
    expect(admission.allowed === false && admission.retryAfterMs).toBeGreaterThan(59_000);
    expect(breaker.snapshot(jane)).toMatchObject({ state: 'open', unavailable: expect.any(String) });
    // A session it saw nothing of is admitted: the breaker never blocks auth on its own failure.
    expect(await breaker.admit(joe)).toEqual({ allowed: true, probe: false });
  });

  it("never refuses another session for one session's failures, nor another partner for one partner's outage", async () => {
    const breakerKey = `breaker-${randomUUID()}`;
    const partnerA = flakyAuthServer('partner-a');
    const partnerB = flakyAuthServer('partner-b');
    partnerB.down = false;
    const [failing, healthy] = await fleet(2, breakerKey, partnerA, (index) => `a-${index}-${randomUUID()}`);
    await expect(failing?.getAccessToken()).rejects.toMatchObject({ reason: 'breaker' });
    expect(failing?.status().breaker).toMatchObject({ state: 'open', level: 'session' });
    // Another end user of the same partner is asked for: its call goes out (and fails on its own).
    const callsBefore = partnerA.calls;
    await expect(healthy?.getAccessToken()).rejects.toMatchObject({ code: ErrorCodes.AUTH_UNAVAILABLE });
    expect(partnerA.calls).toBeGreaterThan(callsBefore);
    // Two of partner A's sessions failed: A's server is out, for A's sessions only.
    const [third] = await fleet(1, breakerKey, partnerA, () => `a-third-${randomUUID()}`);
    await expect(third?.getAccessToken()).rejects.toMatchObject({ reason: 'breaker' });
    expect(third?.status().breaker).toMatchObject({ level: 'scope' });
    const [otherPartner] = await fleet(1, breakerKey, partnerB, () => `b-${randomUUID()}`);
    await expect(otherPartner?.getAccessToken()).resolves.toEqual(expect.any(String));
    expect(partnerB.calls).toBe(1);
  });
});
