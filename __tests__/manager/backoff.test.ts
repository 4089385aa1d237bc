import { AuthRejectedError, AuthUnavailableError, MalformedResponseError } from '../../src/errors';
import { nextDelay } from '../../src/manager/backoff';
import type { BackoffPolicy } from '../../src/manager/backoff';

const policy: BackoffPolicy = {
  minDelayMs: 500,
  maxDelayMs: 10_000,
  factor: 2,
  randomize: false,
  maxAttempts: 5,
  maxRetryAfterMs: 600_000,
  random: () => 0.5,
};
const unavailable = (retryAfterMs?: number): AuthUnavailableError =>
  new AuthUnavailableError({ operation: 'refresh', reason: 'http', status: 503, retryAfterMs });

describe('nextDelay()', () => {
  it.each([
    [1, 500],
    [2, 1_000],
    [3, 2_000],
    [4, 4_000],
  ])('after failed attempt %i waits %i ms', (attempt, delayMs) => {
    expect(nextDelay(attempt, unavailable(), 60_000, policy)).toEqual({ retry: true, delayMs });
  });

  it('caps exponential growth at maxDelayMs', () => {
    expect(nextDelay(4, unavailable(), 60_000, { ...policy, maxAttempts: 10, minDelayMs: 5_000 })).toEqual({
      retry: true,
      delayMs: 10_000,
    });
  });

  it('multiplies by a factor in [1, 2) when randomized', () => {
    expect(nextDelay(1, unavailable(), 60_000, { ...policy, randomize: true })).toEqual({ retry: true, delayMs: 750 });
  });

  it('stops after maxAttempts', () => {
    expect(nextDelay(5, unavailable(), 60_000, policy)).toEqual({ retry: false, why: 'attempts' });
  });

  it('never retries a rejection', () => {
    expect(nextDelay(1, new AuthRejectedError({ operation: 'refresh', status: 400 }), 60_000, policy)).toEqual({
      retry: false,
      why: 'permanent',
    });
  });

  it('retries a malformed answer like a transient fault', () => {
    expect(nextDelay(1, new MalformedResponseError('html page'), 60_000, policy)).toEqual({
      retry: true,
      delayMs: 500,
    });
  });

  it('waits at least Retry-After', () => {
    expect(nextDelay(1, unavailable(5_000), 60_000, policy)).toEqual({
      retry: true,
      delayMs: 5_000,
      retryAfterMs: 5_000,
    });
  });

  it('gives up at once, with retryAfterMs, when Retry-After outlasts the budget (to the millisecond)', () => {
    expect(nextDelay(1, unavailable(20_000), 20_000, policy)).toEqual({
      retry: true,
      delayMs: 20_000,
      retryAfterMs: 20_000,
    });
    expect(nextDelay(1, unavailable(20_001), 20_000, policy)).toEqual({
      retry: false,
      why: 'budget',
      retryAfterMs: 20_001,
    });
  });

  it.each([0, -1, Number.NaN])('reads a Retry-After of %p as none', (retryAfterMs) => {
    expect(nextDelay(1, unavailable(retryAfterMs), 60_000, policy)).toEqual({ retry: true, delayMs: 500 });
  });

  it.each([3_600_000, Number.POSITIVE_INFINITY])('caps a Retry-After of %p at maxRetryAfterMs, the one cap', (ms) => {
    expect(nextDelay(1, unavailable(ms), Number.POSITIVE_INFINITY, policy)).toEqual({
      retry: true,
      delayMs: 600_000,
      retryAfterMs: 600_000,
    });
  });
});
