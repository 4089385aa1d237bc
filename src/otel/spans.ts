/**
 * Lifecycle events → OpenTelemetry spans: one span per refresh run, each auth call a child
 * span, retries and store/lock happenings as events on the run's span. Runs are correlated
 * by `refreshId` within a session (a pool's sessions count their runs independently).
 */
import type { Attributes, Span, Tracer } from '@opentelemetry/api';
import { ATTRIBUTES, SPAN_EVENT_NAMES, SPAN_NAMES } from './names';
import { otelApi } from './peer';
import type { InstrumentedLifecycleEvent, LifecycleRecorder } from './types';

/** A refresh run whose span is open, with its auth calls still in flight. */
interface OpenRun {
  span: Span;
  calls: Map<string, Span>;
}

const sessionOf = (event: InstrumentedLifecycleEvent): string => event.session ?? '';
const runKey = (session: string, refreshId: number): string => `${session}\u0000${refreshId}`;
const callKey = (operation: string, attempt: number): string => `${operation}#${attempt}`;

/** Marks a span failed with the error code only: messages may echo the auth server's text. */
function fail(span: Span, errorCode: string): void {
  span.setAttribute(ATTRIBUTES.errorType, errorCode);
  span.setStatus({ code: otelApi().SpanStatusCode.ERROR, message: errorCode });
}

/** Returns a recorder that turns lifecycle events into spans on `tracer`. */
export function createSpanRecorder(tracer: Tracer, base: Attributes): LifecycleRecorder {
  const { ROOT_CONTEXT, SpanKind, context, trace } = otelApi();
  const runs = new Map<string, OpenRun>();
  /** The newest open run per session: where events without a `refreshId` belong. */
  const latest = new Map<string, string>();

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
  const currentRun = (event: InstrumentedLifecycleEvent): OpenRun | undefined => {
    const key = latest.get(sessionOf(event));
    return key === undefined ? undefined : runs.get(key);
  };

  return {
    record(event: InstrumentedLifecycleEvent): void {
      switch (event.type) {
        case 'refresh-started': {
          const key = runKey(sessionOf(event), event.refreshId);
          endRun(key);
          // A foreground run belongs to the caller that waits on it; a background run would
          // otherwise inherit whatever context armed its timer, often an unrelated old request.
          const parent = event.foreground ? context.active() : ROOT_CONTEXT;
          const span = tracer.startSpan(
            SPAN_NAMES.refresh,
            {
              kind: SpanKind.INTERNAL,
              attributes: {
                ...base,
                [ATTRIBUTES.refreshReason]: event.reason,
                [ATTRIBUTES.refreshForeground]: event.foreground,
              },
            },
            parent,
          );
          runs.set(key, { span, calls: new Map() });
          latest.set(sessionOf(event), key);
          return;
        }
        case 'auth-call-started': {
          const run = runs.get(runKey(sessionOf(event), event.refreshId));
          if (run === undefined) return;
          const span = tracer.startSpan(
            event.operation === 'sign_in' ? SPAN_NAMES.authSignIn : SPAN_NAMES.authRefresh,
            {
              kind: SpanKind.INTERNAL,
              attributes: {
                ...base,
                [ATTRIBUTES.authOperation]: event.operation,
                [ATTRIBUTES.authAttempt]: event.attempt,
              },
            },
            trace.setSpan(ROOT_CONTEXT, run.span),
          );
          run.calls.get(callKey(event.operation, event.attempt))?.end();
          run.calls.set(callKey(event.operation, event.attempt), span);
          return;
        }
        case 'auth-call-ended': {
          const run = runs.get(runKey(sessionOf(event), event.refreshId));
          const key = callKey(event.operation, event.attempt);
          const span = run?.calls.get(key);
          if (run === undefined || span === undefined) return;
          span.setAttribute(ATTRIBUTES.authOutcome, event.outcome);
          if (event.status !== undefined) span.setAttribute(ATTRIBUTES.httpStatusCode, event.status);
          if (event.outcome === 'failure') fail(span, event.errorCode ?? 'UNKNOWN');
          span.end();
          run.calls.delete(key);
          return;
        }
        case 'retry-scheduled': {
          // A background retry comes after its run ended: there is no open span to note it on
          // (the retries counter still counts it).
          const run = runs.get(runKey(sessionOf(event), event.refreshId));
          run?.span.addEvent(SPAN_EVENT_NAMES.retryScheduled, {
            [ATTRIBUTES.authOperation]: event.operation,
            [ATTRIBUTES.authAttempt]: event.attempt,
            [ATTRIBUTES.retryDelayMs]: event.delayMs,
            [ATTRIBUTES.errorType]: event.errorCode,
          });
          return;
        }
        case 'refresh-ended': {
          const key = runKey(sessionOf(event), event.refreshId);
          const run = runs.get(key);
          if (run === undefined) return;
          run.span.setAttributes({
            [ATTRIBUTES.refreshOutcome]: event.outcome,
            [ATTRIBUTES.refreshAttempts]: event.attempts,
          });
          // A run that hit its deadline (`abandoned`) failed too, and so did any auth call it
          // left unanswered: the deadline's error code is theirs.
          const errorCode =
            event.outcome === 'failed' || event.outcome === 'abandoned' ? (event.errorCode ?? 'UNKNOWN') : undefined;
          if (errorCode !== undefined) fail(run.span, errorCode);
          endRun(key, errorCode);
          if (latest.get(sessionOf(event)) === key) latest.delete(sessionOf(event));
          return;
        }
        case 'lock-waited':
          currentRun(event)?.span.addEvent(SPAN_EVENT_NAMES.lockWaited, {
            [ATTRIBUTES.lockOutcome]: event.outcome,
            [ATTRIBUTES.lockWaitMs]: event.durationMs,
          });
          return;
        case 'store-failed':
          currentRun(event)?.span.addEvent(SPAN_EVENT_NAMES.storeFailed, {
            [ATTRIBUTES.storeOperation]: event.operation,
            [ATTRIBUTES.errorType]: event.errorCode,
          });
          return;
        case 'adopted':
          currentRun(event)?.span.addEvent(SPAN_EVENT_NAMES.sessionAdopted);
          return;
        default:
          return;
      }
    },
    dispose(): void {
      for (const key of [...runs.keys()]) endRun(key);
      latest.clear();
    },
  };
}
