/**
 * Lifecycle events → OpenTelemetry spans: one span per refresh run, each auth call a child
 * span, retries and store/lock happenings as events on the run's span. Runs are correlated
 * by `refreshId` within a session (a pool's sessions count their runs independently).
 */
import type { Attributes, Context, Span, Tracer } from '@opentelemetry/api';
import type { InstrumentedLifecycleEvent, LifecycleRecorder } from './recorder';
import { ATTRIBUTES, SPAN_EVENT_NAMES, SPAN_NAMES } from './names';
import { otelApi } from './peer';

/** The attribute keys, by a short name. */
const A = ATTRIBUTES;

/** A refresh run whose span is open, with its auth calls still in flight (by `operation#attempt`). */
type OpenRun = { span: Span; calls: Map<string, Span> };

const runKey = (session: string, refreshId: number): string => `${session}\u0000${refreshId}`;

/** Marks a span failed with the error code only: messages may echo the auth server's text. */
function fail(span: Span, errorCode: string): void {
  span.setAttribute(A.errorType, errorCode);
  span.setStatus({ code: otelApi().SpanStatusCode.ERROR, message: errorCode });
}

/** Returns a recorder that turns lifecycle events into spans on `tracer`. */
export function createSpanRecorder(tracer: Tracer, base: Attributes): LifecycleRecorder {
  const { ROOT_CONTEXT, SpanKind, context, trace } = otelApi();
  const runs = new Map<string, OpenRun>();
  /** The newest open run per session: where events without a `refreshId` belong. */
  const latest = new Map<string, string>();
  const start = (name: string, attributes: Attributes, parent: Context): Span =>
    tracer.startSpan(name, { kind: SpanKind.INTERNAL, attributes: { ...base, ...attributes } }, parent);
  /** The open run an event belongs to: by its `refreshId`, else the session's newest. */
  const runOf = (event: InstrumentedLifecycleEvent): OpenRun | undefined => {
    const session = event.session ?? '';
    const key = 'refreshId' in event ? runKey(session, event.refreshId) : latest.get(session);
    return key === undefined ? undefined : runs.get(key);
  };
  /** Ends a run's span and its auth calls still open; with `errorCode`, those calls failed with it. */
  const endRun = (key: string, errorCode?: string): void => {
    const run = runs.get(key);
    if (run === undefined) return;
    for (const call of run.calls.values()) {
      if (errorCode !== undefined) fail(call, errorCode);
      call.end();
    }
    run.span.end();
    runs.delete(key);
  };

  return {
    record(event: InstrumentedLifecycleEvent): void {
      const session = event.session ?? '';
      const run = runOf(event);
      switch (event.type) {
        case 'refresh-started': {
          const key = runKey(session, event.refreshId);
          endRun(key);
          // A foreground run belongs to the caller that waits on it; a background run would
          // otherwise inherit whatever context armed its timer, often an unrelated old request.
          const parent = event.foreground ? context.active() : ROOT_CONTEXT;
          const attributes = { [A.refreshReason]: event.reason, [A.refreshForeground]: event.foreground };
          runs.set(key, { span: start(SPAN_NAMES.refresh, attributes, parent), calls: new Map() });
          latest.set(session, key);
          return;
        }
        case 'auth-call-started': {
          if (run === undefined) return;
          const { operation, attempt } = event;
          const name = operation === 'authenticate' ? SPAN_NAMES.authSignIn : SPAN_NAMES.authRefresh;
          const attributes = { [A.authOperation]: operation, [A.authAttempt]: attempt };
          const span = start(name, attributes, trace.setSpan(ROOT_CONTEXT, run.span));
          run.calls.get(`${operation}#${attempt}`)?.end();
          run.calls.set(`${operation}#${attempt}`, span);
          return;
        }
        case 'auth-call-ended': {
          const key = `${event.operation}#${event.attempt}`;
          const span = run?.calls.get(key);
          if (span === undefined) return;
          span.setAttribute(A.authOutcome, event.outcome);
          if (event.status !== undefined) span.setAttribute(A.httpStatusCode, event.status);
          if (event.outcome === 'failure') fail(span, event.errorCode ?? 'UNKNOWN');
          span.end();
          run?.calls.delete(key);
          return;
        }
        case 'retry-scheduled':
          // A background retry comes after its run ended: there is no open span to note it on
          // (the retries counter still counts it).
          run?.span.addEvent(SPAN_EVENT_NAMES.retryScheduled, {
            [A.authOperation]: event.operation,
            [A.authAttempt]: event.attempt,
            [A.retryDelayMs]: event.delayMs,
            [A.errorType]: event.errorCode,
          });
          return;
        case 'refresh-ended': {
          if (run === undefined) return;
          run.span.setAttributes({ [A.refreshOutcome]: event.outcome, [A.refreshAttempts]: event.attempts });
          // A run that hit its deadline (`abandoned`) failed too, and so did any auth call it
          // left unanswered: the deadline's error code is theirs.
          const failed = event.outcome === 'failed' || event.outcome === 'abandoned';
          const errorCode = failed ? (event.errorCode ?? 'UNKNOWN') : undefined;
          if (errorCode !== undefined) fail(run.span, errorCode);
          const key = runKey(session, event.refreshId);
          endRun(key, errorCode);
          if (latest.get(session) === key) latest.delete(session);
          return;
        }
        case 'lock-waited':
          run?.span.addEvent(SPAN_EVENT_NAMES.lockWaited, {
            [A.lockOutcome]: event.outcome,
            [A.lockWaitMs]: event.durationMs,
          });
          return;
        case 'store-failed':
          run?.span.addEvent(SPAN_EVENT_NAMES.storeFailed, {
            [A.storeOperation]: event.operation,
            [A.errorType]: event.errorCode,
          });
          return;
        case 'adopted':
          run?.span.addEvent(SPAN_EVENT_NAMES.sessionAdopted);
      }
    },
    dispose(): void {
      for (const key of [...runs.keys()]) endRun(key);
      latest.clear();
    },
  };
}
