import { AuthRejectedError, AuthUnavailableError } from '../../src/errors';
import type { AuthBreaker, BreakerOutcome, BreakerStatus } from '../../src/stores/types';
import { flushUntil } from '../helpers/fake-provider';
import { T0, lifecycleOf, makeManager, useFakeClock } from '../helpers/manager';

const CLOSED: BreakerStatus = { state: 'closed', failures: 0, openUntil: null, level: null };

/** A breaker that admits every call and records what it is told; `snapshot` and `admit` may be replaced. */
function recordingBreaker(overrides: Partial<AuthBreaker> = {}): AuthBreaker & { outcomes: BreakerOutcome[] } {
  const outcomes: BreakerOutcome[] = [];
  return {
    outcomes,
    admit: () => Promise.resolve({ allowed: true, probe: false }),
    record: (_call, outcome) => {
      outcomes.push(outcome);
      return Promise.resolve();
    },
    snapshot: () => CLOSED,
    ...overrides,
  };
}

describe("A manager's side of the auth circuit breaker", () => {
  beforeEach(() => useFakeClock());
  afterEach(() => jest.useRealTimers());

  it('makes the auth call when the breaker itself fails to answer admit()', async () => {
    const breaker = recordingBreaker({ admit: () => Promise.reject(new Error('breaker backend down')) });
    const { manager, provider } = makeManager({ breaker });
    await expect(manager.getAccessToken()).resolves.toBe('access-1');
    expect(provider.calls).toHaveLength(1);
    manager.close();
  });

  it.each([
    [{ id: 'user-a', endpoint: 'auth.example:443', scope: 'partner-x' }, 'partner-x'],
    [{ id: 'user-a', endpoint: 'auth.example:443' }, 'auth.example:443'],
    [{ id: 'user-a' }, 'user-a'],
  ])('asks the breaker about the scope of identity %j: %s', async (identity, scope) => {
    const scopes: string[] = [];
    const breaker = recordingBreaker({
      admit: (call) => {
        scopes.push(call.scope);
        return Promise.resolve({ allowed: true, probe: false });
      },
    });
    const { manager } = makeManager({ breaker }, { identity });
    await manager.getAccessToken();
    expect(scopes).toEqual([scope]);
    manager.close();
  });

  it('counts a rejection as an answer from the server (success), like the sign-in that follows it', async () => {
    const breaker = recordingBreaker();
    const { manager, provider } = makeManager({ breaker });
    await manager.getAccessToken();
    provider.script.push(new AuthRejectedError({ operation: 'refresh', status: 400, errorCode: 32 }));
    await manager.getAccessToken({ forceRefresh: true });
    await flushUntil(() => breaker.outcomes.length === 3);
    expect(provider.calls.map((call) => call.kind)).toEqual(['authenticate', 'refresh', 'authenticate']);
    expect(breaker.outcomes).toEqual(['success', 'success', 'success']);
    manager.close();
  });

  it("does not count a provider's own breaker refusal (no call reached the server)", async () => {
    const breaker = recordingBreaker();
    const { manager, provider } = makeManager({ breaker });
    provider.script.push(
      new AuthUnavailableError({ operation: 'authenticate', reason: 'breaker', retryAfterMs: 1_000 }),
    );
    await expect(manager.getAccessToken()).rejects.toMatchObject({ reason: 'breaker' });
    expect(provider.calls).toHaveLength(1);
    expect(breaker.outcomes).toEqual([]);
    manager.close();
  });

  it('never tells callers to retry after 0 ms when a custom breaker refuses with retryAfterMs 0', async () => {
    const breaker = recordingBreaker({ admit: () => Promise.resolve({ allowed: false, retryAfterMs: 0 }) });
    const { manager, provider } = makeManager({ breaker });
    await expect(manager.getAccessToken()).rejects.toMatchObject({ reason: 'breaker', retryAfterMs: 1 });
    expect(provider.calls).toHaveLength(0);
    manager.close();
  });

  it("keeps the provider's error when the breaker itself fails to record the outcome", async () => {
    const breaker = recordingBreaker({ record: () => Promise.reject(new Error('breaker backend down')) });
    const { manager, provider } = makeManager({ breaker });
    provider.script.push(new AuthRejectedError({ operation: 'authenticate', status: 400, errorCode: 32 }));
    await expect(manager.getAccessToken()).rejects.toBeInstanceOf(AuthRejectedError);
    manager.close();
  });

  it("tells breaker-changed with retryAfterMs 0, not a negative one, when the breaker's clock is behind", async () => {
    let status: BreakerStatus = CLOSED;
    const breaker = recordingBreaker({ snapshot: () => status });
    const { manager } = makeManager({ breaker });
    const events = lifecycleOf(manager);
    status = { state: 'open', failures: 3, openUntil: T0 - 500, level: 'session' };
    await manager.getAccessToken();
    expect(events.filter((event) => event.type === 'breaker-changed')).toEqual([
      { type: 'breaker-changed', at: T0, state: 'open', retryAfterMs: 0 },
    ]);
    manager.close();
  });

  it('names the sign-in as the call not attempted when no refresh token is held', async () => {
    const breaker = recordingBreaker({
      snapshot: () => ({ state: 'open', failures: 3, openUntil: T0 + 1_000, level: 'session' }),
    });
    const { manager } = makeManager({ breaker });
    await expect(manager.getAccessToken()).rejects.toMatchObject({ reason: 'breaker', operation: 'authenticate' });
    manager.close();
  });

  it('lets the run be the probe once openUntil is reached, to the millisecond', async () => {
    const openUntil = T0 + 1_000;
    const breaker = recordingBreaker({
      snapshot: () => ({ state: 'open', failures: 3, openUntil, level: 'session' }),
    });
    const early = makeManager({ breaker });
    jest.setSystemTime(openUntil - 1);
    await expect(early.manager.getAccessToken()).rejects.toMatchObject({ reason: 'breaker', retryAfterMs: 1 });
    expect(early.provider.calls).toHaveLength(0);
    early.manager.close();
    const { manager, provider } = makeManager({ breaker });
    jest.setSystemTime(openUntil);
    await expect(manager.getAccessToken()).resolves.toBe('access-1');
    expect(provider.calls).toHaveLength(1);
    manager.close();
  });

  it('tells breaker-changed when the breaker closed since the manager saw it open', async () => {
    let status: BreakerStatus = { state: 'open', failures: 3, openUntil: T0 + 1_000, level: 'session' };
    const breaker = recordingBreaker({ snapshot: () => status });
    const { manager } = makeManager({ breaker });
    const events = lifecycleOf(manager);
    // Another process's probe succeeded meanwhile.
    status = CLOSED;
    await manager.getAccessToken();
    expect(events.filter((event) => event.type === 'breaker-changed')).toEqual([
      { type: 'breaker-changed', at: T0, state: 'closed' },
    ]);
    manager.close();
  });
});
