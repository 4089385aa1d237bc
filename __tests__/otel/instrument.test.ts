import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  DiagLogLevel,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  ValueType,
  context,
  diag,
  metrics,
  trace,
} from '@opentelemetry/api';
import type { Attributes, MeterProvider, TracerProvider } from '@opentelemetry/api';
import { ConfigurationError } from '../../src/errors';
import { TokenManager } from '../../src/manager/token-manager';
import {
  ATTRIBUTES,
  DURATION_BUCKETS_S,
  INSTRUMENTATION_SCOPE,
  METRIC_NAMES,
  SPAN_EVENT_NAMES,
  SPAN_NAMES,
  instrumentTokenManager,
} from '../../src/otel';
import type { InstrumentedLifecycleEvent } from '../../src/otel';
import { AT, FakeLifecycleSource, Telemetry, lifecycle, metricOf, pointsOf, useStackContext } from './telemetry';

const UNAVAILABLE = 'ERR_ALIX_AUTH_UNAVAILABLE';

/** A background refresh whose first call fails with a 503, is retried, and succeeds. */
function refreshWithOneRetry(refreshId = 1, session?: string): InstrumentedLifecycleEvent[] {
  const s = session === undefined ? {} : { session };
  return [
    lifecycle('refresh-started', { refreshId, reason: 'scheduled', foreground: false, ...s }),
    lifecycle('auth-call-started', { refreshId, operation: 'refresh', attempt: 1, ...s }),
    lifecycle('auth-call-ended', {
      refreshId,
      operation: 'refresh',
      attempt: 1,
      outcome: 'failure',
      durationMs: 120,
      errorCode: UNAVAILABLE,
      status: 503,
      ...s,
    }),
    lifecycle('retry-scheduled', {
      refreshId,
      operation: 'refresh',
      attempt: 1,
      delayMs: 250,
      errorCode: UNAVAILABLE,
      background: false,
      ...s,
    }),
    lifecycle('auth-call-started', { refreshId, operation: 'refresh', attempt: 2, ...s }),
    lifecycle('auth-call-ended', {
      refreshId,
      operation: 'refresh',
      attempt: 2,
      outcome: 'success',
      durationMs: 80,
      ...s,
    }),
    lifecycle('refresh-ended', {
      refreshId,
      reason: 'scheduled',
      outcome: 'refreshed',
      durationMs: 460,
      attempts: 2,
      accessTokenExpiresAt: AT + 900_000,
      ...s,
    }),
  ];
}

