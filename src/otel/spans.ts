/**
 * Lifecycle events → OpenTelemetry spans: one span per refresh run, each auth call a child
 * span, retries and store/lock happenings as events on the run's span. Runs are correlated
 * by `refreshId` within a session (a pool's sessions count their runs independently).
 */
import type { Attributes, Context, Span, Tracer } from '@opentelemetry/api';
import { errorTypeOf, type InstrumentedLifecycleEvent, type LifecycleRecorder } from './recorder';
import { ATTRIBUTES as A, SPAN_EVENT_NAMES, SPAN_NAMES } from './names';
import { otelApi } from './peer';

/** A refresh run whose span is open, with its auth calls still in flight (by `operation#attempt`). */
type OpenRun = { span: Span; calls: Map<string, Span> };

const runKey = (session: string, refreshId: number): string => `${session}\u0000${refreshId}`;

/** Marks a span failed with the error code only: messages may echo the auth server's text. */
function fail(span: Span, errorCode: string): void {
  const errorType = errorTypeOf(errorCode);
  span.setAttribute(A.errorType, errorType);
  span.setStatus({ code: otelApi().SpanStatusCode.ERROR, message: errorType });
}

/** Returns a recorder that turns lifecycle events into spans on `tracer`. */
export function createSpanRecorder(tracer: Tracer, base: Attributes): LifecycleRecorder {
  const { ROOT_CONTEXT, SpanKind, context, trace } = otelApi();
  const runs = new Map<string, OpenRun>();
  /** The newest open run per session: where events without a `refreshId` belong. */
  const latest = new Map<string, OpenRun>();
  const start = (name: string, attributes: Attributes, parent: Context): Span =>
    tracer.startSpan(name, { kind: SpanKind.INTERNAL, attributes: { ...base, ...attributes } }, parent);
  /** Ends `span`, failed with `errorCode` when given. An SDK that throws must leave no span open, this or the next. */
  const close = (span: Span, errorCode?: string): void => {
    try {
      try {
        if (errorCode !== undefined) fail(span, errorCode);
      } finally {
        span.end();
      }
    } catch {
      // nothing to do: the span is forgotten all the same, never to be ended twice
    }
  };
  /** Ends a run's auth calls still open, then its span; with `errorCode`, they all failed with it. */
  const end = (run: OpenRun, errorCode?: string): void => {
    for (const span of [...run.calls.values(), run.span]) close(span, errorCode);
  };

  return {
    record(event: InstrumentedLifecycleEvent): void {
      const session = event.session ?? '';
      // The open run the event belongs to: by its `refreshId`, else the session's newest.
      const id = 'refreshId' in event ? event.refreshId : undefined;
      const run = id === undefined ? latest.get(session) : runs.get(runKey(session, id));
      if (event.type === 'refresh-started') {
        if (run !== undefined) end(run);
        // A foreground run belongs to the caller that waits on it; a background run would
        // otherwise inherit whatever context armed its timer, often an unrelated old request.
        const parent = event.foreground ? context.active() : ROOT_CONTEXT;
        const attributes = { [A.refreshReason]: event.reason, [A.refreshForeground]: event.foreground };
        const opened = { span: start(SPAN_NAMES.refresh, attributes, parent), calls: new Map<string, Span>() };
        runs.set(runKey(session, event.refreshId), opened);
        latest.set(session, opened);
        return;
      }
      // Every other event is noted on its open run, if any: a background retry, say, comes after its run ended
      // (the retries counter still counts it).
      if (run === undefined) return;
      switch (event.type) {
        case 'auth-call-started': {
          const { operation, attempt } = event;
          const name = operation === 'authenticate' ? SPAN_NAMES.authSignIn : SPAN_NAMES.authRefresh;
          const attributes = { [A.authOperation]: operation, [A.authAttempt]: attempt };
          const span = start(name, attributes, trace.setSpan(ROOT_CONTEXT, run.span));
          const previous = run.calls.get(`${operation}#${attempt}`);
          run.calls.set(`${operation}#${attempt}`, span);
          if (previous !== undefined) close(previous);
          return;
        }
        case 'auth-call-ended': {
          const key = `${event.operation}#${event.attempt}`;
          const span = run.calls.get(key);
          if (span === undefined) return;
          span.setAttribute(A.authOutcome, event.outcome);
          if (event.status !== undefined) span.setAttribute(A.httpStatusCode, event.status);
          run.calls.delete(key);
          return close(span, event.outcome === 'failure' ? (event.errorCode ?? 'UNKNOWN') : undefined);
        }
        case 'retry-scheduled':
          run.span.addEvent(SPAN_EVENT_NAMES.retryScheduled, {
            [A.authOperation]: event.operation,
            [A.authAttempt]: event.attempt,
            [A.retryDelayMs]: event.delayMs,
            [A.errorType]: errorTypeOf(event.errorCode),
          });
          return;
        case 'refresh-ended': {
          run.span.setAttributes({ [A.refreshOutcome]: event.outcome, [A.refreshAttempts]: event.attempts });
          // A run that hit its deadline (`abandoned`) failed too, and so did any auth call it
          // left unanswered: the deadline's error code is theirs.
          const failed = event.outcome === 'failed' || event.outcome === 'abandoned';
          runs.delete(runKey(session, event.refreshId));
          if (latest.get(session) === run) latest.delete(session);
          return end(run, failed ? (event.errorCode ?? 'UNKNOWN') : undefined);
        }
        case 'lock-waited':
          run.span.addEvent(SPAN_EVENT_NAMES.lockWaited, {
            [A.lockOutcome]: event.outcome,
            [A.lockWaitMs]: event.durationMs,
          });
          return;
        case 'store-failed':
          run.span.addEvent(SPAN_EVENT_NAMES.storeFailed, {
            [A.storeOperation]: event.operation,
            [A.errorType]: errorTypeOf(event.errorCode),
          });
          return;
        case 'adopted':
          run.span.addEvent(SPAN_EVENT_NAMES.sessionAdopted);
      }
    },
    dispose(): void {
      // Not cleared: instrument() drops this recorder with its maps, and never records to it again.
      for (const run of runs.values()) end(run);
    },
  };
}
