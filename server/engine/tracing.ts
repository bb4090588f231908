/**
 * OpenTelemetry traces through `@opentelemetry/api` only: the application brings its SDK (and
 * its exporter); with none registered every call here is a no-op. One trace follows a request
 * from the GraphQL operation to the dispatch, every task attempt and every child call, across
 * processes: the dispatch and each call store their trace context (W3C `traceparent`) on the
 * task row, and the worker that runs the task continues that trace.
 */
import { SpanKind, SpanStatusCode, context, propagation, trace, type Attributes, type Context, type Span } from '@opentelemetry/api';

/** Instrumentation scope of every span Senpuki makes. */
export const TRACER_NAME = 'senpuki';

/** What is stored on a task row: the W3C trace context headers of the span that made it. */
export type TraceCarrier = Record<string, string>;

export function tracer() {
  return trace.getTracer(TRACER_NAME);
}

/** The trace context of `ctx` (default: the active one) as a carrier to store; undefined when nothing is traced. */
export function traceCarrier(ctx: Context = context.active()): TraceCarrier | undefined {
  if (!trace.getSpan(ctx)?.isRecording()) return undefined;
  const carrier: TraceCarrier = {};
  propagation.inject(ctx, carrier);
  return Object.keys(carrier).length > 0 ? carrier : undefined;
}

/** The context a stored carrier continues (the root context when there is none). */
export function contextOf(carrier: TraceCarrier | undefined): Context {
  return carrier ? propagation.extract(context.active(), carrier) : context.active();
}

/** Marks `span` failed with `error` (and records it as an exception event). */
export function failSpan(span: Span, error: unknown): void {
  if (error instanceof Error) span.recordException(error);
  span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
}

/**
 * Runs `fn` in a new span (child of `parent`, default the active context), ending it when `fn`
 * settles; a throw fails the span and is rethrown.
 */
export async function inSpan<T>(name: string, options: { kind?: SpanKind; attributes?: Attributes; parent?: Context }, fn: (span: Span) => Promise<T>): Promise<T> {
  const span = tracer().startSpan(name, { kind: options.kind ?? SpanKind.INTERNAL, attributes: options.attributes }, options.parent ?? context.active());
  try {
    return await context.with(trace.setSpan(options.parent ?? context.active(), span), () => fn(span));
  } catch (error) {
    failSpan(span, error);
    throw error;
  } finally {
    span.end();
  }
}

export { SpanKind };
