/**
 * The acquire pipeline, one refresh run from start to end: take the shared lock → re-read
 * the store → adopt a newer session, or call the provider (refresh, then one fallback
 * sign-in) → validate → write → release. Every store call has a deadline; the run as a whole
 * is bounded by the facade, which aborts `signal` at the run's deadline.
 */
import { withTimeout } from '../clock';
import type { Clock } from '../clock';
import {
  AuthUnavailableError,
  ErrorCodes,
  MalformedResponseError,
  TimeoutError,
  errorCodeOf,
  isTokenManagerError,
  withAttemptSummary,
} from '../errors';
import type { TokenProvider } from '../providers/types';
import type { BreakerAdmission, BreakerOutcome, RefreshLock, StoredSession, TokenStore } from '../stores/types';
import { hasUsableRefreshToken, isHeaderSafeToken, toLocalClock } from '../token-set';
import type { RefreshTokenSeed, TokenSet } from '../token-set';
import { isBreakerError, nextDelay, retryAfterOf } from './backoff';
import type { BackoffPolicy } from './backoff';
import type { BreakerLink } from './breaker';
import type { AuthGate } from './options';
import type { Lifecycle } from './lifecycle';
import { RetriesExhausted, retrying } from './retry';
import type { AuthCallOperation, RefreshReason } from './types';

/** Rounds of waiting for the shared lock before refreshing without it. */
const MAX_LOCK_ROUNDS = 3;

/** Network failures that prove the request never left: resending cannot spend a token twice. */
const NOT_SENT = /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ENETUNREACH|EHOSTUNREACH/;

/** Everything a run needs that does not change between runs. */
export interface AcquireContext {
  provider: TokenProvider;
  store: TokenStore;
  storeKey: string;
  identity: string;
  /** The manager's timeline clock: retries wait on it, deadlines are on it. */
  clock: Clock;
  /** The wall clock, epoch ms: expiries and clock skew are judged on it. */
  wallNow: () => number;
  storeTimeoutMs: number;
  refreshTokenMarginMs: number;
  expirySkewMs: number;
  retry: BackoffPolicy;
  lifecycle: Lifecycle;
  /** Waited for before each auth call (a pool's concurrency cap). */
  authGate: AuthGate | undefined;
  /** Asked before each auth call, told after it; undefined when the manager has no breaker. */
  breaker: BreakerLink | undefined;
}

/** Where a run is, for the error a deadline produces. */
export interface AcquireProgress {
  stage: 'lock' | 'store' | 'auth';
  attempts: number;
  lastError: unknown;
}

/** One run's inputs. */
export interface AcquireRequest {
  refreshId: number;
  reason: RefreshReason;
  /** Aborted at the run's deadline or on close. */
  signal: AbortSignal;
  /** The run's deadline, on the timeline. */
  deadline: number;
  /** The session held now, if any (perhaps expired or rejected). */
  held: TokenSet | undefined;
  /** The held access token a server rejected, never to be adopted again. */
  rejectedToken: string | undefined;
  seed: RefreshTokenSeed | undefined;
  progress: AcquireProgress;
}

/** How a run ended well. */
export type AcquireResult =
  | {
      readonly kind: 'obtained';
      readonly tokens: TokenSet;
      readonly signIn: boolean;
      readonly refreshRejected: boolean;
    }
  | { readonly kind: 'adopted'; readonly tokens: TokenSet };

type LockOutcome = { kind: 'held'; lock: RefreshLock } | { kind: 'published' } | { kind: 'none' };

/** What one auth attempt produced. */
type AttemptResult = { kind: 'tokens'; tokens: TokenSet } | { kind: 'adopted'; tokens: TokenSet };

/**
 * Runs the pipeline once.
 * @throws the last provider error (typed), a {@link TimeoutError}, or the signal's reason.
 */
export async function acquireTokens(context: AcquireContext, request: AcquireRequest): Promise<AcquireResult> {
  const refused = breakerKnownOpen(context, request);
  if (refused !== undefined) {
    // No lock wait behind other replicas' runs that the breaker refuses too: adopt what one of
    // them may have published, or fail at once.
    request.progress.stage = 'store';
    const stored = await readSession(context);
    if (isNewerSession(context, stored, request)) return { kind: 'adopted', tokens: stored as TokenSet };
    request.progress.lastError = refused;
    throw refused;
  }
  for (let round = 1; ; round += 1) {
    request.progress.stage = 'lock';
    const lock = await takeLock(context, request.signal, round);
    try {
      request.progress.stage = 'store';
      const stored = await readSession(context);
      if (isNewerSession(context, stored, request)) return { kind: 'adopted', tokens: stored as TokenSet };
      // Another process published a session this one cannot use (the rejected one, say): queue again.
      if (lock.kind === 'published') continue;
      const obtained = await callProvider(context, request, stored);
      if (obtained.kind === 'adopted') return obtained;
      await writeSession(context, obtained.tokens);
      return obtained;
    } finally {
      if (lock.kind === 'held') await releaseLock(context, lock.lock);
    }
  }
}

