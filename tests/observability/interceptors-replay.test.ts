/**
 * Turning tracing on must not break replay: the committed mission histories (recorded without
 * the OpenTelemetry interceptors) replay against the production workflows with the interceptors,
 * the exporter sink and the in-sandbox tracer that workers/telemetry.ts adds — and export nothing.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { afterAll, describe, expect, test } from 'vitest';
import { startTracing, workerTracingOptions } from '../../workers/telemetry';
import { bundlerOptions, workflowsPath } from '../../workers/worker';

const historiesDir = new URL('../histories/', import.meta.url);
const fixtures = readdirSync(historiesDir).filter((f) => f.endsWith('.json'));
const spans = new InMemorySpanExporter();
const tracing = startTracing({ serviceName: 'swoosh-replay-test', spanExporter: spans, env: {} });

afterAll(() => tracing.shutdown());

describe('recorded histories with tracing on', () => {
  test('there are recorded histories to replay', () => {
    expect(fixtures.length).toBeGreaterThan(0);
  });

  test.each(fixtures)('%s replays with the OpenTelemetry interceptors and exports no span', async (file) => {
    const history = historyFromJSON(JSON.parse(readFileSync(new URL(file, historiesDir), 'utf8')));
    await expect(
      Worker.runReplayHistory(
        { workflowsPath, bundlerOptions, ...workerTracingOptions(tracing) },
        history,
        file,
      ),
    ).resolves.toBeUndefined();
    expect(spans.getFinishedSpans()).toHaveLength(0);
  });
});
