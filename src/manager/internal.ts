/**
 * Symbols for the library's own use between its parts (the pool and the manager): not part
 * of the public API, and not exported from the package root.
 */

/**
 * An option a pool passes (as `options[hotTokenListener]`): told the token the hot path
 * serves and until when (timeline), or `undefined`, whenever that changes, so the pool can
 * answer from its own session record.
 */
export const hotTokenListener: unique symbol = Symbol('alix-token-manager.hotTokenListener');

/** What {@link hotTokenListener} is told. */
export type HotTokenListener = (token: string | undefined, refreshAt: number) => void;

/** The internal options a pool may add to a manager's options. */
export interface ManagerInternals {
  [hotTokenListener]?: HotTokenListener;
}
