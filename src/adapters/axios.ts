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
import { ConfigurationError } from '../errors';
import { createLogger } from '../logger';
import type { Logger } from '../logger';
import {
  combineUrls,
  createOriginSet,
  isAbsoluteUrl,
  isAllowedUrl,
  parseRetryStatuses,
  resolveRequestUrl,
} from './origins';
import { definedOnly } from '../defaults';
import type { OriginSet } from './origins';
import { redactAxiosError } from './redact';
import {
  DEFAULT_ADAPTER_OPTIONS,
  invalidateAllowsReplay,
  isReplayableBody,
  recordReplay,
  requestTarget,
} from './replay';
import type { AccessTokenSource, SessionSource } from './types';
import { assertActsFor, isSessionKey, missingSessionKeyError, resolveTokenSource } from './session';
import {
  assertSupportedInstance,
  createTransportResolver,
  headersOf,
  isAxiosErrorLike,
  joinsAbsoluteUrls,
} from './axios-peer';
import type { InternalAxiosRequestConfig } from 'axios';
import type {
  AxiosAdapterLike,
  AxiosHeadersLike,
  AxiosInstanceLike,
  AxiosRequestConfigLike,
  AxiosResponseLike,
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
  /** A pino logger for retry events (the bearer is redacted). @default a silent logger */
  logger?: Logger;
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

/** Defaults of {@link AttachTokenManagerOptions}. */
export const DEFAULT_ATTACH_TOKEN_MANAGER_OPTIONS: Readonly<{ retryStatuses: readonly number[] }> =
  DEFAULT_ADAPTER_OPTIONS;

/** Removes what {@link attachTokenManager} added; calling it again does nothing. */
export type DetachTokenManager = () => void;

/** Options of follow-redirects' hook, as the axios http adapter passes them. */
type RedirectOptions = Record<string, unknown>;
type BeforeRedirect = (options: RedirectOptions, responseDetails: unknown, requestDetails: unknown) => void;

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
  assertSupportedInstance(instance, 'attachTokenManager');
  const resolveTransport = createTransportResolver(instance);
  const { single, pool } = resolveTokenSource(source, options?.sessionKey, 'attachTokenManager', 'second');
  const settings = { ...DEFAULT_ATTACH_TOKEN_MANAGER_OPTIONS, ...definedOnly(options) };
  const origins = createOriginSet(settings.origins, instance.defaults.baseURL, 'attachTokenManager');
  const retryStatuses = parseRetryStatuses(settings.retryStatuses, 'attachTokenManager');
  const logger = createLogger(settings.logger);
  const guardRedirect = createRedirectGuard(origins);
  let attached = true;

  /**
   * Sends once with `token` from `source`; on a rejection of it, replays once with a fresh one
   * when that can help. `key` is the request's session when the source is a pool: the
   * invalidation and the replay go to `pool.get(key)` alone.
   */
  const sendWithToken = async (
    source: AccessTokenSource,
    key: string | undefined,
    transport: AxiosAdapterLike,
    config: AxiosRequestConfigLike,
    headers: AxiosHeadersLike,
    token: string,
  ): Promise<AxiosResponseLike> => {
    headers.set('Authorization', `Bearer ${token}`, true);
    config.beforeRedirect = guardRedirect(config.beforeRedirect as BeforeRedirect | undefined);
    let response: AxiosResponseLike | undefined;
    let failure: unknown;
    try {
      response = await transport(config);
      if (!retryStatuses.has(response.status)) return response;
    } catch (error) {
      const status = isAxiosErrorLike(error) ? error.response?.status : undefined;
      if (status === undefined || !retryStatuses.has(status)) throw redacted(error);
      failure = error;
    }
    const status = response?.status ?? (failure as { response: AxiosResponseLike }).response.status;
    const giveUp = (): AxiosResponseLike => {
      if (response !== undefined) return response;
      throw redacted(failure);
    };
    // Looked up again: the session that issued the token may have been evicted meanwhile.
    const manager = key === undefined || pool === undefined ? source : pool.get(key);
    const url = resolveRequestUrl(config);
    const method = (config.method ?? 'get').toUpperCase();
    const target = requestTarget(method, url);
    if (!invalidateAllowsReplay(manager, token, { target })) return giveUp();
    const report = { adapter: 'axios' as const, status, method, origin: url?.origin ?? '' };
    if (!isReplayableBody(config.data)) {
      logger.warn(report, 'token rejected; request not replayed because its body is a stream');
      return giveUp();
    }
    const fresh = await manager.getAccessToken(signalOptions(config));
    headers.set('Authorization', `Bearer ${fresh}`, true);
    logger.info(report, 'token rejected; replaying the request once with a fresh token');
    recordReplay(manager, report);
    let replayed: AxiosResponseLike;
    try {
      replayed = await transport(config);
    } catch (error) {
      const replayStatus = isAxiosErrorLike(error) ? error.response?.status : undefined;
      // A token minted after this request started is rejected too: a storm at this target.
      if (replayStatus !== undefined && retryStatuses.has(replayStatus)) {
        manager.invalidate(fresh, { target, replay: true });
      }
      throw redacted(error);
    }
    if (retryStatuses.has(replayed.status)) manager.invalidate(fresh, { target, replay: true });
    return replayed;
  };

  /** The wrapper axios calls as the request's adapter, after every interceptor has run. */
  const isAllowedTarget = createTargetCheck(origins, joinsAbsoluteUrls(instance));
  const send = async (inner: unknown, config: AxiosRequestConfigLike): Promise<AxiosResponseLike> => {
    const transport = resolveTransport(inner, config);
    if (!attached || config.skipAuth === true || !isAllowedTarget(config)) return transport(config);
    const headers = headersOf(config);
    if (headers === undefined) {
      throw new ConfigurationError(
        `attachTokenManager: the request's headers are not AxiosHeaders; axios ${'>='}1.6 is required`,
      );
    }
    if (single !== undefined) {
      assertActsFor(single, config.alixSession, 'attachTokenManager');
      const token = await single.getAccessToken(signalOptions(config));
      return sendWithToken(single, undefined, transport, config, headers, token);
    }
    const key = sessionKeyOf(config);
    const session = pool.get(key);
    return sendWithToken(session, key, transport, config, headers, await session.getAccessToken(signalOptions(config)));
  };

  /** The session a request bound for an allowed origin names, with a pool. */
  const deriveKey = settings.sessionKey;
  const sessionKeyOf = (config: AxiosRequestConfigLike): string => {
    const key = config.alixSession ?? deriveKey?.(config as InternalAxiosRequestConfig);
    if (isSessionKey(key)) return key;
    throw missingSessionKeyError(
      'attachTokenManager',
      resolveRequestUrl(config)?.origin ?? '',
      "pass `{ alixSession: '<user key>' }` with the request, or a `sessionKey(config)` option to attachTokenManager()",
    );
  };

  // One wrapper per transport (an adapter function, or a list of adapter names), made once:
  // the per-request path allocates nothing here.
  const byFunction = new WeakMap<object, AxiosAdapterLike>();
  const byNames = new Map<string, AxiosAdapterLike>();
  const wrap = (inner: unknown): AxiosAdapterLike => {
    const key = namesKey(inner);
    const cached =
      typeof inner === 'function' ? byFunction.get(inner) : key === undefined ? undefined : byNames.get(key);
    if (cached !== undefined) return cached;
    const wrapper: AxiosAdapterLike = (sent) => send(inner, sent);
    wrappedTransports.set(wrapper, inner);
    if (typeof inner === 'function') byFunction.set(inner, wrapper);
    else if (key !== undefined && byNames.size < 16) byNames.set(key, wrapper);
    return wrapper;
  };

  const installTransport = (config: AxiosRequestConfigLike): AxiosRequestConfigLike => {
    // A config that went through an attachment before (a retry library re-sending error.config)
    // carries a wrapper already: wrap what it wraps, so the hook never runs twice.
    const current = config.adapter;
    const wrapped = typeof current === 'function' && wrappedTransports.has(current);
    config.adapter = wrap(wrapped ? wrappedTransports.get(current) : current);
    return config;
  };

  // synchronous: axios only skips its promise chain when every request interceptor says so.
  const requestId = instance.interceptors.request.use(installTransport, null, { synchronous: true });
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
function createTargetCheck(
  origins: OriginSet,
  joinsAbsoluteUrls: boolean,
): (config: AxiosRequestConfigLike) => boolean {
  const byBase = new Map<string, boolean>();
  return (config) => {
    const url = typeof config.url === 'string' ? config.url : '';
    const base = typeof config.baseURL === 'string' ? config.baseURL : '';
    const absolute = isAbsoluteUrl(url) && (config.allowAbsoluteUrls !== false || !joinsAbsoluteUrls);
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

/** Redacts an axios error before it leaves the adapter; anything else passes as it is. */
function redacted(error: unknown): unknown {
  if (isAxiosErrorLike(error)) redactAxiosError(error);
  return error;
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
      if (!isAllowedUrl(origins, redirectTarget(options))) deleteAuthorization(options.headers);
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

function deleteAuthorization(headers: unknown): void {
  if (typeof headers !== 'object' || headers === null) return;
  for (const key of Object.keys(headers)) {
    if (key.toLowerCase() === 'authorization') delete (headers as Record<string, unknown>)[key];
  }
}

/** The request's signal for the manager; undefined (not `{}`) keeps the manager on its hot path. */
function signalOptions(config: AxiosRequestConfigLike): { signal: AbortSignal } | undefined {
  return config.signal instanceof AbortSignal ? { signal: config.signal } : undefined;
}
