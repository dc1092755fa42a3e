/**
 * Real Temporal servers for tests, started from the project's own toolchain on free ports:
 * the Temporal CLI dev server for integration tests, the Java test server for time skipping.
 */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { swooshSearchAttributes } from '../../schemas/search-attributes';
import { ensureTemporalCli, ensureTestServer } from '../../temporal-dev/toolchain';

/** `extraArgs`: more `temporal server start-dev` flags, e.g. `priorityMatchingArgs()`. */
export async function startDevServerEnv(extraArgs: string[] = []): Promise<TestWorkflowEnvironment> {
  const path = await ensureTemporalCli();
  return TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path },
      extraArgs,
      ip: '127.0.0.1',
      ui: false,
      searchAttributes: swooshSearchAttributes,
      log: { format: 'json', level: 'warn' },
    },
  });
}

export async function startTimeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  const path = await ensureTestServer();
  return TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path } },
  });
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
