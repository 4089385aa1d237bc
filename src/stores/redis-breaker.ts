import { createHash, randomUUID } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';
import { combine, openDurationMs } from './memory-breaker';
import type { ResolvedAuthBreakerOptions } from './memory-breaker';
import { isRefusal, setRecent, warnRefusedOnce } from './redis-commands';
import type { RedisCommands } from './redis-commands';
import type { AuthBreaker, BreakerAdmission, BreakerCall, BreakerOutcome, BreakerState, BreakerStatus } from './types';

/**
 * The Redis names of one circuit (a scope's, or one session's within it): `tripped` exists while
 * the circuit is tripped (open or half-open) and holds the failure count that tripped it; `open`
 * exists (with `PX`) while it is open; `probe` is the half-open probe lease (`SET PX openMs`);
 * `failures` counts transient failures in the current window (`INCR`, `PEXPIRE windowMs` on the first).
 */
export type RedisCircuitKeys = Names<(typeof CIRCUIT)[number]>;
const CIRCUIT = ['tripped', 'open', 'probe', 'failures'] as const;
type Names<K extends string> = Readonly<Record<K, string>>;

/**
 * The Redis names of the breaker for one call: every key under the scope's hash tag (one
 * cluster slot, so one script sees both circuits), the session's circuit keyed by a hash of its
 * store key, and the scope's evidence that more than one session failed: the first session that
 * failed in the window, whether a second one did, and the same two for failures that carried a
 * `Retry-After`.
 */
export interface RedisBreakerKeys {
  readonly scope: RedisCircuitKeys & Names<'firstFailing' | 'manyFailing' | 'firstLimited' | 'manyLimited'>;
  readonly session: RedisCircuitKeys;
}

/** A session's store key names an end user: only a hash of it goes to Redis. */
function sessionId(session: string): string {
  return createHash('sha256').update(session).digest('hex').slice(0, 24);
}

/**
 * Both scripts take every key of the call, in the order of {@link RedisBreakerKeys}: session
 * tripped, open, probe, failures (1-4); scope tripped, open, probe, failures (5-8); scope
 * first-failing, many-failing, first-limited, many-limited (9-12). A success deletes them all.
 *
 * Admission. ARGV: openMs, a lease token. Either circuit open refuses (with its wait); a tripped
 * circuit whose open period ran out lets one probe through per `openMs`. Returns `{allowed,
 * probe, waitMs, level (0 none, 1 session, 2 scope), scope failures, clean}`, `clean` 1 when none
 * of the keys exists (a success then has nothing to reset).
 */
const ADMIT_SCRIPT = `
local function gate(tripped, open, probe)
  if redis.call('EXISTS', tripped) == 0 then return 1, 0 end
  local left = redis.call('PTTL', open)
  if left > 0 then return 0, left end
  local lease = redis.call('PTTL', probe)
  if lease > 0 then return 0, lease end
  return 2, 0
end
local failures = tonumber(redis.call('GET', KEYS[8]) or '0') or 0
local own, ownWait = gate(KEYS[1], KEYS[2], KEYS[3])
if own == 0 then return {0, 0, ownWait, 1, failures, 0} end
local shared, sharedWait = gate(KEYS[5], KEYS[6], KEYS[7])
if shared == 0 then return {0, 0, sharedWait, 2, failures, 0} end
if own == 2 then redis.call('SET', KEYS[3], ARGV[2], 'PX', ARGV[1]) end
if shared == 2 then redis.call('SET', KEYS[7], ARGV[2], 'PX', ARGV[1]) end
if own == 2 or shared == 2 then return {1, 1, 0, 0, failures, 0} end
local clean = 0
if redis.call('EXISTS', unpack(KEYS)) == 0 then clean = 1 end
return {1, 0, 0, 0, failures, clean}
`;

