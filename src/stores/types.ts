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
  /**
   * The session stored under `key`, or `undefined` when there is none (or it is unreadable).
   * A value that does not decrypt may instead reject with an `UnreadableSessionError`, which the
   * manager counts (`status().counts.unreadableSessions`); it treats every rejection as no session.
   */
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
  /**
   * Optional, for stores shared between processes: calls `onPublished` when another process
   * stores a new session under `key`, until the returned function is called. A manager holding
   * the session watches it and adopts what was published (one `get()`) instead of running a
   * refresh of its own; its own refresh timer stays armed as a fallback. A store may call
   * `onPublished` spuriously (the manager adopts only a newer session of its identity).
   */
  watch?(key: string, onPublished: () => void): () => void;
  /**
   * Optional: the auth breaker every manager on this store shares by default (a shared store's
   * breaker counts failures across the fleet). See {@link AuthBreaker}.
   */
  readonly breaker?: AuthBreaker | undefined;
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

/** Where an {@link AuthBreaker} stands. */
export type BreakerState = 'closed' | 'open' | 'half-open';

/**
 * Whose auth call a breaker is asked about: the auth server of one partner (`scope`), and the
 * one session (end user) making the call. A breaker keeps its state per scope and per session,
 * so that one session's failures never refuse another session, nor one partner's another's.
 */
export interface BreakerCall {
  /** The provider's `identity.scope` (partner + auth endpoint), without the end user. */
  readonly scope: string;
  /** The session's store key. */
  readonly session: string;
}

/**
 * A breaker's state as last known for one call's scope and session (a shared breaker's view from its last exchange).
 */
export interface BreakerStatus {
  state: BreakerState;
  /** Transient auth failures counted in the current window (when open: the count that opened it). */
  failures: number;
  /** While open: when a call may be admitted again, epoch ms; otherwise null. */
  openUntil: number | null;
  /** What opened it: this session's own failures, or the auth server's (seen across sessions); null while closed. */
  level: 'session' | 'scope' | null;
  /** Set when the breaker cannot use its shared state (an ACL refuses its keys, say): it then admits every call. */
  unavailable?: string;
}

/** What {@link AuthBreaker.admit} answers before an auth call. */
export type BreakerAdmission = { allowed: true; probe: boolean } | { allowed: false; retryAfterMs: number };

/** How an admitted auth call ended, as far as the breaker counts: the server answered, or it did not. */
export type BreakerOutcome = 'success' | 'transient-failure';

/**
 * A circuit breaker in front of the auth server, possibly shared by a whole fleet. It keeps
 * two circuits for each call: the session's own, opened by `failureThreshold` transient
 * failures of that session (5xx, 429, timeouts, connection errors; never rejections), and the
 * scope's (one partner's auth server), opened only by failures of several sessions, none counting
 * for half of them: evidence that the server, not one account, is unwell. An open circuit admits no
 * call but one probe per `openMs`, until a call succeeds. A 429's `Retry-After` holds the
 * session that received it; it holds the scope only once two sessions received one. The
 * manager asks {@link admit} before every auth call and tells {@link record} after it. A
 * breaker that cannot reach its shared state admits (it never blocks auth on its own failure).
 */
export interface AuthBreaker {
  /** Whether `call` may start now; `probe` marks a call let through while half-open. */
  admit(call: BreakerCall): Promise<BreakerAdmission>;
  /** Counts an admitted call's outcome; `retryAfterMs` is the server's `Retry-After`, the earliest close. */
  record(call: BreakerCall, outcome: BreakerOutcome, retryAfterMs?: number): Promise<void>;
  /** The state for `call` as last known, synchronously (for `status()`). */
  snapshot(call: BreakerCall): BreakerStatus;
}

/** A session as an encrypting store keeps it: the identity in clear, the token set sealed by the cipher. */
export interface SealedSession {
  readonly identity: string;
  /** The token set's JSON, sealed by the cipher. */
  readonly sealed: string;
}