describe('instrumentTokenManager()', () => {
  let telemetry: Telemetry;
  let source: FakeLifecycleSource;

  beforeEach(() => {
    telemetry = new Telemetry();
    source = new FakeLifecycleSource();
  });
  afterEach(() => telemetry.shutdown());

  const instrument = (extra: Parameters<typeof instrumentTokenManager>[1] = {}) =>
    instrumentTokenManager(source, {
      meterProvider: telemetry.meterProvider,
      tracerProvider: telemetry.tracerProvider,
      ...extra,
    });

  it('reads an option given as undefined as not given', async () => {
    instrument({ attributes: undefined, now: undefined });
    source.send(...refreshWithOneRetry());
    expect(metricOf(await telemetry.collect(), METRIC_NAMES.authRequests).dataPoints).toHaveLength(2);
  });

  describe('metrics', () => {
    it('counts auth calls and records their durations in seconds by operation and outcome, with the error code on failure', async () => {
      instrument();
      source.send(...refreshWithOneRetry());

      const exported = await telemetry.collect();
      const failure = {
        [ATTRIBUTES.authOperation]: 'refresh',
        [ATTRIBUTES.authOutcome]: 'failure',
        [ATTRIBUTES.errorType]: UNAVAILABLE,
      };
      const success = { [ATTRIBUTES.authOperation]: 'refresh', [ATTRIBUTES.authOutcome]: 'success' };
      expect(pointsOf(exported, METRIC_NAMES.authRequests)).toEqual([
        { attributes: failure, value: 1 },
        { attributes: success, value: 1 },
      ]);
      expect(pointsOf(exported, METRIC_NAMES.authDuration)).toEqual([
        { attributes: failure, value: { count: 1, sum: 0.12 } },
        { attributes: success, value: { count: 1, sum: 0.08 } },
      ]);
      expect(metricOf(exported, METRIC_NAMES.authRequests).descriptor.unit).toBe('{request}');
      expect(metricOf(exported, METRIC_NAMES.authDuration).descriptor.unit).toBe('s');
    });

    it('buckets durations for seconds, not the SDK default milliseconds', async () => {
      instrument();
      source.send(...refreshWithOneRetry());
      const [point] = metricOf(await telemetry.collect(), METRIC_NAMES.authDuration).dataPoints;
      expect((point?.value as { buckets: { boundaries: number[] } }).buckets.boundaries).toEqual([
        ...DURATION_BUCKETS_S,
      ]);
    });

    it('counts refresh runs by reason and outcome, and retries by operation and error code', async () => {
      instrument();
      source.send(
        ...refreshWithOneRetry(),
        lifecycle('refresh-started', { refreshId: 2, reason: 'expired', foreground: true }),
        lifecycle('refresh-ended', {
          refreshId: 2,
          reason: 'expired',
          outcome: 'failed',
          durationMs: 5,
          attempts: 1,
          errorCode: 'ERR_ALIX_AUTH_REJECTED',
        }),
        lifecycle('retry-scheduled', {
          refreshId: 2,
          operation: 'authenticate',
          attempt: 1,
          delayMs: 30_000,
          errorCode: 'ERR_ALIX_AUTH_REJECTED',
          background: true,
        }),
      );

      const exported = await telemetry.collect();
      expect(pointsOf(exported, METRIC_NAMES.refreshes)).toEqual([
        { attributes: { [ATTRIBUTES.refreshReason]: 'scheduled', [ATTRIBUTES.refreshOutcome]: 'refreshed' }, value: 1 },
        {
          attributes: {
            [ATTRIBUTES.refreshReason]: 'expired',
            [ATTRIBUTES.refreshOutcome]: 'failed',
            [ATTRIBUTES.errorType]: 'ERR_ALIX_AUTH_REJECTED',
          },
          value: 1,
        },
      ]);
      expect(pointsOf(exported, METRIC_NAMES.retries)).toEqual([
        {
          attributes: {
            [ATTRIBUTES.authOperation]: 'refresh',
            [ATTRIBUTES.retryBackground]: false,
            [ATTRIBUTES.errorType]: UNAVAILABLE,
          },
          value: 1,
        },
        {
          attributes: {
            [ATTRIBUTES.authOperation]: 'authenticate',
            [ATTRIBUTES.retryBackground]: true,
            [ATTRIBUTES.errorType]: 'ERR_ALIX_AUTH_REJECTED',
          },
          value: 1,
        },
      ]);
    });

    it('records caller waits, invalidations, replays, store errors and lock waits', async () => {
      instrument();
      source.send(
        lifecycle('token-waited', { durationMs: 500, outcome: 'success' }),
        lifecycle('token-waited', { durationMs: 2_000, outcome: 'failure', errorCode: 'ERR_ALIX_TIMEOUT' }),
        lifecycle('invalidated', { result: 'refreshing' }),
        lifecycle('invalidated', { result: 'stale' }),
        lifecycle('replayed', { adapter: 'axios', status: 401, method: 'get', origin: 'https://api.alix.example' }),
        lifecycle('replayed', { adapter: 'fetch', status: 401, method: 'PURGE', origin: 'https://api.alix.example' }),
        lifecycle('store-failed', {
          operation: 'write',
          errorCode: 'ERR_ALIX_STORE',
          message: 'redis: connection refused',
        }),
        lifecycle('lock-waited', { durationMs: 40, outcome: 'published' }),
      );

      const exported = await telemetry.collect();
      expect(pointsOf(exported, METRIC_NAMES.tokenWaitDuration)).toEqual([
        { attributes: { [ATTRIBUTES.tokenWaitOutcome]: 'success' }, value: { count: 1, sum: 0.5 } },
        {
          attributes: { [ATTRIBUTES.tokenWaitOutcome]: 'failure', [ATTRIBUTES.errorType]: 'ERR_ALIX_TIMEOUT' },
          value: { count: 1, sum: 2 },
        },
      ]);
      expect(pointsOf(exported, METRIC_NAMES.invalidations)).toEqual([
        { attributes: { [ATTRIBUTES.invalidateResult]: 'refreshing' }, value: 1 },
        { attributes: { [ATTRIBUTES.invalidateResult]: 'stale' }, value: 1 },
      ]);
      expect(pointsOf(exported, METRIC_NAMES.replays)).toEqual([
        {
          attributes: {
            [ATTRIBUTES.replayAdapter]: 'axios',
            [ATTRIBUTES.httpStatusCode]: 401,
            [ATTRIBUTES.httpMethod]: 'GET',
          },
          value: 1,
        },
        {
          attributes: {
            [ATTRIBUTES.replayAdapter]: 'fetch',
            [ATTRIBUTES.httpStatusCode]: 401,
            [ATTRIBUTES.httpMethod]: '_OTHER',
          },
          value: 1,
        },
      ]);
      expect(pointsOf(exported, METRIC_NAMES.storeErrors)).toEqual([
        { attributes: { [ATTRIBUTES.storeOperation]: 'write', [ATTRIBUTES.errorType]: 'ERR_ALIX_STORE' }, value: 1 },
      ]);
      expect(pointsOf(exported, METRIC_NAMES.lockWaitDuration)).toEqual([
        { attributes: { [ATTRIBUTES.lockOutcome]: 'published' }, value: { count: 1, sum: 0.04 } },
      ]);
    });

    it('records a negative or non-finite duration (a `now` that stepped back) as 0 instead of losing the point', async () => {
      instrument();
      source.send(
        lifecycle('auth-call-started', { refreshId: 1, operation: 'refresh', attempt: 1 }),
        lifecycle('auth-call-ended', {
          refreshId: 1,
          operation: 'refresh',
          attempt: 1,
          outcome: 'success',
          durationMs: -5_000,
        }),
        lifecycle('token-waited', { durationMs: -25_000, outcome: 'success' }),
        lifecycle('lock-waited', { durationMs: Number.NaN, outcome: 'acquired' }),
      );

      const exported = await telemetry.collect();
      const success = { [ATTRIBUTES.authOperation]: 'refresh', [ATTRIBUTES.authOutcome]: 'success' };
      expect(pointsOf(exported, METRIC_NAMES.authRequests)).toEqual([{ attributes: success, value: 1 }]);
      expect(pointsOf(exported, METRIC_NAMES.authDuration)).toEqual([
        { attributes: success, value: { count: 1, sum: 0 } },
      ]);
      expect(pointsOf(exported, METRIC_NAMES.tokenWaitDuration)).toEqual([
        { attributes: { [ATTRIBUTES.tokenWaitOutcome]: 'success' }, value: { count: 1, sum: 0 } },
      ]);
      expect(pointsOf(exported, METRIC_NAMES.lockWaitDuration)).toEqual([
        { attributes: { [ATTRIBUTES.lockOutcome]: 'acquired' }, value: { count: 1, sum: 0 } },
      ]);
    });

    it("reports the held token's remaining lifetime in seconds, 0 once expired, and no point without a token", async () => {
      instrument({ now: () => AT });
      source.statusValue = { accessTokenExpiresAt: AT + 90_000 };
      expect(pointsOf(await telemetry.collect(), METRIC_NAMES.tokenRemainingLifetime)).toEqual([
        { attributes: {}, value: 90 },
      ]);

      source.statusValue = { accessTokenExpiresAt: AT - 1 };
      expect(pointsOf(await telemetry.collect(), METRIC_NAMES.tokenRemainingLifetime)).toEqual([
        { attributes: {}, value: 0 },
      ]);

      const fresh = new Telemetry();
      instrumentTokenManager(new FakeLifecycleSource(), { meterProvider: fresh.meterProvider, now: () => AT });
      expect(pointsOf(await fresh.collect(), METRIC_NAMES.tokenRemainingLifetime)).toEqual([]);
      await fresh.shutdown();
    });

    it.each([Number.NaN, Number.POSITIVE_INFINITY, String(AT + 90_000)])(
      'reports no lifetime point for an accessTokenExpiresAt of %p',
      async (accessTokenExpiresAt) => {
        instrument({ now: () => AT });
        source.statusValue = { accessTokenExpiresAt };
        expect(pointsOf(await telemetry.collect(), METRIC_NAMES.tokenRemainingLifetime)).toEqual([]);
      },
    );

    it('reports a failed auth call or wait without an error code as error.type UNKNOWN', async () => {
      instrument();
      source.send(
        lifecycle('auth-call-ended', {
          refreshId: 1,
          operation: 'authenticate',
          attempt: 1,
          outcome: 'failure',
          durationMs: 10,
        }),
        lifecycle('token-waited', { durationMs: 10, outcome: 'failure' }),
      );

      const exported = await telemetry.collect();
      expect(pointsOf(exported, METRIC_NAMES.authRequests)).toEqual([
        {
          attributes: {
            [ATTRIBUTES.authOperation]: 'authenticate',
            [ATTRIBUTES.authOutcome]: 'failure',
            [ATTRIBUTES.errorType]: 'UNKNOWN',
          },
          value: 1,
        },
      ]);
      expect(pointsOf(exported, METRIC_NAMES.tokenWaitDuration).map((point) => point.attributes)).toEqual([
        { [ATTRIBUTES.tokenWaitOutcome]: 'failure', [ATTRIBUTES.errorType]: 'UNKNOWN' },
      ]);
    });

    it.each(['CONNECT', 'DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT', 'TRACE'])(
      'reports a replayed %s request by its method name',
      async (method) => {
        instrument();
        const origin = 'https://api.alix.example';
        source.send(lifecycle('replayed', { adapter: 'fetch', status: 401, method: method.toLowerCase(), origin }));
        const [point] = pointsOf(await telemetry.collect(), METRIC_NAMES.replays);
        expect(point?.attributes[ATTRIBUTES.httpMethod]).toBe(method);
      },
    );

    it('counts in integers and measures durations as doubles', async () => {
      instrument();
      source.send(...refreshWithOneRetry(), lifecycle('invalidated', { result: 'refreshing' }));
      const exported = await telemetry.collect();
      for (const name of [METRIC_NAMES.authRequests, METRIC_NAMES.refreshes, METRIC_NAMES.retries]) {
        expect([name, metricOf(exported, name).descriptor.valueType]).toEqual([name, ValueType.INT]);
      }
      expect(metricOf(exported, METRIC_NAMES.invalidations).descriptor.valueType).toBe(ValueType.INT);
      expect(metricOf(exported, METRIC_NAMES.authDuration).descriptor.valueType).toBe(ValueType.DOUBLE);
    });

    it('adds the constant attributes to every point and span', async () => {
      instrument({ attributes: { 'service.component': 'payments' } });
      source.statusValue = { accessTokenExpiresAt: AT + 1_000 };
      source.send(...refreshWithOneRetry());
      const exported = await telemetry.collect();
      const everyPoint = exported.flatMap((metric): Array<{ attributes: Attributes }> => metric.dataPoints);
      expect(everyPoint.length).toBeGreaterThanOrEqual(5);
      for (const point of everyPoint) expect(point.attributes['service.component']).toBe('payments');
      for (const span of telemetry.spans()) expect(span.attributes['service.component']).toBe('payments');
    });

    it('reports every metric and span under the instrumentation scope alix-token-manager', async () => {
      instrument();
      source.send(...refreshWithOneRetry());
      await telemetry.collect();
      const scopes = telemetry.metricExporter.getMetrics().flatMap((resource) => resource.scopeMetrics);
      expect(scopes.map((scope) => scope.scope.name)).toEqual(['alix-token-manager']);
      expect(new Set(telemetry.spans().map((span) => span.instrumentationScope.name))).toEqual(
        new Set(['alix-token-manager']),
      );
    });

    it('uses the global providers when none are passed', async () => {
      metrics.setGlobalMeterProvider(telemetry.meterProvider);
      trace.setGlobalTracerProvider(telemetry.tracerProvider);
      try {
        instrumentTokenManager(source);
        source.send(...refreshWithOneRetry());
        expect(pointsOf(await telemetry.collect(), METRIC_NAMES.authRequests)).toHaveLength(2);
        expect(telemetry.spans().map((span) => span.name)).toContain(SPAN_NAMES.refresh);
      } finally {
        metrics.disable();
        trace.disable();
      }
    });
  });

  describe('spans', () => {
    it('makes one span per refresh run with each auth call as a child, the failed call in error with its code and status', () => {
      instrument();
      source.send(...refreshWithOneRetry());

      const [failed, succeeded, run] = telemetry.spans();
      // Internal: the HTTP client's own instrumentation makes the client span of each call, under ours.
      expect(new Set(telemetry.spans().map((span) => span.kind))).toEqual(new Set([SpanKind.INTERNAL]));
      expect(run?.name).toBe(SPAN_NAMES.refresh);
      expect(run?.parentSpanContext).toBeUndefined();
      expect(run?.attributes).toEqual({
        [ATTRIBUTES.refreshReason]: 'scheduled',
        [ATTRIBUTES.refreshForeground]: false,
        [ATTRIBUTES.refreshOutcome]: 'refreshed',
        [ATTRIBUTES.refreshAttempts]: 2,
      });
      expect(run?.status.code).toBe(SpanStatusCode.UNSET);
      expect(failed?.name).toBe(SPAN_NAMES.authRefresh);
      expect(failed?.parentSpanContext?.spanId).toBe(run?.spanContext().spanId);
      expect(failed?.attributes).toEqual({
        [ATTRIBUTES.authOperation]: 'refresh',
        [ATTRIBUTES.authAttempt]: 1,
        [ATTRIBUTES.authOutcome]: 'failure',
        [ATTRIBUTES.httpStatusCode]: 503,
        [ATTRIBUTES.errorType]: UNAVAILABLE,
      });
      expect(failed?.status).toEqual({ code: SpanStatusCode.ERROR, message: UNAVAILABLE });
      expect(succeeded?.attributes[ATTRIBUTES.authAttempt]).toBe(2);
      expect(succeeded?.parentSpanContext?.spanId).toBe(run?.spanContext().spanId);
      expect(succeeded?.status.code).toBe(SpanStatusCode.UNSET);
    });

    it('notes each scheduled retry as an event on the run span', () => {
      instrument();
      source.send(...refreshWithOneRetry());
      const run = telemetry.spans().find((span) => span.name === SPAN_NAMES.refresh);
      expect(run?.events.map((event) => ({ name: event.name, attributes: event.attributes }))).toEqual([
        {
          name: SPAN_EVENT_NAMES.retryScheduled,
          attributes: {
            [ATTRIBUTES.authOperation]: 'refresh',
            [ATTRIBUTES.authAttempt]: 1,
            [ATTRIBUTES.retryDelayMs]: 250,
            [ATTRIBUTES.errorType]: UNAVAILABLE,
          },
        },
      ]);
    });

    it('names sign-in calls apart and marks a failed run in error with its code', () => {
      instrument();
      source.send(
        lifecycle('refresh-started', { refreshId: 7, reason: 'initial', foreground: true }),
        lifecycle('lock-waited', { durationMs: 12, outcome: 'acquired' }),
        lifecycle('auth-call-started', { refreshId: 7, operation: 'authenticate', attempt: 1 }),
        lifecycle('auth-call-ended', {
          refreshId: 7,
          operation: 'authenticate',
          attempt: 1,
          outcome: 'failure',
          durationMs: 30,
          errorCode: 'ERR_ALIX_AUTH_REJECTED',
          status: 400,
        }),
        lifecycle('store-failed', { operation: 'release', errorCode: 'ERR_ALIX_STORE', message: 'gone' }),
        lifecycle('refresh-ended', {
          refreshId: 7,
          reason: 'initial',
          outcome: 'failed',
          durationMs: 50,
          attempts: 1,
          errorCode: 'ERR_ALIX_AUTH_REJECTED',
        }),
      );

      const [call, run] = telemetry.spans();
      expect(call?.name).toBe(SPAN_NAMES.authSignIn);
      expect(run?.status).toEqual({ code: SpanStatusCode.ERROR, message: 'ERR_ALIX_AUTH_REJECTED' });
      expect(run?.attributes[ATTRIBUTES.errorType]).toBe('ERR_ALIX_AUTH_REJECTED');
      expect(run?.events.map((event) => [event.name, event.attributes])).toEqual([
        [SPAN_EVENT_NAMES.lockWaited, { [ATTRIBUTES.lockOutcome]: 'acquired', [ATTRIBUTES.lockWaitMs]: 12 }],
        [
          SPAN_EVENT_NAMES.storeFailed,
          { [ATTRIBUTES.storeOperation]: 'release', [ATTRIBUTES.errorType]: 'ERR_ALIX_STORE' },
        ],
      ]);
    });

    it("notes a write's failure on its own run's span: a late one of a run that ended is on no newer run's", () => {
      instrument();
      const failed = (refreshId: number) =>
        lifecycle('store-failed', { operation: 'write', errorCode: 'ERR_ALIX_STORE', message: 'x', refreshId });
      const ended = { reason: 'forced', outcome: 'refreshed', durationMs: 5, attempts: 1 } as const;
      source.send(
        lifecycle('refresh-started', { refreshId: 8, reason: 'forced', foreground: true }),
        failed(7),
        failed(8),
        lifecycle('refresh-ended', { refreshId: 8, ...ended }),
      );

      const [run] = telemetry.spans();
      expect(run?.events.map((event) => event.name)).toEqual([SPAN_EVENT_NAMES.storeFailed]);
    });

    it('marks a run abandoned at its deadline in error, and the auth call it left unanswered too', () => {
      instrument();
      source.send(
        lifecycle('refresh-started', { refreshId: 3, reason: 'expired', foreground: true }),
        lifecycle('auth-call-started', { refreshId: 3, operation: 'refresh', attempt: 1 }),
        lifecycle('refresh-ended', {
          refreshId: 3,
          reason: 'expired',
          outcome: 'abandoned',
          durationMs: 20_000,
          attempts: 1,
          errorCode: 'ERR_ALIX_TIMEOUT',
        }),
        // The aborted call reports its end after the run's: it changes nothing.
        lifecycle('auth-call-ended', {
          refreshId: 3,
          operation: 'refresh',
          attempt: 1,
          outcome: 'failure',
          durationMs: 20_001,
          errorCode: 'ERR_ALIX_ABORTED',
        }),
      );

      const spans = telemetry.spans();
      expect(spans.map((span) => span.name)).toEqual([SPAN_NAMES.authRefresh, SPAN_NAMES.refresh]);
      const [call, run] = spans;
      expect(run?.status).toEqual({ code: SpanStatusCode.ERROR, message: 'ERR_ALIX_TIMEOUT' });
      expect(run?.attributes).toMatchObject({
        [ATTRIBUTES.refreshOutcome]: 'abandoned',
        [ATTRIBUTES.errorType]: 'ERR_ALIX_TIMEOUT',
      });
      expect(call?.status).toEqual({ code: SpanStatusCode.ERROR, message: 'ERR_ALIX_TIMEOUT' });
      expect(call?.attributes[ATTRIBUTES.errorType]).toBe('ERR_ALIX_TIMEOUT');
    });

    it('ends a successful run, and an auth call it left open, without an error status', () => {
      instrument();
      source.send(
        lifecycle('refresh-started', { refreshId: 4, reason: 'scheduled', foreground: false }),
        lifecycle('auth-call-started', { refreshId: 4, operation: 'refresh', attempt: 1 }),
        lifecycle('refresh-ended', {
          refreshId: 4,
          reason: 'scheduled',
          outcome: 'adopted',
          durationMs: 5,
          attempts: 1,
        }),
      );

      expect(telemetry.spans().map((span) => [span.name, span.status.code])).toEqual([
        [SPAN_NAMES.authRefresh, SpanStatusCode.UNSET],
        [SPAN_NAMES.refresh, SpanStatusCode.UNSET],
      ]);
    });

    it("notes a session adopted from the store on the session's open run, and nowhere without one", () => {
      instrument();
      source.send(
        lifecycle('refresh-started', { refreshId: 6, reason: 'scheduled', foreground: false, session: 'jane' }),
        lifecycle('adopted', { accessTokenExpiresAt: AT + 900_000, session: 'jane' }),
        lifecycle('refresh-ended', {
          refreshId: 6,
          reason: 'scheduled',
          outcome: 'adopted',
          durationMs: 5,
          attempts: 0,
          session: 'jane',
        }),
        // A hand-over adopted between runs: no run span is open.
        lifecycle('adopted', { accessTokenExpiresAt: AT + 1_800_000, session: 'jane' }),
      );

      const spans = telemetry.spans();
      expect(spans.map((span) => span.name)).toEqual([SPAN_NAMES.refresh]);
      expect(spans[0]?.events.map((event) => [event.name, event.attributes])).toEqual([
        [SPAN_EVENT_NAMES.sessionAdopted, {}],
      ]);
    });

    it('marks a failed auth call or run without an error code in error as UNKNOWN', () => {
      instrument();
      source.send(
        lifecycle('refresh-started', { refreshId: 5, reason: 'initial', foreground: true }),
        lifecycle('auth-call-started', { refreshId: 5, operation: 'authenticate', attempt: 1 }),
        lifecycle('auth-call-ended', {
          refreshId: 5,
          operation: 'authenticate',
          attempt: 1,
          outcome: 'failure',
          durationMs: 10,
        }),
        lifecycle('refresh-ended', { refreshId: 5, reason: 'initial', outcome: 'failed', durationMs: 10, attempts: 1 }),
      );

      const [call, run] = telemetry.spans();
      expect(call?.name).toBe(SPAN_NAMES.authSignIn);
      expect(call?.status).toEqual({ code: SpanStatusCode.ERROR, message: 'UNKNOWN' });
      expect(call?.attributes[ATTRIBUTES.errorType]).toBe('UNKNOWN');
      expect(run?.status).toEqual({ code: SpanStatusCode.ERROR, message: 'UNKNOWN' });
    });

    it('ends a run or an auth call left open when the same refreshId or attempt starts again', () => {
      instrument();
      const started = lifecycle('refresh-started', { refreshId: 1, reason: 'initial', foreground: true, session: 'a' });
      const call = lifecycle('auth-call-started', {
        refreshId: 1,
        operation: 'authenticate',
        attempt: 1,
        session: 'a',
      });
      // A pool session recreated after eviction counts its runs from 1 again.
      source.send(started, call, call, started);

      expect(telemetry.spans().map((span) => span.name)).toEqual([
        SPAN_NAMES.authSignIn,
        SPAN_NAMES.authSignIn,
        SPAN_NAMES.refresh,
      ]);
    });

    it('ends every span once, however its run ends, and forgets the runs that ended', () => {
      const logger = { error: jest.fn(), warn: jest.fn(), info: jest.fn(), debug: jest.fn(), verbose: jest.fn() };
      diag.setLogger(logger, DiagLogLevel.WARN);
      try {
        const instrumentation = instrument();
        source.send(...refreshWithOneRetry(1));
        source.send(
          lifecycle('refresh-started', { refreshId: 2, reason: 'expired', foreground: true }),
          lifecycle('auth-call-started', { refreshId: 2, operation: 'refresh', attempt: 1 }),
          lifecycle('auth-call-ended', {
            refreshId: 2,
            operation: 'refresh',
            attempt: 1,
            outcome: 'failure',
            durationMs: 5,
            errorCode: UNAVAILABLE,
          }),
          lifecycle('refresh-ended', {
            refreshId: 2,
            reason: 'expired',
            outcome: 'failed',
            durationMs: 5,
            attempts: 1,
            errorCode: UNAVAILABLE,
          }),
          // After every run ended: there is no open span to note it on.
          lifecycle('store-failed', { operation: 'write', errorCode: 'ERR_ALIX_STORE', message: 'x' }),
        );
        instrumentation.uninstrument();

        expect(telemetry.spans()).toHaveLength(5);
        expect([...logger.error.mock.calls, ...logger.warn.mock.calls]).toEqual([]);
      } finally {
        diag.disable();
      }
    });

    it("notes an event without a refreshId on the session's newest open run, even after an older run ended", () => {
      instrument();
      source.send(
        lifecycle('refresh-started', { refreshId: 1, reason: 'scheduled', foreground: false }),
        lifecycle('refresh-started', { refreshId: 2, reason: 'forced', foreground: true }),
        lifecycle('refresh-ended', {
          refreshId: 1,
          reason: 'scheduled',
          outcome: 'refreshed',
          durationMs: 5,
          attempts: 1,
        }),
        lifecycle('lock-waited', { durationMs: 40, outcome: 'acquired' }),
        lifecycle('refresh-ended', {
          refreshId: 2,
          reason: 'forced',
          outcome: 'refreshed',
          durationMs: 5,
          attempts: 1,
        }),
      );

      const [older, newest] = telemetry.spans();
      expect(older?.events).toEqual([]);
      expect(newest?.events.map((event) => event.name)).toEqual([SPAN_EVENT_NAMES.lockWaited]);
    });

    it('notes a retry and a store failure whose code the library does not define as error.type _OTHER', () => {
      instrument();
      source.send(
        lifecycle('refresh-started', { refreshId: 1, reason: 'scheduled', foreground: false }),
        lifecycle('retry-scheduled', {
          refreshId: 1,
          operation: 'refresh',
          attempt: 1,
          delayMs: 250,
          errorCode: 'PROVIDER_7',
          background: false,
        }),
        lifecycle('store-failed', { operation: 'write', errorCode: 'STORE_7', message: 'x' }),
        lifecycle('refresh-ended', {
          refreshId: 1,
          reason: 'scheduled',
          outcome: 'refreshed',
          durationMs: 5,
          attempts: 2,
        }),
      );

      const [run] = telemetry.spans();
      expect(run?.events.map((event) => event.attributes?.[ATTRIBUTES.errorType])).toEqual(['_OTHER', '_OTHER']);
    });

    it('parents a foreground run on the active context and starts a background run as a new trace', () => {
      const restore = useStackContext();
      try {
        instrument();
        const request = telemetry.tracerProvider.getTracer('test').startSpan('GET /cards');
        context.with(trace.setSpan(ROOT_CONTEXT, request), () =>
          source.send(
            lifecycle('refresh-started', { refreshId: 1, reason: 'expired', foreground: true }),
            lifecycle('refresh-ended', {
              refreshId: 1,
              reason: 'expired',
              outcome: 'refreshed',
              durationMs: 1,
              attempts: 1,
            }),
            lifecycle('refresh-started', { refreshId: 2, reason: 'scheduled', foreground: false }),
            lifecycle('refresh-ended', {
              refreshId: 2,
              reason: 'scheduled',
              outcome: 'refreshed',
              durationMs: 1,
              attempts: 1,
            }),
          ),
        );
        request.end();

        const [foreground, background] = telemetry.spans();
        expect(foreground?.parentSpanContext?.spanId).toBe(request.spanContext().spanId);
        expect(background?.parentSpanContext).toBeUndefined();
        expect(background?.spanContext().traceId).not.toBe(request.spanContext().traceId);
      } finally {
        restore();
      }
    });

    it("keeps a pool's sessions apart when their runs share a refreshId, and never reports the session key", async () => {
      instrument();
      const a = refreshWithOneRetry(1, 'ada@example.com');
      const b = [
        lifecycle('refresh-started', { refreshId: 1, reason: 'initial', foreground: true, session: 'bob@example.com' }),
        lifecycle('auth-call-started', {
          refreshId: 1,
          operation: 'authenticate',
          attempt: 1,
          session: 'bob@example.com',
        }),
        lifecycle('auth-call-ended', {
          refreshId: 1,
          operation: 'authenticate',
          attempt: 1,
          outcome: 'success',
          durationMs: 10,
          session: 'bob@example.com',
        }),
        lifecycle('refresh-ended', {
          refreshId: 1,
          reason: 'initial',
          outcome: 'signed-in',
          durationMs: 10,
          attempts: 1,
          session: 'bob@example.com',
        }),
      ];
      // Interleaved: both runs are open at once.
      source.send(a[0]!, b[0]!, a[1]!, b[1]!, a[2]!, b[2]!, a[3]!, a[4]!, b[3]!, a[5]!, a[6]!);

      const spans = telemetry.spans();
      const runA = spans.find(
        (span) => span.name === SPAN_NAMES.refresh && span.attributes[ATTRIBUTES.refreshReason] === 'scheduled',
      );
      const runB = spans.find(
        (span) => span.name === SPAN_NAMES.refresh && span.attributes[ATTRIBUTES.refreshReason] === 'initial',
      );
      const childrenOf = (spanId: string | undefined) =>
        spans
          .filter((span) => span.parentSpanContext?.spanId === spanId)
          .map((span) => `${span.name}#${span.attributes[ATTRIBUTES.authAttempt]}`);
      expect(childrenOf(runA?.spanContext().spanId)).toEqual([
        `${SPAN_NAMES.authRefresh}#1`,
        `${SPAN_NAMES.authRefresh}#2`,
      ]);
      expect(childrenOf(runB?.spanContext().spanId)).toEqual([`${SPAN_NAMES.authSignIn}#1`]);
      expect(runA?.events).toHaveLength(1);
      expect(runB?.events).toHaveLength(0);
      expect(await telemetry.exportedText()).not.toMatch(/ada@|bob@|example\.com/);
    });
  });

  describe('uninstrument()', () => {
    it('removes the listener and the gauge callback, ends the open spans, and can be called twice', async () => {
      const instrumentation = instrument();
      const status = jest.spyOn(source, 'status');
      source.send(
        lifecycle('refresh-started', { refreshId: 1, reason: 'scheduled', foreground: false }),
        lifecycle('auth-call-started', { refreshId: 1, operation: 'refresh', attempt: 1 }),
      );
      await telemetry.collect();
      expect(status).toHaveBeenCalledTimes(1);

      instrumentation.uninstrument();
      instrumentation.uninstrument();
      source.send(
        lifecycle('auth-call-ended', {
          refreshId: 1,
          operation: 'refresh',
          attempt: 1,
          outcome: 'success',
          durationMs: 5,
        }),
      );

      expect(source.listenerCount('lifecycle')).toBe(0);
      expect(telemetry.spans().map((span) => span.name)).toEqual([SPAN_NAMES.authRefresh, SPAN_NAMES.refresh]);
      expect(pointsOf(await telemetry.collect(), METRIC_NAMES.authRequests)).toEqual([]);
      expect(status).toHaveBeenCalledTimes(1);
    });

    it('removes from the meter the gauge callback it added', () => {
      const meter = telemetry.meterProvider.getMeter('test');
      const gauge = meter.createObservableGauge('gauge');
      jest.spyOn(meter, 'createObservableGauge').mockReturnValue(gauge);
      const added = jest.spyOn(gauge, 'addCallback');
      const removed = jest.spyOn(gauge, 'removeCallback');
      instrumentTokenManager(source, { meterProvider: { getMeter: () => meter } }).uninstrument();
      expect(removed.mock.calls).toEqual([[added.mock.calls[0]?.[0]]]);
      expect(added).toHaveBeenCalledTimes(1);
    });
  });

  describe('failure isolation', () => {
    it('never lets a failing instrument or status() reach the emitter, and keeps the other signals', async () => {
      const broken: MeterProvider = {
        getMeter: (...args) => {
          const meter = telemetry.meterProvider.getMeter(...args);
          return Object.assign(Object.create(meter) as typeof meter, {
            createCounter: () => ({
              add: () => {
                throw new Error('exporter bug');
              },
            }),
          });
        },
      };
      instrumentTokenManager(source, { meterProvider: broken, tracerProvider: telemetry.tracerProvider });
      jest.spyOn(source, 'status').mockImplementation(() => {
        throw new Error('status bug');
      });

      expect(() =>
        source.send(...refreshWithOneRetry(), lifecycle('token-waited', { durationMs: 5, outcome: 'success' })),
      ).not.toThrow();
      const exported = await telemetry.collect();
      expect(pointsOf(exported, METRIC_NAMES.tokenWaitDuration)).toHaveLength(1);
      expect(pointsOf(exported, METRIC_NAMES.tokenRemainingLifetime)).toEqual([]);
      expect(telemetry.spans()).toHaveLength(3);
    });

    it('never lets uninstrument() throw on a failing SDK, and still ends the open spans', async () => {
      const meter = telemetry.meterProvider.getMeter('broken');
      const gauge = meter.createObservableGauge('broken');
      gauge.removeCallback = () => {
        throw new Error('sdk bug');
      };
      const meterProvider: MeterProvider = {
        getMeter: () => Object.assign(Object.create(meter) as typeof meter, { createObservableGauge: () => gauge }),
      };
      const instrumentation = instrument({ meterProvider });
      source.send(lifecycle('refresh-started', { refreshId: 1, reason: 'scheduled', foreground: false }));

      expect(() => instrumentation.uninstrument()).not.toThrow();
      expect(telemetry.spans().map((span) => span.name)).toEqual([SPAN_NAMES.refresh]);
      // The gauge's callback could not be removed: it must stop reading status() all the same.
      const status = jest.spyOn(source, 'status');
      expect(pointsOf(await telemetry.collect(), 'broken')).toEqual([]);
      expect(status).not.toHaveBeenCalled();
    });

    it('forgets a run whose span.end() throws, instead of ending it again at uninstrument()', () => {
      const tracer = telemetry.tracerProvider.getTracer('broken');
      const end = jest.fn(() => {
        throw new Error('span processor bug');
      });
      const tracerProvider: TracerProvider = {
        getTracer: () =>
          Object.assign(Object.create(tracer) as typeof tracer, {
            startSpan: (...args: Parameters<typeof tracer.startSpan>) =>
              Object.assign(tracer.startSpan(...args), { end }),
          }),
      };
      const instrumentation = instrument({ tracerProvider });
      const run = { refreshId: 1, reason: 'scheduled', outcome: 'refreshed', durationMs: 5, attempts: 1 } as const;
      source.send(
        lifecycle('refresh-started', { refreshId: 1, reason: 'scheduled', foreground: false }),
        lifecycle('refresh-ended', { ...run, accessTokenExpiresAt: AT + 900_000 }),
      );

      expect(() => instrumentation.uninstrument()).not.toThrow();
      expect(end).toHaveBeenCalledTimes(1);
    });

    it('ends every span exactly once when span.end() throws, at uninstrument() too', () => {
      const tracer = telemetry.tracerProvider.getTracer('broken');
      const ended: number[] = []; // the spans, numbered in the order they started
      let started = 0;
      const tracerProvider: TracerProvider = {
        getTracer: () =>
          Object.assign(Object.create(tracer) as typeof tracer, {
            startSpan: (...args: Parameters<typeof tracer.startSpan>) => {
              const [span, index] = [tracer.startSpan(...args), started++];
              const end = span.end.bind(span);
              return Object.assign(span, {
                end: () => {
                  ended.push(index);
                  end();
                  throw new Error('span processor bug');
                },
              });
            },
          }),
      };
      const instrumentation = instrument({ tracerProvider });
      const call = (attempt: number) => ({ refreshId: 1, operation: 'refresh', attempt }) as const;
      source.send(
        lifecycle('refresh-started', { refreshId: 1, reason: 'scheduled', foreground: false }),
        lifecycle('auth-call-started', call(1)),
        lifecycle('auth-call-ended', { ...call(1), outcome: 'failure', durationMs: 5 }),
        lifecycle('auth-call-started', call(2)),
        lifecycle('auth-call-started', call(2)),
        lifecycle('refresh-started', { refreshId: 1, reason: 'scheduled', foreground: false, session: 'b' }),
      );

      expect(() => instrumentation.uninstrument()).not.toThrow();
      instrumentation.uninstrument();
      expect(telemetry.spans()).toHaveLength(5);
      expect(ended.sort()).toEqual([0, 1, 2, 3, 4]);
    });

    it('ends a failed span even when marking it failed throws', () => {
      const tracer = telemetry.tracerProvider.getTracer('broken');
      const tracerProvider: TracerProvider = {
        getTracer: () =>
          Object.assign(Object.create(tracer) as typeof tracer, {
            startSpan: (...args: Parameters<typeof tracer.startSpan>) =>
              Object.assign(tracer.startSpan(...args), {
                setStatus: () => {
                  throw new Error('span processor bug');
                },
              }),
          }),
      };
      instrument({ tracerProvider });
      const run = { refreshId: 1, reason: 'scheduled', outcome: 'failed', durationMs: 5, attempts: 1 } as const;
      source.send(
        lifecycle('refresh-started', { refreshId: 1, reason: 'scheduled', foreground: false }),
        lifecycle('refresh-ended', { ...run, errorCode: UNAVAILABLE }),
      );

      expect(telemetry.spans().map((span) => span.name)).toEqual([SPAN_NAMES.refresh]);
    });

    it('records nothing once uninstrument() returns, even an event in mid-emit to an earlier listener', async () => {
      const tracer = telemetry.tracerProvider.getTracer('spied');
      const startSpan = jest.spyOn(tracer, 'startSpan');
      source.on('lifecycle', () => instrumentation.uninstrument()); // registered first: called first
      const instrumentation = instrument({ tracerProvider: { getTracer: () => tracer } });
      const run = { refreshId: 1, reason: 'scheduled', outcome: 'refreshed', durationMs: 5, attempts: 1 } as const;
      source.send(
        lifecycle('refresh-started', { refreshId: 1, reason: 'scheduled', foreground: false }),
        lifecycle('refresh-ended', { ...run, accessTokenExpiresAt: AT + 900_000 }),
      );

      expect(startSpan).not.toHaveBeenCalled();
      expect(pointsOf(await telemetry.collect(), METRIC_NAMES.refreshes)).toEqual([]);
    });

    it('rejects a source that is not a manager or pool, naming what is missing', () => {
      expect(() => instrumentTokenManager({ on: () => undefined } as never)).toThrow(ConfigurationError);
      expect(() => instrumentTokenManager({ on: () => undefined } as never)).toThrow(/without off, status\(\)/);
    });

    it('rejects options of the wrong type at once', () => {
      expect(() => instrument({ now: 5 as never })).toThrow(/now must be a function/);
      expect(() => instrument({ attributes: null as never })).toThrow(/attributes must be an object/);
      expect(source.listenerCount('lifecycle')).toBe(0);
    });

    it('rejects a null options object and providers without getMeter()/getTracer() with a ConfigurationError', () => {
      const cases: Array<[unknown, RegExp]> = [
        [null, /options must be an object/],
        [{ meterProvider: {} }, /meterProvider must be a MeterProvider/],
        [{ meterProvider: null }, /meterProvider must be a MeterProvider/],
        [{ tracerProvider: 1 }, /tracerProvider must be a TracerProvider/],
      ];
      for (const [options, message] of cases) {
        expect(() => instrumentTokenManager(source, options as never)).toThrow(ConfigurationError);
        expect(() => instrumentTokenManager(source, options as never)).toThrow(message);
      }
      expect(source.listenerCount('lifecycle')).toBe(0);
    });
  });

  describe('secrets', () => {
    it('exports no token, signature, key, message or session key even when the source carries them', async () => {
      const secrets = {
        accessToken: 'eyJhbGciOiJIUzI1NiJ9.ACCESS-TOKEN-7f3a9c',
        refreshToken: 'REFRESH-TOKEN-51c0de-never-export',
        signature: 'c2lnbmF0dXJlLXNob3VsZC1uZXZlci1sZWFr==',
        secretKey: 'partner-secret-key-0b7e',
        storeMessage: 'WRONGPASS invalid password for redis-secret-9d2',
        session: 'carol.secret-user@example.org',
      };
      // A misbehaving source: extra fields on events and status, a store error that echoes a secret.
      const leaky = {
        accessToken: secrets.accessToken,
        refreshToken: secrets.refreshToken,
        signature: secrets.signature,
        secretKey: secrets.secretKey,
      };
      instrument({ now: () => AT });
      source.statusValue = { accessTokenExpiresAt: AT + 60_000, ...leaky };
      const run = refreshWithOneRetry(3, secrets.session).map((event) => ({ ...event, ...leaky }));
      const storeFailed = lifecycle('store-failed', {
        operation: 'write',
        errorCode: 'ERR_ALIX_STORE',
        message: secrets.storeMessage,
        session: secrets.session,
      });
      // The store failure lands inside the run, so it becomes a span event as well as a metric.
      source.send(...run.slice(0, -1), storeFailed, ...run.slice(-1), storeFailed);
      source.send(
        lifecycle('replayed', { adapter: 'axios', status: 401, method: 'GET', origin: 'https://api.alix.example' }),
      );

      const text = await telemetry.exportedText();
      expect(text).toContain(METRIC_NAMES.authRequests);
      expect(text).toContain(METRIC_NAMES.tokenRemainingLifetime);
      expect(text).toContain(SPAN_EVENT_NAMES.storeFailed);
      expect(
        Object.entries(secrets)
          .filter(([, secret]) => text.includes(secret))
          .map(([label]) => label),
      ).toEqual([]);
    });
  });

  it('reports a code of its own provider or store that the library does not define as error.type _OTHER', async () => {
    let calls = 0;
    const provider = {
      identity: undefined,
      authenticate: () => Promise.reject(Object.assign(new Error('nope'), { code: `PROVIDER_${(calls += 1)}` })),
      refresh: () => Promise.reject(new Error('unused')),
    };
    const manager = new TokenManager({ provider, retry: { retries: 0 } });
    instrumentTokenManager(manager, {
      meterProvider: telemetry.meterProvider,
      tracerProvider: telemetry.tracerProvider,
    });

    for (let attempt = 0; attempt < 3; attempt += 1)
      await manager.getAccessToken({ forceRefresh: true }).catch(() => {});
    manager.close();

    const errorTypes = pointsOf(await telemetry.collect(), METRIC_NAMES.authRequests).map(
      (point) => point.attributes[ATTRIBUTES.errorType],
    );
    expect(calls).toBeGreaterThan(0);
    expect(new Set(errorTypes)).toEqual(new Set(['_OTHER']));
    const spanTypes = telemetry.spans().map((span) => span.attributes[ATTRIBUTES.errorType]);
    expect(new Set(spanTypes)).toEqual(new Set(['_OTHER']));
  });

  it('reports under names docs/observability.md lists, so dashboards and alert rules built from it match', () => {
    const doc = readFileSync(path.join(__dirname, '../../docs/observability.md'), 'utf8');
    const named = [METRIC_NAMES, SPAN_NAMES, SPAN_EVENT_NAMES, ATTRIBUTES].flatMap((names) => Object.values(names));
    expect([INSTRUMENTATION_SCOPE, ...named].filter((name) => !doc.includes(`\`${name}\``))).toEqual([]);
  });

  it('keeps the library codes as error.type', async () => {
    instrument();
    source.send(
      lifecycle('store-failed', { operation: 'read', errorCode: 'ERR_ALIX_STORE_UNREADABLE', message: 'x' }),
      lifecycle('store-failed', { operation: 'write', errorCode: 'x'.repeat(10_000), message: 'x' }),
    );

    const errorTypes = pointsOf(await telemetry.collect(), METRIC_NAMES.storeErrors).map(
      (point) => point.attributes[ATTRIBUTES.errorType],
    );
    expect(errorTypes.sort()).toEqual(['ERR_ALIX_STORE_UNREADABLE', '_OTHER']);
  });
});