/**
 * A transient failure. ARGV: windowMs, threshold, openMs, Retry-After ms (0 for none), the
 * session's id, the scope's tripped lifetime (ms). Counts the failure in both circuits; the
 * session's trips at the threshold, the scope's only once two sessions failed in the window;
 * while tripped, a failure keeps a circuit open at least `openMs` (or the Retry-After it
 * honours). Returns `{session open ms, scope open ms, scope failures}` (0 when closed).
 */
const FAILURE_SCRIPT = `
local windowMs, threshold = tonumber(ARGV[1]), tonumber(ARGV[2])
local openMs, retryAfter = tonumber(ARGV[3]), tonumber(ARGV[4])
local session, scopeLifetime = ARGV[5], ARGV[6]
local function note(first, many)
  local seen = redis.call('GET', first)
  if not seen then redis.call('SET', first, session, 'PX', windowMs)
  elseif seen ~= session then redis.call('SET', many, '1', 'PX', windowMs) end
end
local function fail(tripped, open, failures, openFor, canTrip, lifetime)
  if redis.call('EXISTS', tripped) == 1 then
    if redis.call('PTTL', open) < openFor then redis.call('SET', open, '1', 'PX', openFor) end
    return redis.call('PTTL', open), tonumber(redis.call('GET', tripped) or '0') or 0
  end
  local count = redis.call('INCR', failures)
  if redis.call('PTTL', failures) < 0 then redis.call('PEXPIRE', failures, windowMs) end
  if count < threshold or not canTrip then return 0, count end
  redis.call('SET', tripped, count, 'PX', lifetime)
  redis.call('SET', open, '1', 'PX', openFor)
  redis.call('DEL', failures)
  return openFor, count
end
note(KEYS[9], KEYS[10])
if retryAfter > 0 then note(KEYS[11], KEYS[12]) end
local ownOpen = math.max(openMs, retryAfter)
local sharedOpen = openMs
if redis.call('EXISTS', KEYS[12]) == 1 then sharedOpen = ownOpen end
local ownLeft = fail(KEYS[1], KEYS[2], KEYS[4], ownOpen, true, ownOpen + windowMs)
local manySessions = redis.call('EXISTS', KEYS[10]) == 1
local sharedLeft, count = fail(KEYS[5], KEYS[6], KEYS[8], sharedOpen, manySessions, scopeLifetime)
if sharedLeft > 0 then redis.call('DEL', KEYS[9], KEYS[10], KEYS[11], KEYS[12]) end
return {ownLeft, sharedLeft, count}
`;

/** A tripped scope's marker outlives any open period; one probe clears it on a quiet fleet. */
const TRIPPED_LIFETIME_MS = 24 * 60 * 60_000;

/** At most this many calls' last-seen states are remembered (for `snapshot()`); the oldest go first. */
const MAX_REMEMBERED = 10_000;

type Remembered = Omit<BreakerStatus, 'level'>;

/**
 * The fleet-wide {@link AuthBreaker} of a `RedisTokenStore`: every replica on the Redis shares
 * each session's circuit and each scope's (partner auth server's), with the same rules as
 * `LocalAuthBreaker`; half-open lets one probe through per `openMs` for the whole fleet. When
 * Redis refuses it (no connection, an ACL without its keys, a missing script), it admits
 * (falling back to the last state it saw), warns once per process, and says so in `snapshot()`
 * (and so in `health()`): it never blocks auth on its own failure.
 */
export class RedisAuthBreaker implements AuthBreaker {
  /** Per call (scope and session), the state of its two circuits as last seen; least recently seen first. */
  readonly #last = new Map<string, { own: Remembered; shared: Remembered }>();
  /**
   * Calls whose last admission found none of the keys a success deletes: their success sends no
   * DEL. Failures counted anywhere in the fleet before that admission are seen by it (and then
   * reset by the DEL); one counted during the call itself is concurrent with the success and
   * stays, as it would had it landed just after the DEL.
   */
  readonly #clean = new Map<string, true>();
  /**
   * Per scope, its circuit as last seen open by any session of this process: the scope's circuit
   * is one for all its sessions, so each of them fails fast on it without asking Redis first.
   */
  readonly #openScopes = new Map<string, Remembered>();
  #unavailable: string | undefined;

