/**
 * What the axios and fetch adapters share, written once: their options (origins, retry
 * statuses, one session or a pool), which session a request acts for, and the request's flow:
 * bearer, send, and on a rejection of that bearer one replay with a fresh one when it can help.
 */
import { ConfigurationError, assertConfig } from '../errors';
import { createOriginSet, parseRetryStatuses } from './origins';
import type { AccessTokenSource, SessionSource } from './types';

/**
 * One request bound for an allowed origin, as the shared flow sees it; `R` is what one send ends
 * with, and its HTTP status if any.
 */
export interface Attempt<R extends { status: number | undefined }> {
  method: string;
  /** The URL the request goes to (asked only for a 401 or an error). */
  url(): URL;
  signal: AbortSignal | undefined;
  /**
   * The session the request names: its `alixSession`, else the `sessionKey` option's answer (asked only then; only a
   * pool has that option).
   */
  session(): unknown;
  /** Whether the body can be sent a second time. */
  replayable: boolean;
  /** Sends the request with `Authorization: Bearer <token>`; `replay` on the second send. */
  send(token: string, replay: boolean): Promise<R>;
}

/**
 * Checks an adapter's token source and options. `source` is a pool when it has a `get()`
 * method (`TokenManagerPool` also has pool-level `getAccessToken(key)`/`invalidate(key)`, so
 * those do not tell the two apart), else it must be a token manager.
 *
 * @throws {ConfigurationError} when the source is neither, when `sessionKey` is not a function
 * or is given with a single source (where it would route nothing), or when an origin or a
 * retry status is invalid.
 */
export function createAuthorizer(
  source: unknown,
  options: { origins?: string[]; retryStatuses?: number[]; sessionKey?: unknown },
  where: string,
  context: { adapter: 'axios' | 'fetch'; baseUrl: string | undefined; fix: string },
) {
  const candidate = source as Partial<SessionSource & AccessTokenSource> | null | undefined;
  const pool = typeof candidate?.get === 'function' ? (candidate as SessionSource) : undefined;
  assertConfig(
    pool !== undefined ||
      (typeof candidate?.getAccessToken === 'function' && typeof candidate.invalidate === 'function'),
    `${where}: the ${context.adapter === 'axios' ? 'second' : 'first'} argument is neither a token manager ` +
      `(getAccessToken()/invalidate()) nor a session pool (get(key))`,
  );
  const single = candidate as AccessTokenSource;
  const { sessionKey } = options;
  assertConfig(
    sessionKey === undefined || typeof sessionKey === 'function',
    `${where}: \`sessionKey\` must be a function returning the request's session key`,
  );
  assertConfig(
    sessionKey === undefined || pool !== undefined,
    `${where}: \`sessionKey\` routes requests between the sessions of a pool; it cannot be used with a single ` +
      `token manager`,
  );
  const origins = createOriginSet(options.origins, context.baseUrl, where);
  const retryStatuses = parseRetryStatuses(options.retryStatuses ?? [401], where);
  const singleSession = (): AccessTokenSource => single;

  /**
   * The session a request acts for, looked up on each call (a pool may evict it): with a single
   * source, the request may name only the user it acts for; with a pool, it must name one.
   * @throws {ConfigurationError} otherwise; the request is not sent.
   */
  const sessionOf = (attempt: Attempt<{ status: number | undefined }>): (() => AccessTokenSource) => {
    const named = attempt.session();
    if (pool === undefined) {
      // A request that names another end user would go out with this session's bearer.
      if (named === undefined || (typeof named === 'string' && single.actsFor?.(named) === true)) return singleSession;
      throw new ConfigurationError(
        `${where}: the request names a session (alixSession) that this single token manager does not act for, so ` +
          `it was not sent. Attach a TokenManagerPool to serve many users, or leave alixSession out.`,
      );
    }
    if (typeof named === 'string' && named !== '') return () => pool.get(named);
    // An async `sessionKey` (its type forbids it): its promise is refused, never awaited, so its rejection is handled.
    if (named instanceof Promise) named.catch(() => undefined);
    // The origin only: a path or query may hold personal data.
    throw new ConfigurationError(
      `${where}: a request to ${attempt.url().origin} names no session, and the token source is a session pool; ` +
        `${context.fix}. The request was not sent`,
    );
  };

  /** Sends with a bearer of the request's session; on its rejection, invalidates it and replays once if that helps. */
  const send = async <R extends { status: number | undefined }>(attempt: Attempt<R>): Promise<R> => {
    const session = sessionOf(attempt);
    // No options object without a signal: it keeps the manager on its hot path.
    const options = attempt.signal === undefined ? undefined : { signal: attempt.signal };
    const token = await session().getAccessToken(options);
    const first = await attempt.send(token, false);
    const { status } = first;
    if (status === undefined || !retryStatuses.has(status)) return first;
    const manager = session();
    const url = attempt.url();
    // The storm key: `METHOD /path`, without the query (ids in it vary per call).
    const target = `${attempt.method} ${url.pathname}`;
    // `cooldown` (a 401 storm at this target) and `ignored` (nothing held, or closed): a replay would only repeat
    // the rejection. A user-written source that returns nothing is treated as `refreshing`.
    const answer = manager.invalidate(token, { target });
    if (answer === 'cooldown' || answer === 'ignored' || !attempt.replayable) return first;
    const fresh = await manager.getAccessToken(options);
    try {
      manager.recordReplay?.({ adapter: context.adapter, status, method: attempt.method, origin: url.origin });
    } catch {
      // Observability must never change a request's outcome.
    }
    const replayed = await attempt.send(fresh, true);
    // A token minted after this request started is rejected too: a storm at this target.
    if (retryStatuses.has(replayed.status)) manager.invalidate(fresh, { target, replay: true });
    return replayed;
  };
  return { origins, send };
}