/**
 * Reads this identity's session from the store, within `storeTimeoutMs`. A failure or a
 * session of another identity counts as absent (and is reported).
 */
export async function readSession(context: AcquireContext): Promise<TokenSet | undefined> {
  let stored: StoredSession | undefined;
  try {
    stored = await storeCall(context, () => context.store.get(context.storeKey));
  } catch (error) {
    reportStoreFailure(context, 'read', error);
    return undefined;
  }
  if (stored === undefined) return undefined;
  if (stored.identity !== context.identity) {
    context.lifecycle.emit({ type: 'identity-mismatch', at: context.wallNow(), key: context.storeKey });
    return undefined;
  }
  if (!isServableSet(stored.tokens)) {
    // Whoever wrote it, a set that cannot travel in a Bearer header is never served.
    const error = new MalformedResponseError(
      'the stored session holds an access token a Bearer header cannot carry (RFC 6750 b64token); treated as absent',
    );
    reportStoreFailure(context, 'read', error);
    return undefined;
  }
  return stored.tokens;
}

/**
 * The hand-over without a run: reads the store after another process published, and returns
 * the stored session when it is this identity's, servable and newer than `held` (see
 * {@link isNewerSession}), else undefined. One store read; no lock, no auth call. Quiet: a read
 * that fails or finds nothing usable changes nothing (the manager's own refresh, which still
 * comes, reads again and reports what it finds).
 */
export async function readPublished(
  context: AcquireContext,
  held: TokenSet | undefined,
  rejectedToken: string | undefined,
): Promise<TokenSet | undefined> {
  let stored: StoredSession | undefined;
  try {
    stored = await storeCall(context, () => context.store.get(context.storeKey));
  } catch {
    return undefined;
  }
  if (stored === undefined || stored.identity !== context.identity || !isServableSet(stored.tokens)) return undefined;
  return isNewerSession(context, stored.tokens, { held, rejectedToken }) ? stored.tokens : undefined;
}

function isServableSet(tokens: TokenSet): boolean {
  return isHeaderSafeToken(tokens.accessToken) && Number.isFinite(tokens.accessTokenExpiresAt);
}

async function writeSession(context: AcquireContext, tokens: TokenSet): Promise<void> {
  try {
    await storeCall(context, () => context.store.set(context.storeKey, { identity: context.identity, tokens }));
  } catch (error) {
    // The new refresh token exists only in memory now; keep serving it rather than lose it.
    reportStoreFailure(context, 'write', error);
  }
}

function storeCall<T>(context: AcquireContext, call: () => Promise<T>): Promise<T> {
  return withTimeout(
    Promise.resolve().then(call),
    context.clock,
    context.storeTimeoutMs,
    () => new TimeoutError({ stage: 'store', timeoutMs: context.storeTimeoutMs }),
  );
}

function reportStoreFailure(
  context: AcquireContext,
  operation: 'read' | 'write' | 'lock' | 'release',
  error: unknown,
): void {
  const message = error instanceof Error ? error.message : String(error);
  context.lifecycle.emit({
    type: 'store-failed',
    at: context.wallNow(),
    operation,
    errorCode: errorCodeOf(error) ?? 'UNKNOWN',
    message,
  });
}

/** Takes the cross-process lock when the store offers one; `none` means refresh without it. */
async function takeLock(context: AcquireContext, signal: AbortSignal, round: number): Promise<LockOutcome> {
  const { store } = context;
  if (store.acquireRefreshLock === undefined || round > MAX_LOCK_ROUNDS) return { kind: 'none' };
  const startedAt = context.clock.now();
  let outcome: LockOutcome;
  try {
    const result = await store.acquireRefreshLock(context.storeKey, { signal });
    outcome = result.acquired ? { kind: 'held', lock: result.lock } : { kind: 'published' };
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    reportStoreFailure(context, 'lock', error);
    outcome = { kind: 'none' };
  }
  const durationMs = context.clock.now() - startedAt;
  const reported = outcome.kind === 'held' ? 'acquired' : outcome.kind === 'published' ? 'published' : 'unavailable';
  context.lifecycle.emit({ type: 'lock-waited', at: context.wallNow(), durationMs, outcome: reported });
  return outcome;
}

