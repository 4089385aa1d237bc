import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { openDurationMs } from '../manager/breaker';
import type { ResolvedAuthBreakerOptions } from '../manager/breaker';
import { BREAKER_ADMIT_SCRIPT, BREAKER_FAILURE_SCRIPT } from './redis-scripts';
import type { AuthBreaker, BreakerAdmission, BreakerOutcome, BreakerState, BreakerStatus } from './types';

/** The Redis names of a fleet's breaker; one hash tag, so one cluster slot. */
export interface RedisBreakerKeys {
  /** Exists while the breaker is tripped (open or half-open); holds the failure count that tripped it. */
  readonly tripped: string;
  /** Exists (with `PX`) while the breaker is open. */
  readonly open: string;
  /** The half-open probe lease (`SET NX PX openMs`). */
  readonly probe: string;
  /** Transient failures in the current window (`INCR`, `PEXPIRE windowMs` on the first). */
  readonly failures: string;
}

/** The breaker keys under `prefix` (hash-tagged). */
export function breakerKeys(prefix: string): RedisBreakerKeys {
  const tag = `{${prefix}}`;
  return { tripped: `${tag}:tripped`, open: `${tag}:open`, probe: `${tag}:probe`, failures: `${tag}:failures` };
}

/** A tripped breaker's marker outlives any open period; one probe clears it on a quiet fleet. */
const TRIPPED_LIFETIME_MS = 24 * 60 * 60_000;

const STATES: readonly BreakerState[] = ['closed', 'open', 'half-open'];

/** What the breaker needs from its store: a bounded Redis command runner and the client's EVAL/DEL. */
export interface RedisBreakerDeps {
  /** Runs one command with the store's connection wait and `commandTimeoutMs`. */
  command<T>(operation: string, run: () => Promise<T>): Promise<T>;
  evaluate(script: string, keys: readonly string[], args: readonly string[]): Promise<unknown>;
  del(keys: readonly string[]): Promise<unknown>;
  options: ResolvedAuthBreakerOptions;
  prefix: string;
  log: Logger;
}

/**
 * The fleet-wide {@link AuthBreaker} of a `RedisTokenStore`: every replica on the Redis counts
 * transient auth failures in one window and sees one open state, and half-open lets one
 * probe through per `openMs` for the whole fleet (`SET NX PX` lease). When Redis cannot be
 * reached, it admits (falling back to the last state it saw): it never blocks auth on its own.
 */
export class RedisAuthBreaker implements AuthBreaker {
  /** The Redis key names. */
  readonly keys: RedisBreakerKeys;
  readonly #deps: RedisBreakerDeps;
  #last: { state: BreakerState; failures: number; openUntil: number | null } = { state: 'closed', failures: 0, openUntil: null };

  constructor(deps: RedisBreakerDeps) {
    this.#deps = deps;
    this.keys = breakerKeys(deps.prefix);
  }

  async admit(): Promise<BreakerAdmission> {
    const { options } = this.#deps;
    const { tripped, open, probe, failures } = this.keys;
    let reply: number[];
    try {
      reply = numbers(await this.#deps.command('EVAL breaker-admit', () => this.#deps.evaluate(BREAKER_ADMIT_SCRIPT, [tripped, open, probe, failures], [String(Math.ceil(options.openMs)), randomUUID()])));
    } catch (error) {
      this.#deps.log.debug({ event: 'breaker-unavailable', err: error }, 'the shared breaker could not be read; going by the last state seen');
      const seen = this.snapshot();
      const now = options.now();
      return seen.state === 'open' && seen.openUntil !== null && seen.openUntil > now ? { allowed: false, retryAfterMs: seen.openUntil - now } : { allowed: true, probe: false };
    }
    const [allowed = 1, isProbe = 0, waitMs = 0, state = 0, count = 0] = reply;
    this.#remember(STATES[state] ?? 'closed', count, state === 1 ? waitMs : undefined);
    return allowed === 1 ? { allowed: true, probe: isProbe === 1 } : { allowed: false, retryAfterMs: Math.max(1, waitMs) };
  }

  async record(outcome: BreakerOutcome, retryAfterMs?: number): Promise<void> {
    const { options } = this.#deps;
    const { tripped, open, probe, failures } = this.keys;
    try {
      if (outcome === 'success') {
        // Any answer from the auth server closes the breaker, and starts the count afresh.
        await this.#deps.command('DEL breaker', () => this.#deps.del([tripped, open, probe, failures]));
        this.#remember('closed', 0, undefined);
        return;
      }
      const args = [options.windowMs, options.failureThreshold, openDurationMs(options.openMs, retryAfterMs), TRIPPED_LIFETIME_MS].map((value) => String(Math.ceil(value)));
      const [state = 0, count = 0, openMs = 0] = numbers(await this.#deps.command('EVAL breaker-failure', () => this.#deps.evaluate(BREAKER_FAILURE_SCRIPT, [tripped, open, failures], args)));
      this.#remember(state === 1 ? 'open' : 'closed', count, state === 1 ? openMs : undefined);
    } catch (error) {
      this.#deps.log.debug({ event: 'breaker-unavailable', err: error }, 'could not record an auth outcome in the shared breaker');
    }
  }

  /** The state as of this process's last exchange with Redis (an open period that ran out reads as half-open). */
  snapshot(): BreakerStatus {
    const last = this.#last;
    if (last.state === 'open' && last.openUntil !== null && last.openUntil <= this.#deps.options.now()) return { state: 'half-open', failures: last.failures, openUntil: null };
    return { ...last };
  }

  #remember(state: BreakerState, failures: number, openForMs: number | undefined): void {
    const openUntil = state === 'open' && openForMs !== undefined && openForMs > 0 ? Math.ceil(this.#deps.options.now() + openForMs) : null;
    this.#last = { state, failures, openUntil };
  }
}

function numbers(reply: unknown): number[] {
  return Array.isArray(reply) ? reply.map(Number) : [];
}