  /** Made by its `RedisTokenStore`: runs its scripts through the store's client and command runner. */
  constructor(
    private readonly client: Redis | Cluster,
    private readonly commands: RedisCommands,
    private readonly options: ResolvedAuthBreakerOptions & { readonly key: string },
    private readonly log: Logger,
  ) {}

  /** The Redis keys of `call`: `{<prefix>:<scope>}:…`. */
  keysFor(call: BreakerCall): RedisBreakerKeys {
    const tag = `{${this.options.key}:${call.scope}}`;
    const circuit = (base: string): RedisCircuitKeys =>
      Object.fromEntries(CIRCUIT.map((name) => [name, `${base}:${name}`])) as RedisCircuitKeys;
    const evidence = { firstFailing: `${tag}:first-failing`, manyFailing: `${tag}:many-failing` };
    const limited = { firstLimited: `${tag}:first-limited`, manyLimited: `${tag}:many-limited` };
    return {
      scope: { ...circuit(tag), ...evidence, ...limited },
      session: circuit(`${tag}:session:${sessionId(call.session)}`),
    };
  }

  async admit(call: BreakerCall): Promise<BreakerAdmission> {
    const { options } = this;
    const id = rememberedKey(call);
    this.#clean.delete(id);
    let reply: number[];
    try {
      reply = await this.#eval('admit', ADMIT_SCRIPT, call, [String(Math.ceil(options.openMs)), randomUUID()]);
    } catch (error) {
      this.#failed(error);
      const { state, openUntil } = this.snapshot(call);
      const waitMs = state === 'open' && openUntil !== null ? openUntil - options.now() : 0;
      return waitMs > 0 ? { allowed: false, retryAfterMs: waitMs } : { allowed: true, probe: false };
    }
    const [allowed = 1, isProbe = 0, waitMs = 0, level = 0, failures = 0, clean = 0] = reply;
    if (clean === 1) setRecent(this.#clean, id, true, MAX_REMEMBERED);
    const now = options.now();
    const shared = level === 2 ? opened(waitMs, failures, now) : closedOr(isProbe, failures);
    const own = level === 1 ? opened(waitMs, failures, now) : closedOr(isProbe, 0);
    // Refused by the session's own circuit, the script did not look at the scope's.
    this.#remember(call, own, shared, level !== 1);
    return allowed === 1
      ? { allowed: true, probe: isProbe === 1 }
      : { allowed: false, retryAfterMs: Math.max(1, waitMs) };
  }

  async record(call: BreakerCall, outcome: BreakerOutcome, retryAfterMs?: number): Promise<void> {
    const { options } = this;
    const id = rememberedKey(call);
    try {
      if (outcome === 'success') {
        // The server answered: the session's circuit and the scope's close (other sessions' stay).
        // Nothing was counted when this call was admitted: nothing to reset.
        if (!this.#clean.delete(id)) {
          const keys = keyList(this.keysFor(call));
          await this.#run(this.commands.run('DEL breaker', keys[4] ?? '', () => this.client.del(...keys)));
        }
        this.#last.delete(id);
        this.#openScopes.delete(call.scope);
        return;
      }
      const requested = retryAfterMs !== undefined && retryAfterMs > 0 ? retryAfterMs : 0;
      const args = [options.windowMs, options.failureThreshold, options.openMs, openDurationMs(0, requested)]
        .map((value) => String(Math.ceil(value)))
        .concat(sessionId(call.session), String(TRIPPED_LIFETIME_MS));
      this.#clean.delete(id);
      const [ownLeft = 0, sharedLeft = 0, count = 0] = await this.#eval('failure', FAILURE_SCRIPT, call, args);
      const now = options.now();
      const own = ownLeft > 0 ? opened(ownLeft, count, now) : closedOr(0, 0);
      this.#remember(call, own, sharedLeft > 0 ? opened(sharedLeft, count, now) : closedOr(0, count));
    } catch (error) {
      this.#failed(error);
    }
  }

  /**
   * The state for `call` as of this process's last exchange with Redis (an open period that ran out reads as
   * half-open).
   */
  snapshot(call: BreakerCall): BreakerStatus {
    const seen = this.#last.get(rememberedKey(call));
    const scope = this.#openScopes.get(call.scope);
    const last = scope === undefined ? seen : { own: seen?.own ?? closedOr(0, 0), shared: scope };
    const now = this.options.now();
    const status =
      last === undefined
        ? { state: 'closed' as const, failures: 0, openUntil: null, level: null }
        : combine(lapse(last.own, now), lapse(last.shared, now));
    return this.#unavailable === undefined ? status : { ...status, unavailable: this.#unavailable };
  }

  /** Runs one breaker script on every key of `call`; resolves to its reply's numbers. */
  async #eval(name: string, script: string, call: BreakerCall, args: string[]): Promise<number[]> {
    const keys = keyList(this.keysFor(call));
    const reply = await this.#run(this.commands.eval(`EVAL breaker-${name}`, keys[4] ?? '', script, keys, ...args));
    return Array.isArray(reply) ? reply.map(Number) : [];
  }

