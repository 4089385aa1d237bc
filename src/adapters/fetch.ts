/**
 * createAuthorizedFetch(): a `fetch` that adds the bearer to the allowed origins and replays a
 * request once when the server rejects its token.
 */
import { ConfigurationError, MalformedResponseError } from '../errors';
import { createLogger } from '../logger';
import type { Logger } from '../logger';
import { createOriginSet, isAllowedUrl, parseRetryStatuses } from './origins';
import { definedOnly } from '../defaults';
import {
  DEFAULT_ADAPTER_OPTIONS,
  invalidateAllowsReplay,
  isReplayableBody,
  recordReplay,
  requestTarget,
} from './replay';
import { assertActsFor, isSessionKey, missingSessionKeyError, resolveTokenSource } from './session';
import type { AccessTokenSource, SessionSource } from './types';

type FetchInput = Parameters<typeof fetch>[0];
type FetchInit = NonNullable<Parameters<typeof fetch>[1]>;

/** The `init` of an {@link AuthorizedFetch}: `fetch`'s own, plus the session the call acts for. */
export type AuthorizedFetchInit = FetchInit & {
  /**
   * The session this call acts for (an end user's `userEmail`) when the wrapper serves a
   * session pool: its bearer comes from `pool.get(key)`, and a 401 invalidates that session
   * only. Takes precedence over the `sessionKey` option; with a single token manager it must name
   * the user that manager acts for (its `userEmail`), or the call is refused unsent.
   */
  alixSession?: string;
};

/**
 * The function {@link createAuthorizedFetch} returns: `fetch`'s signature, with an optional
 * `alixSession` in `init`. It can be passed wherever a `typeof fetch` is expected.
 */
export type AuthorizedFetch = (input: FetchInput, init?: AuthorizedFetchInit) => Promise<Response>;

/** Options of {@link createAuthorizedFetch}. */
export interface CreateAuthorizedFetchOptions {
  /**
   * Origins (`https://host[:port]`, no path) whose requests get the bearer; required and
   * non-empty. Plain `http://` is accepted for loopback hosts only.
   */
  origins: string[];
  /**
   * The `fetch` to wrap.
   * @default `globalThis.fetch`, looked up on every call (so a later polyfill or mock applies)
   */
  fetch?: typeof fetch;
  /**
   * Response statuses that mean "this token was rejected": the token is invalidated and the
   * request replayed once with a fresh one when its body can be sent again.
   * @default [401]
   */
  retryStatuses?: number[];
  /** A pino logger for retry events (the bearer is redacted). @default a silent logger */
  logger?: Logger;
  /**
   * With a session pool only: derives a call's session key (an end user's `userEmail`) for
   * calls that pass no `init.alixSession`. It receives the call as a `Request` with its URL,
   * method and headers (the given `Request` itself when `init` changes neither; never a copy of
   * the body). Returning `undefined` or `''` means the call names no session: one bound for an
   * allowed origin is then rejected with a `ConfigurationError` and not sent.
   * @default none: each call must pass `init.alixSession`
   */
  sessionKey?: (request: Request) => string | undefined;
}

/** Defaults of {@link CreateAuthorizedFetchOptions}. */
export const DEFAULT_AUTHORIZED_FETCH_OPTIONS: Readonly<{ retryStatuses: readonly number[] }> = DEFAULT_ADAPTER_OPTIONS;

/**
 * Wraps `fetch` so that requests to the allowed origins carry `Authorization: Bearer <token>`.
 * A response with a status in `retryStatuses` invalidates the token it carried and, when the
 * body can be sent again and the manager does not answer that a fresh token cannot help
 * (`cooldown`), the request is replayed once with a fresh token; otherwise (a stream body, a
 * cooldown) that response is returned as it is. Requests to other origins pass through
 * untouched. Redirects are left to `fetch`, which drops `Authorization` when a redirect
 * changes origin.
 *
 * `source` is one session (a `TokenManager`) or a session pool (a `TokenManagerPool`, or any
 * value with a `get(key)` method, see {@link SessionSource}). With a pool, each call bound for
 * an allowed origin names its session with `init.alixSession` or through
 * `options.sessionKey(request)`; its bearer, its 401 invalidation and its replay all use
 * `pool.get(key)` alone. Such a call that names no session is rejected with a
 * `ConfigurationError` and not sent; calls to other origins need no key.
 *
 * @throws {ConfigurationError} when `origins` is missing, empty or invalid, when `source` is
 * neither a token manager nor a session pool, or when `sessionKey` is not a function or is
 * given with a single token manager.
 * @example
 * ```ts
 * const authorizedFetch = createAuthorizedFetch(manager, { origins: ['https://api.alixcard.example'] });
 * const response = await authorizedFetch('https://api.alixcard.example/v2/cards');
 *
 * const perUserFetch = createAuthorizedFetch(pool, { origins: ['https://api.alixcard.example'] });
 * await perUserFetch('https://api.alixcard.example/v2/cards', { alixSession: 'user@example.com' });
 * ```
 */
