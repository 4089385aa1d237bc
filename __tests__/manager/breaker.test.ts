import { ConfigurationError, ErrorCodes } from '../../src/errors';
import { DEFAULT_AUTH_BREAKER_OPTIONS, LocalAuthBreaker } from '../../src/stores/memory-breaker';
import { nextDelay } from '../../src/manager/backoff';
import { TokenManager } from '../../src/manager/token-manager';
import type { TokenManagerOptions } from '../../src/manager/options';
import type { LifecycleEvent } from '../../src/manager/types';
import { AlixAuthProvider } from '../../src/providers/alix/provider';
import { startAlixSandbox } from '../../src/sandbox/server';
import type { AlixSandbox } from '../../src/sandbox/server';
import { MemoryTokenStore } from '../../src/stores/memory';
import type { AuthBreaker } from '../../src/stores/types';
import { AuthUnavailableError } from '../../src/errors';
import { TokenManagerPool } from '../../src/pool/pool';
import type { TokenSet } from '../../src/token-set';
import { FakeProvider, flushUntil, makeTokenSet } from '../helpers/fake-provider';
import { INSTANT_RETRY } from '../helpers/manager';

/** A clock the test moves by hand. */
function manualClock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let time = start;
  return { now: () => time, advance: (ms) => (time += ms) };
}

/** One session of one scope. */
const ONE = { scope: 'partner-a', session: 'session-1' };

describe('LocalAuthBreaker', () => {
  const make = (clock = manualClock()) => ({
    clock,
    breaker: new LocalAuthBreaker({ failureThreshold: 3, windowMs: 10_000, openMs: 1_000, now: clock.now }),
  });

  it('stays closed at threshold − 1 failures and opens at the threshold', async () => {
    const { breaker } = make();
    await breaker.record(ONE, 'transient-failure');
    await breaker.record(ONE, 'transient-failure');
    expect(breaker.snapshot(ONE)).toEqual({ state: 'closed', failures: 2, openUntil: null, level: null });
    expect(await breaker.admit(ONE)).toEqual({ allowed: true, probe: false });
    await breaker.record(ONE, 'transient-failure');
    expect(breaker.snapshot(ONE)).toEqual({ state: 'open', failures: 3, openUntil: 1_001_000, level: 'session' });
    expect(await breaker.admit(ONE)).toEqual({ allowed: false, retryAfterMs: 1_000 });
  });

  it('admits no probe 1 ms before openMs, and exactly one at openMs', async () => {
    const { breaker, clock } = make();
    for (let i = 0; i < 3; i += 1) await breaker.record(ONE, 'transient-failure');
    clock.advance(999);
    expect(await breaker.admit(ONE)).toEqual({ allowed: false, retryAfterMs: 1 });
    clock.advance(1);
    expect(await breaker.admit(ONE)).toEqual({ allowed: true, probe: true });
    expect(breaker.snapshot(ONE).state).toBe('half-open');
    expect(await breaker.admit(ONE)).toEqual({ allowed: false, retryAfterMs: 1_000 });
  });

  it('reopens for openMs when the probe fails, and closes when it succeeds', async () => {
    const { breaker, clock } = make();
    for (let i = 0; i < 3; i += 1) await breaker.record(ONE, 'transient-failure');
    clock.advance(1_000);
    await breaker.admit(ONE);
    clock.advance(200);
    await breaker.record(ONE, 'transient-failure');
    expect(breaker.snapshot(ONE)).toMatchObject({ state: 'open', openUntil: 1_002_200 });
    clock.advance(1_000);
    expect(await breaker.admit(ONE)).toEqual({ allowed: true, probe: true });
    await breaker.record(ONE, 'success');
    expect(breaker.snapshot(ONE)).toEqual({ state: 'closed', failures: 0, openUntil: null, level: null });
    expect(await breaker.admit(ONE)).toEqual({ allowed: true, probe: false });
  });

  it("stays open until the server's Retry-After when that is longer than openMs", async () => {
    const { breaker, clock } = make();
    await breaker.record(ONE, 'transient-failure');
    await breaker.record(ONE, 'transient-failure');
    await breaker.record(ONE, 'transient-failure', 30_000);
    clock.advance(29_999);
    expect(await breaker.admit(ONE)).toEqual({ allowed: false, retryAfterMs: 1 });
    clock.advance(1);
    expect(await breaker.admit(ONE)).toEqual({ allowed: true, probe: true });
  });

  it.each([Number.NaN, Number.POSITIVE_INFINITY])(
    'opens for openMs when record() is given a Retry-After of %p',
    async (retryAfterMs) => {
      const { breaker } = make();
      for (let i = 0; i < 3; i += 1) await breaker.record(ONE, 'transient-failure', retryAfterMs);
      expect(breaker.snapshot(ONE)).toMatchObject({ state: 'open', openUntil: 1_001_000 });
      expect(await breaker.admit(ONE)).toEqual({ allowed: false, retryAfterMs: 1_000 });
    },
  );

  it('stays open at most Number.MAX_SAFE_INTEGER ms for a finite Retry-After beyond it', async () => {
    const { breaker } = make();
    for (let i = 0; i < 3; i += 1) await breaker.record(ONE, 'transient-failure', 1e300);
    expect(breaker.snapshot(ONE).openUntil).toBe(1_000_000 + Number.MAX_SAFE_INTEGER);
  });

  it('counts failures within windowMs only, and a success resets the count', async () => {
    const { breaker, clock } = make();
    await breaker.record(ONE, 'transient-failure');
    await breaker.record(ONE, 'transient-failure');
    clock.advance(10_000);
    await breaker.record(ONE, 'transient-failure');
    expect(breaker.snapshot(ONE)).toMatchObject({ state: 'closed', failures: 1 });
    await breaker.record(ONE, 'transient-failure');
    await breaker.record(ONE, 'success');
    await breaker.record(ONE, 'transient-failure');
    expect(breaker.snapshot(ONE)).toMatchObject({ state: 'closed', failures: 1 });
  });

  it("keeps a MemoryTokenStore's clock when the store's breaker options leave `now` undefined", async () => {
    const clock = manualClock();
    const { breaker } = new MemoryTokenStore({ now: clock.now, breaker: { failureThreshold: 1, now: undefined } });
    await breaker?.record(ONE, 'transient-failure');
    expect(breaker?.snapshot(ONE)).toMatchObject({
      state: 'open',
      openUntil: clock.now() + DEFAULT_AUTH_BREAKER_OPTIONS.openMs,
    });
  });

  it('refuses bad options at construction', () => {
    expect(() => new LocalAuthBreaker({ failureThreshold: 0 })).toThrow(ConfigurationError);
    expect(() => new LocalAuthBreaker({ failureThreshold: 2.5 })).toThrow(/failureThreshold must be an integer/);
    expect(() => new LocalAuthBreaker({ openMs: -1 })).toThrow(/openMs/);
    expect(() => new LocalAuthBreaker({ windowMs: Number.NaN })).toThrow(/windowMs/);
    expect(Object.isFrozen(DEFAULT_AUTH_BREAKER_OPTIONS)).toBe(true);
  });

  it('refuses a windowMs or openMs beyond Number.MAX_SAFE_INTEGER (no exact arithmetic, no PX Redis takes)', () => {
    for (const name of ['windowMs', 'openMs']) {
      const tooLong = { [name]: Number.MAX_SAFE_INTEGER + 2 };
      expect(() => new LocalAuthBreaker(tooLong)).toThrow(ConfigurationError);
      expect(() => new LocalAuthBreaker(tooLong)).toThrow(
        new RegExp(`LocalAuthBreaker option ${name} must be at most`),
      );
      expect(() => new LocalAuthBreaker({ [name]: 9.3e18 })).toThrow(ConfigurationError);
      expect(() => new LocalAuthBreaker({ [name]: Number.MAX_SAFE_INTEGER })).not.toThrow();
    }
  });
});

