/**
 * attachTokenManager(): the axios hook. Adds the bearer to requests bound for the allowed
 * origins, replays a request once when the server rejects its token, keeps the bearer off
 * redirects that leave those origins, and scrubs the token out of every error it lets through.
 */
import axios, { AxiosHeaders } from 'axios';
import type { AxiosInstance, AxiosRequestConfig, AxiosResponse, InternalAxiosRequestConfig } from 'axios';
import { ConfigurationError } from '../errors';
import { createLogger } from '../logger';
import type { Logger } from '../logger';
import { createOriginSet, isAllowedUrl, parseRetryStatuses, resolveRequestUrl } from './origins';
import { definedOnly } from '../defaults';
import type { OriginSet } from './origins';
import { redactAxiosError } from './redact';
import type { AccessTokenSource } from './types';

declare module 'axios' {
  interface AxiosRequestConfig {
    /**
     * Sends this request without the token manager's bearer and without its 401 retry
     * (for public endpoints, or the auth calls themselves).
     * @default false
     */
    skipAuth?: boolean;
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
}

/** Defaults of {@link AttachTokenManagerOptions}. */
export const DEFAULT_ATTACH_TOKEN_MANAGER_OPTIONS: Readonly<{ retryStatuses: readonly number[] }> = Object.freeze({
  retryStatuses: Object.freeze([401]),
});

/** Removes what {@link attachTokenManager} added; calling it again does nothing. */
export type DetachTokenManager = () => void;

/** Marks a replayed config so that it is never replayed again. Enumerable so that axios's config merge keeps it. */
const kReplayed = Symbol('alix-token-manager.replayed');

type ReplayMarked = { [kReplayed]?: true };
type BeforeRedirect = NonNullable<AxiosRequestConfig['beforeRedirect']>;

/**
 * Attaches a token manager to an axios instance: every request whose resolved URL (baseURL +
 * url, absolute URLs included) has an allowed origin gets `Authorization: Bearer <token>`;
 * a response with a status in `retryStatuses` invalidates the token that request carried and
 * replays the request once with a fresh token; errors leave with the bearer redacted.
 *
 * @returns a function that ejects both interceptors.
 * @throws {ConfigurationError} when there is neither `options.origins` nor an instance
 * `baseURL`, when an origin is invalid or plain http to a non-loopback host, or when an
 * argument is not an axios instance / token manager.
 * @example
 * ```ts
 * const api = axios.create({ baseURL: 'https://api.alixcard.example' });
 * const detach = attachTokenManager(api, manager);
 * await api.get('/v2/cards'); // carries the bearer
 * detach();
 * ```
 */
export function attachTokenManager(
  instance: AxiosInstance,
  manager: AccessTokenSource,
  options: AttachTokenManagerOptions = {},
): DetachTokenManager {
  if (typeof instance?.request !== 'function' || typeof instance.interceptors?.request?.use !== 'function') {
    throw new ConfigurationError('attachTokenManager: the first argument is not an axios instance');
  }
  if (typeof manager?.getAccessToken !== 'function' || typeof manager.invalidate !== 'function') {
    throw new ConfigurationError('attachTokenManager: the second argument has no getAccessToken()/invalidate()');
  }
  const settings = { ...DEFAULT_ATTACH_TOKEN_MANAGER_OPTIONS, ...definedOnly(options) };
  const origins = createOriginSet(settings.origins, instance.defaults.baseURL, 'attachTokenManager');
  const retryStatuses = parseRetryStatuses(settings.retryStatuses, 'attachTokenManager');
  const logger = createLogger(settings.logger);
  const guardRedirect = createRedirectGuard(origins);

  const authorize = async (config: InternalAxiosRequestConfig): Promise<InternalAxiosRequestConfig> => {
    if (config.skipAuth === true || !isAllowedUrl(origins, resolveRequestUrl(config))) return config;
    const token = await manager.getAccessToken(signalOptions(config));
    config.headers = AxiosHeaders.from(config.headers);
    config.headers.set('Authorization', `Bearer ${token}`, true);
    config.beforeRedirect = guardRedirect(config.beforeRedirect);
    return config;
  };

  /** Replays a rejected request once, or returns undefined when it must not be replayed. */
  const replay = async (config: InternalAxiosRequestConfig | undefined, status: number | undefined): Promise<AxiosResponse | undefined> => {
    if (config === undefined || status === undefined || !retryStatuses.has(status)) return undefined;
    if ((config as ReplayMarked)[kReplayed] === true || config.skipAuth === true) return undefined;
    const target = resolveRequestUrl(config);
    const carried = bearerOf(config);
    if (carried === undefined || !isAllowedUrl(origins, target)) return undefined;
    manager.invalidate(carried);
    const fields = { adapter: 'axios', status, method: config.method, origin: target?.origin };
    if (!isReplayableBody(config.data)) {
      logger.warn(fields, 'token rejected; request not replayed because its body is a stream');
      return undefined;
    }
    await manager.getAccessToken(signalOptions(config));
    logger.info(fields, 'token rejected; replaying the request once with a fresh token');
    return instance.request(replayConfig(config));
  };

  const onFulfilled = async (response: AxiosResponse): Promise<AxiosResponse> =>
    (await replay(response.config, response.status)) ?? response;

  const onRejected = async (error: unknown): Promise<AxiosResponse> => {
    if (!axios.isAxiosError(error)) throw error;
    const replayed = await replay(error.config, error.response?.status);
    if (replayed !== undefined) return replayed;
    redactAxiosError(error);
    throw error;
  };

  const requestId = instance.interceptors.request.use(authorize);
  const responseId = instance.interceptors.response.use(onFulfilled, onRejected);
  let attached = true;
  return () => {
    if (!attached) return;
    attached = false;
    instance.interceptors.request.eject(requestId);
    instance.interceptors.response.eject(responseId);
  };
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

function bearerOf(config: InternalAxiosRequestConfig): string | undefined {
  const value = AxiosHeaders.from(config.headers).get('Authorization');
  if (typeof value !== 'string') return undefined;
  return /^Bearer\s+(\S+)\s*$/i.exec(value)?.[1];
}

/** The request's signal for the manager; undefined (not `{}`) keeps the manager on its hot path. */
function signalOptions(config: InternalAxiosRequestConfig): { signal: AbortSignal } | undefined {
  return config.signal instanceof AbortSignal ? { signal: config.signal } : undefined;
}

/**
 * The replay sends the body axios already serialised, so request transformers are skipped:
 * running `JSON.stringify` again would encode the JSON string a second time.
 */
function replayConfig(config: InternalAxiosRequestConfig): AxiosRequestConfig {
  const replayed: AxiosRequestConfig & ReplayMarked = { ...config, transformRequest: [(data: unknown) => data] };
  replayed[kReplayed] = true;
  return replayed;
}

/** A consumed stream cannot be sent again; everything axios keeps in memory can. */
export function isReplayableBody(data: unknown): boolean {
  if (data === undefined || data === null || typeof data !== 'object') return true;
  if (typeof (data as { pipe?: unknown }).pipe === 'function') return false;
  if (typeof ReadableStream !== 'undefined' && data instanceof ReadableStream) return false;
  if (ArrayBuffer.isView(data) || data instanceof ArrayBuffer || data instanceof URLSearchParams) return true;
  if ((typeof Blob !== 'undefined' && data instanceof Blob) || (typeof FormData !== 'undefined' && data instanceof FormData)) return true;
  return !(Symbol.asyncIterator in data);
}
