/**
 * The acquire pipeline, one refresh run from start to end: take the shared lock → re-read
 * the store → adopt a newer session, or call the provider (refresh, then one fallback
 * sign-in, each retried by p-retry) → validate → write → release. Every store call has a
 * deadline; the run as a whole is bounded by the manager, which aborts `signal` at its deadline.
 */
import pRetry from 'p-retry';
import { sleep, withTimeout } from '../clock';
import type { Clock } from '../clock';
import {
  ErrorCodes,
  MalformedResponseError,
  TimeoutError,
  errorCodeOf,
  isTokenManagerError,
  withAttemptSummary,
} from '../errors';
import type { AuthOperation, AuthUnavailableError } from '../errors';
import { redactReport } from '../redaction';
import type { RefreshLock, StoredSession, TokenStore } from '../stores/types';
import { hasUsableRefreshToken, isToken, pickTokenSet, toLocalClock, tokenSetProblem, tokensOf } from '../token-set';
import type { RefreshTokenSeed, TokenSet } from '../token-set';
import { nextDelay } from './backoff';
import type { BackoffPolicy } from './backoff';
import type { BreakerLink } from './breaker';
import type { TokenOrigin } from './cycler';
import type { Lifecycle } from './lifecycle';
import type { ResolvedTokenManagerOptions } from './options';
import type { LifecycleEventOf } from './types';

/** Rounds of waiting for the shared lock before refreshing without it. */
const MAX_LOCK_ROUNDS = 3;

/** Network failures that prove the request never left: resending cannot spend a token twice. */
const NOT_SENT = /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ENETUNREACH|EHOSTUNREACH/;

/** Everything a run needs that does not change between runs. */
export type AcquireContext = Pick<
  ResolvedTokenManagerOptions,
  'provider' | 'storeTimeoutMs' | 'acquireTimeoutMs' | 'refreshTokenMarginMs' | 'expirySkewMs' | 'authGate'
> & {
  store: TokenStore;
  storeKey: string;
  identity: string;
  /** The manager's timeline clock: retries wait on it, deadlines are on it. */
  clock: Clock;
  /** The wall clock, epoch ms: expiries and clock skew are judged on it. */
  wallNow: () => number;
  retry: BackoffPolicy;
  lifecycle: Lifecycle;
  /** Asked before each auth call, told after it; undefined when the manager has no breaker. */
  breaker: BreakerLink | undefined;
  /** The tokens the manager holds now: a store failure's message loses them, however short. */
  heldSecrets: () => readonly string[];
};

/**
 * Where a run is: the one record its deadline reads (the manager creates it, only the run's
 * steps write it), so a `TimeoutError` names the stage it waited in, the calls made and the last error.
 */
export interface RunRecord {
  stage: 'lock' | 'store' | 'auth';
  attempts: number;
  lastError: unknown;
  /** What the auth server issued, once it answered (the run may still be writing it). */
  obtained?: AcquireResult;
  /** The session the run last read from the store: it may refresh with it before the manager holds it. */
  read?: TokenSet;
  /** The pool's auth slot, taken before the shared lock, until the run's next auth call takes it over. */
  permit?: () => void;
}

/** One run's inputs. */
export interface AcquireRequest {
  refreshId: number;
  /** Aborted at the run's deadline or on close. */
  signal: AbortSignal;
  /** When the retries must stop, on the timeline. */
  deadline: number;
  /** The session held now, if any (perhaps expired, or rejected by a server: never to be adopted again). */
  held: TokenSet | undefined;
  seed: RefreshTokenSeed | undefined;
  record: RunRecord;
}

/** What a run obtained, and how. */
export interface AcquireResult {
  readonly tokens: TokenSet;
  readonly source: Exclude<TokenOrigin, 'seeded'>;
  /** The refresh token was refused, so the run signed in. */
  readonly refreshTokenRejected?: boolean;
  /** Wall clock minus timeline when the set arrived: a wall step while it is written must not move its expiry. */
  readonly wallOffset?: number;
}

type LockOutcome = { kind: 'acquired'; lock: RefreshLock } | { kind: 'published' } | { kind: 'unavailable' };

/**
 * Runs the pipeline once.
 * @throws the last provider error (typed), a {@link TimeoutError}, or the signal's reason.
 */