describe('nextDelay() with an open breaker', () => {
  it('does not retry a breaker refusal in the foreground, and carries its retryAfterMs', () => {
    const error = new AuthUnavailableError({ operation: 'refresh', reason: 'breaker', retryAfterMs: 4_000 });
    const policy = {
      minDelayMs: 0,
      maxDelayMs: 0,
      factor: 2,
      randomize: false,
      maxAttempts: 5,
      maxRetryAfterMs: 600_000,
      random: () => 0,
    };
    expect(nextDelay(1, error, 60_000, policy)).toEqual({ retry: false, why: 'breaker', retryAfterMs: 4_000 });
    expect(error.message).toMatch(/circuit breaker is open.*retry after 4000 ms/i);
  });
});

describe('TokenManager with a breaker, against the sandbox (503 faults)', () => {
  let sandbox: AlixSandbox;
  const managers: TokenManager[] = [];
  const INSTANT = { minDelayMs: 0, maxDelayMs: 0, randomize: false, retries: 4 };

  beforeAll(async () => {
    sandbox = await startAlixSandbox();
  });
  afterEach(() => {
    for (const manager of managers.splice(0)) manager.close();
    sandbox.clearFaults();
    sandbox.resetCounters();
  });
  afterAll(() => sandbox.close());

  const authCalls = (): number => {
    const counters = sandbox.counters();
    return counters.authenticate + counters.refresh;
  };
  const start = (options: Partial<TokenManagerOptions> = {}): { manager: TokenManager; events: LifecycleEvent[] } => {
    const manager = new TokenManager({
      provider: new AlixAuthProvider({
        baseUrl: sandbox.url,
        partnerCode: sandbox.partnerCode,
        secretKey: sandbox.secretKey,
        privateKey: sandbox.privateKeyPem,
      }),
      retry: INSTANT,
      refreshJitterMs: 0,
      ...options,
    });
    const events: LifecycleEvent[] = [];
    manager.on('lifecycle', (event) => events.push(event));
    managers.push(manager);
    return { manager, events };
  };

  it('opens after the threshold; callers without a token fail at once with retryAfterMs, no auth call', async () => {
    const clock = manualClock(Date.now());
    // One wall clock for the manager and its breaker, as in a service.
    const { manager, events } = start({
      now: clock.now,
      breaker: new LocalAuthBreaker({ failureThreshold: 3, openMs: 5_000, now: clock.now }),
    });
    sandbox.injectFaults(100, { type: 'status', status: 503 });

    await expect(manager.getAccessToken()).rejects.toMatchObject({
      code: ErrorCodes.AUTH_UNAVAILABLE,
      reason: 'breaker',
      retryAfterMs: 5_000,
    });
    expect(authCalls()).toBe(3);
    expect(events.filter((event) => event.type === 'breaker-changed')).toEqual([
      expect.objectContaining({ state: 'open', retryAfterMs: expect.any(Number) }),
    ]);
    expect(manager.status().breaker).toMatchObject({ state: 'open', failures: 3 });

    clock.advance(1_000);
    for (let i = 0; i < 10; i += 1) {
      await expect(manager.getAccessToken()).rejects.toMatchObject({ reason: 'breaker', retryAfterMs: 4_000 });
    }
    expect(authCalls()).toBe(3);
  });

  it('lets one probe through per openMs across managers sharing it, and closes when the probe succeeds', async () => {
    const clock = manualClock(Date.now());
    const breaker = new LocalAuthBreaker({ failureThreshold: 2, openMs: 5_000, now: clock.now });
    const [a, b] = [start({ breaker }), start({ breaker })];
    sandbox.injectFaults(2, { type: 'status', status: 503 });
    await expect(a.manager.getAccessToken()).rejects.toMatchObject({ reason: 'breaker' });
    expect(authCalls()).toBe(2);

    sandbox.injectFaults(1, { type: 'status', status: 503 });
    clock.advance(5_000);
    const [probe, other] = await Promise.allSettled([a.manager.getAccessToken(), b.manager.getAccessToken()]);
    expect(authCalls()).toBe(3);
    // The probe's 503 reopens the breaker, so its own retry is refused too.
    expect([probe, other]).toEqual([
      expect.objectContaining({ status: 'rejected', reason: expect.objectContaining({ reason: 'breaker' }) }),
      expect.objectContaining({ status: 'rejected', reason: expect.objectContaining({ reason: 'breaker' }) }),
    ]);

    clock.advance(5_000);
    const tokens = await Promise.allSettled([a.manager.getAccessToken(), b.manager.getAccessToken()]);
    expect(tokens.map((result) => result.status)).toEqual(['fulfilled', 'rejected']);
    expect(authCalls()).toBe(4);
    expect(a.manager.status().breaker?.state).toBe('closed');
    expect(
      a.events.filter((event) => event.type === 'breaker-changed').map((event) => (event as { state: string }).state),
    ).toEqual(['open', 'half-open', 'open', 'half-open', 'closed']);
    await expect(b.manager.getAccessToken()).resolves.toEqual(expect.any(String));
    expect(authCalls()).toBe(5);
  });

  it('leaves callers holding a valid token unaffected while it is open', async () => {
    const clock = manualClock(Date.now());
    const { manager } = start({
      breaker: new LocalAuthBreaker({ failureThreshold: 2, openMs: 5_000, now: clock.now }),
    });
    const held = await manager.getAccessToken();
    sandbox.injectFaults(100, { type: 'status', status: 503 });
    await expect(manager.getAccessToken({ forceRefresh: true })).rejects.toMatchObject({ reason: 'breaker' });
    expect(manager.status().breaker?.state).toBe('open');
    for (let i = 0; i < 100; i += 1) expect(await manager.getAccessToken()).toBe(held);
    expect(authCalls()).toBe(3);
  });

  it('shares the MemoryTokenStore breaker between managers on one store; breaker: false turns it off', async () => {
    const store = new MemoryTokenStore();
    const { manager } = start({ store });
    expect(manager.status().breaker).toEqual({ state: 'closed', failures: 0, openUntil: null, level: null });
    sandbox.injectFaults(5, { type: 'status', status: 503 });
    await expect(manager.getAccessToken()).rejects.toMatchObject({ reason: 'http' });
    expect(manager.status().breaker?.state).toBe('open');
    await expect(start({ store }).manager.getAccessToken()).rejects.toMatchObject({ reason: 'breaker' });
    const off = start({ store, breaker: false }).manager;
    expect(off.status().breaker).toBeNull();
    await expect(off.getAccessToken()).resolves.toEqual(expect.any(String));
  });

  it('refuses a breaker option that is not a breaker', () => {
    expect(() => start({ breaker: {} as never })).toThrow(ConfigurationError);
  });
});

