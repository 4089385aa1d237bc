/**
 * `alix-token demo` in-process: the flags reach runDemo()/runUsersDemo() and the summary
 * decides the exit code. The demos themselves run in __tests__/demo (and in CI's `npm start`).
 */
import { runDemo, type DemoSummary } from '../../src/demo/run-demo';
import { runUsersDemo, type UsersDemoSummary } from '../../src/demo/run-users-demo';
import { runAlixToken } from '../helpers/cli';

jest.mock('../../src/demo/run-demo', () => ({ ...jest.requireActual('../../src/demo/run-demo'), runDemo: jest.fn() }));
jest.mock('../../src/demo/run-users-demo', () => ({
  ...jest.requireActual('../../src/demo/run-users-demo'),
  runUsersDemo: jest.fn(),
}));

const demo = jest.mocked(runDemo);
const usersDemo = jest.mocked(runUsersDemo);

/** Makes the demo print `printed` on its output and resolve to `summary`. */
function demoAnswers<S>(summary: Partial<S>, printed = 'the summary\n') {
  return async (options: { output?: NodeJS.WritableStream } = {}): Promise<S> => {
    options.output?.write(printed);
    return summary as S;
  };
}

describe('alix-token demo', () => {
  beforeEach(() => {
    demo.mockReset();
    usersDemo.mockReset();
  });

  it('runs the demo with the flags, prints on stdout and exits 0 when no request failed', async () => {
    demo.mockImplementation(demoAnswers<DemoSummary>({ failures: 0 }));

    const result = await runAlixToken(['demo', '--duration', '6', '--concurrency', '3', '--json']);

    expect(result).toEqual({ code: 0, stdout: 'the summary\n', stderr: '' });
    expect(demo).toHaveBeenCalledTimes(1);
    expect(demo.mock.calls[0]?.[0]).toMatchObject({ durationMs: 6_000, concurrency: 3, json: true });
    expect(usersDemo).not.toHaveBeenCalled();
  });

  it('runs 45 s with 8 request loops by default', async () => {
    demo.mockImplementation(demoAnswers<DemoSummary>({ failures: 0 }));

    await runAlixToken(['demo']);

    expect(demo.mock.calls[0]?.[0]).toMatchObject({ durationMs: 45_000, concurrency: 8, json: false });
  });

  it('exits 1 when a demo request failed', async () => {
    demo.mockImplementation(demoAnswers<DemoSummary>({ failures: 2 }));

    expect((await runAlixToken(['demo', '--duration', '1'])).code).toBe(1);
  });

  it('runs the many-users demo with --users, and exits 0 when it is ok', async () => {
    usersDemo.mockImplementation(demoAnswers<UsersDemoSummary>({ ok: true }));

    const result = await runAlixToken(['demo', '--users', '20', '--duration', '4', '--json']);

    expect(result).toEqual({ code: 0, stdout: 'the summary\n', stderr: '' });
    const options = { users: 20, maxConcurrentAuth: 4, durationMs: 4_000, json: true };
    expect(usersDemo.mock.calls[0]?.[0]).toMatchObject(options);
    expect(demo).not.toHaveBeenCalled();
  });

  it('passes --max-concurrent-auth, and exits 1 when the many-users demo is not ok', async () => {
    usersDemo.mockImplementation(demoAnswers<UsersDemoSummary>({ ok: false }));

    const result = await runAlixToken(['demo', '--users', '5', '--duration', '3', '--max-concurrent-auth', '2']);

    expect(result.code).toBe(1);
    const options = { users: 5, maxConcurrentAuth: 2, durationMs: 3_000, json: false };
    expect(usersDemo.mock.calls[0]?.[0]).toMatchObject(options);
  });

  it.each([
    [['--duration', '0'], '--duration must be a number ≥ 1, got "0"'],
    [['--concurrency', '1.5'], '--concurrency must be a whole number ≥ 1, got "1.5"'],
    [['--users', '0'], '--users must be a whole number from 1 to 10000, got "0"'],
    [['--concurrency', '2000'], '--concurrency must be at most 1000, got "2000"'],
    [
      ['--users', '5', '--concurrency', '3'],
      '--concurrency is for the single-session demo; --users runs a loop per user',
    ],
    [['--max-concurrent-auth', '2'], '--max-concurrent-auth needs --users'],
  ])('exits 2 naming the flag for demo %j, without running a demo', async (flags, message) => {
    const result = await runAlixToken(['demo', ...flags]);

    expect(result).toEqual({ code: 2, stdout: '', stderr: `alix-token: ${message} [ERR_ALIX_CONFIGURATION]\n` });
    expect(demo).not.toHaveBeenCalled();
    expect(usersDemo).not.toHaveBeenCalled();
  });

  it.each([['1e308'], ['3601']])('exits 2 naming the flag for --duration %s, without running a demo', async (value) => {
    const result = await runAlixToken(['demo', '--duration', value]);

    expect(result).toEqual({
      code: 2,
      stdout: '',
      stderr: `alix-token: --duration must be at most 3600, got "${Number(value)}" [ERR_ALIX_CONFIGURATION]\n`,
    });
    expect(demo).not.toHaveBeenCalled();
  });
});