export async function acquireTokens(context: AcquireContext, request: AcquireRequest): Promise<AcquireResult> {
  // Refused by the breaker: no lock wait behind other replicas' runs that it refuses too; adopt what one of
  // them may have published, or fail at once.
  const refused = refusal(context, request);
  for (let round = 1; ; round += 1) {
    const lock: LockOutcome =
      refused === undefined
        ? await step(request, 'lock', () => takeLock(context, request, round))
        : { kind: 'unavailable' };
    try {
      const stored = await readForRun(context, request);
      if (isNewerSession(context, stored, request.held)) return { tokens: stored, source: 'adopted' };
      if (refused !== undefined) throw refused;
      // Another process published a session this one cannot use (the rejected one, say): queue again.
      if (lock.kind === 'published') continue;
      const obtained = await step(request, 'auth', () => callProvider(context, request, stored));
      request.record.obtained = obtained;
      if (obtained.source !== 'adopted')
        await step(request, 'store', () => writeSession(context, request, obtained.tokens));
      return obtained;
    } finally {
      request.record.permit?.();
      request.record.permit = undefined;
      // A failed release is reported, not thrown: the run's outcome stands.
      if (lock.kind === 'acquired') {
        const release = storeCall(context, () => lock.lock.release());
        await release.catch((error: unknown) => reportStoreFailure(context, 'release', error, runSecrets(request)));
      }
    }
  }
}

/** Notes the stage a run is in (for its deadline's error), then does that step. */
function step<T>(request: AcquireRequest, stage: RunRecord['stage'], work: () => Promise<T>): Promise<T> {
  request.record.stage = stage;
  return work();
}

/** The tokens a run works with beyond the held ones (what it read, what it obtained): its reports redact them too. */
export function runSecrets({ record }: Pick<AcquireRequest, 'record'>): string[] {
  return tokensOf(record.read, record.obtained?.tokens);
}

/** A run's store read: what it finds counts among the run's secrets from then on. */
async function readForRun(context: AcquireContext, request: AcquireRequest): Promise<TokenSet | undefined> {
  const stored = await step(request, 'store', () => readSession(context, runSecrets(request)));
  request.record.read = stored ?? request.record.read;
  return stored;
}

/**
 * Reads this identity's session from the store, within `storeTimeoutMs`. A failure or a session
 * of another identity counts as absent (and is reported with `secrets` redacted, unless `quiet`).
 */
export function readSession(
  context: AcquireContext,
  secrets: readonly string[] | 'quiet' = [],
): Promise<TokenSet | undefined> {
  const quiet = secrets === 'quiet';
  // The answer is read inside the call, once, into a set of its own: a custom store's value whose getters throw
  // fails this read as a get() that rejects does, and no later step (start-up, a refresh) ever reads it again.
  const read = storeCall(context, async () => {
    const stored: StoredSession | null | undefined = await context.store.get(context.storeKey);
    // A custom store's `null` (a Redis client's answer for a missing key) is "nothing stored" too.
    if (stored === undefined || stored === null) return undefined;
    if (stored.identity !== context.identity) {
      if (!quiet) context.lifecycle.emit({ type: 'identity-mismatch', at: context.wallNow(), key: context.storeKey });
      return undefined;
    }
    // Whoever wrote it, an access token a Bearer header cannot carry, or whose expiry is unknown, is never served (a
    // custom store's garbage is checked, not dereferenced). Only the access half decides: a refresh token or expiry
    // that is not one is no refresh token (see hasUsableRefreshToken), not a reason to drop a servable token.
    const { accessToken, accessTokenExpiresAt } = (stored.tokens as Partial<TokenSet> | undefined) ?? {};
    const problem = tokenSetProblem({ accessToken, accessTokenExpiresAt });
    if (problem !== undefined)
      throw new MalformedResponseError(`the stored session is unusable (${problem}); treated as absent`);
    return pickTokenSet(stored.tokens);
  });
  return read.catch((error: unknown) => {
    if (!quiet) reportStoreFailure(context, 'read', error, secrets);
    return undefined;
  });
}

/**
 * A stored session is adopted instead of refreshing when another writer got there first:
 * it is not the held token (which may be a rejected one), lives longer than the held one, and
 * has more than `expirySkewMs` left.
 */
export function isNewerSession(
  context: AcquireContext,
  stored: TokenSet | undefined,
  held: TokenSet | undefined,
): stored is TokenSet {
  if (stored === undefined || stored.accessToken === held?.accessToken) return false;
  if (held !== undefined && stored.accessTokenExpiresAt <= held.accessTokenExpiresAt) return false;
  return stored.accessTokenExpiresAt - context.expirySkewMs > context.wallNow();
}

