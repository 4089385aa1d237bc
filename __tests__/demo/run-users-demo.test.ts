import { runUsersDemo } from '../../src/demo/run-users-demo';
import type { UsersDemoOptions } from '../../src/demo/run-users-demo';
import type * as SandboxKeys from '../../src/sandbox/keys';
import type * as SandboxServer from '../../src/sandbox/server';
import type { AlixSandbox } from '../../src/sandbox/server';
import { collectingStream } from '../helpers/streams';

/** Called with each run's sandbox before its request loops start. */
let mockSandboxStarted: (sandbox: AlixSandbox) => void = () => undefined;

jest.mock('../../src/sandbox/server', () => {
  const actual = jest.requireActual<typeof SandboxServer>('../../src/sandbox/server');
  const { generatePartnerKeyPair } = jest.requireActual<typeof SandboxKeys>('../../src/sandbox/keys');
  // One key pair for every run: generating one takes seconds on a loaded machine.
  let keys: ReturnType<typeof generatePartnerKeyPair> | undefined;
  return {
    ...actual,
    startAlixSandbox: async (options: SandboxServer.AlixSandboxServerOptions) => {
      keys ??= generatePartnerKeyPair();
      const sandbox = await actual.startAlixSandbox({ ...(await keys), ...options });
      mockSandboxStarted(sandbox);
      return sandbox;
    },
  };
});

afterEach(() => {
  mockSandboxStarted = () => undefined;
});

/**
 * Runs a demo on fake timers: the sandbox's sockets are real, while its clock (token lifetimes), the phases, the
 * pauses and the deadline are fake, moved on by 10 ms per turn of the real event loop. The run is then the same
 * however slowly a loaded machine runs it, where real time let tokens expire and the revocation give up waiting.
 */
async function onFakeTime<T>(run: () => Promise<T>): Promise<T> {
  jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
  try {
    let settled = false;
    const result = run().finally(() => (settled = true));
    while (!settled) {
      await new Promise((resolve) => setImmediate(resolve));
      await jest.advanceTimersByTimeAsync(10);
    }
    return await result;
  } finally {
    jest.useRealTimers();
  }
}

/**
 * The many-users demo in 1.5 s of fake time: users send a request every 25–75 ms, so each one
 * still meets the revocation at 50 %.
 */
const QUICK_USERS_DEMO: Omit<UsersDemoOptions, 'users'> = Object.freeze({
  durationMs: 1_500,
  requestIntervalMs: 50,
  retry: { minDelayMs: 20, maxDelayMs: 100 },
});

describe('runUsersDemo()', () => {
  it('runs many users on a pool with no cross-user token, and prints only the summary with json', async () => {
    const output = collectingStream();

    const summary = await onFakeTime(() =>
      runUsersDemo({ ...QUICK_USERS_DEMO, users: 20, json: true, output: output.stream }),
    );

    expect(JSON.parse(output.text())).toEqual(summary);
    expect(summary).toMatchObject({
      mode: 'users',
      users: 20,
      sessions: 20,
      failures: 0,
      userMismatches: 0,
      unrecovered401s: 0,
      usersSeenBySandbox: 20,
      signInsPerUser: { min: 1, max: 1 },
      usersRecovered: 20,
      maxConcurrentAuth: 4,
      ok: true,
    });
    expect(summary.requests).toBeGreaterThan(20);
    expect(summary.server401s).toBeGreaterThan(0);
    expect(summary.authInFlightPeak).toBeLessThanOrEqual(4);
  });

  it('prints progress lines and a users summary table when not on a TTY', async () => {
    const output = collectingStream();

    const options = { ...QUICK_USERS_DEMO, users: 5, maxConcurrentAuth: 2, progressIntervalMs: 250 };
    const summary = await onFakeTime(() => runUsersDemo({ ...options, output: output.stream }));

    expect(summary.ok).toBe(true);
    const text = output.text();
    expect(text).toMatch(/users 5 · sessions 5 · requests \d+/);
    expect(text).toMatch(/\| user mismatches \(403\)\s+\| 0 /);
    expect(text).toMatch(/\| peak concurrent auth calls\s+\| [12] \(max 2\)/);
    expect(text).toMatch(/\| result\s+\| ok /);
  });

  it('revokes only once every request in flight has landed, however long their sign-ins take', async () => {
    // One auth call at a time, each sign-in answered after 1.5 s: the last lands 4.5 s in, long after the 2 s the
    // revocation gives background refreshes to settle.
    mockSandboxStarted = (sandbox) => sandbox.injectFaults(3, { type: 'delay', ms: 1_500, endpoint: 'authenticate' });
    const options = { users: 3, maxConcurrentAuth: 1, durationMs: 1_000, accessTokenTtlMs: 60_000, json: true };

    const summary = await onFakeTime(() => runUsersDemo({ ...options, output: collectingStream().stream }));

    // Every user's token was revoked under it, and its next request was replayed with a fresh one.
    expect(summary).toMatchObject({ server401s: 3, unrecovered401s: 0, usersRecovered: 3, failures: 0, ok: true });
  });
});
