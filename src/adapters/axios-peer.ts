/**
 * The axios the adapter talks to: axios is a peer dependency, so the application's own copy, or
 * any other copy an instance comes from (a nested or bundled one, a fresh module registry).
 * Instances are typed structurally (no class or type from an axios copy of ours), so an instance
 * of any supported axios version and copy fits without casts; the configs inside the hook use the
 * peer's typings (types only). The only runtime uses of the peer are its duck-typed `isAxiosError`
 * and its own `getAdapter` for the peer's instances, which turns adapter names into a transport.
 */
import axios from 'axios';
import type { AxiosAdapter, AxiosResponse, InternalAxiosRequestConfig } from 'axios';
import { assertConfig } from '../errors';
import { SUPPORTED_AXIOS_RANGE, assertSupportedPeer, peerAxios as peer } from '../axios-peer-version';
import type { PeerAxios } from '../axios-peer-version';

/**
 * The part of an axios instance that {@link attachTokenManager} needs. Any `AxiosInstance` of a
 * supported axios version (and `axios` itself) is one.
 */
export interface AxiosInstanceLike {
  defaults: { baseURL?: string | undefined };
  // `any` on purpose: each axios 1.x release types `use()` differently (a generic callback or not,
  // InternalAxiosRequestConfig or AxiosRequestConfig, `onRejected` `… | undefined` in 1.6 and
  // `… | null` later), and every one must fit.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  interceptors: Record<'request' | 'response', { use(...args: any[]): number; eject(id: number): void }>;
}

/**
 * Checks at attach time that `instance` is an axios 1.x instance the adapter can serve: one of the
 * peer axios, or of another copy in the same process (a nested or bundled copy, a fresh module
 * registry), served through that copy's own transports.
 *
 * @throws {ConfigurationError} when it is not an axios instance, when it is axios 0.x or shows a
 * `VERSION` outside {@link SUPPORTED_AXIOS_RANGE}, or when the installed axios is outside that range.
 */
export function assertSupportedInstance(instance: unknown, where: string): asserts instance is AxiosInstanceLike {
  const candidate = instance as Partial<AxiosInstanceLike & { request: unknown; VERSION: unknown }> | null | undefined;
  assertConfig(
    typeof candidate?.request === 'function' &&
      typeof candidate.interceptors?.request?.use === 'function' &&
      typeof candidate.defaults === 'object' &&
      candidate.defaults !== null,
    `${where}: the first argument is not an axios instance`,
  );
  assertConfig(
    !isLegacyInstance(candidate),
    `${where}: this axios instance is axios 0.x, which is not supported; install axios ${SUPPORTED_AXIOS_RANGE}`,
  );
  // Only an axios module itself shows its VERSION; an instance made by create() does not.
  if (candidate.VERSION !== undefined) assertSupportedPeer(where, candidate as PeerAxios);
  assertSupportedPeer(where);
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

/**
 * How the requests of `instance` reach their transport. A function adapter is used as it is. Adapter
 * names go through the axios that made the instance: the peer's `getAdapter` for the peer's
 * instances; for an instance of another copy, that copy's own dispatch (a bare `Axios` of that copy:
 * no interceptors, defaults or transforms, as axios already applied them), so its transports, its
 * AxiosHeaders class, its URL rules and its error classes are the ones used. Never another copy's
 * transport: it would rebuild the headers with its own class, and an older one folds a foreign
 * AxiosHeaders, bearer included, into one header.
 */
export function createTransportResolver(
  instance: AxiosInstanceLike,
): (adapter: unknown, config: InternalAxiosRequestConfig) => AxiosAdapter {
  if (isPeerInstance(instance)) {
    const getAdapter = peer.getAdapter as (names: unknown, config: unknown) => AxiosAdapter;
    return (adapter, config) =>
      typeof adapter === 'function' ? (adapter as AxiosAdapter) : getAdapter(adapter ?? peer.defaults?.adapter, config);
  }
  const runner = bareAxiosOf(instance);
  assertConfig(runner !== undefined, 'attachTokenManager: this axios instance has no Axios class to send through');
  // Through the copy's dispatch; its response or error keeps the config sent.
  const viaCopy =
    (names: unknown): AxiosAdapter =>
    (config) =>
      runner.request({ ...config, adapter: names, transformRequest: [], transformResponse: [] }).then(
        (response) => Object.assign(response, { config }),
        (error: unknown) => {
          if (axios.isAxiosError(error)) {
            error.config = config;
            if (error.response !== undefined) error.response.config = config;
          }
          throw error;
        },
      );
  return (adapter) => (typeof adapter === 'function' ? (adapter as AxiosAdapter) : viaCopy(adapter));
}

/** Whether `instance` was made by the peer axios (its interceptor managers are of the peer's class). */
export function isPeerInstance(instance: AxiosInstanceLike): boolean {
  const ours = peer.interceptors?.request;
  return ours !== undefined && Object.getPrototypeOf(instance.interceptors.request) === Object.getPrototypeOf(ours);
}

/** A bare axios 1.x `Axios` (no interceptors, no defaults) of some copy, seen structurally. */
type BareAxios = { request(config: object): Promise<AxiosResponse> };

/**
 * A bare `Axios` of the copy that made `instance`: `create()` of that copy with its defaults emptied
 * (an instance made by `create()`, or the module), or its class (a `new Axios()`).
 */
function bareAxiosOf(instance: AxiosInstanceLike): BareAxios | undefined {
  const { create } = instance as { create?: (config: object) => BareAxios & { defaults: object } };
  if (typeof create === 'function') {
    const bare = create.call(instance, {});
    const defaults = bare.defaults as Record<string, unknown>;
    for (const key of Object.keys(defaults)) delete defaults[key];
    return bare;
  }
  if (typeof instance === 'function') return undefined;
  // A bare `new Axios()`: its constructor is a class (assertSupportedInstance checked it).
  const prototype = Object.getPrototypeOf(instance) as { constructor: new (defaults: object) => BareAxios };
  return new prototype.constructor({});
}
