/**
 * attachTokenManager(): the axios hook. Adds the bearer to requests bound for the allowed
 * origins, replays a request once when the server rejects its token, keeps the bearer off
 * redirects that leave those origins, and scrubs the token out of every error it lets through.
 *
 * The work happens in a wrapper around the request's transport (axios's adapter), installed by
 * a synchronous request interceptor: the wrapper runs after every interceptor, whatever their
 * order, so the origin is checked on the URL that is really sent, and the 401 replay reuses the
 * already serialised request without going through the interceptors again.
 */
import axios from 'axios';
import type { AxiosAdapter, AxiosResponse, InternalAxiosRequestConfig } from 'axios';
import { assertNoCleartextProxy, peerAxios, tunnelsHttps } from '../axios-peer-version';
import { onAbort } from '../wait-with-signal';
import { bearerReached, createAuthorizer, isReplayableBody, rejectionStatus, releaseBodies } from './authorize';
import { assertSupportedInstance, createTransportResolver, isPeerInstance, type AxiosInstanceLike } from './axios-peer';
import { followingRedirects } from './fetch';
import { createTargetCheck, goesOverPlainHttp, isAllowedUrl, resolveRequestUrl, type OriginSet } from './origins';
import { redactAxiosError } from './redact';
import type { AccessTokenSource, SessionSource } from './types';

declare module 'axios' {
  interface AxiosRequestConfig {
    /**
     * Sends this request without the token manager's bearer and without its 401 retry
     * (for public endpoints, or the auth calls themselves).
     * @default false
     */
    skipAuth?: boolean | undefined;
    /**
     * The session this request acts for (an end user's `userEmail`) when the instance is
     * attached to a session pool (`TokenManagerPool`): its bearer comes from `pool.get(key)`,
     * and a 401 invalidates that session only. Takes precedence over the `sessionKey` option.
     * With a single token manager it must name the user that manager acts for (its
     * `userEmail`), or the request is refused unsent (`ERR_ALIX_CONFIGURATION`).
     */
    alixSession?: string | undefined;
  }
}

/** Options of {@link attachTokenManager}. */
export interface AttachTokenManagerOptions {
  /**
   * Origins (`https://host[:port]`, no path) whose requests get the bearer. Requests to any
   * other origin are sent untouched. Plain `http://` is accepted for loopback hosts only.
   * @default the origin of the instance's `defaults.baseURL`
   */
  origins?: string[] | undefined;
  /**
   * Response statuses that mean "this token was rejected": the token is invalidated and the
   * request replayed once with a fresh one.
   * @default [401]
   */
  retryStatuses?: number[] | undefined;
  /**
   * With a session pool only: derives a request's session key (an end user's `userEmail`)
   * from its config as it is sent (after every interceptor), e.g. from a header or the URL,
   * for requests that carry no `alixSession` option. Returning `undefined` or `''` means the
   * request names no session: one bound for an allowed origin is then rejected with a
   * `ConfigurationError` and not sent.
   * @default none: each request must carry `alixSession`
   */
  sessionKey?: ((config: InternalAxiosRequestConfig) => string | undefined) | undefined;
}

/** Removes what {@link attachTokenManager} added; calling it again does nothing. */
export type DetachTokenManager = () => void;

/** follow-redirects' hook, as the axios http adapter calls it. */
type BeforeRedirect = (options: Record<string, unknown>, ...details: unknown[]) => void;

/** What one send ended with: axios rejects a 401 (by `validateStatus`), and the replay must see it. */
type Outcome = { status: number | undefined } & ({ response: AxiosResponse } | { error: unknown });

/**
 * How many bearers an attachment remembers having sent (to strip them from a re-sent config bound elsewhere): as many
 * as a pool's default `maxSessions`, so that every live session's bearer is known. The set holds the strings the
 * sessions hold anyway.
 */
const SENT_TOKENS_KEPT = 10_000;

/** Every transport wrapper made by any attachment, mapped to the transport it wraps. */
const wrappedTransports = new WeakMap<object, unknown>();

