/**
 * The one lifecycle stream: every point in a session's life goes through {@link Lifecycle.emit},
 * which feeds the pino logger, the typed `EventEmitter`, `node:diagnostics_channel` channels
 * named `alix-token-manager:<type>`, and the manager's own counters. Each sink is skipped when
 * nobody listens, and no sink can change an outcome: a throwing listener is logged and ignored.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import type { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { DIAGNOSTICS_CHANNEL_PREFIX } from './types';
import type { LifecycleEvent, LifecycleEventType, TokenManagerEvents } from './types';

type Level = 'debug' | 'info' | 'warn' | 'error';

/** How each event is logged: level, the `event` field (stable since version 1) and the message. */
const LOG_FORMAT: Readonly<Record<LifecycleEventType, readonly [Level, string, string]>> = {
  'refresh-started': ['info', 'refresh-start', 'refreshing the access token'],
  'refresh-ended': ['info', 'refresh-end', 'refresh run ended'],
  'auth-call-started': ['debug', 'auth-call-start', 'auth call started'],
  'auth-call-ended': ['debug', 'auth-call-end', 'auth call ended'],
  'retry-scheduled': ['warn', 'auth-retry', 'auth call failed transiently; retrying'],
  invalidated: ['info', 'invalidated', 'access token rejected by a server'],
  replayed: ['info', 'replayed', 'token rejected; request replayed once with a fresh token'],
  'lock-waited': ['debug', 'lock-waited', 'waited for the shared refresh lock'],
  'store-failed': ['warn', 'store-failed', 'token store operation failed; carrying on with what is held in memory'],
  'fail-fast-entered': ['warn', 'fail-fast', 'sign-in rejected; callers without a valid token fail fast'],
  adopted: ['info', 'adopted', 'using the newer session found in the store'],
  'identity-mismatch': ['warn', 'identity-mismatch', 'the stored session belongs to another identity; ignoring it'],
  'token-waited': ['debug', 'token-waited', 'caller waited for a token'],
  'refresh-token-expiring': [
    'warn',
    'refresh-token-expiring',
    'refresh token expires soon; a full sign-in will follow',
  ],
  'breaker-changed': ['warn', 'breaker-changed', 'the auth circuit breaker changed state'],
  closed: ['debug', 'closed', 'token manager closed'],
};

/** A run that signed in because the refresh token (a seeded `ALIX_REFRESH_TOKEN`, say) was refused: worth a warning. */
const REFRESH_TOKEN_REJECTED: readonly [Level, string, string] = [
  'warn',
  'refresh-end',
  'the refresh token was rejected (expired or revoked); signed in again with the partner key',
];

const channels = new Map<LifecycleEventType, diagnosticsChannel.Channel>(
  (Object.keys(LOG_FORMAT) as LifecycleEventType[]).map((type) => [
    type,
    diagnosticsChannel.channel(`${DIAGNOSTICS_CHANNEL_PREFIX}${type}`),
  ]),
);

/** The message published on a diagnostics channel. */
export interface DiagnosticsMessage {
  event: LifecycleEvent;
  /** The manager (or pool) the event is about. */
  source: object;
}

/** Where the stream goes. */
export interface LifecycleSinks {
  logger: Logger;
  emitter: EventEmitter<TokenManagerEvents>;
  /** Published as `source` on the diagnostics channels. */
  source: object;
  /** The manager's own bookkeeping (counters, status); runs first, always. */
  observe: (event: LifecycleEvent) => void;
}

/** Emits lifecycle events to every sink. */
export class Lifecycle {
  constructor(private readonly sinks: LifecycleSinks) {}

  emit(event: LifecycleEvent): void {
    const { logger, emitter, source, observe } = this.sinks;
    observe(event);
    const [level, name, message] =
      event.type === 'refresh-ended' && event.refreshTokenRejected === true
        ? REFRESH_TOKEN_REJECTED
        : LOG_FORMAT[event.type];
    if (logger.isLevelEnabled(level)) {
      const { type: _type, ...fields } = event;
      this.#safely(() => logger[level]({ event: name, ...fields }, message));
    }
    if (emitter.listenerCount('lifecycle') > 0) this.#safely(() => emitter.emit('lifecycle', event));
    const channel = channels.get(event.type);
    if (channel?.hasSubscribers === true)
      this.#safely(() => channel.publish({ event, source } satisfies DiagnosticsMessage));
  }

  /** Emits a named `EventEmitter` event, if anyone listens, without letting a listener change an outcome. */
  notify<K extends 'refreshed' | 'error' | 'refreshTokenExpiring'>(name: K, ...payload: TokenManagerEvents[K]): void {
    const { emitter } = this.sinks;
    // EventEmitter throws on an 'error' nobody listens to; a background failure must not.
    if (emitter.listenerCount(name) === 0) return;
    this.#safely(() => (emitter.emit as (event: K, ...args: TokenManagerEvents[K]) => boolean)(name, ...payload));
  }

  #safely(run: () => unknown): void {
    try {
      run();
    } catch (error) {
      try {
        this.sinks.logger.error(
          { event: 'listener-threw', err: error },
          'a lifecycle listener threw; the outcome is unchanged',
        );
      } catch {
        // Logging must never throw into the manager either.
      }
    }
  }
}
