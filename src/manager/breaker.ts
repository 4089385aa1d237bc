/**
 * A manager's side of the auth circuit breaker: {@link BreakerLink.admit} before each auth call,
 * {@link BreakerLink.record} after it, and `breaker-changed` when the state it sees moves. The
 * breakers themselves live with the stores (./stores/memory-breaker.ts, ./stores/redis-breaker.ts).
 */
import { AuthUnavailableError, ErrorCodes, isTokenManagerError } from '../errors';
import type { AuthOperation } from '../errors';
import type { AuthBreaker, BreakerAdmission, BreakerCall, BreakerState, BreakerStatus } from '../stores/types';
import { isBreakerError, retryAfterOf } from './backoff';
import type { Lifecycle } from './lifecycle';

/** A manager's link to its breaker: whose calls it makes (scope and session), and the state it last saw. */
export class BreakerLink {
  #seen: BreakerState;

  constructor(
    readonly breaker: AuthBreaker,
    readonly call: BreakerCall,
    private readonly lifecycle: Lifecycle,
    private readonly wallNow: () => number,
    /** The one cap on server-requested waits: the breaker stays open no longer than this manager would wait. */
    private readonly maxRetryAfterMs: number,
  ) {
    this.#seen = this.snapshot()?.state ?? 'closed';
  }

  /** The breaker's state for this manager's calls; null when its `snapshot()` throws (a custom breaker's). */
  snapshot(): BreakerStatus | null {
    try {
      return this.breaker.snapshot(this.call);
    } catch {
      return null;
    }
  }

  /**
   * Asks whether an auth call may start; a breaker that fails admits. (The Redis breaker bounds
   * its own commands by `commandTimeoutMs`; a custom one must answer promptly.)
   * @throws AuthUnavailableError with `reason: 'breaker'` and `retryAfterMs` when it refuses.
   */
  async admit(operation: AuthOperation): Promise<void> {
    let admission: BreakerAdmission;
    try {
      admission = await this.breaker.admit(this.call);
    } catch {
      return;
    }
    this.#observe();
    if (admission.allowed) return;
    const retryAfterMs = Math.max(1, Math.ceil(admission.retryAfterMs));
    throw new AuthUnavailableError({ operation, reason: 'breaker', retryAfterMs });
  }

  /**
   * Tells how an admitted call ended (`undefined`: with tokens): the server answered (tokens,
   * or a rejection), or failed transiently (5xx, 429, timeout, connection error). Anything else
   * (a malformed answer, an abort, a signer failure) is not counted either way.
   */
  async record(error: unknown): Promise<void> {
    const success = error === undefined || isTokenManagerError(error, ErrorCodes.AUTH_REJECTED);
    const transient = !success && isTokenManagerError(error, ErrorCodes.AUTH_UNAVAILABLE) && !isBreakerError(error);
    if (!success && !transient) return;
    const retryAfterMs = transient ? retryAfterOf(error, this.maxRetryAfterMs) : undefined;
    try {
      await this.breaker.record(this.call, success ? 'success' : 'transient-failure', retryAfterMs);
    } catch {
      return;
    }
    this.#observe();
  }

  /**
   * The error an auth call would meet now, when the breaker is known to be open (no I/O); `cause`
   * is the failure that opened it, when the caller saw it.
   */
  refusal(operation: AuthOperation, cause?: unknown): AuthUnavailableError | undefined {
    if (cause !== undefined) this.#observe();
    const status = this.snapshot();
    if (status?.state !== 'open' || status.openUntil === null) return undefined;
    const retryAfterMs = Math.ceil(status.openUntil - this.wallNow());
    if (retryAfterMs <= 0) return undefined; // half-open now: the run may be the probe
    return new AuthUnavailableError({ operation, reason: 'breaker', retryAfterMs }, { cause });
  }

  /** Emits `breaker-changed` when the breaker's state differs from the one this manager last saw. */
  #observe(): void {
    const status = this.snapshot();
    if (status === null || status.state === this.#seen) return;
    this.#seen = status.state;
    const at = this.wallNow();
    const { state, openUntil } = status;
    const open = state === 'open' && openUntil !== null ? { retryAfterMs: Math.max(0, openUntil - at) } : {};
    this.lifecycle.emit({ type: 'breaker-changed', at, state, ...open });
  }
}
