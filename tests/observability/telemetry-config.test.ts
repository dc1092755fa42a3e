/**
 * The telemetry bootstrap's choices, without a server: configuration parsing, tracing off by
 * default (and then truly inert), the Runtime options that make the `swoosh_*` names exact, and
 * the JSON-lines logger's output.
 */
import { trace } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { LogEnvelopeSchema } from '../../schemas/log-record';
import { METRICS, type MetricSpec } from '../../schemas/metrics';
import { loadTelemetryConfig } from '../../schemas/telemetry-config';
import {
  clientTracingInterceptors,
  jsonLinesLogger,
  startTracing,
  workerRuntimeOptions,
  workerTracingOptions,
} from '../../workers/telemetry';

describe('telemetry configuration', () => {
  it('defaults to metrics on 127.0.0.1:9464, INFO logs and no tracing', () => {
    expect(loadTelemetryConfig({})).toEqual({
      SWOOSH_METRICS_ADDRESS: '127.0.0.1:9464',
      SWOOSH_LOG_LEVEL: 'INFO',
    });
    expect(loadTelemetryConfig({ SWOOSH_METRICS_ADDRESS: 'off' }).SWOOSH_METRICS_ADDRESS).toBe('off');
  });

  it('refuses a malformed value, naming the variable', () => {
    expect(() => loadTelemetryConfig({ SWOOSH_METRICS_ADDRESS: '9464' })).toThrow(/SWOOSH_METRICS_ADDRESS/);
    expect(() => loadTelemetryConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'not a url' })).toThrow(
      /OTEL_EXPORTER_OTLP_ENDPOINT/,
    );
  });
});

describe('tracing without an OTLP endpoint', () => {
  it('registers nothing and adds no interceptor', async () => {
    const tracing = startTracing({ serviceName: 'swoosh-test', env: {} });
    expect(tracing.enabled).toBe(false);
    expect(workerTracingOptions(tracing)).toEqual({});
    expect(clientTracingInterceptors(tracing)).toEqual({});
    const span = trace.getTracer('probe').startSpan('nothing');
    expect(span.isRecording()).toBe(false);
    span.end();
    await tracing.shutdown();
  });
});

describe('the worker Runtime options', () => {
  it('export Prometheus with no prefix or suffixing and the contract buckets', () => {
    const options = workerRuntimeOptions({ metricsAddress: '127.0.0.1:9999', logLevel: 'INFO' });
    const metrics = options.telemetryOptions?.metrics;
    expect(metrics).toMatchObject({
      metricPrefix: '',
      prometheus: { bindAddress: '127.0.0.1:9999', countersTotalSuffix: false, unitSuffix: false },
    });
    const overrides =
      metrics && 'prometheus' in metrics ? metrics.prometheus.histogramBucketOverrides : undefined;
    for (const m of Object.values(METRICS) as readonly MetricSpec[]) {
      if (m.kind === 'histogram') expect(overrides?.[m.name], m.name).toEqual(m.buckets);
    }
  });

  it('serve no metrics when switched off', () => {
    expect(
      workerRuntimeOptions({ metricsAddress: 'off', logLevel: 'INFO' }).telemetryOptions,
    ).toBeUndefined();
  });
});

describe('the JSON-lines logger', () => {
  it('writes each entry as one JSON object with ts, level, msg and its metadata', () => {
    const lines: string[] = [];
    const logger = jsonLinesLogger('INFO', (line) => lines.push(line));
    logger.debug('dropped below the level');
    logger.info('hello', { attempt: 2n, error: new Error('boom'), nested: { a: 1 } });
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toContain('\n');
    const line = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(LogEnvelopeSchema.parse(line)).toMatchObject({ level: 'INFO', msg: 'hello' });
    expect(line).toMatchObject({ attempt: '2', error: 'boom', nested: { a: 1 } });
  });
});