async function releaseLock(context: AcquireContext, lock: RefreshLock): Promise<void> {
  try {
    await storeCall(context, () => lock.release());
  } catch (error) {
    reportStoreFailure(context, 'release', error);
  }
}

/**
 * A stored session is adopted instead of refreshing when another writer got there first:
 * it is neither the held token nor a rejected one, lives longer than the held one, and has
 * more than `expirySkewMs` left.
 */
function isNewerSession(
  context: AcquireContext,
  stored: TokenSet | undefined,
  request: Pick<AcquireRequest, 'held' | 'rejectedToken'>,
): boolean {
  if (stored === undefined) return false;
  const { held } = request;
  if (stored.accessToken === request.rejectedToken || stored.accessToken === held?.accessToken) return false;
  if (held !== undefined && stored.accessTokenExpiresAt <= held.accessTokenExpiresAt) return false;
  return stored.accessTokenExpiresAt - context.expirySkewMs > context.wallNow();
}

/** Refresh with the newest refresh token there is, falling back to one sign-in if it is refused. */
async function callProvider(
  context: AcquireContext,
  request: AcquireRequest,
  stored: TokenSet | undefined,
): Promise<AcquireResult> {
  request.progress.stage = 'auth';
  const previous = newest(stored, request.held) ?? request.seed;
  const { provider } = context;
  if (previous !== undefined && hasUsableRefreshToken(previous, context.wallNow(), context.refreshTokenMarginMs)) {
    const refreshToken = previous.refreshToken as string;
    try {
      const result = await attempts(context, request, 'refresh', previous, () =>
        provider.refresh(refreshToken, request.signal),
      );
      return result.kind === 'adopted'
        ? result
        : { kind: 'obtained', tokens: result.tokens, signIn: false, refreshRejected: false };
    } catch (error) {
      if (!isTokenManagerError(error, ErrorCodes.AUTH_REJECTED)) throw error;
    }
    const result = await attempts(context, request, 'sign_in', previous, () => provider.authenticate(request.signal));
    return result.kind === 'adopted'
      ? result
      : { kind: 'obtained', tokens: result.tokens, signIn: true, refreshRejected: true };
  }
  const result = await attempts(context, request, 'sign_in', previous, () => provider.authenticate(request.signal));
  return result.kind === 'adopted'
    ? result
    : { kind: 'obtained', tokens: result.tokens, signIn: true, refreshRejected: false };
}

