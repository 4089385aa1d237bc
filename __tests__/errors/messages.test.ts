/**
 * Error messages as a newcomer reads them: what happened, then what to do, with no dangling
 * punctuation and no secret.
 */
import {
  AbortedError,
  AuthRejectedError,
  AuthUnavailableError,
  ErrorCodes,
  MalformedResponseError,
  MissingPeerError,
  TimeoutError,
  TokenManagerClosedError,
  TokenStoreError,
  composeErrorMessage,
  isTokenManagerError,
  withAttemptSummary,
} from '../../src/errors';

const SIGN_IN_URL = 'http://127.0.0.1:9/api/v2/auth/access-token';

function refused(): AuthUnavailableError {
  return new AuthUnavailableError({
    operation: 'authenticate',
    reason: 'network',
    url: SIGN_IN_URL,
    detail: 'ECONNREFUSED',
  });
}

describe('composeErrorMessage()', () => {
  it('joins what happened and what to do as two sentences', () => {
    expect(composeErrorMessage('refresh failed: x', 'check y')).toBe('refresh failed: x. Check y.');
  });

  it('trims dangling punctuation from both parts', () => {
    expect(composeErrorMessage('refresh failed: x; ', 'check y —')).toBe('refresh failed: x. Check y.');
    expect(composeErrorMessage('refresh failed:', undefined)).toBe('refresh failed');
  });

  it('leaves a message without a next step as it is, without a final period', () => {
    expect(composeErrorMessage('privateKey is not a valid PEM private key')).toBe(
      'privateKey is not a valid PEM private key',
    );
    expect(composeErrorMessage('x', '  ')).toBe('x');
  });
});

describe('AuthUnavailableError', () => {
  it('names host:port and the path when the connection is refused, and the next step', () => {
    expect(refused().message).toBe(
      'authenticate failed: could not reach the auth server at 127.0.0.1:9 (ECONNREFUSED) ' +
        'for POST /api/v2/auth/access-token. ' +
        'Check baseUrl, or run alix-token doctor.',
    );
  });

  it('says how long a 503 asked to wait and that retries happen', () => {
    const error = new AuthUnavailableError({
      operation: 'refresh',
      reason: 'http',
      status: 503,
      url: SIGN_IN_URL,
      retryAfterMs: 4000,
    });
    expect(error.message).toMatch(
      /^refresh failed: POST \S+ answered HTTP 503: the auth server is unavailable and asked to retry after 4000 ms\./,
    );
  });

  it('says when the open breaker lets calls through again', () => {
    const error = new AuthUnavailableError({
      operation: 'refresh',
      reason: 'breaker',
      retryAfterMs: 4000,
      url: SIGN_IN_URL,
    });
    expect(error.message).toMatch(/circuit breaker is open .* at 127\.0\.0\.1:9\. Retry after 4000 ms; /);
  });
});

describe('AuthRejectedError', () => {
  it('points at the credentials for a rejected sign-in', () => {
    const error = new AuthRejectedError({
      operation: 'authenticate',
      status: 400,
      errorCode: 13,
      apiMessage: 'Partner not found.',
      url: SIGN_IN_URL,
    });
    expect(error.message).toBe(
      `authenticate rejected: POST ${SIGN_IN_URL} answered HTTP 400 with errorCode 13: Partner not found. ` +
        'Check partnerCode, secretKey, userEmail and the private key (the ALIX_* variables), or run alix-token doctor.',
    );
  });

  it('points at baseUrl and paths for a 404', () => {
    const error = new AuthRejectedError({
      operation: 'authenticate',
      status: 404,
      url: 'https://h/api/api/v2/auth/access-token',
    });
    expect(error.message).toMatch(/answered HTTP 404\. Check baseUrl and paths: /);
  });

  it("keeps the provider's hint when it gives one", () => {
    const error = new AuthRejectedError({
      operation: 'authenticate',
      status: 400,
      errorCode: 12,
      hint: 'the signature did not verify: check the key',
    });
    expect(error.message).toBe(
      'authenticate rejected: answered HTTP 400 with errorCode 12. The signature did not verify: check the key.',
    );
  });
});

