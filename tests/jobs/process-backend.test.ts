/**
 * The process backend end to end: agentJobWorkflow and jobReaperWorkflow on a real Temporal dev
 * server, running the echo agent as a real child process. Each test has its own data folder,
 * task queue and worker; every process a test starts is stopped by pid.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ScheduleNotFoundError, WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { createJobActivities } from '../../activities/jobs/activities';
import { ProcessJobRunner } from '../../activities/jobs/process/runner';
import { isRunning } from '../../activities/jobs/process/processes';
import type { JobTelemetrySink } from '../../activities/jobs/telemetry';
import { type AgentJobResult, AgentJobSpec, agentJobName } from '../../schemas/agent-job';
import { ensureJobReaperSchedule } from '../../workers/job-reaper-schedule';
import { agentJobWorkflow } from '../../workflows/agent-job';
import { jobReaperWorkflow } from '../../workflows/job-reaper';
import { eventually, startDevServerEnv, taskQueueFor } from '../support/temporal';
import {
  echoPids,
  echoSpec,
  JsonlTelemetrySink,
  jobWorkerScript,
  jobWorkflowsPath,
  MemoryTelemetrySink,
  summary,
} from './support/jobs';

let env: TestWorkflowEnvironment;
let bundle: WorkflowBundleWithSourceMap;
let bundlePath: string;
let scratch: string;
const runners: ProcessJobRunner[] = [];
const children: ChildProcess[] = [];

beforeAll(async () => {
  env = await startDevServerEnv();
  bundle = await bundleWorkflowCode({ workflowsPath: jobWorkflowsPath });
  scratch = await mkdtemp(join(tmpdir(), 'swoosh-jobs-'));
  bundlePath = join(scratch, 'workflow-bundle.js');
  await writeFile(bundlePath, bundle.code);
});

afterEach(async () => {
  // A failed assertion must not leave agents or workers running: stop what the test started.
  for (const child of children.splice(0))
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const runner of runners.splice(0))
    for (const run of await runner.list()) await runner.delete(run.name);
});

afterAll(async () => {
  await env?.teardown();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

async function newRunner(): Promise<{ runner: ProcessJobRunner; dataDir: string }> {
  const dataDir = await mkdtemp(join(scratch, 'data-'));
  const runner = new ProcessJobRunner({ dataDir, pollIntervalMs: 200 });
  runners.push(runner);
  return { runner, dataDir };
}

function newWorker(
  taskQueue: string,
  runner: ProcessJobRunner,
  telemetry: JobTelemetrySink,
): Promise<Worker> {
  return Worker.create({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue,
    workflowBundle: bundle,
    activities: createJobActivities({ runner, telemetry }),
  });
}

/** The failure a workflow ended with, for assertions on its type and details. */
async function failureOf(run: Promise<unknown>): Promise<ApplicationFailure | CancelledFailure | Error> {
  const error = await run.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(WorkflowFailedError);
  return (error as WorkflowFailedError).cause as Error;
}

function notRunning(pid: number | undefined): boolean {
  return pid !== undefined && !isRunning({ pid });
}

