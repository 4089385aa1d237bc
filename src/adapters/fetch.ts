/**
 * createAuthorizedFetch(): a `fetch` that adds the bearer to the allowed origins and replays a
 * request once when the server rejects its token.
 */
import { MalformedResponseError, assertConfig } from '../errors';
import {
  answeredAfterLeaving,
  bearerReached,
  createAuthorizer,
  isReplayableBody,
  rejectionStatus,
  releaseBodies,
} from './authorize';
import { isAllowedUrl } from './origins';
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
  alixSession?: string | undefined;
};

/**
 * The function {@link createAuthorizedFetch} returns: `fetch`'s signature, with an optional
 * `alixSession` in `init`. It can be passed wherever a `typeof fetch` is expected.
 */
export type AuthorizedFetch = (input: FetchInput, init?: AuthorizedFetchInit) => Promise<Response>;

/** Every wrapper made here: see the default of `fetch` in {@link CreateAuthorizedFetchOptions}. */
const wrappers = new WeakSet<object>();

/** Options of {@link createAuthorizedFetch}. */
export interface CreateAuthorizedFetchOptions {
  /**
   * Origins (`https://host[:port]`, no path) whose requests get the bearer; required and
   * non-empty. Plain `http://` is accepted for loopback hosts only.
   */
  origins: string[];
  /**
   * The `fetch` to wrap.
   * @default `globalThis.fetch`, looked up on every call (so a later polyfill or mock applies); when that
   * is this wrapper or another one made by `createAuthorizedFetch`, the `globalThis.fetch` of when this one was made
   */
  fetch?: typeof fetch | undefined;
  /**
   * Response statuses that mean "this token was rejected": the token is invalidated and the
   * request replayed once with a fresh one when its body can be sent again.
   * @default [401]
   */
  retryStatuses?: number[] | undefined;
  /**
   * With a session pool only: derives a call's session key (an end user's `userEmail`) for
   * calls that pass no `init.alixSession`. It receives the call as a `Request` with its URL,
   * method and headers (the given `Request` itself when `init` changes neither; never a copy of
   * the body). Returning `undefined` or `''` means the call names no session: one bound for an
   * allowed origin is then rejected with a `ConfigurationError` and not sent. It is asked for the call's first
   * request only: the redirects the wrapper follows act for that same session.
   * @default none: each call must pass `init.alixSession`
   */
  sessionKey?: ((request: Request) => string | undefined) | undefined;
}