describe("The breaker and the manager's one Retry-After cap (retry.maxRetryAfterMs)", () => {
  const HOUR_MS = 60 * 60_000;

  it.each([
    ['a cap shorter than the default', 20_000, HOUR_MS, 20_000],
    ['a cap longer than the default (10 min)', 2 * HOUR_MS, HOUR_MS, HOUR_MS],
    ['the default cap', undefined, 24 * HOUR_MS, 600_000],
  ])("opens for the server's Retry-After capped by %s", async (_label, maxRetryAfterMs, retryAfterMs, openForMs) => {
    const clock = manualClock(Date.now());
    const breaker = new LocalAuthBreaker({ failureThreshold: 1, openMs: 1_000, now: clock.now });
    const provider = new FakeProvider({ now: clock.now });
    provider.script.push(
      new AuthUnavailableError({ operation: 'authenticate', reason: 'http', status: 503, retryAfterMs }),
    );
    // A budget shorter than any of these waits: the caller fails at once, nothing sleeps.
    const manager = new TokenManager({
      provider,
      breaker,
      now: clock.now,
      acquireTimeoutMs: 10_000,
      retry: { ...INSTANT_RETRY, maxRetryAfterMs },
    });

    await expect(manager.getAccessToken()).rejects.toMatchObject({ code: ErrorCodes.AUTH_UNAVAILABLE, reason: 'http' });
    expect(manager.status().breaker).toEqual({
      state: 'open',
      failures: 1,
      openUntil: clock.now() + openForMs,
      level: 'session',
    });
    clock.advance(openForMs - 1);
    await expect(manager.getAccessToken()).rejects.toMatchObject({ reason: 'breaker', retryAfterMs: 1 });
    clock.advance(1);
    await expect(manager.getAccessToken()).resolves.toBe('access-1');
    expect(provider.calls).toHaveLength(2);
    manager.close();
  });
});