describe('every message the library composes itself', () => {
  const errors = [
    refused(),
    new AuthUnavailableError({
      operation: 'authenticate',
      reason: 'timeout',
      url: SIGN_IN_URL,
      detail: 'within 100 ms',
    }),
    new AuthUnavailableError({ operation: 'refresh', reason: 'http', status: 502 }),
    new AuthUnavailableError({ operation: 'refresh', reason: 'breaker', retryAfterMs: 10 }),
    new AuthRejectedError({ operation: 'refresh', status: 400, errorCode: 32 }),
    new MalformedResponseError('authenticate failed: the HTTP 200 answer is not valid JSON', {
      operation: 'authenticate',
      status: 200,
    }),
    new TokenManagerClosedError(),
    new AbortedError(),
    ...(['signer', 'store', 'lock', 'auth', 'acquire'] as const).map(
      (stage) => new TimeoutError({ stage, timeoutMs: 5 }),
    ),
    new MissingPeerError({
      packageName: 'msw',
      range: '^2.0.0',
      entry: 'alix-token-manager/testing/msw',
      worksWithout: 'the sandbox',
    }),
  ];

  it.each(errors.map((error) => [error.code, error.message]))(
    '%s reads as what happened, then what to do: %s',
    (_code, message) => {
      const sentences = message.split(/(?<=\.) (?=[A-Z])/);
      expect(sentences.length).toBeGreaterThanOrEqual(2);
      expect(message).toMatch(/[^.,;:\s]\.$/);
      expect(message).not.toMatch(/[,;:]\./);
    },
  );
});

describe('MissingPeerError', () => {
  it('carries the code, the peer, its range, the install command and what works without it', () => {
    const error = new MissingPeerError({
      packageName: '@opentelemetry/api',
      range: '^1.4.0',
      entry: 'alix-token-manager/otel',
      worksWithout: 'the lifecycle events',
    });

    expect(isTokenManagerError(error, ErrorCodes.MISSING_PEER)).toBe(true);
    expect(error).toMatchObject({
      name: 'MissingPeerError',
      code: 'ERR_ALIX_MISSING_PEER',
      transient: false,
      range: '^1.4.0',
    });
    expect(error.installCommand).toBe('npm install "@opentelemetry/api@^1.4.0"');
    expect(error.message).toBe(
      'alix-token-manager/otel needs the optional peer dependency @opentelemetry/api (^1.4.0), ' +
        'which is not installed. ' +
        'Install it with npm install "@opentelemetry/api@^1.4.0"; without it, use the lifecycle events.',
    );
  });

  it('installs a test-only peer as a dev dependency', () => {
    const error = new MissingPeerError({
      packageName: 'msw',
      range: '^2.0.0',
      entry: 'e',
      worksWithout: 'w',
      dev: true,
    });
    expect(error.installCommand).toBe('npm install --save-dev "msw@^2.0.0"');
  });
});

describe('withAttemptSummary()', () => {
  it('names the attempts and the time spent in the headline, and keeps the next step', () => {
    const error = withAttemptSummary(refused(), 4, 11_949);

    expect(error.message).toBe(
      'authenticate failed after 4 attempts in 11.9 s: could not reach the auth server at 127.0.0.1:9 (ECONNREFUSED) ' +
        'for POST /api/v2/auth/access-token. Check baseUrl, or run alix-token doctor.',
    );
    expect(error.stack?.split('\n')[0]).toBe(`AuthUnavailableError: ${error.message}`);
    expect(error.toJSON()).toMatchObject({ attempts: 4, elapsedMs: 11_949, code: ErrorCodes.AUTH_UNAVAILABLE });
  });

  it('reads "stopped after" when the breaker ended the run', () => {
    const error = withAttemptSummary(
      new AuthUnavailableError({ operation: 'refresh', reason: 'breaker', retryAfterMs: 30_000 }),
      3,
      2_000,
    );
    expect(error.message).toMatch(/^refresh stopped after 3 attempts in 2\.0 s: the auth circuit breaker is open/);
  });

  it('ends the first sentence with the summary when its headline has no colon', () => {
    const error = withAttemptSummary(new TokenManagerClosedError(), 2, 1_000);
    expect(error.message).toMatch(/^the token manager is closed after 2 attempts in 1\.0 s\. Create a new /);
  });

  it('returns a single attempt, a foreign error, and a summarised error unchanged', () => {
    const once = refused();
    const foreign = new Error('boom: x');
    const twice = withAttemptSummary(refused(), 2, 100);
    const summarised = twice.message;

    expect(withAttemptSummary(once, 1, 100).message).toBe(refused().message);
    expect(withAttemptSummary(foreign, 3, 100).message).toBe('boom: x');
    expect(withAttemptSummary(twice, 5, 900).message).toBe(summarised);
  });
});

describe('a cause that cannot be read', () => {
  it('still builds the typed error when reading the cause throws (a getter, a revoked Proxy)', () => {
    const throwingGetters = new Error('kept out');
    for (const name of ['stack', 'message', 'name', 'code'])
      Object.defineProperty(throwingGetters, name, {
        get: () => {
          throw new Error(`${name} getter threw`);
        },
      });
    const { proxy: revoked, revoke } = Proxy.revocable(new Error('revoked'), {});
    revoke();
    for (const cause of [throwingGetters, revoked]) {
      const error = new TokenStoreError('could not read the session', { cause });
      expect(error.code).toBe(ErrorCodes.STORE);
      expect(error.message).toBe('could not read the session');
      expect(error.cause).toBeInstanceOf(Error);
    }
  });
});
