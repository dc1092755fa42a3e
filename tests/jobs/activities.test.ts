/**
 * The job activities in MockActivityEnvironment over the real process backend: what each kind
 * of cancellation does to a run, how a retried attempt finds its run again, and which failures
 * are final.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ActivityCancellationDetails, ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { createJobActivities } from '../../activities/jobs/activities';
import { isRunning } from '../../activities/jobs/process/processes';
import { ProcessJobRunner } from '../../activities/jobs/process/runner';
import {
  type AgentJobResult,
  AgentJobSpec,
  agentJobName,
  type RunAgentJobInput,
} from '../../schemas/agent-job';
import { eventually } from '../support/temporal';
import { echoPids, echoSpec, MemoryTelemetrySink, summary } from './support/jobs';

let dataDir: string;
let runner: ProcessJobRunner;
let sink: MemoryTelemetrySink;
let activities: ReturnType<typeof createJobActivities>;

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'swoosh-job-activities-'));
  runner = new ProcessJobRunner({ dataDir, pollIntervalMs: 100 });
  sink = new MemoryTelemetrySink();
  activities = createJobActivities({ runner, telemetry: sink });
});

afterEach(async () => {
  for (const run of await runner.list()) await runner.delete(run.name);
  await rm(dataDir, { recursive: true, force: true });
});

function input(workflowId: string, inputs: Parameters<typeof echoSpec>[0]): RunAgentJobInput {
  const owner = { workflowId, seq: 0 };
  return { jobName: agentJobName(owner), owner, spec: echoSpec(inputs) };
}

/** Failing activities are the point of several tests here: keep their expected warnings out of the output. */
function mockEnv(info?: ConstructorParameters<typeof MockActivityEnvironment>[0]): MockActivityEnvironment {
  return new MockActivityEnvironment(info, { logger: new DefaultLogger('ERROR') });
}

async function agentPid(jobName: string): Promise<number> {
  const pids = await eventually(
    async () => echoPids((await runner.logs(jobName, 64 * 1024)).tail),
    (p) => p.agent !== undefined,
    30_000,
  );
  return pids.agent as number;
}

async function rejection(run: Promise<unknown>): Promise<unknown> {
  return run.then(
    () => expect.unreachable('the activity should have failed'),
    (error: unknown) => error,
  );
}

describe('cancellation', () => {
  test('cancelled by the workflow, the activity stops and deletes the run and exports it as cancelled', async () => {
    const job = input('wf-cancel', { sleepMs: 60_000, grandchild: true });
    const env = mockEnv();
    const running = env.run(activities.runAgentJob, job);
    const pid = await agentPid(job.jobName);

    env.cancel('CANCELLED', new ActivityCancellationDetails({ cancelRequested: true }));

    expect(await rejection(running)).toBeInstanceOf(CancelledFailure);
    expect(isRunning({ pid })).toBe(false);
    expect(await runner.status(job.jobName)).toBeUndefined();
    expect(summary(sink.forJob(job.jobName))).toEqual(['spawned', 'retired', 'deployment:cancelled']);
  });

  test('cancelled by a worker shutdown, the activity leaves the run, and the next attempt follows it to its end', async () => {
    const job = input('wf-shutdown', { sleepMs: 2_000 });
    const first = mockEnv();
    const heartbeats: unknown[] = [];
    first.on('heartbeat', (details: unknown) => heartbeats.push(details));
    const running = first.run(activities.runAgentJob, job);
    const pid = await agentPid(job.jobName);

    first.cancel('WORKER_SHUTDOWN', new ActivityCancellationDetails({ workerShutdown: true }));

    expect(await rejection(running)).toBeInstanceOf(CancelledFailure);
    expect(isRunning({ pid })).toBe(true);
    expect(heartbeats.at(-1)).toMatchObject({ jobName: job.jobName, spawned: true, state: 'running' });

    const retry = mockEnv({ attempt: 2, heartbeatDetails: heartbeats.at(-1) });
    const result: AgentJobResult = await retry.run(activities.runAgentJob, job);

    expect(result).toMatchObject({ outcome: 'succeeded', exitCode: 0 });
    expect(echoPids(result.logTail).agent).toBe(pid);
    expect(summary(sink.forJob(job.jobName))).toEqual(['spawned', 'retired', 'deployment:succeeded']);
  });
});

describe('failures retrying cannot fix', () => {
  test('an attempt whose predecessor had spawned the run, finding it gone, fails AgentJobLost and starts nothing', async () => {
    const job = input('wf-lost', {});
    const env = mockEnv({
      attempt: 3,
      heartbeatDetails: { jobName: job.jobName, spawned: true, state: 'running' },
    });

    const error = await rejection(env.run(activities.runAgentJob, job));

    expect(error).toBeInstanceOf(ApplicationFailure);
    expect(error).toMatchObject({ type: 'AgentJobLost', nonRetryable: true });
    expect(await runner.list()).toEqual([]);
  });

  test('an environment reference that cannot be read is AgentEnvUnresolved, names no value and starts nothing', async () => {
    const job = input('wf-env-unresolved', {});
    const spec = { ...job.spec, envFrom: { TOKEN: { secret: { name: 'absent', key: 'token' } } } };

    const error = await rejection(mockEnv().run(activities.runAgentJob, { ...job, spec }));

    expect(error).toMatchObject({ type: 'AgentEnvUnresolved', nonRetryable: true });
    expect((error as Error).message).toContain('TOKEN: cannot read key token of Secret absent');
    expect(await runner.list()).toEqual([]);
    expect(sink.records).toEqual([]);
  });

  test('a run by that name belonging to another workflow is AgentJobNameConflict and is left alone', async () => {
    const job = input('wf-mine', { sleepMs: 30_000 });
    await runner.spawn(job.jobName, AgentJobSpec.parse(job.spec), { workflowId: 'wf-someone-else', seq: 0 });

    const error = await rejection(mockEnv().run(activities.runAgentJob, job));

    expect(error).toMatchObject({ type: 'AgentJobNameConflict', nonRetryable: true });
    expect((await runner.status(job.jobName))?.finish).toBeUndefined();
  });

  test.each([
    ['a reserved SWOOSH_* variable in env', { env: { SWOOSH_MISSION_ID: 'spoofed' } }],
    ['a swoosh.io/ annotation', { annotations: { 'swoosh.io/workload-identity': 'spoofed' } }],
    ['no command', { command: [] }],
    ['a zero deadline', { timeouts: { activeDeadlineSeconds: 0 } }],
  ])('a spec with %s is InvalidAgentJobSpec', async (_name, override) => {
    const job = input('wf-invalid', {});
    const error = await rejection(
      mockEnv().run(activities.runAgentJob, { ...job, spec: { ...job.spec, ...override } }),
    );
    expect(error).toMatchObject({ type: 'InvalidAgentJobSpec', nonRetryable: true });
    expect(await runner.list()).toEqual([]);
  });

  test('a job name not derived from its owner is refused, so a retry can always find its run', async () => {
    const job = input('wf-named', {});
    const error = await rejection(
      mockEnv().run(activities.runAgentJob, { ...job, jobName: 'swoosh-agent-chosen-by-hand' }),
    );
    expect(error).toMatchObject({ type: 'InvalidAgentJobSpec', nonRetryable: true });
  });
});
