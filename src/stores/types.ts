import type { TokenSet } from '../token-set';

/**
 * A session as a store keeps it: the token set and the identity it belongs to. A manager
 * adopts a stored session only when `identity` is its own, whatever key it was found under.
 */
export interface StoredSession {
  /** The provider's identity id (a hash of auth origin, partner code and user email). */
  readonly identity: string;
  readonly tokens: TokenSet;
}

/**
 * Where managers keep their sessions, one per key. Asynchronous so that a shared, remote
 * store fits; a manager reads it at start-up and around refreshes, never on the hot path.
 * One store may hold any number of sessions (one per identity, or per end user in a pool).
 */
export interface TokenStore {
  /** The session stored under `key`, or `undefined` when there is none (or it is unreadable). */
  get(key: string): Promise<StoredSession | undefined>;
  /** Replaces the session stored under `key`. */
  set(key: string, session: StoredSession): Promise<void>;
  /** Forgets the session stored under `key`. */
  delete(key: string): Promise<void>;
  /**
   * Optional, for stores shared between processes: serialises refreshes of one session
   * across them so that only one process calls the auth server (refresh tokens rotate, so
   * two processes refreshing at once would spend each other's token). The protocol:
   * docs/scaling.md.
   */
  acquireRefreshLock?(key: string, options: AcquireRefreshLockOptions): Promise<RefreshLockResult>;
}

/** Options of {@link TokenStore.acquireRefreshLock}. */
export interface AcquireRefreshLockOptions {
  /** Aborts the wait (the manager is closing, or the caller's deadline passed). */
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
