/**
 * The one lifecycle stream: every point in a session's life goes through {@link Lifecycle.emit},
 * which feeds the manager's own counters, the pino logger, the typed `EventEmitter` (the
 * `'lifecycle'` event, and `'refreshed'`, `'error'` and `'refreshTokenExpiring'` derived from the
 * lifecycle events), and `node:diagnostics_channel` channels named `alix-token-manager:<type>`.
 * Each sink is skipped when nobody listens, and no sink can change an outcome: a throwing
 * listener is logged and ignored.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import type { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { sanitizeCause } from '../redaction';
import type { LifecycleEvent, LifecycleEventType, TokenManagerEvents } from './types';

type Level = 'debug' | 'info' | 'warn' | 'error';

/**
 * How each event is logged: level, message, and the `event` field, stable since version 1: the type, unless
 * version 1 named it otherwise.
 */
const LOG_FORMAT: Readonly<Record<LifecycleEventType, readonly [Level, string, string?]>> = {
  'refresh-started': ['info', 'refreshing the access token', 'refresh-start'],
  'refresh-ended': ['info', 'refresh run ended', 'refresh-end'],
  'auth-call-started': ['debug', 'auth call started', 'auth-call-start'],
  'auth-call-ended': ['debug', 'auth call ended', 'auth-call-end'],
  'retry-scheduled': ['warn', 'auth call failed transiently; retrying', 'auth-retry'],
  invalidated: ['info', 'access token rejected by a server'],
  replayed: ['info', 'token rejected; request replayed once with a fresh token'],
  'lock-waited': ['debug', 'waited for the shared refresh lock'],
  'store-failed': ['warn', 'token store operation failed; carrying on with what is held in memory'],
  'fail-fast-entered': ['warn', 'sign-in rejected; callers without a valid token fail fast', 'fail-fast'],
  adopted: ['info', 'using the newer session found in the store'],
  'identity-mismatch': ['warn', 'the stored session belongs to another identity; ignoring it'],
  'token-waited': ['debug', 'caller waited for a token'],
  'refresh-token-expiring': ['warn', 'refresh token expires soon; a full sign-in will follow'],
  'breaker-changed': ['warn', 'the auth circuit breaker changed state'],
  closed: ['debug', 'token manager closed'],
};

/** A run that signed in because the refresh token (a seeded `ALIX_REFRESH_TOKEN`, say) was refused: worth a warning. */
const REFRESH_TOKEN_REJECTED =
  'the refresh token was rejected (expired or revoked); signed in again with the partner key';

const LISTENER_THREW = 'a lifecycle listener threw; the outcome is unchanged';

/** The message published on a diagnostics channel. */
export interface DiagnosticsMessage {
  event: LifecycleEvent;
  /** The manager (or pool) the event is about. */
  source: object;
}

/** Where the stream goes. */
export interface LifecycleSinks {
  logger: Logger;
  /** Also published as `source` on the diagnostics channels. */
  emitter: EventEmitter<TokenManagerEvents>;
  /** The manager's own bookkeeping (counters, status); told first, always. */
  stats: { observe(event: LifecycleEvent): void };
}

/** A named `EventEmitter` event with its payload. */
type NamedEvent = { [K in keyof TokenManagerEvents]: [K, ...TokenManagerEvents[K]] }[keyof TokenManagerEvents];

/**
 * The named event a lifecycle event also is, if any: the one rule behind `'refreshed'`, `'error'`
 * and `'refreshTokenExpiring'`.
 */
function namedEventOf(event: LifecycleEvent): NamedEvent | undefined {
  if (event.type === 'refresh-token-expiring') {
    const { refreshTokenExpiresAt, remainingMs } = event;
    return ['refreshTokenExpiring', { refreshTokenExpiresAt, remainingMs }];
  }
  if (event.type !== 'refresh-ended') return undefined;
  const { outcome, accessTokenExpiresAt, refreshTokenExpiresAt = null, reason, error } = event;
  if ((outcome === 'failed' || outcome === 'abandoned') && error !== undefined) return ['error', error];
  if ((outcome !== 'refreshed' && outcome !== 'signed-in') || accessTokenExpiresAt === undefined) return undefined;
  return ['refreshed', { accessTokenExpiresAt, refreshTokenExpiresAt, signIn: outcome === 'signed-in', reason }];
}

/** Emits lifecycle events to every sink; the stream ends with `closed`. */
export class Lifecycle {
  #ended = false;

  constructor(private readonly sinks: LifecycleSinks) {}

  emit(event: LifecycleEvent): void {
    // What a closed manager's abandoned work still reports (a provider call ending, a caller's wait) is dropped.
    if (this.#ended) return;
    this.#ended = event.type === 'closed';
    const { logger, emitter, stats } = this.sinks;
    stats.observe(event);
    const rejected = event.type === 'refresh-ended' && event.refreshTokenRejected === true;
    const [level, message, name = event.type] = rejected
      ? (['warn', REFRESH_TOKEN_REJECTED, 'refresh-end'] as const)
      : LOG_FORMAT[event.type];
    if (logger.isLevelEnabled(level)) {
      // The error object stays out of the log line: its code is there as `errorCode`.
      const { type: _type, error: _error, ...fields } = event as LifecycleEvent & { error?: Error };
      this.#safely(() => logger[level]({ event: name, ...fields }, message));
    }
    if (emitter.listenerCount('lifecycle') > 0) this.#safely(() => emitter.emit('lifecycle', event));
    const channel = diagnosticsChannel.channel(`alix-token-manager:${event.type}`);
    if (channel.hasSubscribers)
      this.#safely(() => channel.publish({ event, source: emitter } satisfies DiagnosticsMessage));
    const named = namedEventOf(event);
    // EventEmitter throws on an 'error' nobody listens to; a background failure must not.
    if (named !== undefined && emitter.listenerCount(named[0]) > 0)
      this.#safely(() => (emitter.emit as (...args: NamedEvent) => boolean)(...named));
  }

  #safely(run: () => unknown): void {
    try {
      run();
    } catch (error) {
      try {
        // Summarised: a listener that passes on the `'error'` event's payload may throw a custom provider's AxiosError,
        // whose config holds the refresh call's body.
        this.sinks.logger.error({ event: 'listener-threw', err: sanitizeCause(error) }, LISTENER_THREW);
      } catch {
        // Logging must never throw into the manager either.
      }
    }
  }
}
