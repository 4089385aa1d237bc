/**
 * The axios the adapter talks to: axios is a peer dependency, so the application's own copy.
 * Everything here is structural (no class or type from an axios copy of ours), so an instance
 * of any supported axios version fits without casts; the only runtime use of the peer is
 * axios's own `getAdapter`, which turns adapter names into the transport function.
 */
import { ConfigurationError } from '../errors';
import { SUPPORTED_AXIOS_RANGE, assertSupportedPeer, peerAxios as peer } from '../axios-peer-version';
import type { PeerAxios } from '../axios-peer-version';

/** A request's `AxiosHeaders`: the adapter sets and reads the bearer through its own methods. */
export interface AxiosHeadersLike {
  set(name: string, value: string, rewrite?: boolean): unknown;
  get(name: string): unknown;
}

/** The fields of an axios request config that the adapter reads or writes. */
export interface AxiosRequestConfigLike {
  url?: string | undefined;
  baseURL?: string | undefined;
  allowAbsoluteUrls?: boolean | undefined;
  method?: string | undefined;
  headers?: unknown;
  data?: unknown;
  signal?: unknown;
  adapter?: unknown;
  beforeRedirect?: unknown;
  skipAuth?: boolean | undefined;
  /** The session a request names when the adapter serves a pool (unknown: JavaScript callers may send anything). */
  alixSession?: unknown;
}

/** What an axios adapter (the transport: http, xhr, fetch or a custom one) resolves to. */
export interface AxiosResponseLike {
  status: number;
}

/** An axios adapter: sends a config, resolves with the response (or rejects per `validateStatus`). */
export type AxiosAdapterLike = (config: AxiosRequestConfigLike) => Promise<AxiosResponseLike>;

/** The part of an axios instance's request interceptors that the adapter uses. */
export interface AxiosRequestInterceptorsLike {
  // `any` on purpose: each axios 1.x release types this callback differently (generic or not,
  // InternalAxiosRequestConfig or AxiosRequestConfig), and the callback must fit every one.
  // `onRejected` is `… | undefined` in axios 1.6's typings and `… | null` in later ones.
  use(
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    onFulfilled: (config: any) => any,
    onRejected: ((error: unknown) => unknown) | null | undefined,
    options: { synchronous: boolean },
  ): number;
  eject(id: number): void;
}

/**
 * The part of an axios instance that {@link attachTokenManager} needs. Any `AxiosInstance` of a
 * supported axios version (and `axios` itself) is one.
 */
export interface AxiosInstanceLike {
  defaults: { baseURL?: string | undefined; adapter?: unknown };
  interceptors: { request: AxiosRequestInterceptorsLike };
}


/**
 * Checks at attach time that `instance` is an axios 1.x instance the adapter can serve.
 *
 * @throws {ConfigurationError} when it is not an axios instance, when it is axios 0.x, when the
 * installed axios is outside {@link SUPPORTED_AXIOS_RANGE}, or when the instance comes from
 * another copy of axios than the one this library resolves and uses its built-in transports
 * (mixing two copies' headers is what once collapsed every header into one and leaked the bearer).
 */
export function assertSupportedInstance(instance: unknown, where: string): asserts instance is AxiosInstanceLike {
  const candidate = instance as Partial<AxiosInstanceLike & { request: unknown }> | null | undefined;
  if (
    (typeof candidate !== 'object' && typeof candidate !== 'function') ||
    candidate === null ||
    typeof candidate.request !== 'function' ||
    typeof candidate.interceptors?.request?.use !== 'function' ||
    typeof candidate.defaults !== 'object'
  ) {
    throw new ConfigurationError(`${where}: the first argument is not an axios instance`);
  }
  if (isLegacyInstance(candidate)) {
    throw new ConfigurationError(`${where}: this axios instance is axios 0.x, which is not supported; install axios ${SUPPORTED_AXIOS_RANGE}`);
  }
  assertSupportedPeer(where);
  if (!isPeerInstance(candidate as AxiosInstanceLike) && typeof candidate.defaults.adapter !== 'function') {
    throw new ConfigurationError(
      `${where}: this axios instance comes from another copy of axios than the one alix-token-manager resolves ` +
        `(axios ${String(peer.VERSION)}); install a single axios ${SUPPORTED_AXIOS_RANGE} (npm ls axios shows the copies)`,
    );
  }
}

/**
 * True when `instance` is not built from axios 1.x's `Axios` class. Nothing else on an instance
 * tells 0.x from 1.x (0.27 and later have postForm(), 0.30 and later interceptors' clear()):
 * axios 1.x copies the class prototype's own keys, `constructor` included, onto the function
 * `axios.create()` returns, where 0.x copies only the enumerable ones of a function prototype;
 * a bare `new Axios()` of 1.x has a class as its constructor.
 */
function isLegacyInstance(instance: object): boolean {
  if (typeof instance === 'function') return !Object.hasOwn(instance, 'constructor');
  const ctor = (Object.getPrototypeOf(instance) as { constructor?: unknown } | null)?.constructor;
  return typeof ctor !== 'function' || !Function.prototype.toString.call(ctor).startsWith('class');
}

/** True when `instance` was made by the peer axios (its interceptor managers share one class). */
function isPeerInstance(instance: AxiosInstanceLike): boolean {
  const ours = peer.interceptors?.request;
  return ours !== undefined && Object.getPrototypeOf(instance.interceptors.request) === Object.getPrototypeOf(ours);
}

/**
 * The transport a request will use, resolved as axios's dispatch does: a function is used as it
 * is; names (`'http'`, `['xhr', 'http', 'fetch']`) go through axios's own `getAdapter`.
 */
export function resolveTransport(adapter: unknown, config: AxiosRequestConfigLike): AxiosAdapterLike {
  if (typeof adapter === 'function') return adapter as AxiosAdapterLike;
  const PeerHeaders = peer.AxiosHeaders as abstract new (...args: never[]) => unknown;
  if (!(config.headers instanceof PeerHeaders)) {
    // Another copy's transport would rebuild these headers with its own class and could fold
    // them (bearer included) into one header; refuse instead of sending.
    throw new ConfigurationError(
      `attachTokenManager: this request comes from another copy of axios than the one alix-token-manager resolves (axios ${String(peer.VERSION)}); install a single axios ${SUPPORTED_AXIOS_RANGE}`,
    );
  }
  const getAdapter = peer.getAdapter as NonNullable<PeerAxios['getAdapter']>;
  return getAdapter(adapter ?? peer.defaults?.adapter, config) as AxiosAdapterLike;
}

/** The request's own AxiosHeaders, or undefined when the headers are not AxiosHeaders-like. */
export function headersOf(config: AxiosRequestConfigLike): AxiosHeadersLike | undefined {
  const headers = config.headers as Partial<AxiosHeadersLike> | null | undefined;
  return typeof headers?.set === 'function' && typeof headers.get === 'function' ? (headers as AxiosHeadersLike) : undefined;
}

/** axios's own test for its errors, duck-typed so that an error from any copy counts. */
export function isAxiosErrorLike(error: unknown): error is { isAxiosError: true; config?: AxiosRequestConfigLike; response?: AxiosResponseLike } {
  return typeof error === 'object' && error !== null && (error as { isAxiosError?: unknown }).isAxiosError === true;
}
