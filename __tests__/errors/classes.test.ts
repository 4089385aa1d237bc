/**
 * What each error class tells a caller who acts on it rather than reads it: whether retrying may help
 * (`transient`), which code it carries (and the guard that matches it), which next step its message ends
 * with, and what its JSON form holds.
 */
import {
  AbortedError,
  AuthRejectedError,
  AuthUnavailableError,
  ConfigurationError,
  ErrorCodes,
  MalformedResponseError,
  TimeoutError,
  TokenStoreError,
  errorCodeOf,
  isTokenManagerError,
  withAttemptSummary,
} from '../../src/errors';

describe('transient: whether retrying the same operation later may help', () => {
  it('is true for an unreachable auth server, a failing store and a deadline, false for a rejection or bad input', () => {
    const errors = [
      new AuthUnavailableError({ operation: 'refresh', reason: 'http', status: 503 }),
      new TokenStoreError('could not read the session'),
      new TimeoutError({ stage: 'store', timeoutMs: 500 }),
      new AuthRejectedError({ operation: 'refresh', status: 400, errorCode: 32 }),
      new ConfigurationError('partnerCode is required'),
      new MalformedResponseError('no accessToken in the answer'),
    ];
    expect(errors.map((error) => [error.code, error.transient])).toEqual([
      [ErrorCodes.AUTH_UNAVAILABLE, true],
      [ErrorCodes.STORE, true],
      [ErrorCodes.TIMEOUT, true],
      [ErrorCodes.AUTH_REJECTED, false],
      [ErrorCodes.CONFIGURATION, false],
      [ErrorCodes.MALFORMED_RESPONSE, false],
    ]);
  });
});

describe('isTokenManagerError()', () => {
  it("matches an error of another copy of the library by its ERR_ALIX_ code, and a Node error's code never", () => {
    const fromAnotherCopy = Object.assign(new Error('refresh rejected'), { code: ErrorCodes.AUTH_REJECTED });
    const nodeError = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    expect(isTokenManagerError(fromAnotherCopy)).toBe(true);
    expect(isTokenManagerError(fromAnotherCopy, ErrorCodes.AUTH_REJECTED)).toBe(true);
    expect(isTokenManagerError(nodeError)).toBe(false);
  });

  it('reads only a string code: an error with a numeric code is not ours, and has none', () => {
    const httpError = Object.assign(new Error('Not Found'), { code: 404 });
    expect(errorCodeOf(httpError)).toBeUndefined();
    expect(isTokenManagerError(httpError)).toBe(false);
  });

  it('matches the code asked for only', () => {
    const error = new TokenStoreError('could not read the session');
    expect(isTokenManagerError(error, ErrorCodes.STORE)).toBe(true);
    expect(isTokenManagerError(error, ErrorCodes.TIMEOUT)).toBe(false);
  });
});

describe('the next step a message ends with', () => {
  it('points at baseUrl and paths for a 405 too', () => {
    const error = new AuthRejectedError({ operation: 'authenticate', status: 405 });
    expect(error.message).toMatch(/\. Check baseUrl and paths: /);
  });

  it("takes the caller's hint over the details' one", () => {
    const error = new AuthRejectedError(
      { operation: 'refresh', status: 400, hint: 'from the provider' },
      { hint: 'from the caller' },
    );
    expect(error.message).toMatch(/\. From the caller\.$/);
  });

  it('adds none to a malformed answer that names no auth call, nor to an abort that says what was aborted', () => {
    expect(new MalformedResponseError('the store held an unreadable session').message).toBe(
      'the store held an unreadable session',
    );
    expect(new AbortedError('the lock wait was aborted').message).toBe('the lock wait was aborted');
    expect(new AbortedError().message).toMatch(/\. Call getAccessToken\(\) again /);
  });
});

describe('what the messages name', () => {
  it("names the scheme's default port of a plain http URL that could not be reached", () => {
    const error = new AuthUnavailableError({
      operation: 'authenticate',
      reason: 'network',
      url: 'http://localhost/api/v2/auth/access-token',
    });
    expect(error.message).toContain('could not reach the auth server at localhost:80 ');
  });

  it('counts one auth call in the singular, and names the endpoint of an auth deadline only', () => {
    const auth = new TimeoutError({ stage: 'auth', timeoutMs: 5_000, endpoint: 'api.alix.example:443', attempts: 1 });
    const store = new TimeoutError({ stage: 'store', timeoutMs: 500, endpoint: 'api.alix.example:443' });
    expect(auth.message).toMatch(
      /^timed out after 5000 ms: the auth server did not answer \(api\.alix\.example:443\); 1 auth call made\./,
    );
    expect(store.message).toMatch(/^timed out after 500 ms: the token store did not answer\. /);
  });
});

describe('toJSON()', () => {
  it('holds the name, code and message, and the numbers of the subclass', () => {
    const error = new AuthRejectedError({ operation: 'refresh', status: 400, errorCode: 32 });
    expect(error.toJSON()).toMatchObject({
      name: 'AuthRejectedError',
      code: ErrorCodes.AUTH_REJECTED,
      message: error.message,
      status: 400,
      errorCode: 32,
    });
  });
});

describe('withAttemptSummary() edges', () => {
  const refused = (): AuthUnavailableError =>
    new AuthUnavailableError({ operation: 'refresh', reason: 'network', detail: 'ECONNREFUSED' });

  it('leaves an error unchanged for a count of attempts that is not a whole number', () => {
    for (const attempts of [Number.NaN, 2.5, Number.POSITIVE_INFINITY]) {
      expect(withAttemptSummary(refused(), attempts, 1_000).message).toBe(refused().message);
    }
  });

  it('reads a negative elapsed time (a clock stepped back) as none', () => {
    const error = withAttemptSummary(refused(), 3, -1_500);
    expect(error.message).toMatch(/^refresh failed after 3 attempts in 0\.0 s: /);
    expect(error.toJSON()).toMatchObject({ attempts: 3, elapsedMs: 0 });
  });

  it('updates a stack that was read before (a logger printed the error of an earlier attempt)', () => {
    const error = refused();
    expect(error.stack).toMatch(/^AuthUnavailableError: refresh failed: /);
    withAttemptSummary(error, 2, 1_000);
    expect(error.stack?.split('\n')[0]).toBe(`AuthUnavailableError: ${error.message}`);
  });
});

describe('edges of the error constructors', () => {
  it('keeps no cause when none is given', () => {
    expect('cause' in new ConfigurationError('timeoutMs must be a positive number of ms')).toBe(false);
  });

  it('says retry after 0 ms, never "undefined", for a breaker error built without retryAfterMs', () => {
    const error = new AuthUnavailableError({ operation: 'refresh', reason: 'breaker' });
    expect(error.message).toContain('Retry after 0 ms;');
  });
});
