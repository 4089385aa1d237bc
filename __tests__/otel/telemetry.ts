/**
 * Test harness for alix-token-manager/otel: SDK providers wired to in-memory exporters,
 * readers for the exported data, a fake lifecycle source and event factories.
 */
import { EventEmitter } from 'node:events';
import { ROOT_CONTEXT, context } from '@opentelemetry/api';
import type { Attributes, Context, ContextManager } from '@opentelemetry/api';
import {
  AggregationTemporality,
  DataPointType,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import type { MetricData } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { InstrumentedLifecycleEvent } from '../../src/otel';

/** SDK meter and tracer providers whose output stays in memory. */
export class Telemetry {
  readonly metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  readonly spanExporter = new InMemorySpanExporter();
  // The interval is never reached: collect() flushes by hand.
  readonly reader = new PeriodicExportingMetricReader({
    exporter: this.metricExporter,
    exportIntervalMillis: 3_600_000,
  });
  readonly meterProvider = new MeterProvider({ readers: [this.reader] });
  readonly tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(this.spanExporter)] });

  /** Exports the metrics now and returns the latest export, flattened to its metrics. */
  async collect(): Promise<MetricData[]> {
    this.metricExporter.reset();
    await this.reader.forceFlush();
    return this.metricExporter
      .getMetrics()
      .flatMap((resource) => resource.scopeMetrics.flatMap((scope) => scope.metrics));
  }

  /** Ended spans, in the order they ended. */
  spans(): ReadableSpan[] {
    return this.spanExporter.getFinishedSpans();
  }

  /** Every exported metric and span, as one JSON text: what a secrets scan reads. */
  async exportedText(): Promise<string> {
    const metrics = await this.collect();
    const spans = this.spans().map((span) => ({
      name: span.name,
      attributes: span.attributes,
      events: span.events,
      status: span.status,
      links: span.links,
      resource: span.resource.attributes,
    }));
    return JSON.stringify({ metrics, spans });
  }

  async shutdown(): Promise<void> {
    await Promise.all([this.meterProvider.shutdown(), this.tracerProvider.shutdown()]);
  }
}

/** One data point of a metric: its attributes and value (a number, or a histogram's count and sum). */
export interface Point {
  attributes: Attributes;
  value: number | { count: number; sum: number | undefined };
}

/** The points of the metric called `name`; an empty list when it has none. */
export function pointsOf(metrics: readonly MetricData[], name: string): Point[] {
  const metric = metrics.find((candidate) => candidate.descriptor.name === name);
  if (metric === undefined) return [];
  return metric.dataPoints.map((point) => ({
    attributes: point.attributes,
    value:
      metric.dataPointType === DataPointType.HISTOGRAM
        ? { count: (point.value as { count: number }).count, sum: (point.value as { sum?: number }).sum }
        : (point.value as number),
  }));
}

/** The metric called `name`, failing the test when it was not exported. */
export function metricOf(metrics: readonly MetricData[], name: string): MetricData {
  const metric = metrics.find((candidate) => candidate.descriptor.name === name);
  if (metric === undefined) throw new Error(`metric ${name} was not exported`);
  return metric;
}

/** A stand-in for a TokenManager (or a pool): emits what the test says, reports a settable status. */
export class FakeLifecycleSource extends EventEmitter {
  statusValue: Record<string, unknown> = { accessTokenExpiresAt: null };

  status(): Record<string, unknown> {
    return this.statusValue;
  }

  send(...events: InstrumentedLifecycleEvent[]): void {
    for (const event of events) this.emit('lifecycle', event);
  }
}

/** A fixed instant for event timestamps. */
export const AT = Date.UTC(2026, 0, 1, 12, 0, 0);

/** A lifecycle event of the given type, with `at` filled in. */
export function lifecycle<T extends InstrumentedLifecycleEvent['type']>(
  type: T,
  fields: Omit<Extract<InstrumentedLifecycleEvent, { type: T }>, 'type' | 'at'> & { session?: string },
): InstrumentedLifecycleEvent {
  return { type, at: AT, ...fields } as InstrumentedLifecycleEvent;
}

/**
 * A synchronous context manager, enough for `context.with()` around synchronous emits
 * (the API's default manager ignores `with()`, so every span would be a root).
 */
export class StackContextManager implements ContextManager {
  #stack: Context[] = [];

  active(): Context {
    return this.#stack[this.#stack.length - 1] ?? ROOT_CONTEXT;
  }

  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    ctx: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    this.#stack.push(ctx);
    try {
      return fn.call(thisArg, ...args);
    } finally {
      this.#stack.pop();
    }
  }

  bind<T>(_context: Context, target: T): T {
    return target;
  }

  enable(): this {
    return this;
  }

  disable(): this {
    this.#stack = [];
    return this;
  }
}

/** Installs {@link StackContextManager} globally; returns its remover. */
export function useStackContext(): () => void {
  context.setGlobalContextManager(new StackContextManager());
  return () => context.disable();
}