function storeCall<T>(context: AcquireContext, call: () => Promise<T>): Promise<T> {
  const timeoutMs = context.storeTimeoutMs;
  const timedOut = (): TimeoutError => new TimeoutError({ stage: 'store', timeoutMs });
  return withTimeout(Promise.resolve().then(call), context.clock, timeoutMs, timedOut);
}

/**
 * Writes a session the provider issued to the store. A failure is reported with the set's secrets redacted (a
 * store's message may echo them), not thrown: the new refresh token then exists only in memory, and serving it
 * beats losing it.
 */
function writeSession(context: AcquireContext, request: AcquireRequest, tokens: TokenSet): Promise<void> {
  const secrets = [...tokensOf(tokens), ...runSecrets(request)];
  const write = (): Promise<void> =>
    storeCall(context, () => context.store.set(context.storeKey, { identity: context.identity, tokens }));
  // Refused as stale: another writer came first, or the store forgot the run's read (a pool reads many sessions).
  // Left unwritten, a set no newer than this one would leave the fleet a spent refresh token and cost it a sign-in.
  const rebase = async (error: unknown): Promise<void> => {
    if (!isTokenManagerError(error, ErrorCodes.STORE_STALE_WRITE)) throw error;
    if (!isNewerSession(context, await readSession(context, secrets), tokens)) await write();
  };
  return write()
    .catch(rebase)
    .catch((error: unknown) => reportStoreFailure(context, 'write', error, secrets, request.refreshId));
}

/**
 * Reports a store call's failure on the lifecycle stream (the manager carries on with what it holds).
 * The message is the store's own text, which may echo the value it was given or read (a Redis
 * client quoting its command, a custom store its JSON): `secrets`, the held tokens and any token-shaped run are
 * redacted.
 */
export function reportStoreFailure(
  context: AcquireContext,
  operation: LifecycleEventOf<'store-failed'>['operation'],
  error: unknown,
  secrets: readonly string[] = [],
  refreshId?: number,
): void {
  const text = error instanceof Error ? error.message : String(error);
  const message = redactReport(text, [...secrets, ...context.heldSecrets()]);
  const errorCode = errorCodeOf(error) ?? 'UNKNOWN';
  const run = refreshId === undefined ? {} : { refreshId };
  context.lifecycle.emit({ type: 'store-failed', at: context.wallNow(), operation, errorCode, message, ...run });
}

/** Takes the cross-process lock when the store offers one; `unavailable` means refresh without it. */
async function takeLock(context: AcquireContext, request: AcquireRequest, round: number): Promise<LockOutcome> {
  const { store } = context;
  const { signal, record } = request;
  if (store.acquireRefreshLock === undefined || round > MAX_LOCK_ROUNDS) return { kind: 'unavailable' };
  // The pool's auth slot first: a run queued for one would hold the lock other replicas wait on meanwhile.
  record.stage = 'auth';
  record.permit = await context.authGate?.(signal, isHeld(request));
  record.stage = 'lock';
  const startedAt = context.clock.now();
  let outcome: LockOutcome;
  try {
    const result = await store.acquireRefreshLock(context.storeKey, { signal });
    outcome = result.acquired ? { kind: 'acquired', lock: result.lock } : { kind: 'published' };
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    reportStoreFailure(context, 'lock', error, runSecrets(request));
    outcome = { kind: 'unavailable' };
  }
  const durationMs = context.clock.now() - startedAt;
  context.lifecycle.emit({ type: 'lock-waited', at: context.wallNow(), durationMs, outcome: outcome.kind });
  return outcome;
}

/** Refresh with the newest refresh token there is, falling back to one sign-in if it is refused. */
async function callProvider(
  context: AcquireContext,
  request: AcquireRequest,
  stored: TokenSet | undefined,
): Promise<AcquireResult> {
  const previous = newest(stored, request.held) ?? request.seed;
  const { provider } = context;
  const { signal } = request;
  const refreshable = hasUsableRefreshToken(previous, context.wallNow(), context.refreshTokenMarginMs);
  if (refreshable) {
    const refresh = (): Promise<TokenSet> => provider.refresh(previous?.refreshToken as string, signal);
    try {
      return await attempts(context, request, 'refresh', previous, refresh);
    } catch (error) {
      if (!isTokenManagerError(error, ErrorCodes.AUTH_REJECTED)) throw error;
    }
  }
  // A new session: the refresh token held, refused or expired, is not carried into it.
  return attempts(context, request, 'authenticate', undefined, () => provider.authenticate(signal), refreshable);
}

/**
 * One auth operation, its attempts run by p-retry: each attempt waits for the pool's cap, asks
 * the breaker, calls, tells the breaker, and validates the answer; {@link nextDelay} decides
 * each retry, and the wait runs on the manager's clock (so fake and simulated clocks drive it).
 */