/** RFC 6750 §3.1: the token is valid, and lacks a scope the request needs. */
const INSUFFICIENT_SCOPE = /(?:^|[\s,])error\s*=\s*"?insufficient_scope\b/i;

/**
 * An error answer's status as the replay rule reads it, for both adapters: none when it says nothing of the token,
 * because the bearer did not get there (a redirect off the allowed origins drops it) or because it refuses for scope
 * (its `WWW-Authenticate` `challenge`), which a fresh token with the same scopes would get too: refreshing for either
 * would only add auth traffic.
 */
export function rejectionStatus(status: number, challenge: unknown, bearerArrived: boolean): number | undefined {
  return bearerArrived && !INSUFFICIENT_SCOPE.test(String(challenge ?? '')) ? status : undefined;
}

/**
 * The answers of redirect chains followed hop by hop (`followingRedirects()`) that went through another origin: fetch's
 * rules drop Authorization on the hop that leaves the origin and never put it back, even when the chain comes back.
 */
export const answeredAfterLeaving = new WeakSet<Response>();

/**
 * Whether the bearer sent to `url` reached the server that answered `response`: not when it answers from another
 * origin, nor after a chain through another one ({@link answeredAfterLeaving}). A `fetch` that follows redirects
 * itself does not tell through which origins (`redirected` alone): its answer from `url`'s origin counts, as a
 * revoked token must still be replaced; the 401-storm guard bounds what a chain through another origin costs.
 * A test double's has no URL.
 */
export function bearerReached(response: Response, url: string): boolean {
  if (answeredAfterLeaving.has(response)) return false;
  return !URL.canParse(response.url) || new URL(response.url).origin === new URL(url).origin;
}

/**
 * Whether a request body can be sent a second time: everything held in memory (string,
 * URLSearchParams, ArrayBuffer and views, Blob, FormData, plain objects) can; a Node stream, a
 * web ReadableStream or an async iterable is consumed by the first send and cannot.
 */
export function isReplayableBody(body: unknown): boolean {
  if (typeof body !== 'object' || body === null) return true;
  const stream = typeof (body as { pipe?: unknown }).pipe === 'function' || body instanceof ReadableStream;
  return !stream && !(Symbol.asyncIterator in body);
}

/**
 * Lets go of bodies nobody will read (a web stream, or a Node stream from axios's responseType
 * 'stream'), so that their connections are freed. Anything else is left alone.
 */
export function releaseBodies(...bodies: unknown[]): void {
  for (const body of bodies) {
    const stream = body as { destroy?: unknown } | null | undefined;
    if (body instanceof ReadableStream) void body.cancel().catch(() => undefined);
    else if (typeof stream?.destroy === 'function') stream.destroy();
  }
}