  /** `command`'s outcome; an answer from Redis means the breaker is available again. */
  async #run<T>(command: Promise<T>): Promise<T> {
    const result = await command;
    this.#unavailable = undefined;
    return result;
  }

  /** Redis refused the breaker, or did not answer: admit, say so in snapshots, and warn once per process if refused. */
  #failed(error: unknown): void {
    const refused = isRefusal(error);
    this.#unavailable = refused
      ? 'the Redis user may not use the breaker keys or EVAL (check its ACL)'
      : 'Redis could not be reached';
    if (refused) warnRefusedOnce(this.log, 'breaker', error);
    else {
      const text = 'the shared breaker could not be read; going by the last state seen';
      this.log.debug({ event: 'breaker-unavailable', err: error }, text);
    }
  }

  #remember(call: BreakerCall, own: Remembered, shared: Remembered, scopeSeen = true): void {
    if (scopeSeen) {
      // The scope's circuit is kept while it is open (for every session of the scope), forgotten otherwise.
      this.#openScopes.delete(call.scope);
      if (shared.state === 'open') setRecent(this.#openScopes, call.scope, shared, MAX_REMEMBERED);
    }
    const id = rememberedKey(call);
    this.#last.delete(id);
    if (own.state !== 'closed' || shared.state !== 'closed' || shared.failures !== 0) {
      setRecent(this.#last, id, { own, shared }, MAX_REMEMBERED);
    }
  }
}

/** Every key of one call, in the scripts' order (the property order of {@link RedisBreakerKeys}). */
function keyList({ session, scope }: RedisBreakerKeys): string[] {
  return [...Object.values(session), ...Object.values(scope)] as string[];
}

function rememberedKey(call: BreakerCall): string {
  return `${call.scope}\n${call.session}`;
}

function opened(waitMs: number, failures: number, now: number): Remembered {
  return { state: 'open', failures, openUntil: Math.ceil(now + waitMs) };
}

function closedOr(probe: number, failures: number): Remembered {
  return { state: probe === 1 ? 'half-open' : 'closed', failures, openUntil: null };
}

/** An open period that ran out reads as half-open. */
function lapse(status: Remembered, now: number): Remembered {
  return status.state === 'open' && status.openUntil !== null && status.openUntil <= now
    ? { ...status, state: 'half-open' as BreakerState, openUntil: null }
    : status;
}
