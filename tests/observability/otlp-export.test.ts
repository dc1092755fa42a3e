/**
 * With OTEL_EXPORTER_OTLP_ENDPOINT set, tracing exports over OTLP/HTTP to `<endpoint>/v1/traces`.
 * The collector here is a plain HTTP server that records what it receives, as a real collector's
 * OTLP/HTTP receiver would.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { trace } from '@opentelemetry/api';
import { afterAll, describe, expect, it } from 'vitest';
import { startTracing } from '../../host/tracing';

interface Received {
  path: string;
  contentType: string;
  body: Buffer;
}
const received: Received[] = [];
const collector = createServer((req: IncomingMessage, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    received.push({
      path: req.url ?? '',
      contentType: req.headers['content-type'] ?? '',
      body: Buffer.concat(chunks),
    });
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
});
await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
const endpoint = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;

afterAll(() => new Promise<void>((resolve) => collector.close(() => resolve())));

describe('OTLP export', () => {
  it('sends spans to <endpoint>/v1/traces when OTEL_EXPORTER_OTLP_ENDPOINT is set', async () => {
    const tracing = startTracing({
      serviceName: 'swoosh-otlp-test',
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint },
    });
    expect(tracing.enabled).toBe(true);
    trace.getTracer('probe').startSpan('otlp-probe').end();
    await tracing.shutdown();
    expect(received.map((r) => r.path)).toContain('/v1/traces');
    const request = received.find((r) => r.path === '/v1/traces')!;
    expect(request.contentType).toContain('application/json');
    const body = JSON.parse(request.body.toString('utf8')) as {
      resourceSpans: {
        resource: { attributes: { key: string; value: { stringValue?: string } }[] };
        scopeSpans: { spans: { name: string }[] }[];
      }[];
    };
    const spans = body.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans.map((x) => x.name)));
    expect(spans).toContain('otlp-probe');
    const service = body.resourceSpans[0]!.resource.attributes.find((a) => a.key === 'service.name');
    expect(service?.value.stringValue).toBe('swoosh-otlp-test');
  });
});
