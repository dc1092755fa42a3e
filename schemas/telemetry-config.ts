/**
 * Telemetry configuration of the worker and gateway processes, parsed from the environment once
 * at start so a typo fails loudly. OTEL_* names are OpenTelemetry's standard variables.
 */
import { z } from 'zod';

/** `host:port`, as Temporal Core's Prometheus exporter binds it. */
const BindAddress = z.string().regex(/^[^\s:]+:\d{1,5}$/, 'expected host:port, e.g. 127.0.0.1:9464');

export const TelemetryConfigSchema = z.object({
  /** Where the worker serves Prometheus `/metrics`; `off` serves nothing. */
  SWOOSH_METRICS_ADDRESS: z.union([z.literal('off'), BindAddress]).default('127.0.0.1:9464'),
  SWOOSH_LOG_LEVEL: z.enum(['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR']).default('INFO'),
  /** Traces are exported over OTLP/HTTP only when this is set; otherwise tracing is off. */
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url().optional(),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: z.url().optional(),
  OTEL_SERVICE_NAME: z.string().min(1).optional(),
});
export type TelemetryConfig = z.infer<typeof TelemetryConfigSchema>;

export function loadTelemetryConfig(env: Record<string, string | undefined> = process.env): TelemetryConfig {
  const parsed = TelemetryConfigSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`invalid telemetry configuration: ${problems}`);
  }
  return parsed.data;
}
