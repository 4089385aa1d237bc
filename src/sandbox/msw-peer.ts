/**
 * The optional peer `alix-token-manager/testing/msw` needs. The entry re-exports this module
 * first, before anything that loads msw (see `optional-peer.ts` for why).
 */
import { assertOptionalPeer } from '../optional-peer';

/** The package `alix-token-manager/testing/msw` needs beside it. */
export const MSW_PACKAGE = 'msw';

assertOptionalPeer({
  packageName: MSW_PACKAGE,
  entry: 'alix-token-manager/testing/msw',
  install: `npm install --save-dev ${MSW_PACKAGE}`,
  versionHint: ' (2.x)',
  note: '; alix-token-manager/testing works without it',
});
