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
import type { InternalAxiosRequestConfig } from 'axios';
import { ConfigurationError } from '../errors';
import { createAuthorizer, isReplayableBody } from './authorize';
import { combineUrls, isAbsoluteUrl, isAllowedUrl, resolveRequestUrl, type OriginSet } from './origins';
import { redactAxiosError } from './redact';
import type { AccessTokenSource, SessionSource } from './types';
import {
  assertSupportedInstance,
  createTransportResolver,
  isAxiosErrorLike,
  joinsAbsoluteUrls,
  type AxiosAdapterLike,
  type AxiosInstanceLike,
  type AxiosRequestConfigLike,
} from './axios-peer';

declare module 'axios' {
  interface AxiosRequestConfig {
    /**
     * Sends this request without the token manager's bearer and without its 401 retry
     * (for public endpoints, or the auth calls themselves).
     * @default false
     */
    skipAuth?: boolean;
    /**
     * The session this request acts for (an end user's `userEmail`) when the instance is
     * attached to a session pool (`TokenManagerPool`): its bearer comes from `pool.get(key)`,
     * and a 401 invalidates that session only. Takes precedence over the `sessionKey` option.
     * With a single token manager it must name the user that manager acts for (its
     * `userEmail`), or the request is refused unsent (`ERR_ALIX_CONFIGURATION`).
     */
    alixSession?: string;
  }
}

/** Options of {@link attachTokenManager}. */
export interface AttachTokenManagerOptions {
  /**
   * Origins (`https://host[:port]`, no path) whose requests get the bearer. Requests to any
   * other origin are sent untouched. Plain `http://` is accepted for loopback hosts only.
   * @default the origin of the instance's `defaults.baseURL`
   */
  origins?: string[];
  /**
   * Response statuses that mean "this token was rejected": the token is invalidated and the
   * request replayed once with a fresh one.
   * @default [401]
   */
  retryStatuses?: number[];
  /**
   * With a session pool only: derives a request's session key (an end user's `userEmail`)
   * from its config as it is sent (after every interceptor), e.g. from a header or the URL,
   * for requests that carry no `alixSession` option. Returning `undefined` or `''` means the
   * request names no session: one bound for an allowed origin is then rejected with a
   * `ConfigurationError` and not sent.
   * @default none: each request must carry `alixSession`
   */
  sessionKey?: (config: InternalAxiosRequestConfig) => string | undefined;
}

/** Removes what {@link attachTokenManager} added; calling it again does nothing. */
export type DetachTokenManager = () => void;

/** follow-redirects' hook, as the axios http adapter calls it. */
type BeforeRedirect = (options: Record<string, unknown>, responseDetails: unknown, requestDetails: unknown) => void;

/** What one send ended with: axios rejects a 401 (by `validateStatus`), and the replay must see it. */
type Outcome = { status: number | undefined } & ({ response: { status: number } } | { error: unknown });

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
    argument: 'second',
    baseUrl: instance.defaults.baseURL,
    fix:
      "pass `{ alixSession: '<user key>' }` with the request, or a `sessionKey(config)` option to " +
      'attachTokenManager()',
  });
  const guardRedirect = createRedirectGuard(authorizer.origins);
  const isAllowedTarget = createTargetCheck(authorizer.origins, joinsAbsoluteUrls(instance));
  let attached = true;

  /** The wrapper axios calls as the request's adapter, after every interceptor has run. */
  const send = async (inner: unknown, config: AxiosRequestConfigLike): Promise<{ status: number }> => {
    const transport = resolveTransport(inner, config);
    if (!attached || config.skipAuth === true || !isAllowedTarget(config)) return transport(config);
    // The request's own AxiosHeaders: the bearer is set through its methods.
    const headers = config.headers as { set?(name: string, value: string, rewrite: boolean): unknown; get?: unknown };
    if (typeof headers?.set !== 'function' || typeof headers.get !== 'function') {
      throw new ConfigurationError(
        `${where}: the request's headers are not AxiosHeaders; axios ${'>='}1.6 is required`,
      );
    }
    const route = authorizer.route(
      config.alixSession,
      () => options?.sessionKey?.(config as InternalAxiosRequestConfig),
      () => resolveRequestUrl(config)?.origin ?? '',
    );
    const outcome = await authorizer.send<Outcome>(route, {
      adapter: 'axios',
      signal: config.signal instanceof AbortSignal ? config.signal : undefined,
      describe: () => ({ method: (config.method ?? 'get').toUpperCase(), url: resolveRequestUrl(config) }),
      replayable: () => isReplayableBody(config.data),
      send: async (token) => {
        headers.set?.('Authorization', `Bearer ${token}`, true);
        config.beforeRedirect = guardRedirect(config.beforeRedirect as BeforeRedirect | undefined);
        try {
          const response = await transport(config);
          return { status: response.status, response };
        } catch (error) {
          return { status: isAxiosErrorLike(error) ? error.response?.status : undefined, error };
        }
      },
    });
    if ('response' in outcome) return outcome.response;
    if (isAxiosErrorLike(outcome.error)) redactAxiosError(outcome.error);
    throw outcome.error;
  };

  // One wrapper per transport (an adapter function, or a list of adapter names), made once:
  // the per-request path allocates nothing here.
  const wrappers = new Map<unknown, AxiosAdapterLike>();
  const wrap = (inner: unknown): AxiosAdapterLike => {
    const key = typeof inner === 'function' ? inner : namesKey(inner);
    let wrapper = key === undefined ? undefined : wrappers.get(key);
    if (wrapper === undefined) {
      wrapper = (sent) => send(inner, sent);
      wrappedTransports.set(wrapper, inner);
      if (key !== undefined && wrappers.size < 16) wrappers.set(key, wrapper);
    }
    return wrapper;
  };

  // synchronous: axios only skips its promise chain when every request interceptor says so.
  const requestId = instance.interceptors.request.use(
    (config: AxiosRequestConfigLike) => {
      // A config that went through an attachment before (a retry library re-sending error.config)
      // carries a wrapper already: wrap what it wraps, so the hook never runs twice.
      const current = config.adapter;
      const wrapped = typeof current === 'function' && wrappedTransports.has(current);
      config.adapter = wrap(wrapped ? wrappedTransports.get(current) : current);
      return config;
    },
    null,
    { synchronous: true },
  );
  return () => {
    if (!attached) return;
    attached = false;
    instance.interceptors.request.eject(requestId);
  };
}

