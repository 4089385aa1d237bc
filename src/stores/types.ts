import type { TokenSet } from '../token-set';

/**
 * Where a manager keeps its session. Asynchronous so that a shared, remote store fits;
 * the manager reads it at start-up and around refreshes, never on the hot path.
 */
export interface TokenStore {
  /** The stored token set, or `undefined` when there is none. */
  get(): Promise<TokenSet | undefined>;
  /** Replaces the stored token set. */
  set(tokens: TokenSet): Promise<void>;
  /** Forgets the stored token set. */
  delete(): Promise<void>;
}
