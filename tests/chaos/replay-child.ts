/**
 * One replaying worker process of a chaos verdict: replays every history in a folder with the
 * worker's workflows and tracing interceptors, and prints one JSON line per history — whether it
 * replayed without a non-determinism error, and the post-state hash of the last transition the
 * replay itself computed (read from the `transition:*` spans, which this process alone lets a
 * replay export), with the snapshot hash a continued run started from. The verdict runs three of
 * these, chains each mission's runs and compares the last hash with the live HEAD.
 *
 *   tsx tests/chaos/replay-child.ts <folder of <workflowId>~<run>.json histories>
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { startTracing } from '../../host/tracing';
import { SPAN_ATTRIBUTES, TRANSITION_SPAN_PREFIX } from '../../schemas/trace';
import { workerTracingOptions } from '../../workers/telemetry';
import { bundlerOptions, workflowsPath } from '../../workers/worker';

Runtime.install({ logger: new DefaultLogger('ERROR') });
const folder = process.argv[2];
if (!folder) throw new Error('usage: replay-child.ts <folder>');

const spans = new InMemorySpanExporter();
const tracing = startTracing({ serviceName: 'swoosh-chaos-replay', spanExporter: spans, env: {} });
const options = workerTracingOptions(tracing);
const exporter = options.sinks?.exporter?.export;
if (!exporter?.fn) throw new Error('tracing is off: the replay cannot report its hashes');
// Only here: a replay's spans are normally never exported, which is what makes them readable.
const sinks = { exporter: { export: { ...exporter, callDuringReplay: true } } };

for (const file of readdirSync(folder).filter((f) => f.endsWith('.json'))) {
  // `<workflowId>~<run number>.json`: one file per run of a mission that continued as new.
  const name = file.slice(0, -'.json'.length);
  const workflowId = name.split('~')[0]!;
  const history = historyFromJSON(JSON.parse(readFileSync(join(folder, file), 'utf8')));
  spans.reset();
  let error: string | undefined;
  try {
    await Worker.runReplayHistory(
      { workflowsPath, bundlerOptions, interceptors: options.interceptors, sinks },
      history,
      workflowId,
    );
  } catch (e) {
    error = e instanceof Error ? e.message : String(e);
  }
  const hashes = spans
    .getFinishedSpans()
    .filter((s) => s.name.startsWith(TRANSITION_SPAN_PREFIX) && s.status.code !== SpanStatusCode.ERROR)
    .map((s) => s.attributes[SPAN_ATTRIBUTES.statePostHash]);
  console.log(
    JSON.stringify({
      file: name,
      workflowId,
      ok: error === undefined,
      error,
      startHash: snapshotHash(history),
      lastPostHash: hashes.at(-1) ?? null,
    }),
  );
}
await tracing.shutdown();

/** The HEAD a continued run started from: its start input's snapshot hash (null for a first run). */
function snapshotHash(history: ReturnType<typeof historyFromJSON>): string | null {
  const input = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[1]?.data;
  if (!input) return null;
  const start = JSON.parse(Buffer.from(input).toString('utf8')) as { snapshot?: { hash?: string } } | null;
  return start?.snapshot?.hash ?? null;
}
