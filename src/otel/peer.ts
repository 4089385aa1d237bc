/**
 * The optional peer this entry needs. The entry re-exports this module first, before anything
 * that loads the peer (see `optional-peer.ts` for why).
 */
import { assertOptionalPeer } from '../optional-peer';

/** The package `alix-token-manager/otel` needs beside it. */
export const OTEL_API_PACKAGE = '@opentelemetry/api';

assertOptionalPeer({ packageName: OTEL_API_PACKAGE, entry: 'alix-token-manager/otel', install: `npm install ${OTEL_API_PACKAGE}` });