describe('agentJobWorkflow on the process backend', () => {
  test('an agent that exits 0 returns its result, exports spawned/retired/deployment and is deleted', async ({
    task,
  }) => {
    const { runner } = await newRunner();
    const sink = new MemoryTelemetrySink();
    const taskQueue = taskQueueFor(task.name);
    const workflowId = `agent-job-${task.id}`;
    const worker = await newWorker(taskQueue, runner, sink);

    process.env.SWOOSH_TEST_WORKER_SECRET = 'must-not-reach-agents';
    const result: AgentJobResult = await worker.runUntil(
      env.client.workflow.execute(agentJobWorkflow, {
        taskQueue,
        workflowId,
        args: [echoSpec({ sleepMs: 100 })],
      }),
    );
    delete process.env.SWOOSH_TEST_WORKER_SECRET;

    const jobName = agentJobName({ workflowId, seq: 0 });
    expect(result).toMatchObject({ jobName, backend: 'process', outcome: 'succeeded', exitCode: 0 });
    expect(result.durationMs).toBeGreaterThanOrEqual(100);
    expect(result.logTail).toContain(`started job=${jobName} mission=mission-7`);
    expect(result.logTail).toContain('window=backbeat:W-2026-11-23-09 role=reviewer');
    expect(result.logTail).toContain('inputs={"sleepMs":100}');
    // The agent sees the contract and PATH, nothing of the worker's own environment.
    expect(result.logTail).toContain(
      'env-keys=HOME,PATH,SWOOSH_ACTIVE_DEADLINE_SECONDS,SWOOSH_AGENT_ID,SWOOSH_AGENT_ROLE,SWOOSH_INPUTS,' +
        'SWOOSH_JOB_NAME,SWOOSH_MISSION_ID,SWOOSH_REGION,SWOOSH_WINDOW_ID,SWOOSH_WORKDIR,TMPDIR\n',
    );
    expect(summary(sink.forJob(jobName))).toEqual(['spawned', 'retired', 'deployment:succeeded']);
    expect(sink.forJob(jobName).at(-1)).toMatchObject({
      kind: 'deployment',
      entry: { workflow_id: workflowId, seq: 0, runner: 'local', role: 'reviewer', exit_code: 0 },
    });
    expect(notRunning(echoPids(result.logTail).agent)).toBe(true);
    expect(await runner.status(jobName)).toBeUndefined();

    // The history replays against the same code: the workflow is deterministic.
    const history = await env.client.workflow.getHandle(workflowId).fetchHistory();
    await expect(
      Worker.runReplayHistory({ workflowBundle: bundle }, history, workflowId),
    ).resolves.toBeUndefined();
  });

  test('an agent that exits non-zero fails the workflow with AgentJobFailed and is escalated', async ({
    task,
  }) => {
    const { runner } = await newRunner();
    const sink = new MemoryTelemetrySink();
    const taskQueue = taskQueueFor(task.name);
    const workflowId = `agent-job-${task.id}`;
    const worker = await newWorker(taskQueue, runner, sink);

    const failure = await worker.runUntil(
      failureOf(
        env.client.workflow.execute(agentJobWorkflow, {
          taskQueue,
          workflowId,
          args: [echoSpec({ exitCode: 3 })],
        }),
      ),
    );

    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect((failure as ApplicationFailure).type).toBe('AgentJobFailed');
    const [result] = (failure as ApplicationFailure).details as [AgentJobResult];
    expect(result).toMatchObject({ outcome: 'failed', exitCode: 3 });
    const jobName = agentJobName({ workflowId, seq: 0 });
    expect(summary(sink.forJob(jobName))).toEqual(['spawned', 'escalated', 'retired', 'deployment:failed']);
    expect(await runner.status(jobName)).toBeUndefined();
  });

  test('backoffLimit reruns a failing agent inside the same run', async ({ task }) => {
    const { runner } = await newRunner();
    const taskQueue = taskQueueFor(task.name);
    const worker = await newWorker(taskQueue, runner, new MemoryTelemetrySink());

    const failure = await worker.runUntil(
      failureOf(
        env.client.workflow.execute(agentJobWorkflow, {
          taskQueue,
          workflowId: `agent-job-${task.id}`,
          args: [echoSpec({ exitCode: 4 }, { backoffLimit: 1 })],
        }),
      ),
    );

    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect((failure as ApplicationFailure).type).toBe('AgentJobFailed');
    const [result] = (failure as ApplicationFailure).details as [AgentJobResult];
    expect(result.logTail.match(/echo-agent\[\d+\] started/g)).toHaveLength(2);
    expect(result.logTail).toContain('[swoosh] attempt 1 of 1 after exit code 4');
  });

  test('an agent past activeDeadlineSeconds gets SIGTERM, then SIGKILL, and the workflow fails with AgentJobTimedOut', async ({
    task,
  }) => {
    const { runner } = await newRunner();
    const sink = new MemoryTelemetrySink();
    const taskQueue = taskQueueFor(task.name);
    const workflowId = `agent-job-${task.id}`;
    const worker = await newWorker(taskQueue, runner, sink);

    const failure = await worker.runUntil(
      failureOf(
        env.client.workflow.execute(agentJobWorkflow, {
          taskQueue,
          workflowId,
          args: [
            echoSpec(
              { sleepMs: 60_000, ignoreSigterm: true, grandchild: true },
              { timeouts: { activeDeadlineSeconds: 3, terminationGraceSeconds: 1, heartbeatSeconds: 2 } },
            ),
          ],
        }),
      ),
    );

    expect((failure as ApplicationFailure).type).toBe('AgentJobTimedOut');
    const [result] = (failure as ApplicationFailure).details as [AgentJobResult];
    expect(result).toMatchObject({ outcome: 'timed-out', exitCode: 137 });
    expect(result.durationMs).toBeGreaterThanOrEqual(3_000);
    expect(result.durationMs).toBeLessThan(15_000);
    expect(result.logTail).toContain('SIGTERM ignored');
    const pids = echoPids(result.logTail);
    expect(notRunning(pids.agent) && notRunning(pids.grandchild)).toBe(true);
    expect(summary(sink.forJob(agentJobName({ workflowId, seq: 0 })))).toEqual([
      'spawned',
      'escalated',
      'retired',
      'deployment:timed-out',
    ]);
  });

  test('cancelling the workflow kills the agent with its whole process tree and deletes the run', async ({
    task,
  }) => {
    const { runner } = await newRunner();
    const sink = new MemoryTelemetrySink();
    const taskQueue = taskQueueFor(task.name);
    const workflowId = `agent-job-${task.id}`;
    const jobName = agentJobName({ workflowId, seq: 0 });
    const worker = await newWorker(taskQueue, runner, sink);

    await worker.runUntil(async () => {
      const handle = await env.client.workflow.start(agentJobWorkflow, {
        taskQueue,
        workflowId,
        // A heartbeat timeout long enough that a loaded machine does not time the attempt out: the
        // cancellation must reach the attempt that is following the run.
        args: [
          echoSpec(
            { sleepMs: 60_000, grandchild: true },
            { timeouts: { activeDeadlineSeconds: 60, terminationGraceSeconds: 2, heartbeatSeconds: 10 } },
          ),
        ],
      });
      const pids = await eventually(
        async () => echoPids((await runner.logs(jobName, 64 * 1024)).tail),
        (p) => p.grandchild !== undefined,
        30_000,
      );
      expect(isRunning({ pid: pids.agent as number })).toBe(true);

      await handle.cancel();
      const failure = await failureOf(handle.result());

      expect(failure).toBeInstanceOf(CancelledFailure);
      expect(notRunning(pids.agent)).toBe(true);
      expect(notRunning(pids.grandchild)).toBe(true);
      expect(await runner.status(jobName)).toBeUndefined();
      expect(summary(sink.forJob(jobName))).toEqual(['spawned', 'retired', 'deployment:cancelled']);
    });
  });

  test('a worker killed mid-run: the agent keeps running and a new worker follows the same run to its end', async ({
    task,
  }) => {
    const { runner, dataDir } = await newRunner();
    const telemetry = new JsonlTelemetrySink(join(dataDir, 'telemetry.jsonl'));
    const taskQueue = taskQueueFor(task.name);
    const workflowId = `agent-job-${task.id}`;
    const jobName = agentJobName({ workflowId, seq: 0 });

    const crashing = spawn(process.execPath, ['--import', 'tsx', jobWorkerScript], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        TEMPORAL_ADDRESS: env.address,
        TASK_QUEUE: taskQueue,
        SWOOSH_DATA_DIR: dataDir,
        TELEMETRY_FILE: telemetry.path,
        WORKFLOW_BUNDLE: bundlePath,
      },
    });
    children.push(crashing);
    let output = '';
    crashing.stdout.on('data', (d: Buffer) => (output += d.toString()));
    crashing.stderr.on('data', (d: Buffer) => (output += d.toString()));
    await eventually(
      () => Promise.resolve(output),
      (o) => o.includes('ready') || crashing.exitCode !== null,
      60_000,
    );
    expect(output).toContain('ready');

    const handle = await env.client.workflow.start(agentJobWorkflow, {
      taskQueue,
      workflowId,
      args: [echoSpec({ sleepMs: 8_000 })],
    });
    const { agent } = await eventually(
      async () => echoPids((await runner.logs(jobName, 64 * 1024)).tail),
      (p) => p.agent !== undefined,
      30_000,
    );

    const exited = new Promise((resolve) => crashing.once('exit', resolve));
    crashing.kill('SIGKILL');
    await exited;
    expect(isRunning({ pid: agent as number })).toBe(true);

    const worker = await newWorker(taskQueue, runner, telemetry);
    const result = await worker.runUntil(handle.result());

    expect(result).toMatchObject({ jobName, outcome: 'succeeded', exitCode: 0 });
    // One agent, the same one: followed again, never started twice.
    expect(result.logTail.match(/echo-agent\[\d+\] started/g)).toHaveLength(1);
    expect(echoPids(result.logTail).agent).toBe(agent);
    expect(notRunning(agent)).toBe(true);
    expect(await runner.status(jobName)).toBeUndefined();

    const attempts = (await handle.fetchHistory()).events?.flatMap((e) =>
      e.activityTaskStartedEventAttributes ? [e.activityTaskStartedEventAttributes.attempt ?? 0] : [],
    );
    expect(Math.max(...(attempts ?? [0]))).toBeGreaterThanOrEqual(2);
    const records = new MemoryTelemetrySink();
    for (const item of await telemetry.read()) await records.record(item);
    expect(summary(records.forJob(jobName))).toEqual(['spawned', 'retired', 'deployment:succeeded']);
  });
});