describe('An open breaker, known to the manager, before any lock or queue', () => {
  const clock = manualClock(Date.now());
  async function openBreaker(): Promise<LocalAuthBreaker> {
    const breaker = new LocalAuthBreaker({ failureThreshold: 1, openMs: 5_000, now: clock.now });
    await breaker.record(
      { scope: 'held-elsewhere', session: 'alix-token-manager:session:held-elsewhere' },
      'transient-failure',
    );
    return breaker;
  }

  /** A store whose lock never comes (another replica holds it through a long refresh). */
  function lockedStore(stored?: TokenSet): MemoryTokenStore & { lockCalls: number } {
    const store = Object.assign(new MemoryTokenStore({ now: clock.now, breaker: false }), { lockCalls: 0 });
    if (stored !== undefined)
      void store.set('alix-token-manager:session:held-elsewhere', { identity: 'held-elsewhere', tokens: stored });
    return Object.assign(store, {
      acquireRefreshLock: (): Promise<never> => {
        store.lockCalls += 1;
        return new Promise<never>(() => undefined);
      },
    });
  }

  it('fails a caller without a token at once, without waiting for the shared lock', async () => {
    const store = lockedStore();
    const provider = new FakeProvider({ now: clock.now, identity: { id: 'held-elsewhere' } });
    const manager = new TokenManager({
      provider,
      store,
      breaker: await openBreaker(),
      now: clock.now,
      retry: INSTANT_RETRY,
    });
    // The manager learns the state from the breaker it shares: it saw the breaker open at its last call.
    await expect(manager.getAccessToken()).rejects.toMatchObject({ reason: 'breaker', retryAfterMs: 5_000 });
    expect([store.lockCalls, provider.calls.length]).toEqual([0, 0]);
    manager.close();
  });

  it('adopts a session another replica stored instead of failing', async () => {
    const stored = makeTokenSet(clock.now());
    const manager = new TokenManager({
      provider: new FakeProvider({ now: clock.now, identity: { id: 'held-elsewhere' } }),
      store: lockedStore(stored),
      breaker: await openBreaker(),
      now: clock.now,
    });
    await expect(manager.getAccessToken()).resolves.toBe(stored.accessToken);
    manager.close();
  });

  it.each([
    ['', false],
    [' (a breaker that records asynchronously, as a shared one does)', true],
  ])('refuses, not sends, a call that queued behind the pool cap while the breaker opened%s', async (_label, slow) => {
    const local = new LocalAuthBreaker({ failureThreshold: 2, openMs: 5_000, now: clock.now });
    // The failure lands a macrotask later: the queued call must not be let go before it does.
    const later = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
    const breaker: AuthBreaker = {
      admit: (call) => local.admit(call),
      record: async (call, outcome, retryAfterMs) => {
        if (slow) await later();
        return local.record(call, outcome, retryAfterMs);
      },
      snapshot: (call) => local.snapshot(call),
    };
    const providers = new Map<string, FakeProvider>();
    const pool = new TokenManagerPool({
      createProvider: (key) => {
        const provider = new FakeProvider({ now: clock.now, identity: { id: key, scope: 'partner' }, manual: true });
        // The first two users' calls fail when released (the auth server went down): two
        // distinct sessions' failures open the partner's breaker.
        if (key !== 'third')
          provider.script.push(new AuthUnavailableError({ operation: 'authenticate', reason: 'http', status: 503 }));
        providers.set(key, provider);
        return provider;
      },
      breaker,
      maxConcurrentAuth: 1,
      now: clock.now,
      retry: { ...INSTANT_RETRY, retries: 0 },
    });
    const first = pool.getAccessToken('first');
    const second = pool.getAccessToken('second');
    const third = pool.getAccessToken('third');
    await flushUntil(() => pool.status().auth.queued === 2 && providers.get('first')?.pendingCount === 1);
    providers.get('first')?.release();
    await expect(first).rejects.toMatchObject({ code: ErrorCodes.AUTH_UNAVAILABLE });
    await flushUntil(() => providers.get('second')?.pendingCount === 1);
    providers.get('second')?.release();
    await expect(second).rejects.toMatchObject({ code: ErrorCodes.AUTH_UNAVAILABLE });
    await expect(third).rejects.toMatchObject({ reason: 'breaker' });
    expect(providers.get('third')?.calls).toEqual([]);
    pool.close();
  });
});

