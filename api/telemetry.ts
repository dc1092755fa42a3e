/**
 * Gateway tracing (docs/design.md#observability): a SERVER span per HTTP request, active while the handlers run, so
 * the Temporal client interceptor's spans (StartWorkflow, StartWorkflowUpdate, …) become its
 * children and one trace runs from the request through the Update, the workflow and its
 * activities. The gateway's request metrics live in api/observability.ts.
 */
import { SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import type { Request, RequestHandler, Response } from 'express';

const TRACER_NAME = 'swoosh-gateway';
const UNMATCHED_ROUTE = '(unmatched)';

/**
 * The route pattern (`/missions/:id`), never the raw path, so span names stay few: the one the
 * gateway's route registry records in `res.locals.route`, else express's matched route.
 */
function routeOf(req: Request, res: Response): string {
  if (typeof res.locals.route === 'string') return res.locals.route;
  const route: unknown = req.route;
  return typeof route === 'object' && route !== null && 'path' in route && typeof route.path === 'string'
    ? `${req.baseUrl}${route.path}`
    : UNMATCHED_ROUTE;
}

/**
 * Express middleware that opens the request span and runs the rest of the chain inside its
 * context. Mount it first. With tracing off (host/tracing.ts started nothing) the global
 * tracer is OpenTelemetry's no-op one and this costs next to nothing.
 */
export function requestTracing(): RequestHandler {
  const tracer = trace.getTracer(TRACER_NAME);
  return (req, res, next) => {
    const span = tracer.startSpan(`HTTP ${req.method}`, {
      kind: SpanKind.SERVER,
      attributes: { 'http.request.method': req.method },
    });
    let ended = false;
    const end = (): void => {
      if (ended) return;
      ended = true;
      const route = routeOf(req, res);
      span.updateName(`HTTP ${req.method} ${route}`);
      span.setAttributes({ 'http.route': route, 'http.response.status_code': res.statusCode });
      if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    };
    // 'close' covers clients that hang up before the response finishes.
    res.on('finish', end);
    res.on('close', end);
    context.with(trace.setSpan(context.active(), span), next);
  };
}
