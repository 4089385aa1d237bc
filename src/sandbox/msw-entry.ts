/**
 * `alix-token-manager/testing/msw`: the Alix sandbox as msw 2 request handlers. msw is an
 * optional peer, so these live apart from `alix-token-manager/testing`, which loads without it.
 */
// First, so that a missing msw fails with the fix in the message (see msw-peer.ts).
export { MSW_PACKAGE } from './msw-peer';
export { alixHandlers, DEFAULT_ALIX_HANDLERS_OPTIONS } from './msw';
export type { AlixHandlers, AlixHandlersOptions } from './msw';
