/**
 * Loads an optional peer dependency on first use, so that an entry which needs one
 * (`/otel`, `/testing/msw`) imports without it and fails where the user calls, with one typed
 * {@link MissingPeerError}, in CommonJS and ESM alike. A static `import` of the peer would
 * fail in ESM before any of our code runs, with Node's own `ERR_MODULE_NOT_FOUND`.
 */
import { createRequire } from 'node:module';
import { peerDependencies } from '../package.json';
import { MissingPeerError, errorCodeOf, type MissingPeerDetails } from './errors';

/**
 * An optional peer (a key of `peerDependencies`, e.g. `msw`, whose range there is the supported one) and the entry
 * that needs it.
 */
type OptionalPeer = Omit<MissingPeerDetails, 'packageName' | 'range'> & {
  packageName: keyof typeof peerDependencies;
};

/**
 * `require` as this file would call it: the module's own under CommonJS (and jest), and one made from
 * `__filename` in the ESM build, where tsup's `shims` define it from `import.meta.url` (`require` there is a stub
 * that always throws).
 */
export function requireFromHere(): NodeRequire {
  return typeof module === 'object' ? require : createRequire(__filename);
}

/** The peers loaded so far, by package name: callers on a hot path (a span per event) pay one lookup. */
const loaded = new Map<string, unknown>();

/**
 * The peer's module, loaded once, required from this file ({@link requireFromHere}).
 * @throws {MissingPeerError} when the peer is not installed; any other failure to load it
 *   (a broken install) is thrown as it is.
 */
export function loadOptionalPeer<T>(peer: OptionalPeer): T {
  const { packageName } = peer;
  try {
    if (!loaded.has(packageName)) loaded.set(packageName, requireFromHere()(packageName));
    return loaded.get(packageName) as T;
  } catch (error) {
    // Only `packageName` itself missing (not one of its own files or dependencies) is a missing peer. A `require()`
    // (createRequire's too, in the ESM build) reports that as MODULE_NOT_FOUND, never as ESM's ERR_MODULE_NOT_FOUND.
    const notFound = errorCodeOf(error) === 'MODULE_NOT_FOUND';
    if (!notFound || !(error instanceof Error) || !error.message.includes(`'${packageName}'`)) throw error;
    throw new MissingPeerError({ ...peer, range: peerDependencies[packageName] }, { cause: error });
  }
}
