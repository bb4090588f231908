import { context, propagation, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, NodeTracerProvider, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-node';

/** A span as the tests compare them across processes. */
export interface SpanRecord {
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  attributes: Record<string, unknown>;
  status: number;
}

/**
 * Registers the OpenTelemetry SDK globally (what an application does with its own SDK): an
 * AsyncLocalStorage context manager, the W3C trace context propagator and an in-memory exporter.
 */
export function registerTestTracing(): { spans: () => SpanRecord[]; shutdown: () => Promise<void> } {
  const exporter = new InMemorySpanExporter();
  const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  provider.register();
  return {
    spans: () => exporter.getFinishedSpans().map(toRecord),
    // Unregistered too, so a later test in the same process can register its own.
    shutdown: async () => {
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}

function toRecord(span: ReadableSpan): SpanRecord {
  return {
    name: span.name,
    traceId: span.spanContext().traceId,
    spanId: span.spanContext().spanId,
    parentSpanId: span.parentSpanContext?.spanId,
    attributes: { ...span.attributes },
    status: span.status.code,
  };
}
