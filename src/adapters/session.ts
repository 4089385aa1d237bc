/**
 * Session routing shared by the axios and fetch adapters: whether they were given one session
 * or a pool of them, and what a request bound for an allowed origin must name with a pool.
 */
import { ConfigurationError } from '../errors';
import type { AccessTokenSource, SessionSource } from './types';

/** What an adapter was given, decided once when it is set up. */
export type ResolvedTokenSource =
  { single: AccessTokenSource; pool: undefined } | { single: undefined; pool: SessionSource };

/**
 * Whether `value` is a session pool: it has a `get()` method. `TokenManager` has none;
 * `TokenManagerPool` also has pool-level `getAccessToken(key)`/`invalidate(key)`, so those do
 * not tell the two apart.
 */
export function isSessionSource(value: unknown): value is SessionSource {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { get?: unknown }).get === 'function'
  );
}

function isAccessTokenSource(value: unknown): value is AccessTokenSource {
  const candidate = value as Partial<AccessTokenSource> | null | undefined;
  return typeof candidate?.getAccessToken === 'function' && typeof candidate.invalidate === 'function';
}

/**
 * Sorts an adapter's token-source argument into a single source or a pool, and checks the
 * `sessionKey` option against it.
 *
 * @throws {ConfigurationError} when the argument is neither, when `sessionKey` is given but is
 * not a function, or when it is given with a single source (where it would route nothing).
 */
export function resolveTokenSource(
  value: unknown,
  sessionKey: unknown,
  where: string,
  argument: string,
): ResolvedTokenSource {
  const resolved: ResolvedTokenSource | undefined = isSessionSource(value)
    ? { single: undefined, pool: value }
    : isAccessTokenSource(value)
      ? { single: value, pool: undefined }
      : undefined;
  if (resolved === undefined) {
    throw new ConfigurationError(
      `${where}: the ${argument} argument is neither a token manager (getAccessToken()/invalidate()) nor a session ` +
        `pool (get(key))`,
    );
  }
  if (sessionKey !== undefined && typeof sessionKey !== 'function') {
    throw new ConfigurationError(`${where}: \`sessionKey\` must be a function returning the request's session key`);
  }
  if (sessionKey !== undefined && resolved.pool === undefined) {
    throw new ConfigurationError(
      `${where}: \`sessionKey\` routes requests between the sessions of a pool; it cannot be used with a single ` +
        `token manager`,
    );
  }
  return resolved;
}

/** A usable session key: a non-empty string. */
export function isSessionKey(key: unknown): key is string {
  return typeof key === 'string' && key !== '';
}

/**
 * The error of a request bound for an allowed origin that names no session while the adapter
 * serves a pool. It names the origin only (a path or query may hold personal data).
 */
export function missingSessionKeyError(where: string, origin: string, fix: string): ConfigurationError {
  return new ConfigurationError(
    `${where}: a request to ${origin || 'an allowed origin'} names no session, and the token source is a session ` +
      `pool; ${fix}. The request was not sent`,
  );
}

/**
 * Refuses a request that names a session (`alixSession`) another than the one a single token
 * source acts for: it would go out with another end user's bearer.
 * @throws ConfigurationError naming the fix (nothing of the key: it is personal data).
 */
export function assertActsFor(source: AccessTokenSource, sessionKey: unknown, adapter: string): void {
  if (sessionKey === undefined) return;
  if (typeof sessionKey === 'string' && source.actsFor?.(sessionKey) === true) return;
  throw new ConfigurationError(
    `${adapter}: the request names a session (alixSession) that this single token manager does not act for, so it ` +
      `was not sent. ` +
      'Attach a TokenManagerPool to serve many users, or leave alixSession out.',
  );
}