/** One auth operation with its retries; each attempt's answer is validated inside the loop. */
async function attempts(
  context: AcquireContext,
  request: AcquireRequest,
  operation: AuthCallOperation,
  previous: Partial<TokenSet> | undefined,
  call: () => Promise<TokenSet>,
): Promise<AttemptResult> {
  const { lifecycle, wallNow } = context;
  const { refreshId, progress } = request;
  let ambiguous = false;
  /** Auth calls this operation made, and when the first started (for the summary of a final error). */
  let calls = 0;
  let firstCallAt: number | undefined;
  /** When this attempt's call started on the timeline; undefined until it did. */
  let startedAt: number | undefined;
  /**
   * One attempt's call, holding a slot of the pool's cap from before the breaker is asked until
   * the call ends (and a failure is counted): the cap first, the breaker second, so a call that
   * queued while the breaker opened is refused, not sent.
   */
  const gated = async (
    attempt: number,
  ): Promise<{ kind: 'adopted'; tokens: TokenSet } | { kind: 'answered'; raw: TokenSet; sentAt: number }> => {
    if (ambiguous) {
      // The last refresh may have been processed (and the token rotated) before the connection
      // broke: another replica may already hold its result. Asked before queuing for a call,
      // and not an auth call itself.
      progress.stage = 'store';
      const stored = await readSession(context);
      progress.stage = 'auth';
      if (isNewerSession(context, stored, request)) return { kind: 'adopted', tokens: stored as TokenSet };
    }
    const release = context.authGate === undefined ? undefined : await context.authGate(request.signal);
    try {
      await admitAuthCall(context, operation);
      // The run may have been abandoned while the breaker was asked.
      if (request.signal.aborted) throw request.signal.reason;
      progress.attempts += 1;
      startedAt = context.clock.now();
      calls += 1;
      firstCallAt ??= startedAt;
      lifecycle.emit({ type: 'auth-call-started', at: wallNow(), refreshId, operation, attempt });
      const sentAt = wallNow();
      return { kind: 'answered', raw: await call(), sentAt };
    } catch (error) {
      // Only a call that was made counts for the breaker, and before its slot goes to the next
      // call in the queue: that one then sees the failure counted.
      if (startedAt === undefined) throw error;
      await recordAuthCall(context, error);
      // A failure that opened the breaker (or a failed probe) ends the run now: every caller
      // joined to it gets the breaker's answer instead of waiting for an attempt it would refuse.
      // When no retry would follow anyway, the attempt's own error says more than the breaker's.
      if (!nextDelay(attempt, error, request.deadline - context.clock.now(), context.retry).retry) throw error;
      throw breakerKnownOpen(context, request, error) ?? error;
    } finally {
      release?.();
    }
  };
  try {
    return await retrying<AttemptResult>(
      async (attempt) => {
        startedAt = undefined;
        const answer = await gated(attempt);
        if (answer.kind === 'adopted') return answer;
        // Not awaited: the token goes to its callers now.
        void recordAuthCall(context, undefined);
        return {
          kind: 'tokens',
          tokens: checked(
            toLocalClock(answer.raw, { sentAt: answer.sentAt, receivedAt: wallNow() }),
            wallNow(),
            previous,
          ),
        };
      },
      {
        policy: context.retry,
        clock: context.clock,
        signal: request.signal,
        deadline: request.deadline,
        observer: {
          attemptStarted: () => undefined,
          attemptEnded: (attempt, error) => {
            if (startedAt === undefined) {
              // Refused (breaker) or given up (deadline) before any call was made: not an auth call.
              progress.lastError = error;
              return;
            }
            const durationMs = context.clock.now() - startedAt;
            if (error === undefined) {
              lifecycle.emit({
                type: 'auth-call-ended',
                at: wallNow(),
                refreshId,
                operation,
                attempt,
                outcome: 'success',
                durationMs,
              });
              return;
            }
            progress.lastError = error;
            ambiguous = operation === 'refresh' && isAmbiguous(error);
            const status = (error as { status?: unknown }).status;
            lifecycle.emit({
              type: 'auth-call-ended',
              at: wallNow(),
              refreshId,
              operation,
              attempt,
              outcome: 'failure',
              durationMs,
              errorCode: errorCodeOf(error) ?? 'UNKNOWN',
              ...(typeof status === 'number' ? { status } : {}),
              ...(ambiguous ? { ambiguous } : {}),
            });
          },
          retryScheduled: (attempt, delayMs, error) => {
            lifecycle.emit({
              type: 'retry-scheduled',
              at: wallNow(),
              refreshId,
              operation,
              attempt,
              delayMs,
              errorCode: errorCodeOf(error) ?? 'UNKNOWN',
              background: false,
            });
          },
        },
      },
    );
  } catch (error) {
    if (!(error instanceof RetriesExhausted)) throw error;
    // The callers learn how hard it was tried: `… after 4 attempts in 11.9 s`.
    throw withAttemptSummary(error.lastError, calls, context.clock.now() - (firstCallAt ?? context.clock.now()));
  }
}

/**
 * Asks the breaker whether an auth call may start; a breaker that fails admits. (The Redis
 * breaker bounds its own commands by `commandTimeoutMs`; a custom one must answer promptly.)
 * @throws AuthUnavailableError with `reason: 'breaker'` and `retryAfterMs` when it refuses.
 */
async function admitAuthCall(context: AcquireContext, operation: AuthCallOperation): Promise<void> {
  const link = context.breaker;
  if (link === undefined) return;
  let admission: BreakerAdmission;
  try {
    admission = await link.breaker.admit(link.call);
  } catch {
    return;
  }
  observeBreaker(context, link);
  if (admission.allowed) return;
  const retryAfterMs = Math.max(1, Math.ceil(admission.retryAfterMs));
  throw new AuthUnavailableError({
    operation: operation === 'sign_in' ? 'authenticate' : 'refresh',
    reason: 'breaker',
    retryAfterMs,
  });
}

/**
 * The error an auth call would meet now, when the breaker is known to be open (no I/O); `cause`
 * is the failure that opened it, when this run saw it.
 */