/**
 * Attaches a token manager to an axios instance: every request whose final URL (baseURL +
 * url, absolute URLs included, after every interceptor ran) has an allowed origin gets
 * `Authorization: Bearer <token>`; a response with a status in `retryStatuses` invalidates the
 * token that request carried and, unless the manager answers that a fresh token cannot help
 * (`cooldown`), replays the request once with a fresh token; errors leave with the bearer
 * redacted.
 *
 * `instance` is typed structurally: an instance of any supported axios (1.6 or later) fits,
 * whichever copy of axios in the process made it (the peer, a copy nested under another package,
 * a bundled one, a fresh module registry); each request is sent through its own copy's transport.
 *
 * `source` is one session (a `TokenManager`) or a session pool (a `TokenManagerPool`, or any
 * value with a `get(key)` method, see {@link SessionSource}). With a pool, each request bound
 * for an allowed origin names its session with the `alixSession` request option or through
 * `options.sessionKey(config)`; its bearer, its 401 invalidation and its replay all use
 * `pool.get(key)` alone. Such a request that names no session is rejected with a
 * `ConfigurationError` and not sent; requests to other origins need no key.
 *
 * @returns a function that removes the hook.
 * @throws {ConfigurationError} when there is neither `options.origins` nor an instance
 * `baseURL`, when an origin is invalid or plain http to a non-loopback host, when an argument
 * is not an axios instance / token manager / session pool, when `sessionKey` is not a function
 * or is given with a single token manager, or when the axios is 0.x or older than 1.6.
 * @example
 * ```ts
 * const api = axios.create({ baseURL: 'https://api.alixcard.example' });
 * const detach = attachTokenManager(api, manager);
 * await api.get('/v2/cards'); // carries the bearer
 * detach();
 *
 * const perUser = axios.create({ baseURL: 'https://api.alixcard.example' });
 * attachTokenManager(perUser, pool);
 * await perUser.get('/v2/cards', { alixSession: 'user@example.com' }); // that user's bearer
 * ```
 */