describe('LocalAuthBreaker scopes: one session, one partner never refuses another', () => {
  const make = (clock = manualClock()) => ({
    clock,
    breaker: new LocalAuthBreaker({ failureThreshold: 3, windowMs: 10_000, openMs: 1_000, now: clock.now }),
  });
  const call = (scope: string, session: string) => ({ scope, session });

  it("opens one session's own circuit after its failures; the scope's other sessions stay admitted", async () => {
    const { breaker } = make();
    const bad = call('partner-a', 'bad-user');
    for (let i = 0; i < 10; i += 1) await breaker.record(bad, 'transient-failure');
    expect(await breaker.admit(bad)).toEqual({ allowed: false, retryAfterMs: 1_000 });
    expect(breaker.snapshot(bad)).toMatchObject({ state: 'open', level: 'session' });
    for (let i = 0; i < 20; i += 1)
      expect(await breaker.admit(call('partner-a', `user-${i}`))).toEqual({ allowed: true, probe: false });
  });

  it('opens the scope only once failureThreshold distinct sessions failed in the window', async () => {
    const { breaker } = make();
    // One account that keeps failing, and one other user's blip: not the server's fault.
    for (let i = 0; i < 10; i += 1) await breaker.record(call('partner-a', 'u1'), 'transient-failure');
    await breaker.record(call('partner-a', 'u2'), 'transient-failure');
    expect(await breaker.admit(call('partner-a', 'u9'))).toEqual({ allowed: true, probe: false });
    expect(breaker.snapshot(call('partner-a', 'u9'))).toMatchObject({ state: 'closed', failures: 2 });
    await breaker.record(call('partner-a', 'u3'), 'transient-failure');
    expect(await breaker.admit(call('partner-a', 'u9'))).toEqual({ allowed: false, retryAfterMs: 1_000 });
    expect(breaker.snapshot(call('partner-a', 'u9'))).toMatchObject({ state: 'open', level: 'scope', failures: 3 });
    // Another partner (scope) is untouched.
    expect(await breaker.admit(call('partner-b', 'u1'))).toEqual({ allowed: true, probe: false });
  });

  it('counts at most two failures of one session toward the scope with the default threshold of 5', async () => {
    const clock = manualClock();
    const breaker = new LocalAuthBreaker({ now: clock.now });
    for (let i = 0; i < 10; i += 1) await breaker.record(call('partner-a', 'u1'), 'transient-failure');
    for (let i = 0; i < 2; i += 1) await breaker.record(call('partner-a', 'u2'), 'transient-failure');
    expect(await breaker.admit(call('partner-a', 'u9'))).toEqual({ allowed: true, probe: false });
    expect(breaker.snapshot(call('partner-a', 'u9'))).toMatchObject({ state: 'closed', failures: 4 });
    await breaker.record(call('partner-a', 'u3'), 'transient-failure');
    expect(await breaker.admit(call('partner-a', 'u9'))).toMatchObject({ allowed: false });
  });

  it('counts less than half of an even failureThreshold per session: two sessions never open the scope', async () => {
    const clock = manualClock();
    const breaker = new LocalAuthBreaker({ failureThreshold: 4, now: clock.now });
    for (const user of ['u1', 'u1', 'u2', 'u2']) await breaker.record(call('partner-a', user), 'transient-failure');
    expect(await breaker.admit(call('partner-a', 'u9'))).toEqual({ allowed: true, probe: false });
  });

  it('needs two distinct sessions to open the scope even with failureThreshold 1', async () => {
    const clock = manualClock();
    const breaker = new LocalAuthBreaker({ failureThreshold: 1, windowMs: 10_000, openMs: 1_000, now: clock.now });
    for (let i = 0; i < 3; i += 1) await breaker.record(call('partner-a', 'u1'), 'transient-failure');
    expect(await breaker.admit(call('partner-a', 'u1'))).toMatchObject({ allowed: false });
    expect(await breaker.admit(call('partner-a', 'u9'))).toEqual({ allowed: true, probe: false });
    // Its failures once its own circuit was open did not count for the scope.
    expect(breaker.snapshot(call('partner-a', 'u9'))).toMatchObject({ state: 'closed', failures: 1 });
    await breaker.record(call('partner-a', 'u2'), 'transient-failure');
    expect(await breaker.admit(call('partner-a', 'u9'))).toMatchObject({ allowed: false });
  });

  it('holds only the session that got a 429 for its Retry-After, and the scope once two sessions got one', async () => {
    const { breaker, clock } = make();
    const limited = call('partner-a', 'limited');
    for (let i = 0; i < 6; i += 1) await breaker.record(limited, 'transient-failure', 600_000);
    expect(await breaker.admit(limited)).toEqual({ allowed: false, retryAfterMs: 600_000 });
    expect(await breaker.admit(call('partner-a', 'other'))).toEqual({ allowed: true, probe: false });
    // More sessions rate-limited too: the partner's server asks everyone to wait.
    await breaker.record(call('partner-a', 'second'), 'transient-failure', 600_000);
    await breaker.record(call('partner-a', 'third'), 'transient-failure', 600_000);
    clock.advance(1);
    expect(await breaker.admit(call('partner-a', 'other'))).toEqual({ allowed: false, retryAfterMs: 599_999 });
  });

  it("closes the scope on any session's success, but not another session's own circuit", async () => {
    const { breaker } = make();
    for (const session of ['u1', 'u2', 'u3']) await breaker.record(call('partner-a', session), 'transient-failure');
    for (let i = 0; i < 3; i += 1) await breaker.record(call('partner-a', 'u1'), 'transient-failure');
    expect(await breaker.admit(call('partner-a', 'u4'))).toMatchObject({ allowed: false });
    await breaker.record(call('partner-a', 'u4'), 'success');
    expect(await breaker.admit(call('partner-a', 'u4'))).toEqual({ allowed: true, probe: false });
    expect(await breaker.admit(call('partner-a', 'u1'))).toMatchObject({ allowed: false });
  });

  it("starts the scope's evidence afresh once its window ended: an old failure of another session does not count", async () => {
    const { breaker, clock } = make();
    await breaker.record(call('partner-a', 'u1'), 'transient-failure');
    clock.advance(10_000);
    for (let i = 0; i < 3; i += 1) await breaker.record(call('partner-a', 'u2'), 'transient-failure');
    expect(await breaker.admit(call('partner-a', 'u2'))).toMatchObject({ allowed: false });
    expect(await breaker.admit(call('partner-a', 'u3'))).toEqual({ allowed: true, probe: false });
  });

  it('forgets an old failure of another session at the very end of its window, even with failureThreshold 1', async () => {
    const clock = manualClock();
    const breaker = new LocalAuthBreaker({ failureThreshold: 1, windowMs: 10_000, openMs: 1_000, now: clock.now });
    await breaker.record(call('partner-a', 'u1'), 'transient-failure');
    clock.advance(10_000);
    await breaker.record(call('partner-a', 'u2'), 'transient-failure');
    expect(await breaker.admit(call('partner-a', 'u3'))).toEqual({ allowed: true, probe: false });
  });

  it('reopens the scope for openMs from a failed probe, whichever session probed', async () => {
    const { breaker, clock } = make();
    for (const user of ['u1', 'u2', 'u3']) await breaker.record(call('partner-a', user), 'transient-failure');
    clock.advance(1_000);
    // u4's probe fails 500 ms in.
    expect(await breaker.admit(call('partner-a', 'u4'))).toEqual({ allowed: true, probe: true });
    clock.advance(500);
    await breaker.record(call('partner-a', 'u4'), 'transient-failure');
    clock.advance(500);
    expect(await breaker.admit(call('partner-a', 'u9'))).toEqual({ allowed: false, retryAfterMs: 500 });
    expect(breaker.snapshot(call('partner-a', 'u9'))).toMatchObject({ state: 'open', level: 'scope' });
  });

  it('lets at most two probes through per openMs after an outage tripped every session: no herd', async () => {
    const { breaker, clock } = make();
    const users = ['u0', 'u1', 'u2', 'u3', 'u4'].map((user) => call('partner-a', user));
    // An outage: every user fails (its retries too) until its own circuit trips, and the scope's.
    for (let round = 0; round < 3; round += 1)
      for (const user of users) await breaker.record(user, 'transient-failure');
    const admitEach = async () => {
      const allowed: boolean[] = [];
      for (const user of users) allowed.push((await breaker.admit(user)).allowed);
      return allowed;
    };
    for (let round = 0; round < 3; round += 1) {
      clock.advance(1_000);
      // Of the failing sessions, one passes (on the lease they share); a session that never failed probes the scope.
      expect(await admitEach()).toEqual([true, false, false, false, false]);
      const newcomer = call('partner-a', `new-${round}`);
      expect(await breaker.admit(newcomer)).toEqual({ allowed: true, probe: true });
      for (const failed of [call('partner-a', 'u0'), newcomer]) await breaker.record(failed, 'transient-failure');
    }
    // The server is back: the next of their calls, within openMs, closes the scope.
    clock.advance(1_000);
    expect(await admitEach()).toEqual([true, false, false, false, false]);
    await breaker.record(call('partner-a', 'u0'), 'success');
    expect(await breaker.admit(call('partner-a', 'u9'))).toEqual({ allowed: true, probe: false });
  });

  it('never lets any number of broken accounts taking turns hold their scope open', async () => {
    const { breaker, clock } = make();
    // Four accounts fail on their own (a 500 for each of them alone): their own circuits trip, and the scope.
    const broken = [1, 2, 3, 4].map((n) => call('partner-a', `broken-${n}`));
    for (let round = 0; round < 3; round += 1)
      for (const user of broken) await breaker.record(user, 'transient-failure');
    for (let round = 0; round < 8; round += 1) {
      clock.advance(1_000);
      // Each asks at every half-open moment, before anyone else, and fails.
      for (const user of broken)
        if ((await breaker.admit(user)).allowed) await breaker.record(user, 'transient-failure');
      expect(await breaker.admit(call('partner-a', `u${round}`))).toEqual({ allowed: true, probe: true });
    }
  });

  it('never lets a session that fails on its own hold its scope open by asking first at each half-open moment', async () => {
    const { breaker, clock } = make();
    // An outage trips the scope; once it is over, one account keeps failing (a 500 for that user alone).
    for (const user of ['u1', 'u2', 'u3']) await breaker.record(call('partner-a', user), 'transient-failure');
    const broken = call('partner-a', 'broken');
    for (let round = 0; round < 5; round += 1) {
      clock.advance(1_000);
      // It asks first at each half-open moment (a caller retrying in a loop); its own circuit trips on the third.
      expect(await breaker.admit(broken)).toMatchObject({ allowed: true });
      await breaker.record(broken, 'transient-failure');
    }
    expect(breaker.snapshot(broken)).toMatchObject({ state: 'open', level: 'session' });
    expect(breaker.snapshot(call('partner-a', 'u9'))).toMatchObject({ state: 'half-open', level: 'scope' });
    expect(await breaker.admit(call('partner-a', 'u9'))).toEqual({ allowed: true, probe: true });
  });

  it('never lets two broken accounts taking turns to ask first hold their scope open', async () => {
    const { breaker, clock } = make();
    // An outage trips the scope; once it is over, two accounts keep failing (a 500 for each of them alone).
    for (const user of ['u1', 'u2', 'u3']) await breaker.record(call('partner-a', user), 'transient-failure');
    const [first, second] = [call('partner-a', 'broken-1'), call('partner-a', 'broken-2')];
    for (const broken of [first, second, first, second, first, second]) {
      clock.advance(1_000);
      expect(await breaker.admit(broken)).toMatchObject({ allowed: true });
      await breaker.record(broken, 'transient-failure');
    }
    expect(await breaker.admit(call('partner-a', 'u9'))).toEqual({ allowed: true, probe: true });
  });

  it('lets a session its tripped scope remembers failing through once per openMs, even with its own circuit closed', async () => {
    const { breaker, clock } = make();
    // u3's failure trips the scope (its own circuit counts one failure of three).
    for (const user of ['u1', 'u2', 'u3']) await breaker.record(call('partner-a', user), 'transient-failure');
    clock.advance(1_000);
    expect(await breaker.admit(call('partner-a', 'u3'))).toEqual({ allowed: true, probe: true });
    await breaker.record(call('partner-a', 'u3'), 'transient-failure');
    // Its retry waits openMs; the scope's probe is still another session's.
    expect(await breaker.admit(call('partner-a', 'u3'))).toEqual({ allowed: false, retryAfterMs: 1_000 });
    expect(await breaker.admit(call('partner-a', 'u9'))).toEqual({ allowed: true, probe: true });
  });

  it("opens the scope for openMs, not for one session's Retry-After", async () => {
    const { breaker } = make();
    await breaker.record(call('partner-a', 'u1'), 'transient-failure');
    await breaker.record(call('partner-a', 'u2'), 'transient-failure');
    await breaker.record(call('partner-a', 'u3'), 'transient-failure', 600_000);
    expect(await breaker.admit(call('partner-a', 'u4'))).toEqual({ allowed: false, retryAfterMs: 1_000 });
  });

  it('shows the larger failure count of the two closed circuits (a session whose failures outlived the scope’s window)', async () => {
    const { breaker, clock } = make();
    await breaker.record(call('partner-a', 'u1'), 'transient-failure');
    clock.advance(9_000);
    await breaker.record(call('partner-a', 'u2'), 'transient-failure');
    clock.advance(2_000);
    await breaker.record(call('partner-a', 'u2'), 'transient-failure');
    expect(breaker.snapshot(call('partner-a', 'u2'))).toEqual({
      state: 'closed',
      failures: 2,
      openUntil: null,
      level: null,
    });
  });

  it('counts no failures once their window has passed', async () => {
    const { breaker, clock } = make();
    await breaker.record(ONE, 'transient-failure');
    await breaker.record(ONE, 'transient-failure');
    clock.advance(10_000);
    expect(breaker.snapshot(ONE)).toEqual({ state: 'closed', failures: 0, openUntil: null, level: null });
  });

  it("keeps an open session's Retry-After when a later failure (a call admitted before it opened) asks less", async () => {
    const { breaker, clock } = make();
    for (let i = 0; i < 3; i += 1) await breaker.record(ONE, 'transient-failure', 600_000);
    clock.advance(1_000);
    await breaker.record(ONE, 'transient-failure');
    expect(await breaker.admit(ONE)).toEqual({ allowed: false, retryAfterMs: 599_000 });
  });

  it('shows openUntil in whole ms, rounded up, on a clock with fractions', async () => {
    const { breaker } = make(manualClock(1_000_000.5));
    for (let i = 0; i < 3; i += 1) await breaker.record(ONE, 'transient-failure');
    expect(breaker.snapshot(ONE)).toMatchObject({ state: 'open', openUntil: 1_001_001 });
  });

  it('tracks up to 256 failing scopes, forgetting the least recently failing one past that', async () => {
    const { breaker } = make();
    const tripped = call('partner-0', 'u1');
    for (let i = 0; i < 3; i += 1) await breaker.record(tripped, 'transient-failure');
    for (let i = 1; i < 256; i += 1) await breaker.record(call(`partner-${i}`, 'u1'), 'transient-failure');
    // Failing again makes partner-0 the most recent: the next new scope pushes partner-1 out instead.
    await breaker.record(tripped, 'transient-failure');
    await breaker.record(call('partner-256', 'u1'), 'transient-failure');
    expect(await breaker.admit(tripped)).toMatchObject({ allowed: false });
    for (let i = 257; i < 511; i += 1) await breaker.record(call(`partner-${i}`, 'u1'), 'transient-failure');
    expect(await breaker.admit(tripped)).toMatchObject({ allowed: false });
    await breaker.record(call('partner-511', 'u1'), 'transient-failure');
    expect(await breaker.admit(tripped)).toEqual({ allowed: true, probe: false });
  });

  it('frees the place of a scope whose last failing session succeeded, so it pushes no failing scope out', async () => {
    const { breaker } = make();
    const tripped = call('partner-0', 'u1');
    for (let i = 0; i < 3; i += 1) await breaker.record(tripped, 'transient-failure');
    for (let i = 1; i < 256; i += 1) await breaker.record(call(`partner-${i}`, 'u1'), 'transient-failure');
    await breaker.record(call('partner-255', 'u1'), 'success');
    await breaker.record(call('partner-256', 'u1'), 'transient-failure');
    expect(await breaker.admit(tripped)).toMatchObject({ allowed: false });
  });

  it("tracks the circuits of up to 10 000 failing sessions per scope, each kept after the scope's success", async () => {
    const { breaker } = make();
    const tripped = call('partner-a', 'u0');
    for (let i = 0; i < 3; i += 1) await breaker.record(tripped, 'transient-failure');
    for (let i = 1; i < 10_000; i += 1) await breaker.record(call('partner-a', `u${i}`), 'transient-failure');
    await breaker.record(call('partner-a', 'u-ok'), 'success');
    expect(await breaker.admit(tripped)).toMatchObject({ allowed: false });
    await breaker.record(call('partner-a', 'u10000'), 'transient-failure');
    await breaker.record(call('partner-a', 'u-ok'), 'success');
    expect(await breaker.admit(tripped)).toEqual({ allowed: true, probe: false });
  });
});