function breakerKnownOpen(
  context: AcquireContext,
  request: AcquireRequest,
  cause?: unknown,
): AuthUnavailableError | undefined {
  const link = context.breaker;
  if (link === undefined) return undefined;
  if (cause !== undefined) observeBreaker(context, link);
  const status = link.breaker.snapshot(link.call);
  if (status.state !== 'open' || status.openUntil === null) return undefined;
  const retryAfterMs = Math.ceil(status.openUntil - context.wallNow());
  if (retryAfterMs <= 0) return undefined; // half-open now: the run may be the probe
  const refreshable = hasUsableRefreshToken(
    request.held ?? request.seed,
    context.wallNow(),
    context.refreshTokenMarginMs,
  );
  const operation = refreshable ? 'refresh' : 'authenticate';
  return new AuthUnavailableError(
    { operation, reason: 'breaker', retryAfterMs },
    cause === undefined ? undefined : { cause },
  );
}

/**
 * Tells the breaker how an admitted call ended: the server answered (a token, or a
 * rejection), or failed transiently (5xx, 429, timeout, connection error). Anything else (a
 * malformed answer, an abort, a signer failure) is not counted either way.
 */
async function recordAuthCall(context: AcquireContext, error: unknown): Promise<void> {
  const link = context.breaker;
  if (link === undefined) return;
  let outcome: BreakerOutcome | undefined;
  if (error === undefined || isTokenManagerError(error, ErrorCodes.AUTH_REJECTED)) outcome = 'success';
  else if (isTokenManagerError(error, ErrorCodes.AUTH_UNAVAILABLE) && !isBreakerError(error))
    outcome = 'transient-failure';
  if (outcome === undefined) return;
  // Capped like every server-requested wait: the breaker stays open no longer than this manager would wait.
  const retryAfterMs = outcome === 'transient-failure' ? retryAfterOf(error, context.retry) : undefined;
  try {
    await link.breaker.record(link.call, outcome, retryAfterMs);
  } catch {
    return;
  }
  observeBreaker(context, link);
}

/** Emits `breaker-changed` when the breaker's state differs from the one this manager last saw. */
function observeBreaker(context: AcquireContext, link: BreakerLink): void {
  const status = link.breaker.snapshot(link.call);
  if (status.state === link.seen) return;
  link.seen = status.state;
  const at = context.wallNow();
  const retryAfterMs =
    status.state === 'open' && status.openUntil !== null ? Math.max(0, status.openUntil - at) : undefined;
  context.lifecycle.emit({
    type: 'breaker-changed',
    at,
    state: status.state,
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  });
}

/**
 * A transport failure after the request may have reached the server (a reset, a timeout):
 * the refresh token may have been spent.
 */
function isAmbiguous(error: unknown): boolean {
  if (!isTokenManagerError(error, ErrorCodes.AUTH_UNAVAILABLE)) return false;
  const unavailable = error as AuthUnavailableError;
  if (unavailable.reason === 'timeout') return true;
  return unavailable.reason === 'network' && !NOT_SENT.test(unavailable.message);
}

/** Whatever the provider returned, a token set that is not usable never replaces one that is. */
function checked(tokens: TokenSet, now: number, previous: Partial<TokenSet> | undefined): TokenSet {
  if (typeof tokens.accessToken !== 'string' || tokens.accessToken === '') {
    throw new MalformedResponseError('provider returned a token set without an access token');
  }
  if (!isHeaderSafeToken(tokens.accessToken)) {
    throw new MalformedResponseError(
      'provider returned an access token with characters a Bearer header cannot carry (RFC 6750 b64token)',
    );
  }
  if (!Number.isFinite(tokens.accessTokenExpiresAt) || tokens.accessTokenExpiresAt <= now) {
    throw new MalformedResponseError(
      'provider returned an access token that is already expired (after clock correction)',
    );
  }
  if (tokens.refreshToken === undefined && typeof previous?.refreshToken === 'string' && previous.refreshToken !== '') {
    // A provider that does not rotate: keep the refresh token we have.
    return Object.freeze({
      ...tokens,
      refreshToken: previous.refreshToken,
      refreshTokenExpiresAt: previous.refreshTokenExpiresAt,
    });
  }
  // Frozen: the manager and a memory store can then share one set instead of copying it.
  return Object.freeze(tokens);
}

/** Of two token sets, the one whose access token lives longer (refresh tokens rotate with it). */
function newest(a: TokenSet | undefined, b: TokenSet | undefined): TokenSet | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return a.accessTokenExpiresAt >= b.accessTokenExpiresAt ? a : b;
}
