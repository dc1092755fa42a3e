/**
 * Real Temporal servers for tests, started from the project's own toolchain on free ports:
 * the Temporal CLI dev server for integration tests, the Java test server for time skipping.
 */
import type { Client } from '@temporalio/client';
import type proto from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { swooshSearchAttributes } from '../../schemas/search-attributes';
import { ensureTemporalCli, ensureTestServer } from '../../temporal-dev/toolchain';

/**
 * The SDK gives a server it starts 5 s to listen and stops it if it does not; on a loaded
 * two-core CI machine a start can miss that, so each start is tried up to three times.
 */
async function startWithRetries(
  start: () => Promise<TestWorkflowEnvironment>,
): Promise<TestWorkflowEnvironment> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await start();
    } catch (error) {
      if (attempt === 3 || !/did not start within/.test(String(error))) throw error;
    }
  }
}

/**
 * `extraArgs`: more `temporal server start-dev` flags, e.g. `priorityMatchingArgs()`.
 * `registerSearchAttributes: false` starts a server that knows none of SWOOSH's, like a new cluster.
 */
export async function startDevServerEnv(
  extraArgs: string[] = [],
  { registerSearchAttributes = true } = {},
): Promise<TestWorkflowEnvironment> {
  const path = await ensureTemporalCli();
  return startWithRetries(() =>
    TestWorkflowEnvironment.createLocal({
      server: {
        executable: { type: 'existing-path', path },
        extraArgs,
        ip: '127.0.0.1',
        ui: false,
        searchAttributes: registerSearchAttributes ? swooshSearchAttributes : [],
        log: { format: 'json', level: 'warn' },
      },
    }),
  );
}

export async function startTimeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  const path = await ensureTestServer();
  return startWithRetries(() =>
    TestWorkflowEnvironment.createTimeSkipping({
      server: { executable: { type: 'existing-path', path } },
    }),
  );
}

/** A task queue per test, named after it, so workers of different tests never share work. */
export function taskQueueFor(testName: string): string {
  return `test-${testName.replace(/[^a-zA-Z0-9]+/g, '-').slice(0, 80)}`;
}

/** Visibility is eventually consistent: poll until the condition holds or time runs out. */
export async function eventually<T>(
  read: () => Promise<T>,
  ok: (value: T) => boolean,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (ok(value) || Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * The events of each run of a workflow, oldest run first: the latest run's history, then the run
 * it continued as new from, and so on back to the first.
 */
export async function historiesOfEveryRun(
  client: Client,
  workflowId: string,
): Promise<proto.temporal.api.history.v1.IHistoryEvent[][]> {
  const runs: proto.temporal.api.history.v1.IHistoryEvent[][] = [];
  let runId: string | undefined = undefined;
  do {
    const history: proto.temporal.api.history.v1.IHistory = await client.workflow
      .getHandle(workflowId, runId)
      .fetchHistory();
    const events = history.events ?? [];
    runs.unshift(events);
    runId = events[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId || undefined;
  } while (runId !== undefined);
  return runs;
}
