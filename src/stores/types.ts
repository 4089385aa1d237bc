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
  /**
   * Optional, for stores shared between processes: serialises refreshes across them so
   * that only one process calls the auth server (refresh tokens rotate, so two processes
   * refreshing at once would spend each other's token). The protocol: docs/scaling.md.
   */
  acquireRefreshLock?(options: AcquireRefreshLockOptions): Promise<RefreshLockResult>;
}

/** Options of {@link TokenStore.acquireRefreshLock}. */
export interface AcquireRefreshLockOptions {
  /** Aborts the wait (the manager is closing). */
  signal: AbortSignal;
}

/** A lock this process holds while it refreshes the shared session. */
export interface RefreshLock {
  /** Releases the lock if this process still owns it. */
  release(): Promise<void>;
}

/**
 * What {@link TokenStore.acquireRefreshLock} resolves to: this process holds the lock, or
 * another process published a new session while this one waited (re-read the store).
 * A store that cannot coordinate (its server is down, the wait bound passed) rejects, and
 * the manager refreshes on its own.
 */
export type RefreshLockResult = { acquired: true; lock: RefreshLock } | { acquired: false };