export function attachTokenManager(
  instance: AxiosInstanceLike,
  source: AccessTokenSource | SessionSource,
  options: AttachTokenManagerOptions = {},
): DetachTokenManager {
  const where = 'attachTokenManager';
  assertSupportedInstance(instance, where);
  const resolveTransport = createTransportResolver(instance);
  const authorizer = createAuthorizer(source, options ?? {}, where, {
    adapter: 'axios',
    baseUrl: instance.defaults.baseURL,
    fix:
      "pass `{ alixSession: '<user key>' }` with the request, or a `sessionKey(config)` option to " +
      'attachTokenManager()',
  });
  const guardRedirect = createRedirectGuard(authorizer.origins);
  const isAllowedTarget = createTargetCheck(authorizer.origins);
  const plainHttpAllowed = [...authorizer.origins].some((origin) => origin.startsWith('http:'));
  // Another copy's version is unknown here: only the peer's instances are checked.
  const cleartextProxyRisk = isPeerInstance(instance) && !tunnelsHttps();
  let attached = true;
  // The tokens this attachment sent lately: a config re-sent (a response's config, `error.config`) still carries one.
  const sentTokens = new Set<string>();
  let lastSent: string | undefined;
  const carriesOurBearer = (config: InternalAxiosRequestConfig): boolean => {
    const value: unknown = config.headers.get('Authorization');
    return typeof value === 'string' && value.startsWith('Bearer ') && sentTokens.has(value.slice(7));
  };

  /** What the wrapper around the request's transport does, after every interceptor has run. */
  const send = async (
    inner: unknown,
    config: InternalAxiosRequestConfig,
    viaFetch: boolean,
  ): Promise<AxiosResponse> => {
    // axios sends `auth` as Basic in place of any Authorization: the request is the user's, and so is its 401. With a
    // `socketPath` it goes to whatever listens on that socket, whatever its URL says.
    if (!attached || config.skipAuth === true || config.auth || config.socketPath || !isAllowedTarget(config)) {
      // Only a bearer of ours is removed: the user's own header for another origin is theirs to send.
      if (carriesOurBearer(config)) config.headers.delete('Authorization');
      return resolveTransport(inner, config)(config);
    }
    // Plain http is allowed for loopback only, which never leaves the host; an HTTP_PROXY from the environment
    // would carry the bearer to the proxy in clear text (axios applies it to loopback too, and reads any proxy option
    // but a proxy or `false`, `null` too, as "the environment's").
    if (plainHttpAllowed && !config.proxy && goesOverPlainHttp(config)) config.proxy = false;
    const under = transportUnder(inner);
    // Before 1.16.1, axios hands an https request to an http proxy unencrypted, bearer included.
    if (cleartextProxyRisk && takesEnvironmentProxy(config, under)) {
      const url = resolveRequestUrl(config) as URL;
      assertNoCleartextProxy(url.href, `${where}: a request to ${url.origin}`);
    }
    // The fetch adapter leaves redirects to `env.fetch` (the platform's by default): one of the user's (node-fetch) may
    // keep the bearer, and a 401 from another origin, reached without it, must not count against the token.
    // Only then: a new `env` per request costs more CPU than the rest of the wrapper.
    const envFetch = config.env?.fetch;
    if (viaFetch || typeof envFetch === 'function') config.env = { ...config.env, fetch: redirectSafe(envFetch) };
    // Another attachment's wrapper under ours (two attachments on one instance) is skipped: one bearer, one replay.
    const transport = resolveTransport(under, config);
    let answered: AxiosResponse | undefined;
    let outcome: Outcome;
    const wait = waitSignal(config);
    try {
      outcome = await authorizer.send<Outcome>({
        method: (config.method ?? 'get').toUpperCase(),
        // Parsed only when needed (a 401, an error): an allowed target always parses.
        url: () => resolveRequestUrl(config) as URL,
        signal: wait.signal,
        session: () => config.alixSession ?? options?.sessionKey?.(config),
        replayable: isReplayableBody(config.data),
        send: async (token, replay) => {
          // The rejected answer is dropped unread: as a stream (responseType 'stream') it would keep its socket.
          if (replay) releaseBodies(answered?.data);
          // Least recently sent first out: a pool's sessions each keep their bearer remembered while they are used.
          // The bearer sent last is the newest already (one manager's, request after request).
          if (token !== lastSent) {
            sentTokens.delete(token);
            sentTokens.add(token);
            lastSent = token;
            if (sentTokens.size > SENT_TOKENS_KEPT) sentTokens.delete(sentTokens.values().next().value as string);
          }
          // The request's own AxiosHeaders: axios 1.x makes them before it calls the transport.
          config.headers.set('Authorization', `Bearer ${token}`, true);
          // Also what marks the config as sent with the bearer (see the response interceptor below).
          config.beforeRedirect = guardRedirect(config.beforeRedirect as BeforeRedirect | undefined);
          try {
            answered = await transport(config);
            return { status: statusOf(answered, token), response: answered };
          } catch (error) {
            answered = axios.isAxiosError(error) ? error.response : undefined;
            return { status: statusOf(answered, token), error };
          }
        },
      });
    } catch (error) {
      // Failed (no fresh token for the replay): nobody will read the rejected answer, and a stream keeps its socket.
      releaseBodies(answered?.data);
      throw error;
    } finally {
      wait.stop();
    }
    if ('response' in outcome) return outcome.response;
    if (axios.isAxiosError(outcome.error)) redactAxiosError(outcome.error);
    throw outcome.error;
  };

  // One wrapper per transport (an adapter function, or a list of adapter names), made once:
  // the per-request path allocates nothing here.
  const wrappers = new Map<unknown, AxiosAdapter>();
  const ownWrappers = new WeakSet<object>();
  const wrap = (inner: unknown): AxiosAdapter => {
    const key = typeof inner === 'function' ? inner : namesKey(inner);
    let wrapper = wrappers.get(key);
    if (wrapper === undefined) {
      const viaFetch = fetchesFirst(inner);
      wrapper = (sent) => send(inner, sent, viaFetch);
      wrappedTransports.set(wrapper, inner);
      ownWrappers.add(wrapper);
      if (key !== undefined && wrappers.size < 16) wrappers.set(key, wrapper);
    }
    return wrapper;
  };

  // synchronous: axios only skips its promise chain when every request interceptor says so.
  const requestId = instance.interceptors.request.use(
    (config: InternalAxiosRequestConfig) => {
      // A config that went through this attachment before (a retry library re-sending error.config)
      // carries its wrapper already: it is kept, so the hook never runs twice. Another attachment's
      // wrapper (a second token manager or pool on this instance, for other origins) is wrapped:
      // each one serves its own origins.
      for (let current: unknown = config.adapter; wrappedTransports.has(current as object);) {
        if (ownWrappers.has(current as object)) return config;
        current = wrappedTransports.get(current as object);
      }
      config.adapter = wrap(config.adapter);
      return config;
    },
    null,
    { synchronous: true },
  );
  // Errors axios makes after the transport answered (a strict JSON parse failure, an abort as the response
  // arrived) hold the config sent, bearer included: such a config carries our redirect guard.
  const responseId = instance.interceptors.response.use(undefined, (error: unknown) => {
    if (axios.isAxiosError(error) && guardRedirect.made(error.config?.beforeRedirect)) redactAxiosError(error);
    throw error;
  });
  return () => {
    if (!attached) return;
    attached = false;
    instance.interceptors.request.eject(requestId);
    instance.interceptors.response.eject(responseId);
  };
}

