/**
 * OpenTelemetry tracing, loaded only when OTEL_EXPORTER_OTLP_ENDPOINT (or _TRACES_ENDPOINT) is set: a server span
 * per request, continuing the portal's W3C `traceparent`; a span per driver operation; and a client span per IdP call
 * attempt (driver, operation, attempt, status, retry delay), whose `traceparent` goes on to the IdP. Attributes are
 * names, numbers and ids — never a secret, a token or a body. The standard OTEL_* variables configure the exporter.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import {
  context,
  createContextKey,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Context,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import type { SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { RequestHandler } from 'express';
import type { DriverObserver } from './core/driver.js';
import { BridgeError } from './errors.js';
import { observeIdpAttempts, type IdpAttemptObserver } from './driver/call/caller.js';

export interface Tracing {
  /** Mounted first: the request's server span, with the portal's trace context as its parent. */
  traceRequests: RequestHandler;
  /** A span per driver operation, that the IdP attempts hang under. */
  driverSpans: DriverObserver;
  shutdown(): Promise<void>;
}

const driverKey = createContextKey('dcr-bridge driver');
const attemptKey = createContextKey('dcr-bridge IdP attempt');

/**
 * Registers the tracer provider and the hooks. `spanProcessor` replaces the OTLP exporter (tests pass an in-memory
 * one); otherwise spans are batched to the OTLP/HTTP endpoint the OTEL_* variables name.
 */
export async function startTracing(options: { spanProcessor?: SpanProcessor } = {}): Promise<Tracing> {
  const [
    { NodeTracerProvider },
    { BatchSpanProcessor },
    { W3CTraceContextPropagator },
    { detectResources, envDetector, resourceFromAttributes },
  ] = await Promise.all([
    import('@opentelemetry/sdk-trace-node'),
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/core'),
    import('@opentelemetry/resources'),
  ]);
  const spanProcessor =
    options.spanProcessor ??
    new BatchSpanProcessor(new (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter());
  const resource = resourceFromAttributes({ 'service.name': 'dcr-bridge' }).merge(
    detectResources({ detectors: [envDetector] }),
  );
  const provider = new NodeTracerProvider({ resource, spanProcessors: [spanProcessor] });
  // Only the trace context crosses to the IdP; a portal's baggage stays with the portal.
  provider.register({ propagator: new W3CTraceContextPropagator() });
  const tracer = trace.getTracer('dcr-bridge');
  observeIdpAttempts(attemptSpans(tracer));
  const stopInjecting = injectTraceparentIntoIdpCalls();
  return {
    traceRequests: requestSpans(tracer),
    driverSpans: driverSpans(tracer),
    async shutdown() {
      observeIdpAttempts(undefined);
      stopInjecting();
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}

function requestSpans(tracer: Tracer): RequestHandler {
  return (req, res, next) => {
    const parent = propagation.extract(ROOT_CONTEXT, req.headers);
    const span = tracer.startSpan(
      req.method,
      { kind: SpanKind.SERVER, attributes: { 'http.request.method': req.method } },
      parent,
    );
    res.once('close', () => {
      const route = typeof res.locals.route === 'string' ? res.locals.route : undefined;
      if (route !== undefined) {
        span.updateName(`${req.method} ${route}`);
        span.setAttribute('http.route', route);
      }
      if (typeof res.locals.requestId === 'string') span.setAttribute('dcr.request_id', res.locals.requestId);
      span.setAttribute('http.response.status_code', res.statusCode);
      if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    });
    context.with(trace.setSpan(parent, span), next);
  };
}

function driverSpans(tracer: Tracer): DriverObserver {
  return {
    observe(driver, operation) {
      const name = `${driver.name} ${operation}`;
      const attributes = { 'dcr.driver': driver.name, 'dcr.operation': operation };
      return (proceed) => {
        const span = tracer.startSpan(name, { attributes });
        const active = trace.setSpan(context.active(), span).setValue(driverKey, driver.name);
        return context.with(active, proceed).then(
          (result) => {
            span.end();
            return result;
          },
          (error: unknown) => {
            span.setStatus({ code: SpanStatusCode.ERROR });
            span.setAttribute('dcr.error', error instanceof BridgeError ? error.code : 'server_error');
            span.end();
            throw error;
          },
        );
      };
    },
  };
}

function attemptSpans(tracer: Tracer): IdpAttemptObserver {
  return ({ operation, attempt }) => {
    const parent = context.active();
    const driver = parent.getValue(driverKey);
    const span: Span = tracer.startSpan(
      `idp ${operation}`,
      {
        kind: SpanKind.CLIENT,
        attributes: {
          'dcr.driver': typeof driver === 'string' ? driver : 'unknown',
          'dcr.idp.operation': operation,
          'dcr.idp.attempt': attempt,
        },
      },
      parent,
    );
    const active: Context = trace.setSpan(parent, span).setValue(attemptKey, true);
    return {
      run: (call) => context.with(active, call),
      end({ failure, retryDelayMs, failed }) {
        if (failure) {
          span.setAttribute('dcr.idp.failure', failure.kind);
          if (failure.status !== undefined) span.setAttribute('http.response.status_code', failure.status);
          span.setStatus({ code: SpanStatusCode.ERROR });
        } else if (failed) {
          span.setStatus({ code: SpanStatusCode.ERROR });
        }
        if (retryDelayMs !== undefined) span.setAttribute('dcr.idp.retry_delay_ms', Math.round(retryDelayMs));
        span.end();
      },
    };
  };
}

/**
 * The vendor SDKs make their own HTTP requests. Node announces each fetch (undici) on a diagnostics channel before
 * its headers go out, so the attempt's `traceparent` is added there — only inside an IdP attempt. (Node 20 announces
 * node:http requests only once their headers are built, so an SDK on node:http sends none.)
 */
function injectTraceparentIntoIdpCalls(): () => void {
  const onFetch = (message: unknown): void => {
    const active = context.active();
    if (active.getValue(attemptKey) !== true) return;
    const carrier: Record<string, string> = {};
    propagation.inject(active, carrier);
    const request = (message as { request: { addHeader(name: string, value: string): void } }).request;
    for (const [name, value] of Object.entries(carrier)) request.addHeader(name, value);
  };
  diagnosticsChannel.subscribe('undici:request:create', onFetch);
  return () => diagnosticsChannel.unsubscribe('undici:request:create', onFetch);
}

/**
 * A connection's view of the tracing (DCR_CONFIG_FILE): its request spans and driver spans carry `dcr.connection`.
 * The attribute is set on the span active when the request (or the driver operation) starts its work.
 */
export function tracingForConnection(
  tracing: Pick<Tracing, 'traceRequests' | 'driverSpans'>,
  connection: string,
): Pick<Tracing, 'traceRequests' | 'driverSpans'> {
  const tag = (): void => void trace.getActiveSpan()?.setAttribute('dcr.connection', connection);
  return {
    traceRequests: (req, res, next) =>
      tracing.traceRequests(req, res, (error?: unknown) => {
        tag();
        next(error);
      }),
    driverSpans: {
      observe(driver, operation) {
        const around = tracing.driverSpans.observe(driver, operation);
        return (proceed) =>
          around(() => {
            tag();
            return proceed();
          });
      },
    },
  };
}