/**
 * Wraps `fetch` so that requests to the allowed origins carry `Authorization: Bearer <token>`.
 * A response with a status in `retryStatuses` invalidates the token it carried and, when the
 * body can be sent again and the manager does not answer that a fresh token cannot help
 * (`cooldown`), the request is replayed once with a fresh token; otherwise (a stream body, a
 * cooldown) that response is returned as it is. Requests to other origins pass through
 * untouched. A request that carries the bearer does not leave its redirects to `fetch` (node-fetch
 * keeps `Authorization` on a redirect to another port or a subdomain): the wrapper follows them
 * itself, as fetch does (at most 20, a POST turned into a GET on 301/302/303), and judges every hop
 * against `origins`; a 307/308 whose body cannot be sent again is returned as it is.
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
  const where = 'createAuthorizedFetch';
  assertConfig(typeof options === 'object' && options !== null, `${where}: options with \`origins\` are required`);
  const authorizer = createAuthorizer(source, { ...options, origins: options.origins ?? [] }, where, {
    adapter: 'fetch',
    baseUrl: undefined,
    fix:
      "pass `{ alixSession: '<user key>' }` in the call's init, or a `sessionKey(request)` option to " +
      'createAuthorizedFetch()',
  });
  assertConfig(
    options.fetch === undefined || typeof options.fetch === 'function',
    `${where}: \`fetch\` must be a function`,
  );

  // Installed as `globalThis.fetch`, a wrapper would call itself, or (one installed over another) each the other: it
  // then calls the fetch it was made with, made earlier, so the chain ends.
  const platformFetch = globalThis.fetch;
  const authorizedFetch: AuthorizedFetch = (input, init) => send(input, init);
  wrappers.add(authorizedFetch);
  // `replayed`: a hop of a call replayed already. SPEC §4 allows one replay per call, not one per hop.
  const send = async (input: FetchInput, init?: AuthorizedFetchInit, hops = 0, replayed = false): Promise<Response> => {
    const fetchImpl = options.fetch ?? (wrappers.has(globalThis.fetch) ? platformFetch : globalThis.fetch);
    const call = callOf(input, init);
    const { request, url, method, follow } = call;
    if (!isAllowedUrl(authorizer.origins, url)) return fetchImpl(input, init);
    // Sent is the URL judged: a URL object (or any input fetch stringifies) may change while the token is awaited.
    const target = request ?? url;
    // Bodies held in memory (string, URLSearchParams, ArrayBuffer and views, Blob, FormData) can be sent again; a
    // stream cannot, nor a Request whose body was already read. fetch sends a plain object as "[object Object]".
    // A null `init.body` is no body of its own: fetch then sends the Request's, as when it is left out.
    const body: unknown = init?.body ?? undefined;
    const replayable =
      body === undefined ? request === undefined || request.body === null || !request.bodyUsed : isReplayableBody(body);
    let first: Response | undefined;
    let spare: Request | undefined;
    let namedSession: string | undefined;
    const sending = authorizer.send({
      method,
      url: () => new URL(url),
      signal: call.signal,
      session: () => (namedSession = init?.alixSession ?? options.sessionKey?.(keyRequest(request, url, init))),
      replayable: replayable && !replayed,
      send: async (token, replay) => {
        if (replay) {
          releaseBodies(first?.body);
          return answerOf(await fetchImpl(spare ?? target, withBearer(spare ?? request, init, token, follow)), url);
        }
        // A Request's body can be read once: keep an unread copy for the replay.
        spare = replayable && request?.body && body === undefined ? request.clone() : undefined;
        return answerOf((first = await fetchImpl(target, withBearer(request, init, token, follow))), url);
      },
    });
    const { response } = await sending.catch((error: unknown) => {
      // Failed (no fresh token for the replay, a network error): nobody will read the 401's body or the kept copy.
      releaseBodies(first?.body, spare?.body);
      throw error;
    });
    if (response === first) releaseBodies(spare?.body);
    const hop = follow ? redirectHop(response, call, hops) : undefined;
    if (hop === undefined) return response;
    // The hops act for the session of the request: `sessionKey` would read another one (or none) from a hop's URL.
    const hopInit = namedSession === undefined ? hop.init : { ...hop.init, alixSession: namedSession };
    return send(hop.url, hopInit, hops + 1, replayed || response !== first);
  };
  return authorizedFetch;
}

/**
 * `fetchImpl` with the redirects of a request that follows them followed here, by fetch's rules (see
 * {@link redirectHop}): a hop to another origin never keeps the caller's `Authorization`, whatever `fetchImpl` does
 * (node-fetch keeps it on a redirect to another port or a subdomain), nor gets it back: the answer of a chain that
 * `left` the origin is noted in {@link answeredAfterLeaving}. For the axios fetch adapter's `env.fetch`.
 */
export function followingRedirects(fetchImpl: typeof fetch): typeof fetch {
  const follow = async (input: FetchInput, init: FetchInit | undefined, hops: number, left: boolean) => {
    const call = callOf(input, init);
    if (!call.follow) return fetchImpl(input, init);
    const response = await fetchImpl(input, { ...init, redirect: 'manual' });
    const hop = redirectHop(response, call, hops);
    if (hop !== undefined) return follow(hop.url, hop.init, hops + 1, left || hop.crossOrigin);
    if (left) answeredAfterLeaving.add(response);
    return response;
  };
  return (input, init) => follow(input, init, 0, false);
}

/**
 * What fetch reads off a call: the `Request` given (if any), the URL, the method, whether it follows redirects, and
 * the signal (a `null` one in `init` is none: fetch then ignores the Request's).
 */
function callOf(input: FetchInput, init: AuthorizedFetchInit | undefined) {
  const request = isRequest(input) ? input : undefined;
  const url = request === undefined ? String(input) : request.url;
  const method = (init?.method ?? request?.method ?? 'GET').toUpperCase();
  const follow = (init?.redirect ?? request?.redirect ?? 'follow') === 'follow';
  const signal = init?.signal === undefined ? request?.signal : (init.signal ?? undefined);
  return { request, url, method, follow, signal, init };
}

/** Redirect statuses whose `Location` fetch follows. */
const REDIRECT_STATUSES: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);

/** fetch's own limit on redirects. */
const MAX_REDIRECTS = 20;

