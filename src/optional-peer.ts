/**
 * Loads an optional peer dependency on first use, so that an entry which needs one
 * (`/otel`, `/testing/msw`) imports without it and fails where the user calls, with one typed
 * {@link MissingPeerError}, in CommonJS and ESM alike. A static `import` of the peer would
 * fail in ESM before any of our code runs, with Node's own `ERR_MODULE_NOT_FOUND`.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { peerDependencies } from '../package.json';
import { MissingPeerError, errorCodeOf, type MissingPeerDetails } from './errors';

/** An optional peer (a key of `peerDependencies`, e.g. `msw`) and the entry that needs it. */
export type OptionalPeer = Omit<MissingPeerDetails, 'packageName' | 'range'> & {
  packageName: keyof typeof peerDependencies;
};

/**
 * A `require` that resolves from this file: the module's own under CommonJS (and jest), and
 * one made from `__filename` in the ESM build, where tsup's `shims` define it from
 * `import.meta.url` (`require` there is a stub that always throws).
 */
function requireFromHere(): NodeJS.Require {
  if (typeof module === 'object') return require;
  // A build without the shims: the working directory is where an application's node_modules usually are.
  return createRequire(typeof __filename === 'string' ? __filename : path.join(process.cwd(), 'index.js'));
}

const loaded = new Map<string, unknown>();

/** The supported range of an optional peer, from `peerDependencies` in package.json. */
export function peerRange(packageName: OptionalPeer['packageName']): string {
  return peerDependencies[packageName];
}

/**
 * The peer's module, loaded once (Node caches it as well).
 * @throws {MissingPeerError} when the peer is not installed; any other failure to load it
 *   (a broken install) is thrown as it is.
 */
export function loadOptionalPeer<T>(peer: OptionalPeer): T {
  const { packageName, entry, worksWithout, dev } = peer;
  if (!loaded.has(packageName)) {
    try {
      loaded.set(packageName, requireFromHere()(packageName));
    } catch (error) {
      // Only `packageName` itself missing (not one of its own files or dependencies) is a missing peer.
      const code = errorCodeOf(error);
      const notFound = code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND';
      if (!notFound || !(error instanceof Error) || !error.message.includes(`'${packageName}'`)) throw error;
      const range = peerRange(packageName);
      throw new MissingPeerError({ packageName, range, entry, worksWithout, dev }, { cause: error });
    }
  }
  return loaded.get(packageName) as T;
}
