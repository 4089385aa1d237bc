/**
 * Which axios this library can use. axios is a peer dependency, so the application's copy is
 * the one that runs; the HTTP adapter checks it at attach time and the Alix provider at
 * construction.
 */
import axios from 'axios';
import { ConfigurationError } from './errors';

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
 * Why the installed (peer) axios cannot be used, or undefined when it can: it must be 1.x from
 * {@link MIN_AXIOS_VERSION}, with `AxiosHeaders` and `getAdapter`.
 */
export function unsupportedPeerReason(candidate: PeerAxios = peerAxios): string | undefined {
  const version = typeof candidate.VERSION === 'string' ? candidate.VERSION : undefined;
  const label = version === undefined ? 'the installed axios (no VERSION)' : `axios ${version}`;
  // Same major as MIN_AXIOS_VERSION, and at least its minor.
  const [, major, minor] = /^(\d+)\.(\d+)\./.exec(version ?? '') ?? [];
  const [, minMajor, minMinor] = /^(\d+)\.(\d+)\./.exec(MIN_AXIOS_VERSION) ?? [];
  const tooOld = major === undefined || Number(major) !== Number(minMajor) || Number(minor) < Number(minMinor);
  const incomplete = typeof candidate.AxiosHeaders !== 'function' || typeof candidate.getAdapter !== 'function';
  if (tooOld) return `${label} is not supported; install axios ${SUPPORTED_AXIOS_RANGE}`;
  if (incomplete) return `${label} has no AxiosHeaders/getAdapter; install axios ${SUPPORTED_AXIOS_RANGE}`;
  return undefined;
}

/**
 * Checks that the installed (peer) axios is one this library can use: what the adapter checks
 * at attach time, and what `AlixAuthProvider` checks at construction.
 *
 * @throws {ConfigurationError} `<where>: <reason>` (see {@link unsupportedPeerReason}).
 */
export function assertSupportedPeer(where: string, candidate: PeerAxios = peerAxios): void {
  const reason = unsupportedPeerReason(candidate);
  if (reason !== undefined) throw new ConfigurationError(`${where}: ${reason}`);
}