/** A cache key for adapter names (`'http'`, `['xhr', 'http', 'fetch']`, or none); undefined for anything else. */
function namesKey(adapter: unknown): string | undefined {
  if (adapter === undefined || typeof adapter === 'string') return String(adapter);
  const names = Array.isArray(adapter) && adapter.every((name) => typeof name === 'string');
  return names ? `[${adapter.join(',')}]` : undefined;
}

/**
 * Whether a request's final URL (as axios's buildFullPath makes it) has an allowed origin. A
 * relative url keeps its base URL's origin whenever the base URL has a host of its own (the
 * joining slash ends the base's authority), so that decision is cached per base URL and the
 * hot path parses no URL; absolute urls and host-less bases are resolved each time. An absolute url
 * is joined to the base URL under `allowAbsoluteUrls: false` only when the instance's axios does so
 * (`joinsAbsoluteUrls`, axios 1.8 and later); earlier versions send it as it is.
 */
function createTargetCheck(origins: OriginSet, joinsAbsolute: boolean): (config: AxiosRequestConfigLike) => boolean {
  const byBase = new Map<string, boolean>();
  return (config) => {
    const url = typeof config.url === 'string' ? config.url : '';
    const base = typeof config.baseURL === 'string' ? config.baseURL : '';
    const absolute = isAbsoluteUrl(url) && (config.allowAbsoluteUrls !== false || !joinsAbsolute);
    if (absolute || base === '') return isAllowedUrl(origins, absolute ? url : resolveRequestUrl(config));
    const cached = byBase.get(base);
    if (cached !== undefined) return cached;
    const allowed = isAllowedUrl(origins, resolveRequestUrl(config));
    if (hasOwnHost(base) && byBase.size < 64) byBase.set(base, allowed);
    return allowed;
  };
}

/** True when `base` parses with a host, and joining a path to it keeps that origin. */
function hasOwnHost(base: string): boolean {
  try {
    const origin = new URL(base);
    return origin.host !== '' && new URL(combineUrls(base, 'x')).origin === origin.origin;
  } catch {
    return false;
  }
}

/**
 * Builds a follow-redirects `beforeRedirect` hook (axios http adapter) that deletes the
 * Authorization header when a redirect leaves the allowed origins, then calls the user's
 * own hook. Wrapping is idempotent, so a replayed config is not wrapped twice.
 */
export function createRedirectGuard(origins: OriginSet): (existing: BeforeRedirect | undefined) => BeforeRedirect {
  const guards = new WeakSet<BeforeRedirect>();
  return (existing) => {
    if (existing !== undefined && guards.has(existing)) return existing;
    const guard: BeforeRedirect = (options, responseDetails, requestDetails) => {
      if (!isAllowedUrl(origins, redirectTarget(options))) {
        const headers = (options.headers ?? {}) as Record<string, unknown>;
        for (const key of Object.keys(headers)) if (key.toLowerCase() === 'authorization') delete headers[key];
      }
      existing?.(options, responseDetails, requestDetails);
    };
    guards.add(guard);
    return guard;
  };
}

function redirectTarget(options: Record<string, unknown>): string | undefined {
  if (typeof options.href === 'string') return options.href;
  if (typeof options.protocol !== 'string' || typeof options.hostname !== 'string') return undefined;
  const port = options.port === undefined || options.port === '' ? '' : `:${String(options.port)}`;
  return `${options.protocol}//${options.hostname}${port}/`;
}