/**
 * An answer's status as the replay rule reads it (see {@link rejectionStatus}). Where the bearer got to: a Node request
 * (follow-redirects' last hop) shows the Authorization it sent; the fetch transport's Request, whether it was
 * {@link answeredElsewhere}; any other transport's answer is taken as the bearer's.
 */
function statusOf(answer: AxiosResponse | undefined, token: string): number | undefined {
  if (answer === undefined || answer.status < 400) return answer?.status;
  const request = answer.request as { getHeader?: (name: string) => unknown } | undefined;
  const arrived =
    typeof request?.getHeader === 'function'
      ? request.getHeader('authorization') === `Bearer ${token}`
      : !answeredElsewhere.has(request as Request);
  // A custom transport's headers are a plain object, in any casing.
  const challenge = Object.entries(answer.headers ?? {}).find(([name]) => name.toLowerCase() === 'www-authenticate');
  return rejectionStatus(answer.status, challenge?.[1], arrived);
}

/**
 * Whether axios may send the request through a proxy from the environment: by its http transport (the fetch adapter
 * and a transport of the user's own take no proxy of axios), when the request names no proxy (that one is the
 * caller's choice; axios reads any value but `false` or a proxy as "the environment's").
 */
function takesEnvironmentProxy(config: InternalAxiosRequestConfig, transport: unknown): boolean {
  if (config.proxy || config.proxy === false) return false;
  return typeof transport === 'function' ? transport === peerAxios.getAdapter?.('http') : !fetchesFirst(transport);
}

/** What a wait without a `cancelToken` stops: nothing (one function for every request). */
const nothingToStop = (): void => undefined;

/**
 * The signal that ends a request's wait for a token: its `signal`, or with a legacy `cancelToken` one that its
 * cancellation aborts too (`stop()` unsubscribes: one token may serve many requests).
 */
function waitSignal(config: InternalAxiosRequestConfig): { signal: AbortSignal | undefined; stop(): void } {
  const own = config.signal instanceof AbortSignal ? config.signal : undefined;
  const { cancelToken } = config;
  if (typeof cancelToken?.subscribe !== 'function') return { signal: own, stop: nothingToStop };
  const controller = new AbortController();
  const abort = (): void => controller.abort();
  cancelToken.subscribe(abort);
  const forget = own === undefined ? undefined : onAbort(own, abort);
  const stop = (): void => {
    cancelToken.unsubscribe(abort);
    forget?.();
  };
  return { signal: controller.signal, stop };
}