async function attempts(
  context: AcquireContext,
  request: AcquireRequest,
  operation: AuthOperation,
  previous: Partial<TokenSet> | undefined,
  call: () => Promise<TokenSet>,
  refreshTokenRejected = false,
): Promise<AcquireResult> {
  const { lifecycle, wallNow, clock, breaker } = context;
  const { refreshId, signal, record } = request;
  const event = { refreshId, operation };
  type CallResult = Pick<LifecycleEventOf<'auth-call-ended'>, 'outcome' | 'errorCode' | 'status' | 'ambiguous'>;
  const callEnded = (attempt: number, durationMs: number, result: CallResult): void =>
    lifecycle.emit({ type: 'auth-call-ended', at: wallNow(), ...event, attempt, durationMs, ...result });
  /** The last refresh may have been processed (and the token rotated) before the connection broke. */
  let ambiguous = false;
  /**
   * Auth calls the run made before this operation, and when this operation's first started (for
   * the summary of a final error).
   */
  const callsBefore = record.attempts;
  let firstCallAt: number | undefined;
  /** When this attempt's call started on the timeline; undefined until it did. */
  let startedAt: number | undefined;

  const attempt = async (attemptNumber: number): Promise<AcquireResult> => {
    startedAt = undefined;
    if (ambiguous) {
      // Another replica may already hold that refresh's result. Asked before queuing for a call,
      // and not an auth call itself.
      const stored = await readForRun(context, request);
      if (isNewerSession(context, stored, request.held)) return { tokens: stored, source: 'adopted' };
      record.stage = 'auth';
    }
    // The pool's cap first, the breaker second: a call that queued while the breaker opened is refused, not sent.
    const release =
      record.permit ?? (context.authGate === undefined ? undefined : await context.authGate(signal, isHeld(request)));
    record.permit = undefined;
    let raw: TokenSet;
    let sentAt: number;
    try {
      await breaker?.admit(operation);
      // The run may have been abandoned while the breaker was asked.
      signal.throwIfAborted();
      record.attempts += 1;
      startedAt = clock.now();
      firstCallAt ??= startedAt;
      lifecycle.emit({ type: 'auth-call-started', at: wallNow(), ...event, attempt: attemptNumber });
      sentAt = wallNow();
      raw = await call();
    } catch (error) {
      // Only a call that was made counts for the breaker, and before its slot goes to the next
      // call in the queue: that one then sees the failure counted.
      if (startedAt !== undefined) await breaker?.record(error);
      // p-retry would replace a thrown non-Error with a TypeError of its own: keep the provider's words.
      throw error instanceof Error ? error : new Error(String(error));
    } finally {
      release?.();
    }
    // Not awaited: the token goes to its callers now.
    void breaker?.record(undefined);
    // A custom provider's `null` or `undefined` is a malformed answer, not a TypeError for the callers.
    if (typeof raw !== 'object' || raw === null) throw new MalformedResponseError('provider returned no token set');
    const receivedAt = wallNow();
    const wallOffset = receivedAt - clock.now();
    const tokens = checked(toLocalClock(raw, { sentAt, receivedAt }), receivedAt, previous);
    callEnded(attemptNumber, clock.now() - startedAt, { outcome: 'success' });
    // Ended: the abort p-retry may raise next must not end this call a second time, as a failure.
    startedAt = undefined;
    // Abandoned (deadline, close) while the server answered: nobody is served this set, but the server may
    // have rotated the refresh token: stored, the next run adopts it (or refreshes with it) instead of a spent one.
    if (signal.aborted) await writeSession(context, request, tokens);
    return { tokens, source: operation === 'refresh' ? 'refreshed' : 'signed-in', refreshTokenRejected, wallOffset };
  };

  try {
    return await pRetry(attempt, {
      retries: context.retry.maxAttempts - 1,
      // The wait is decided and run in shouldRetry, on the manager's clock; p-retry's own is zero.
      minTimeout: 0,
      maxTimeout: 0,
      signal,
      onFailedAttempt: ({ error, attemptNumber }) => {
        record.lastError = error;
        // Refused (breaker) or given up (deadline) before any call was made: not an auth call.
        if (startedAt === undefined) return;
        ambiguous = operation === 'refresh' && isAmbiguous(error);
        const status = (error as { status?: unknown }).status;
        const detail = { ...(typeof status === 'number' ? { status } : {}), ...(ambiguous ? { ambiguous } : {}) };
        const errorCode = errorCodeOf(error) ?? 'UNKNOWN';
        callEnded(attemptNumber, clock.now() - startedAt, { outcome: 'failure', errorCode, ...detail });
      },
      shouldRetry: async ({ error, attemptNumber }) => {
        signal.throwIfAborted();
        const plan = nextDelay(attemptNumber, error, request.deadline - clock.now(), context.retry);
        if (!plan.retry) return false;
        // A failure that opened the breaker (or a failed probe) ends the run now: every caller
        // joined to it gets the breaker's answer instead of waiting for an attempt it would refuse.
        const refused = startedAt === undefined ? undefined : refusal(context, request, error);
        if (refused !== undefined) throw refused;
        const scheduled = { attempt: attemptNumber, delayMs: plan.delayMs, errorCode: errorCodeOf(error) ?? 'UNKNOWN' };
        lifecycle.emit({ type: 'retry-scheduled', at: wallNow(), ...event, ...scheduled, background: false });
        if (plan.delayMs > 0) await sleep(clock, plan.delayMs, signal);
        return true;
      },
    });
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    // The callers learn how hard it was tried: `… after 4 attempts in 11.9 s`.
    throw withAttemptSummary(error, record.attempts - callsBefore, clock.now() - (firstCallAt ?? clock.now()));
  }
}