describe('jobReaperWorkflow and its Schedule', () => {
  test('a run whose supervisor died is settled as failed, its agent killed, and reaped with its telemetry', async ({
    task,
  }) => {
    const { runner, dataDir } = await newRunner();
    const sink = new MemoryTelemetrySink();
    const taskQueue = taskQueueFor(task.name);
    const jobName = agentJobName({ workflowId: 'orphaned-owner', seq: 0 });
    await runner.spawn(jobName, AgentJobSpec.parse(echoSpec({ sleepMs: 60_000, grandchild: true })), {
      workflowId: 'orphaned-owner',
      seq: 0,
    });
    const pids = await eventually(
      async () => echoPids((await runner.logs(jobName, 64 * 1024)).tail),
      (p) => p.grandchild !== undefined,
      30_000,
    );
    // The supervisor dies as in a machine-wide OOM kill: no chance to settle the run.
    const shim = JSON.parse(await readFile(join(dataDir, 'agent-jobs', jobName, 'shim.json'), 'utf8')) as {
      pid: number;
    };
    process.kill(shim.pid, 'SIGKILL');
    await eventually(
      () => Promise.resolve(isRunning({ pid: shim.pid })),
      (alive) => !alive,
    );

    const worker = await newWorker(taskQueue, runner, sink);
    const reaped = await worker.runUntil(
      env.client.workflow.execute(jobReaperWorkflow, {
        taskQueue,
        workflowId: `reaper-${task.id}`,
        args: [{ olderThanSeconds: 0 }],
      }),
    );

    expect(reaped).toEqual({ reaped: [jobName], kept: [], running: [] });
    expect(notRunning(pids.agent) && notRunning(pids.grandchild)).toBe(true);
    expect(await runner.status(jobName)).toBeUndefined();
    expect(summary(sink.forJob(jobName))).toEqual(['escalated', 'retired', 'deployment:failed']);
    expect(sink.forJob(jobName)[0]).toMatchObject({ event: { reason: 'failed, SupervisorLost' } });
  });

  test('the Schedule is created once and updated in place, and its runs reap only finished runs older than the age', async ({
    task,
  }) => {
    const { runner } = await newRunner();
    const sink = new MemoryTelemetrySink();
    const taskQueue = taskQueueFor(task.name);
    const scheduleId = `reaper-${task.id}`;
    const start = async (owner: string, inputs: Parameters<typeof echoSpec>[0]): Promise<string> => {
      const name = agentJobName({ workflowId: owner, seq: 0 });
      await runner.spawn(name, AgentJobSpec.parse(echoSpec(inputs)), { workflowId: owner, seq: 0 });
      return name;
    };
    const finished = async (name: string): Promise<void> => {
      await eventually(
        async () => (await runner.status(name))?.finish,
        (f) => f !== undefined,
        30_000,
      );
    };

    const ageSeconds = 5;
    const old = await start('old-run', {});
    await finished(old);
    const oldFinishedAt = Date.now();

    const first = await ensureJobReaperSchedule(env.client, {
      scheduleId,
      taskQueue,
      every: '1h',
      olderThanSeconds: 999,
    });
    const second = await ensureJobReaperSchedule(env.client, {
      scheduleId,
      taskQueue,
      every: '1h',
      olderThanSeconds: ageSeconds,
    });
    try {
      expect(second.scheduleId).toBe(first.scheduleId);
      const description = await second.describe();
      expect(description.action).toMatchObject({
        workflowType: 'jobReaperWorkflow',
        args: [{ olderThanSeconds: ageSeconds }],
      });

      const worker = await newWorker(taskQueue, runner, sink);
      await new Promise((r) =>
        setTimeout(r, Math.max(0, oldFinishedAt + ageSeconds * 1000 + 500 - Date.now())),
      );
      // Started only now, so it is seconds old when the reaper looks, while the first run is older.
      const young = await start('young-run', { exitCode: 2 });
      const running = await start('running-run', { sleepMs: 60_000 });
      await finished(young);

      await worker.runUntil(async () => {
        await second.trigger();
        const completed = await eventually(
          async () => (await second.describe()).info.recentActions,
          (actions) => actions.length > 0,
          30_000,
        );
        const run = env.client.workflow.getHandle(completed[0]!.action.workflow.workflowId);
        expect(await run.result()).toEqual({ reaped: [old], kept: [young], running: [running] });
      });
      expect(await runner.status(old)).toBeUndefined();
      expect((await runner.status(young))?.finish?.outcome).toBe('failed');
      expect((await runner.status(running))?.finish).toBeUndefined();
      expect(summary(sink.forJob(old))).toEqual(['retired', 'deployment:succeeded']);
      expect(sink.forJob(young)).toEqual([]);
    } finally {
      await second.delete();
    }
    await expect(env.client.schedule.getHandle(scheduleId).describe()).rejects.toBeInstanceOf(
      ScheduleNotFoundError,
    );
  });
});
