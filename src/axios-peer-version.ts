/**
 * Which axios this library can use. axios is a peer dependency, so the application's copy is
 * the one that runs; the HTTP adapter checks it at attach time and the Alix provider at
 * construction.
 */
import { createRequire } from 'node:module';
import axios from 'axios';
import { ConfigurationError, assertConfig } from './errors';
import { requireFromHere } from './optional-peer';

/** The oldest axios minor the adapter supports (`axios.getAdapter` is public from 1.5). */
export const MIN_AXIOS_VERSION = '1.6.0';

/** The axios versions the adapter supports, as in package.json's peerDependencies. */
export const SUPPORTED_AXIOS_RANGE = `^${MIN_AXIOS_VERSION}`;

/** The peer axios module, seen structurally (older typings lack some of these members). */
export interface PeerAxios {
  VERSION?: unknown;
  AxiosHeaders?: unknown;
  getAdapter?: (adapters: unknown, config?: unknown) => unknown;
  defaults?: { adapter?: unknown };
  interceptors?: { request?: object };
}

/** The axios module the application installed (the peer), seen structurally. */
export const peerAxios = axios as unknown as PeerAxios;

/**
 * Checks that the installed (peer) axios is one this library can use: 1.x from {@link MIN_AXIOS_VERSION}, with
 * `AxiosHeaders` and `getAdapter`. The adapter checks it at attach time, `AlixAuthProvider` at construction.
 *
 * @throws {ConfigurationError} `<where>: <reason>`, the reason naming the axios and the range to install.
 */
export function assertSupportedPeer(where: string, candidate: PeerAxios = peerAxios): void {
  const version = typeof candidate.VERSION === 'string' ? candidate.VERSION : undefined;
  const label = `${where}: ${version === undefined ? 'the installed axios (no VERSION)' : `axios ${version}`}`;
  // Same major as MIN_AXIOS_VERSION, and at least its minor.
  const [major, minor = 0] = versionParts(version) ?? [];
  const [minMajor, minMinor] = versionParts(MIN_AXIOS_VERSION) as [number, number];
  const tooOld = major === undefined || major !== minMajor || minor < minMinor;
  assertConfig(!tooOld, `${label} is not supported; install axios ${SUPPORTED_AXIOS_RANGE}`);
  const complete = typeof candidate.AxiosHeaders === 'function' && typeof candidate.getAdapter === 'function';
  assertConfig(complete, `${label} has no AxiosHeaders/getAdapter; install axios ${SUPPORTED_AXIOS_RANGE}`);
}

type ProxyFromEnv = { getProxyForUrl(url: string): string };
let proxyFromEnv: ProxyFromEnv | undefined;

/**
 * The http proxy the installed axios would send a request for `url` to unencrypted, or undefined: before 1.16.1,
 * axios sends an https request through an http proxy as plain http (the request line, headers and body), where
 * 1.16.1 and later open a CONNECT tunnel. Which proxy applies is axios's own rule for `HTTPS_PROXY`, `ALL_PROXY`
 * and `NO_PROXY` (its proxy-from-env dependency, loaded only for such an axios).
 */
export function cleartextProxyFor(url: string, candidate: PeerAxios = peerAxios): URL | undefined {
  if (tunnelsHttps(candidate) || !url.startsWith('https:')) return undefined;
  // Resolved once: an old axios's interceptor asks this on every request it would send with the bearer.
  proxyFromEnv ??= createRequire(requireFromHere().resolve('axios'))('proxy-from-env') as ProxyFromEnv;
  const proxy = proxyFromEnv.getProxyForUrl(url);
  return URL.canParse(proxy) && new URL(proxy).protocol === 'http:' ? new URL(proxy) : undefined;
}

/**
 * Refuses what the installed axios would send to an http proxy unencrypted (see {@link cleartextProxyFor}).
 * @throws {ConfigurationError} `<what> not sent: …`, with the fix as its hint.
 */
export function assertNoCleartextProxy(url: string, what: string): void {
  const proxy = cleartextProxyFor(url);
  if (proxy === undefined) return;
  const why = `axios ${String(peerAxios.VERSION)} would send it to the http proxy at ${proxy.host} unencrypted`;
  throw new ConfigurationError(`${what} not sent: ${why} (before 1.16.1, axios does not tunnel https)`, {
    hint: `upgrade axios to 1.16.1 or later, or add ${new URL(url).hostname} to NO_PROXY`,
  });
}

/** Whether axios `candidate` tunnels an https request through an http proxy: from 1.16.1 on. */
export function tunnelsHttps(candidate: PeerAxios = peerAxios): boolean {
  const [major = 0, minor = 0, patch = 0] = versionParts(candidate.VERSION) ?? [];
  return major > 1 || (major === 1 && (minor > 16 || (minor === 16 && patch >= 1)));
}

/** A version's [major, minor, patch], or undefined when it does not read as one. */
function versionParts(version: unknown): number[] | undefined {
  return (typeof version === 'string' ? /^(\d+)\.(\d+)\.(\d+)/.exec(version) : null)?.slice(1).map(Number);
}
