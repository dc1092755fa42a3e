/**
 * The gateway's own telemetry: one JSON access-log line per request (never a token, a body or a
 * query string) and Prometheus metrics of request counts and latencies, labelled by route
 * pattern so ids in paths cannot blow up the series count. Names come from schemas/metrics.ts.
 */
import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { Counter, Histogram, Registry } from 'prom-client';
import type { AccessLogLine } from '../schemas/api';
import { METRICS } from '../schemas/metrics';
import { principalOf } from './auth';

export type AccessLog = (line: AccessLogLine) => void;

export const stdoutAccessLog: AccessLog = (line) => {
  process.stdout.write(`${JSON.stringify(line)}\n`);
};

export interface GatewayMetrics {
  registry: Registry;
  requests: Counter<'method' | 'route' | 'status'>;
  duration: Histogram<'method' | 'route'>;
}

/** A registry per app, so several gateways in one process (tests) never share series. */
export function createGatewayMetrics(): GatewayMetrics {
  const registry = new Registry();
  const spec = METRICS.httpRequestTotal;
  const requests = new Counter({
    name: spec.name,
    help: spec.help,
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const timing = METRICS.httpRequestDuration;
  const duration = new Histogram({
    name: timing.name,
    help: timing.help,
    labelNames: ['method', 'route'] as const,
    buckets: [...timing.buckets],
    registers: [registry],
  });
  return { registry, requests, duration };
}

/** Requests of unknown routes share one label value. */
const UNMATCHED = '(unmatched)';

export function observe(metrics: GatewayMetrics, log: AccessLog) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const started = process.hrtime.bigint();
    const requestId = randomUUID();
    res.setHeader('X-Request-Id', requestId);
    let logged = false;
    const done = (): void => {
      if (logged) return;
      logged = true;
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const route = (res.locals.route as string | undefined) ?? UNMATCHED;
      const method = req.method;
      metrics.requests.inc({ method, route, status: String(res.statusCode) });
      metrics.duration.observe({ method, route }, seconds);
      const principal = principalOf(res);
      const error = res.locals.error as string | undefined;
      log({
        ts: new Date().toISOString(),
        level: res.statusCode >= 500 ? 'ERROR' : 'INFO',
        msg: error ? 'request failed' : 'request',
        method,
        route: route === UNMATCHED ? req.path.slice(0, 200) : route,
        status: res.statusCode,
        durationMs: Math.round(seconds * 1e6) / 1e3,
        principal: principal?.name ?? null,
        role: principal?.role ?? null,
        remote: req.socket.remoteAddress ?? null,
        requestId,
        ...(error && { error }),
      });
    };
    res.on('finish', done);
    res.on('close', done);
    next();
  };
}
