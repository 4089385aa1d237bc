import { runUsersDemo } from '../../src/demo/run-users-demo';
import type { UsersDemoOptions } from '../../src/demo/run-users-demo';
import { collectingStream } from '../helpers/streams';

/**
 * The many-users demo in 1.5 s of real time: users send a request every 25–75 ms, so each one
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

    const summary = await runUsersDemo({ ...QUICK_USERS_DEMO, users: 20, json: true, output: output.stream });

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
    const summary = await runUsersDemo({ ...options, output: output.stream });

    expect(summary.ok).toBe(true);
    const text = output.text();
    expect(text).toMatch(/users 5 · sessions 5 · requests \d+/);
    expect(text).toMatch(/\| user mismatches \(403\)\s+\| 0 /);
    expect(text).toMatch(/\| peak concurrent auth calls\s+\| [12] \(max 2\)/);
    expect(text).toMatch(/\| result\s+\| ok /);
  });
});