/** The redirect-safe fetch made for each `env.fetch`, one each: axios keeps a fetch adapter per `env.fetch`. */
const redirectSafeFetches = new WeakMap<object, typeof fetch>();

/** The platform's fetch, looked up on each call (a later mock applies). */
const platformFetch: typeof fetch = (input, init) => globalThis.fetch(input, init);

/** The Requests the fetch adapter sent whose error answer the bearer did not reach (see {@link bearerReached}). */
const answeredElsewhere = new WeakSet<Request>();

/**
 * The request's `env.fetch` (the platform's when it names none; a user's one following redirects by the Fetch
 * standard's rules), noting {@link answeredElsewhere}. The platform's follows redirects itself and does not tell
 * through which origins: only its answer from another origin is noted (see {@link bearerReached}).
 */
function redirectSafe(envFetch: unknown): typeof fetch {
  const key = typeof envFetch === 'function' ? (envFetch as typeof fetch) : platformFetch;
  let safe = redirectSafeFetches.get(key);
  if (safe === undefined) {
    const following = key === platformFetch ? key : followingRedirects(key);
    safe = async (input, init) => {
      const response = await following(input, init);
      const sent = input instanceof Request && response.status >= 400 ? input : undefined;
      if (sent && !bearerReached(response, sent.url)) answeredElsewhere.add(sent);
      return response;
    };
    // A replayed config carries the safe one already: it maps to itself.
    redirectSafeFetches.set(key, safe).set(safe, safe);
  }
  return safe;
}

/** The transport under every attachment's wrapper around `adapter`. */
function transportUnder(adapter: unknown): unknown {
  while (typeof adapter === 'function' && wrappedTransports.has(adapter)) adapter = wrappedTransports.get(adapter);
  return adapter;
}

/** Whether axios sends through its fetch adapter with these adapter names: `fetch` named, and not after `http`. */
function fetchesFirst(adapter: unknown): boolean {
  // Read as axios reads them: in any case.
  const names = (Array.isArray(adapter) ? adapter : [adapter]).map((name) => String(name).toLowerCase());
  const fetchAt = names.indexOf('fetch');
  return fetchAt !== -1 && !names.slice(0, fetchAt).includes('http');
}

/** A cache key for adapter names (`'http'`, `['xhr', 'http', 'fetch']`, or none); undefined for anything else. */
function namesKey(adapter: unknown): string | undefined {
  if (adapter === undefined || typeof adapter === 'string') return String(adapter);
  const names = Array.isArray(adapter) && adapter.every((name) => typeof name === 'string');
  return names ? `[${adapter.join(',')}]` : undefined;
}

/**
 * Builds a follow-redirects `beforeRedirect` hook (axios http adapter) that deletes the
 * Authorization header when a redirect leaves the allowed origins (or names no `href`), then
 * calls the user's own hook. Wrapping is idempotent, so a replayed config is not wrapped twice;
 * `made(hook)` tells whether a hook is one of the guards it made.
 */
export function createRedirectGuard(origins: OriginSet) {
  const guards = new WeakSet<BeforeRedirect>();
  const wrap = (existing: BeforeRedirect | undefined): BeforeRedirect => {
    const guard: BeforeRedirect = (options, ...details) => {
      if (!isAllowedUrl(origins, typeof options.href === 'string' ? options.href : undefined)) {
        const headers = (options.headers ?? {}) as Record<string, unknown>;
        for (const key of Object.keys(headers)) if (key.toLowerCase() === 'authorization') delete headers[key];
      }
      existing?.(options, ...details);
    };
    guards.add(guard);
    return guard;
  };
  // Most requests have no hook of their own: they share one guard, made once (nothing allocated per request).
  const alone = wrap(undefined);
  const guard = (existing: BeforeRedirect | undefined): BeforeRedirect =>
    existing === undefined ? alone : guards.has(existing) ? existing : wrap(existing);
  return Object.assign(guard, { made: (hook: unknown): boolean => guards.has(hook as BeforeRedirect) });
}
