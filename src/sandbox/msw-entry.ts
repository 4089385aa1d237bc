/**
 * `alix-token-manager/testing/msw`: the Alix sandbox as msw 2 request handlers. msw is an
 * optional peer, loaded on first use: this entry imports without it, `alixHandlers()` then
 * throws a `MissingPeerError` (`ERR_ALIX_MISSING_PEER`), and `alix-token-manager/testing`
 * works without it.
 */
export { alixHandlers, DEFAULT_ALIX_HANDLERS_OPTIONS, MSW_PACKAGE } from './msw';
export type { AlixHandlers, AlixHandlersOptions } from './msw';