export function createAuthorizedFetch(
  source: AccessTokenSource | SessionSource,
  options: CreateAuthorizedFetchOptions,
): AuthorizedFetch {
  if (typeof options !== 'object' || options === null) {
    throw new ConfigurationError('createAuthorizedFetch: options with `origins` are required');
  }
  const { single, pool } = resolveTokenSource(source, options.sessionKey, 'createAuthorizedFetch', 'first');
  const settings = { ...DEFAULT_AUTHORIZED_FETCH_OPTIONS, ...definedOnly(options) };
  const origins = createOriginSet(settings.origins ?? [], undefined, 'createAuthorizedFetch');
  const retryStatuses = parseRetryStatuses(settings.retryStatuses, 'createAuthorizedFetch');
  if (settings.fetch !== undefined && typeof settings.fetch !== 'function') {
    throw new ConfigurationError('createAuthorizedFetch: `fetch` must be a function');
  }
  const logger = createLogger(settings.logger);

  const authorizedFetch = async (input: FetchInput, init?: AuthorizedFetchInit): Promise<Response> => {
    const fetchImpl = settings.fetch ?? globalThis.fetch;
    const request = asRequest(input);
    const url = request === undefined ? String(input) : request.url;
    if (!isAllowedUrl(origins, url)) return fetchImpl(input, init);

    let key: string | undefined;
    let manager: AccessTokenSource;
    if (single !== undefined) {
      assertActsFor(single, init?.alixSession, 'createAuthorizedFetch');
      manager = single;
    } else manager = pool.get((key = sessionKeyOf(request, url, init)));

    const signal = init?.signal ?? request?.signal ?? undefined;
    // No options object without a signal: it keeps the manager on its hot path.
    const signalOptions = signal ? { signal } : undefined;
    const replayable = isReplayable(request, init);
    // A Request's body can be read once: keep an unread copy for the replay.
    const spare = replayable && request?.body && init?.body === undefined ? request.clone() : undefined;

    const token = await manager.getAccessToken(signalOptions);
    const first = await fetchImpl(input, withBearer(request, init, token));
    if (!retryStatuses.has(first.status)) {
      void spare?.body?.cancel().catch(() => undefined);
      return first;
    }
    // Looked up again: the session that issued the token may have been evicted meanwhile.
    const current = key === undefined || pool === undefined ? manager : pool.get(key);
    const method = (init?.method ?? request?.method ?? 'GET').toUpperCase();
    const target = requestTarget(method, new URL(url));
    if (!invalidateAllowsReplay(current, token, { target })) {
      void spare?.body?.cancel().catch(() => undefined);
      return first;
    }
    const report = { adapter: 'fetch' as const, status: first.status, method, origin: new URL(url).origin };
    if (!replayable) {
      logger.warn(report, 'token rejected; request not replayed because its body cannot be sent again');
      return first;
    }
    void first.body?.cancel().catch(() => undefined);
    const fresh = await current.getAccessToken(signalOptions);
    logger.info(report, 'token rejected; replaying the request once with a fresh token');
    recordReplay(current, report);
    const replayed = await fetchImpl(spare ?? input, withBearer(spare ?? request, init, fresh));
    // A token minted after this request started is rejected too: a storm at this target.
    if (retryStatuses.has(replayed.status)) current.invalidate(fresh, { target, replay: true });
    return replayed;
  };

  /** The session a call bound for an allowed origin names, with a pool. */
  const deriveKey = settings.sessionKey;
  const sessionKeyOf = (request: Request | undefined, url: string, init: AuthorizedFetchInit | undefined): string => {
    const key = init?.alixSession ?? deriveKey?.(keyRequest(request, url, init));
    if (isSessionKey(key)) return key;
    throw missingSessionKeyError(
      'createAuthorizedFetch',
      new URL(url).origin,
      "pass `{ alixSession: '<user key>' }` in the call's init, or a `sessionKey(request)` option to " +
        'createAuthorizedFetch()',
    );
  };
  return authorizedFetch;
}

/** The call as `sessionKey` sees it: URL, method and headers, never the body (it stays unread). */
function keyRequest(request: Request | undefined, url: string, init: FetchInit | undefined): Request {
  if (request !== undefined && init?.headers === undefined && init?.method === undefined) return request;
  return new Request(url, {
    method: init?.method ?? request?.method ?? 'GET',
    headers: init?.headers ?? request?.headers,
  });
}

/** A Request-like input (duck-typed, so another undici's Request counts too). */
function asRequest(input: FetchInput): Request | undefined {
  if (typeof input !== 'object' || input === null || input instanceof URL) return undefined;
  return typeof (input as Request).url === 'string' ? (input as Request) : undefined;
}

function withBearer(request: Request | undefined, init: FetchInit | undefined, token: string): FetchInit {
  const headers = new Headers(init?.headers ?? request?.headers);
  try {
    headers.set('Authorization', `Bearer ${token}`);
  } catch {
    // undici's message quotes the whole header value: the token must not reach an error.
    throw new MalformedResponseError(
      'the access token has characters a Bearer header cannot carry (RFC 6750 b64token)',
    );
  }
  return { ...init, headers };
}

/**
 * Whether the request can be sent a second time: bodies held in memory (string,
 * URLSearchParams, ArrayBuffer and views, Blob, FormData) can; a ReadableStream or an async
 * iterable cannot, nor a Request whose body was already read.
 */
export function isReplayable(request: Request | undefined, init: FetchInit | undefined): boolean {
  const body: unknown = init?.body;
  if (body === undefined) return request === undefined || request.body === null || !request.bodyUsed;
  // fetch sends a plain object as the string "[object Object]", so it is as replayable as that string.
  return isReplayableBody(body);
}
