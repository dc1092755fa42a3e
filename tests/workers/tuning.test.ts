/**
 * Worker tuning from the environment: a value that the SDK would refuse or that makes no sense
 * stops the worker at start with the variable named, and only the settings an operator set reach
 * the SDK, so every other one keeps the SDK's default.
 */
import { describe, expect, it } from 'vitest';
import { loadWorkerTuning } from '../../schemas/config';
import { tuningOptions } from '../../workers/worker';

describe('worker tuning', () => {
  it('passes only the settings that were set, under the SDK option names', () => {
    const tuning = loadWorkerTuning({
      SWOOSH_WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: '80',
      SWOOSH_WORKER_WORKFLOW_THREADS: '2',
      SWOOSH_UNRELATED: 'x',
    });
    expect(tuningOptions(tuning)).toEqual({
      maxConcurrentWorkflowTaskExecutions: 80,
      workflowThreadPoolSize: 2,
    });
    expect(tuningOptions(loadWorkerTuning({}))).toEqual({});
  });

  it('refuses values the SDK cannot run with, naming the variable', () => {
    expect(() => loadWorkerTuning({ SWOOSH_WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: '1' })).toThrow(
      /SWOOSH_WORKER_MAX_CONCURRENT_WORKFLOW_TASKS/,
    );
    expect(() => loadWorkerTuning({ SWOOSH_WORKER_MAX_CACHED_WORKFLOWS: 'many' })).toThrow(
      /SWOOSH_WORKER_MAX_CACHED_WORKFLOWS/,
    );
    expect(() => loadWorkerTuning({ SWOOSH_WORKER_WORKFLOW_THREADS: '0' })).toThrow(
      /SWOOSH_WORKER_WORKFLOW_THREADS/,
    );
  });
});
