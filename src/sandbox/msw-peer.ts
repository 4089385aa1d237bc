/**
 * msw, the optional peer of `alix-token-manager/testing/msw`, loaded on first use: the entry
 * imports without it, and `alixHandlers()` throws a typed `MissingPeerError`
 * (`ERR_ALIX_MISSING_PEER`) when it is not installed.
 */
import type * as Msw from 'msw';
import { loadOptionalPeer } from '../optional-peer';

/** The package `alix-token-manager/testing/msw` needs beside it. */
export const MSW_PACKAGE = 'msw';

/**
 * The `msw` module, loaded once.
 * @throws {MissingPeerError} when msw is not installed.
 */
export function mswApi(): typeof Msw {
  return loadOptionalPeer<typeof Msw>({
    packageName: MSW_PACKAGE,
    entry: 'alix-token-manager/testing/msw',
    worksWithout: 'startAlixSandbox() from alix-token-manager/testing, a real local server',
    dev: true,
  });
}
