import NodeCache from 'node-cache';
import type { TokenSet } from '../token-set';
import type { TokenStore } from './types';

/** Options of {@link MemoryTokenStore}. */
export interface MemoryTokenStoreOptions {
  /**
   * The key the session is kept under; several stores may share one `cache`.
   * @default 'alix-token-manager:session'
   */
  key?: string;
  /**
   * A node-cache instance to keep the session in. The default has clones off and no
   * check-period timer, so it never keeps the process alive.
   * @default a private NodeCache
   */
  cache?: NodeCache;
  /**
   * The clock for entry lifetimes, epoch ms.
   * @default Date.now
   */
  now?: () => number;
}

/** Defaults of {@link MemoryTokenStoreOptions}. */
export const DEFAULT_MEMORY_TOKEN_STORE_OPTIONS = Object.freeze({
  key: 'alix-token-manager:session',
  now: (): number => Date.now(),
});

/**
 * The default {@link TokenStore}: the session in process memory (node-cache), dropped
 * when the refresh token (or, without one, the access token) expires.
 */
export class MemoryTokenStore implements TokenStore {
  readonly #cache: NodeCache;
  readonly #key: string;
  readonly #now: () => number;

  constructor(options: MemoryTokenStoreOptions = {}) {
    const resolved = { ...DEFAULT_MEMORY_TOKEN_STORE_OPTIONS, ...options };
    this.#cache = resolved.cache ?? new NodeCache({ useClones: false, checkperiod: 0, stdTTL: 0 });
    this.#key = resolved.key;
    this.#now = resolved.now;
  }

  async get(): Promise<TokenSet | undefined> {
    return this.#cache.get<TokenSet>(this.#key);
  }

  async set(tokens: TokenSet): Promise<void> {
    const expiresAt = tokens.refreshTokenExpiresAt ?? tokens.accessTokenExpiresAt;
    const ttlSeconds = Math.max(1, Math.ceil((expiresAt - this.#now()) / 1000));
    this.#cache.set(this.#key, Object.freeze({ ...tokens }), ttlSeconds);
  }

  async delete(): Promise<void> {
    this.#cache.del(this.#key);
  }
}
