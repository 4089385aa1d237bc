import { createHash, randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { breakerOpenMs } from '../manager/backoff';
import { combine, sessionShare, setRecent } from './memory-breaker';
import type { CircuitStatus, ResolvedAuthBreakerOptions } from './memory-breaker';
import type { RedisCommands } from './redis-commands';
import type { AuthBreaker, BreakerAdmission, BreakerCall, BreakerOutcome, BreakerStatus } from './types';

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
 * `Retry-After`; and the lease of the scope its excused sessions share (the ones failing on their own circuit).
 */
export interface RedisBreakerKeys {
  readonly scope: RedisCircuitKeys &
    Names<'firstFailing' | 'manyFailing' | 'firstLimited' | 'manyLimited' | 'excusedProbe'>;
  readonly session: RedisCircuitKeys;
}

/** A session's store key names an end user: only a hash of it goes to Redis. */
function sessionId(session: string): string {
  return createHash('sha256').update(session).digest('hex').slice(0, 24);
}

/**
 * Lua: whether the scope is tripped and the session failing on its own circuit (tripped, or counting failures in its
 * window): the scope then excuses it from its probe, as `LocalAuthBreaker` does.
 */
const EXCUSED = `redis.call('EXISTS', KEYS[5]) == 1 and redis.call('EXISTS', KEYS[1], KEYS[4]) > 0`;

/**
 * Both scripts take every key of the call, in the order of {@link RedisBreakerKeys}: session
 * tripped, open, probe, failures (1-4); scope tripped, open, probe, failures (5-8); scope
 * first-failing, many-failing, first-limited, many-limited, excused-probe (9-13).
 * A success deletes them all.
 *
 * Admission. ARGV: openMs, a lease token. Either circuit open refuses (with its
 * wait: the longer of its open period and a probe's lease, as in `LocalAuthBreaker`); a tripped
 * circuit whose open period ran out lets one probe through per `openMs` (the sessions the scope
 * excuses take not its lease but their shared one: one of their calls per `openMs`, while no probe
 * holds the scope). Returns `{allowed, probe (0 none, 1 for the session's circuit, 2 for the scope's, 3 for both),
 * waitMs, level (the refusing circuit: 0 none, 1 session, 2 scope), failures (the refusing circuit's,
 * that tripped it; else the scope's in its window), clean, ownFailures}`, `clean` 1 when none of the keys
 * exists (a success then has nothing to reset), `ownFailures` the session's count (in its window, or that
 * tripped it) when its circuit does not refuse.
 */
const ADMIT_SCRIPT = `
local function count(key) return tonumber(redis.call('GET', key) or '0') or 0 end
local excused = ${EXCUSED}
local failures, probe = count(KEYS[8]), 0
local function own() return count(probe % 2 == 1 and KEYS[1] or KEYS[4]) end
for level = 1, 2 do
  local tripped, open, lease = KEYS[level * 4 - 3], KEYS[level * 4 - 2], KEYS[level * 4 - 1]
  if redis.call('EXISTS', tripped) == 1 then
    local left = math.max(redis.call('PTTL', open), redis.call('PTTL', lease))
    if level == 2 and excused then left = math.max(left, redis.call('PTTL', KEYS[13])) end
    if left > 0 then return {0, 0, left, level, count(tripped), 0, level == 2 and own() or 0} end
    probe = probe + level
  end
end
if probe % 2 == 1 then redis.call('SET', KEYS[3], ARGV[2], 'PX', ARGV[1]) end
if probe >= 2 then redis.call('SET', excused and KEYS[13] or KEYS[7], ARGV[2], 'PX', ARGV[1]) end
local clean = probe == 0 and redis.call('EXISTS', unpack(KEYS)) == 0 and 1 or 0
return {1, probe, 0, 0, failures, clean, own()}
`;

/**
 * A transient failure. ARGV: windowMs, threshold, openMs, the session's open time (`breakerOpenMs`:
 * at least openMs, or the Retry-After it honours), 1 when the failure carried a Retry-After (else
 * 0), the session's id, the scope's tripped lifetime (ms), how many of a session's failures in its
 * window its scope counts (`sessionShare`). Counts the failure in the session's circuit, and in the
 * scope's within that share (none while the session's circuit is tripped); the session's trips at
 * the threshold, the scope's only once two sessions failed in the window; while tripped, a failure
 * keeps a circuit open at least its open time: the session's own, and for the scope (unless it excuses the
 * session, as admission does) the same once two sessions were rate-limited, else openMs; and tripped
 * at least its lifetime (admission reads `open` only under `tripped`). Returns `{session open ms, scope
 * open ms (0 when closed, -1 when left alone), session failures, scope failures}`.
 */
const FAILURE_SCRIPT = `
local windowMs, threshold = tonumber(ARGV[1]), tonumber(ARGV[2])
local openMs, ownOpen = tonumber(ARGV[3]), tonumber(ARGV[4])
local limited, session, scopeLifetime, share = ARGV[5] == '1', ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[8])
local function note(first, many)
  local seen = redis.call('GET', first)
  if not seen then redis.call('SET', first, session, 'PX', windowMs)
  elseif seen ~= session then redis.call('SET', many, '1', 'PX', windowMs) end
end
local function fail(tripped, open, failures, openFor, canTrip, lifetime)
  if redis.call('EXISTS', tripped) == 1 then
    if redis.call('PTTL', open) < openFor then redis.call('SET', open, '1', 'PX', openFor) end
    if redis.call('PTTL', tripped) < lifetime then redis.call('PEXPIRE', tripped, lifetime) end
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
if limited then note(KEYS[11], KEYS[12]) end
local sharedOpen = redis.call('EXISTS', KEYS[12]) == 1 and ownOpen or openMs
local ownCounts, excused = redis.call('EXISTS', KEYS[1]) == 0, ${EXCUSED}
local ownLeft, ownCount = fail(KEYS[1], KEYS[2], KEYS[4], ownOpen, true, ownOpen + windowMs)
local sharedLeft, count = 0, tonumber(redis.call('GET', KEYS[8]) or '0') or 0
local scopeTripped = redis.call('EXISTS', KEYS[5]) == 1
if excused then
  sharedLeft = -1
elseif scopeTripped or (ownCounts and ownCount <= share) then
  local manySessions = redis.call('EXISTS', KEYS[10]) == 1
  sharedLeft, count = fail(KEYS[5], KEYS[6], KEYS[8], sharedOpen, manySessions, scopeLifetime)
end
if sharedLeft > 0 then redis.call('DEL', KEYS[9], KEYS[10], KEYS[11], KEYS[12]) end
return {ownLeft, sharedLeft, ownCount, count}
`;

/** A tripped scope's marker outlives any open period; one probe clears it on a quiet fleet. */
const TRIPPED_LIFETIME_MS = 24 * 60 * 60_000;

/** At most this many sessions' and scopes' last-seen states are remembered (for `snapshot()`); the oldest go first. */
const MAX_REMEMBERED = 10_000;

const CLOSED: CircuitStatus = Object.freeze({ state: 'closed', failures: 0, openUntil: null });

/**
 * The fleet-wide {@link AuthBreaker} of a `RedisTokenStore`: every replica on the Redis shares
 * each session's circuit and each scope's (partner auth server's), with the same rules as
 * `LocalAuthBreaker`; half-open lets one probe through per `openMs` for the whole fleet. When
 * Redis refuses it (no connection, an ACL without its keys, a missing script), it admits
 * (falling back to the last state it saw), warns once per store, and says so in `snapshot()`
 * (and so in `health()`): it never blocks auth on its own failure.
 */
export class RedisAuthBreaker implements AuthBreaker {
  /** Per call (scope and session), its session's circuit as last seen, while not closed; least recently seen first. */
  readonly #sessions = new Map<string, CircuitStatus>();
  /**
   * Per scope, its circuit as last seen by any session of this process, while not closed or counting: the
   * scope's circuit is one for all its sessions, so each of them fails fast on it without asking Redis first.
   */
  readonly #scopes = new Map<string, CircuitStatus>();
  /**
   * Calls whose last admission found none of the keys a success deletes: their success sends no
   * DEL. Failures counted anywhere in the fleet before that admission are seen by it (and then
   * reset by the DEL); one counted during the call itself is concurrent with the success and
   * stays, as it would had it landed just after the DEL.
   */
  readonly #clean = new Map<string, true>();
  #unavailable: string | undefined;

  /** Made by its `RedisTokenStore`: runs its scripts through the store's command runner (and so its client). */
  constructor(
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
    const session = circuit(`${tag}:session:${sessionId(call.session)}`);
    return { scope: { ...circuit(tag), ...evidence, ...limited, excusedProbe: `${tag}:excused-probe` }, session };
  }

  async admit(call: BreakerCall): Promise<BreakerAdmission> {
    const { options } = this;
    const id = sessionKey(call);
    this.#clean.delete(id);
    const args = [String(Math.ceil(options.openMs)), randomUUID()];
    const reply = await this.#eval('admit', ADMIT_SCRIPT, call, args);
    if (reply === undefined) {
      // Redis refused or did not answer: admit, unless the last state seen is still open.
      const { openUntil } = this.snapshot(call);
      const waitMs = openUntil === null ? 0 : openUntil - options.now();
      return waitMs > 0 ? { allowed: false, retryAfterMs: waitMs } : { allowed: true, probe: false };
    }
    const [allowed = 1, probe = 0, waitMs = 0, level = 0, failures = 0, clean = 0, ownFailures = 0] = reply;
    if (clean === 1) setRecent(this.#clean, id, true, MAX_REMEMBERED);
    const now = options.now();
    // Half-open only the circuit(s) the probe is for: another session's view of the scope stays closed.
    const own = level === 1 ? seen(waitMs, failures, now) : seen(0, ownFailures, now, probe % 2 === 1);
    const shared = level === 2 ? seen(waitMs, failures, now) : seen(0, failures, now, probe >= 2);
    // Refused by the session's own circuit, the script did not look at the scope's.
    this.#remember(call, own, level === 1 ? undefined : shared);
    return allowed === 1 ? { allowed: true, probe: probe > 0 } : { allowed: false, retryAfterMs: Math.max(1, waitMs) };
  }

  async record(call: BreakerCall, outcome: BreakerOutcome, retryAfterMs?: number): Promise<void> {
    const { options } = this;
    // Whether nothing was counted when this call was admitted (a success then has nothing to reset).
    const clean = this.#clean.delete(sessionKey(call));
    if (outcome === 'success') {
      // The server answered: the session's circuit and the scope's close (other sessions' stay).
      const del = (keys: string[], at: string): Promise<number> =>
        this.commands.run('DEL breaker', at, () => this.commands.client.del(...keys));
      if (clean || (await this.#send(call, del)) !== undefined) this.#remember(call, CLOSED, CLOSED);
      return;
    }
    const durations = [options.windowMs, options.failureThreshold, options.openMs];
    const args = [...durations, breakerOpenMs(options.openMs, retryAfterMs)].map((value) => String(Math.ceil(value)));
    const limited = breakerOpenMs(0, retryAfterMs) > 0 ? '1' : '0';
    args.push(limited, sessionId(call.session), String(TRIPPED_LIFETIME_MS), String(sessionShare(options)));
    const reply = await this.#eval('failure', FAILURE_SCRIPT, call, args);
    if (reply === undefined) return;
    const [ownLeft = 0, sharedLeft = 0, ownCount = 0, count = 0] = reply;
    const now = options.now();
    this.#remember(call, seen(ownLeft, ownCount, now), sharedLeft < 0 ? undefined : seen(sharedLeft, count, now));
  }

  /**
   * The state for `call` as of this process's last exchange with Redis about its session, and about its scope
   * by any session (an open period that ran out reads as half-open).
   */
  snapshot(call: BreakerCall): BreakerStatus {
    const now = this.options.now();
    const own = this.#sessions.get(sessionKey(call));
    const status = combine(own && lapse(own, now), lapse(this.#scopes.get(call.scope) ?? CLOSED, now));
    return this.#unavailable === undefined ? status : { ...status, unavailable: this.#unavailable };
  }

  /** Runs one breaker script on every key of `call`: its reply's numbers, or undefined (see {@link #send}). */
  async #eval(name: string, script: string, call: BreakerCall, args: string[]): Promise<number[] | undefined> {
    const run = (keys: string[], at: string): Promise<unknown> =>
      this.commands.eval(`EVAL breaker-${name}`, at, script, keys, ...args);
    const reply = await this.#send(call, run);
    return (reply as unknown[] | undefined)?.map(Number);
  }

  /**
   * Sends `command` on every key of `call` (named in errors by the scope's first key). An answer means the
   * breaker is available again. A refusal or no answer resolves undefined: the breaker says so in snapshots,
   * and warns once per store if refused.
   */
  async #send<T>(call: BreakerCall, command: (keys: string[], at: string) => Promise<T>): Promise<T | undefined> {
    const { session, scope } = this.keysFor(call);
    try {
      const result = await command([...Object.values(session), ...Object.values(scope)], scope.tripped);
      this.#unavailable = undefined;
      return result;
    } catch (error) {
      if (this.commands.warnIfRefused('breaker', error)) {
        this.#unavailable = 'the Redis user may not use the breaker keys or EVAL (check its ACL)';
      } else {
        this.#unavailable = 'Redis could not be reached';
        const text = 'the shared breaker could not be read; going by the last state seen';
        this.log.debug({ event: 'breaker-unavailable', err: error }, text);
      }
      return undefined;
    }
  }

  /** Keeps the session's circuit, and the scope's when seen, while they are not closed (or count failures). */
  #remember(call: BreakerCall, own: CircuitStatus, shared?: CircuitStatus): void {
    keepWhileFailing(this.#sessions, sessionKey(call), own);
    if (shared !== undefined) keepWhileFailing(this.#scopes, call.scope, shared);
  }
}

function keepWhileFailing(map: Map<string, CircuitStatus>, key: string, status: CircuitStatus): void {
  if (status.state !== 'closed' || status.failures !== 0) setRecent(map, key, status, MAX_REMEMBERED);
  else map.delete(key);
}

/** The session's identity within the breaker: its scope and store key. */
function sessionKey(call: BreakerCall): string {
  return `${call.scope}\n${call.session}`;
}

/** A circuit as a script reported it: open for `waitMs` more when above 0; else half-open for a `probe`, or closed. */
function seen(waitMs: number, failures: number, now: number, probe = false): CircuitStatus {
  if (waitMs > 0) return { state: 'open', failures, openUntil: Math.ceil(now + waitMs) };
  return { state: probe ? 'half-open' : 'closed', failures, openUntil: null };
}

/** An open period that ran out reads as half-open. */
function lapse(status: CircuitStatus, now: number): CircuitStatus {
  return status.state === 'open' && status.openUntil !== null && status.openUntil <= now
    ? { ...status, state: 'half-open', openUntil: null }
    : status;
}
