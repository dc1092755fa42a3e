/**
 * The worker's own telemetry for a test file: tests/support/setup.ts installed a plain Runtime that
 * nothing has used yet, and these files put the worker's (Prometheus + JSON log lines) under test,
 * with spans kept in memory. Call once, at the top of the file.
 */
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { Runtime } from '@temporalio/worker';
import { freePort } from '../../../temporal-dev/processes';
import { installWorkerRuntime, startTracing } from '../../../workers/telemetry';

export async function installTestTelemetry(serviceName: string) {
  await Runtime.instance().shutdown();
  const metricsPort = await freePort();
  const logLines: string[] = [];
  installWorkerRuntime({
    metricsAddress: `127.0.0.1:${metricsPort}`,
    logLevel: 'INFO',
    writeLine: (line) => logLines.push(line),
  });
  const spans = new InMemorySpanExporter();
  const tracing = startTracing({ serviceName, spanExporter: spans, env: {} });
  return { metricsPort, logLines, spans, tracing };
}
