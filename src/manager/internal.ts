/**
 * Symbols for the library's own use between its parts (the pool and the manager): not part
 * of the public API, and not exported from the package root.
 */
import type { TokenSet } from '../token-set';

/**
 * An option a pool passes (as `options[hotTokenListener]`): told the token set whose access
 * token the hot path serves and until when (timeline), or `undefined`, whenever that changes,
 * so the pool can answer from its own session record (and seed a new manager from it).
 */
export const hotTokenListener: unique symbol = Symbol('alix-token-manager.hotTokenListener');

/** What {@link hotTokenListener} is told. */
export type HotTokenListener = (tokens: TokenSet | undefined, refreshAt: number) => void;

/** The internal options a pool may add to a manager's options. */
export interface ManagerInternals {
  [hotTokenListener]?: HotTokenListener;
}