/**
 * The breaker's answer to this run's next auth call when it is known to be open (no I/O); `cause`
 * is the failure that opened it, when this run saw it.
 */
function refusal(context: AcquireContext, request: AcquireRequest, cause?: unknown): AuthUnavailableError | undefined {
  const seed = request.held ?? request.seed;
  const refreshable = hasUsableRefreshToken(seed, context.wallNow(), context.refreshTokenMarginMs);
  return context.breaker?.refusal(refreshable ? 'refresh' : 'authenticate', cause);
}

/**
 * Whether the run's session was served before (held or seeded): a pool serves its every auth call, the sign-in
 * that replaces a refused refresh token included, before new sessions' sign-ins.
 */
function isHeld(request: AcquireRequest): boolean {
  return (request.held ?? request.seed) !== undefined;
}

/**
 * A transport failure after the request may have reached the server (a reset, a timeout):
 * the refresh token may have been spent.
 */
function isAmbiguous(error: unknown): boolean {
  if (!isTokenManagerError(error, ErrorCodes.AUTH_UNAVAILABLE)) return false;
  const { reason, message } = error as AuthUnavailableError;
  return reason === 'timeout' || (reason === 'network' && !NOT_SENT.test(message));
}

function checked(tokens: TokenSet, now: number, previous: Partial<TokenSet> | undefined): TokenSet {
  // Whatever the provider returned, a set that is not usable never replaces one that is.
  const expired =
    tokens.accessTokenExpiresAt <= now ? 'its access token is already expired (after clock correction)' : undefined;
  const problem = tokenSetProblem(tokens, { now }) ?? expired;
  if (problem !== undefined) throw new MalformedResponseError(`provider returned an unusable token set: ${problem}`);
  // A provider that does not rotate: keep the refresh token we have.
  const kept = !isToken(tokens.refreshToken) && isToken(previous?.refreshToken) ? previous : tokens;
  const { refreshToken, refreshTokenExpiresAt } = kept;
  // Its own fields, a `null` as none; frozen: the manager and a memory store can then share it instead of copying it.
  return Object.freeze(pickTokenSet({ ...tokens, refreshToken, refreshTokenExpiresAt }));
}

/** Of two token sets, the one whose access token lives longer (refresh tokens rotate with it). */
function newest(a: TokenSet | undefined, b: TokenSet | undefined): TokenSet | undefined {
  return a === undefined || (b !== undefined && b.accessTokenExpiresAt > a.accessTokenExpiresAt) ? b : a;
}

/** The error a run's deadline produces: what it was waiting for, and the attempts made. */
export function deadlineError(context: AcquireContext, record: RunRecord): TimeoutError {
  const { stage, attempts, lastError } = record;
  const endpoint = context.provider.identity?.endpoint;
  const signerTimedOut =
    isTokenManagerError(lastError, ErrorCodes.TIMEOUT) && (lastError as TimeoutError).stage === 'signer';
  const waitedIn = stage === 'auth' && signerTimedOut ? 'signer' : stage;
  const lastErrorCode = errorCodeOf(lastError);
  return new TimeoutError({ stage: waitedIn, timeoutMs: context.acquireTimeoutMs, endpoint, attempts, lastErrorCode });
}