/**
 * Where `response` sends a call that follows redirects, by fetch's rules, its body released; undefined when it is the
 * answer. A 303 (and a POST's 301 or 302) becomes a bodiless GET without the body's headers; a hop to another origin
 * loses the caller's credentials headers. A 307 or 308 whose body must be sent again and cannot be (a stream, a
 * `Request`'s) is the answer too: the caller gets the redirect.
 * @throws {TypeError} as fetch fails: a redirect to an invalid or non-http(s) URL, or more than 20 redirects.
 */
function redirectHop(
  response: Response,
  { request, url, method, init, signal }: ReturnType<typeof callOf>,
  hops: number,
) {
  const { status } = response;
  const location = REDIRECT_STATUSES.has(status) ? response.headers.get('location') : null;
  if (location === null) return undefined;
  const target = URL.canParse(location, url) ? new URL(location, url) : undefined;
  // fetch fails such a redirect: a `data:` or `blob:` target would answer for the API, from this process.
  const invalid = target === undefined || !/^https?:$/.test(target.protocol);
  const bodiless = (status === 303 && method !== 'HEAD') || ((status === 301 || status === 302) && method === 'POST');
  // A Request's own body (sent when `init.body` is left out or null) was read by the first send, and the hop below
  // is built from `init` alone. No body at all is replayable (isReplayableBody(undefined)).
  const requestBody = init?.body == null && request?.body != null;
  if (!invalid && !bodiless && (requestBody || !isReplayableBody(init?.body))) return undefined;
  // Followed or failed, the call is done with this redirect: its body holds a connection.
  releaseBodies(response.body);
  if (invalid) throw new TypeError('fetch failed: a redirect to an invalid or non-http(s) URL');
  if (hops >= MAX_REDIRECTS) throw new TypeError(`fetch failed: more than ${MAX_REDIRECTS} redirects`);
  const headers = new Headers(init?.headers ?? request?.headers);
  const crossOrigin = target.origin !== new URL(url).origin;
  const dropped = [
    ...(bodiless ? ['content-encoding', 'content-language', 'content-location', 'content-type'] : []),
    ...(crossOrigin ? ['authorization', 'proxy-authorization', 'cookie'] : []),
  ];
  for (const name of dropped) headers.delete(name);
  const body = bodiless ? undefined : init?.body;
  const hop = { ...init, method: bodiless ? 'GET' : method, headers, body, redirect: 'follow' as const };
  return { url: target.href, init: { ...hop, signal }, crossOrigin };
}

/**
 * A response, and its status as the replay rule reads it (see {@link rejectionStatus}). One from another origin than
 * `url` came from a `fetch` that followed a redirect although asked not to: fetch sends no Authorization there.
 */
function answerOf(response: Response, url: string) {
  const { status } = response;
  if (status < 400) return { status, response };
  // A test double (or an odd fetch) may answer without headers.
  const challenge = (response.headers as Headers | undefined)?.get('www-authenticate');
  return { status: rejectionStatus(status, challenge, bearerReached(response, url)), response };
}

/** The call as `sessionKey` sees it: URL, method and headers, never the body (it stays unread). */
function keyRequest(request: Request | undefined, url: string, init: FetchInit | undefined): Request {
  if (request !== undefined && init?.headers === undefined && init?.method === undefined) return request;
  return new Request(url, {
    method: init?.method ?? request?.method ?? 'GET',
    headers: init?.headers ?? request?.headers,
  });
}

/**
 * A real Request (another undici's too, by its tag): fetch reads its `url`, and stringifies any other
 * input, whatever `url` field that one has.
 */
function isRequest(input: FetchInput): input is Request {
  return input instanceof Request || Object.prototype.toString.call(input) === '[object Request]';
}

/** The init that sends the bearer; with `manual`, redirects come back to the wrapper instead of being followed. */
function withBearer(request: Request | undefined, init: FetchInit | undefined, token: string, manual: boolean) {
  const headers = new Headers(init?.headers ?? request?.headers);
  try {
    headers.set('Authorization', `Bearer ${token}`);
  } catch {
    // undici's message quotes the whole header value: the token must not reach an error.
    throw new MalformedResponseError(
      'the access token has characters a Bearer header cannot carry (RFC 6750 b64token)',
    );
  }
  return { ...init, headers, ...(manual ? { redirect: 'manual' as const } : {}) };
}
