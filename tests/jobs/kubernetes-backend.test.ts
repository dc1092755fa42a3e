/**
 * The kubernetes backend against a real cluster: spawn, follow, logs and exit codes, deadline,
 * cancellation and the reaper, through agentJobWorkflow on a real Temporal dev server.
 *
 * It needs a Kubernetes cluster and runs only when KUBECONFIG names one (the one test in the
 * suite that is conditional). It works in a namespace of its own, deleted afterwards. The
 * agent image defaults to busybox; set SWOOSH_TEST_AGENT_IMAGE for a cluster that cannot pull it.
 */
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { WorkflowFailedError } from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import { CoreV1Api, KubeConfig, type V1Job } from '@kubernetes/client-node';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createJobActivities } from '../../activities/jobs/activities';
import { loadAgentJobTemplate } from '../../activities/jobs/config';
import { KubernetesJobRunner } from '../../activities/jobs/kubernetes/runner';
import { JobNameConflictError } from '../../activities/jobs/runner';
import {
  type AgentJobResult,
  AgentJobSpec,
  type AgentJobSpecInput,
  agentJobName,
} from '../../schemas/agent-job';
import { agentJobWorkflow } from '../../workflows/agent-job';
import { jobReaperWorkflow } from '../../workflows/job-reaper';
import { eventually, startDevServerEnv, taskQueueFor } from '../support/temporal';
import { jobWorkflowsPath, MemoryTelemetrySink, summary } from './support/jobs';

const image = process.env.SWOOSH_TEST_AGENT_IMAGE ?? 'busybox:1.36';
const templatePath = fileURLToPath(new URL('../../k8s/base/agent-job-template.yaml', import.meta.url));

function agentSpec(script: { sleepSeconds?: number; exitCode?: number }, deadline = 120): AgentJobSpecInput {
  return {
    mission: 'mission-k8s',
    region: 'execution',
    windowId: 'backbeat:W-k8s',
    agentId: 'shell-agent',
    capabilityProfile: { role: 'tester', capabilities: [] },
    image,
    command: [
      'sh',
      '-c',
      'echo "agent $SWOOSH_AGENT_ID inputs=$SWOOSH_INPUTS"; sleep "$SLEEP"; exit "$CODE"',
    ],
    env: { SLEEP: String(script.sleepSeconds ?? 0), CODE: String(script.exitCode ?? 0) },
    inputs: { task: 'k8s' },
    timeouts: { activeDeadlineSeconds: deadline, terminationGraceSeconds: 5, heartbeatSeconds: 10 },
    resources: { limits: { cpu: '100m', memory: '64Mi' } },
  };
}

describe.runIf(Boolean(process.env.KUBECONFIG))(
  'kubernetes backend on the cluster in KUBECONFIG (needs a cluster)',
  () => {
    const namespace = `swoosh-test-${randomUUID().slice(0, 8)}`;
    let kubeConfig: KubeConfig;
    let core: CoreV1Api;
    let runner: KubernetesJobRunner;
    let env: TestWorkflowEnvironment;
    let bundle: WorkflowBundleWithSourceMap;

    beforeAll(async () => {
      kubeConfig = new KubeConfig();
      kubeConfig.loadFromDefault();
      core = kubeConfig.makeApiClient(CoreV1Api);
      await core.createNamespace({ body: { metadata: { name: namespace } } });
      // The base template's service account lives in swoosh-agents; a test namespace has `default`.
      const template: V1Job = await loadAgentJobTemplate(templatePath);
      template.spec!.template.spec!.serviceAccountName = 'default';
      runner = new KubernetesJobRunner({ kubeConfig, namespace, template, pollIntervalMs: 1_000 });
      env = await startDevServerEnv();
      bundle = await bundleWorkflowCode({ workflowsPath: jobWorkflowsPath });
    });

    afterAll(async () => {
      await env?.teardown();
      await core?.deleteNamespace({ name: namespace, propagationPolicy: 'Background' });
    });

    async function withWorker<T>(
      taskQueue: string,
      sink: MemoryTelemetrySink,
      run: () => Promise<T>,
    ): Promise<T> {
      const worker = await Worker.create({
        connection: env.nativeConnection,
        taskQueue,
        workflowBundle: bundle,
        activities: createJobActivities({ runner, telemetry: sink }),
      });
      return worker.runUntil(run);
    }

    async function jobExists(name: string): Promise<boolean> {
      return (await runner.status(name)) !== undefined;
    }

    test('agentJobWorkflow runs a Job to completion, returns its exit code and log, exports it, and deletes it', async ({
      task,
    }) => {
      const sink = new MemoryTelemetrySink();
      const taskQueue = taskQueueFor(task.name);
      const workflowId = `agent-job-${task.id}`;
      const jobName = agentJobName({ workflowId, seq: 0 });

      const result: AgentJobResult = await withWorker(taskQueue, sink, () =>
        env.client.workflow.execute(agentJobWorkflow, {
          taskQueue,
          workflowId,
          args: [agentSpec({ sleepSeconds: 1 })],
        }),
      );

      expect(result).toMatchObject({ jobName, backend: 'kubernetes', outcome: 'succeeded', exitCode: 0 });
      expect(result.logTail).toContain('agent shell-agent inputs={"task":"k8s"}');
      expect(summary(sink.forJob(jobName))).toEqual(['spawned', 'retired', 'deployment:succeeded']);
      expect(
        await eventually(
          () => jobExists(jobName),
          (exists) => !exists,
          30_000,
        ),
      ).toBe(false);
    }, 300_000);

    test('a non-zero exit fails with its exit code; a deadline fails as timed out', async () => {
      const failing = { workflowId: `direct-fail-${randomUUID()}`, seq: 0 };
      const slow = { workflowId: `direct-slow-${randomUUID()}`, seq: 0 };
      await runner.spawn(agentJobName(failing), AgentJobSpec.parse(agentSpec({ exitCode: 3 })), failing);
      await runner.spawn(agentJobName(slow), AgentJobSpec.parse(agentSpec({ sleepSeconds: 600 }, 5)), slow);
      const never = new AbortController().signal;

      const [failed, timedOut] = await Promise.all([
        runner.follow(agentJobName(failing), { signal: never, onProgress: () => undefined }),
        runner.follow(agentJobName(slow), { signal: never, onProgress: () => undefined }),
      ]);

      expect(failed.finish).toMatchObject({ outcome: 'failed', exitCode: 3 });
      expect(timedOut.finish).toMatchObject({ outcome: 'timed-out', reason: 'DeadlineExceeded' });
      await runner.delete(agentJobName(failing));
      await runner.delete(agentJobName(slow));
    }, 300_000);

    test('cancelling agentJobWorkflow deletes the Job', async ({ task }) => {
      const sink = new MemoryTelemetrySink();
      const taskQueue = taskQueueFor(task.name);
      const workflowId = `agent-job-${task.id}`;
      const jobName = agentJobName({ workflowId, seq: 0 });

      await withWorker(taskQueue, sink, async () => {
        const handle = await env.client.workflow.start(agentJobWorkflow, {
          taskQueue,
          workflowId,
          args: [agentSpec({ sleepSeconds: 600 })],
        });
        await eventually(
          async () => (await runner.status(jobName))?.startedAt,
          (startedAt) => startedAt !== undefined,
          120_000,
        );
        await handle.cancel();
        const error = await handle.result().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(WorkflowFailedError);
        expect((error as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
      });

      expect(
        await eventually(
          () => jobExists(jobName),
          (exists) => !exists,
          30_000,
        ),
      ).toBe(false);
      expect(summary(sink.forJob(jobName))).toEqual(['spawned', 'retired', 'deployment:cancelled']);
    }, 300_000);

    test('jobReaperWorkflow exports and deletes finished Jobs older than the age and leaves running ones', async ({
      task,
    }) => {
      const sink = new MemoryTelemetrySink();
      const taskQueue = taskQueueFor(task.name);
      const done = { workflowId: `reap-done-${randomUUID()}`, seq: 0 };
      const busy = { workflowId: `reap-busy-${randomUUID()}`, seq: 0 };
      await runner.spawn(agentJobName(done), AgentJobSpec.parse(agentSpec({})), done);
      await runner.spawn(agentJobName(busy), AgentJobSpec.parse(agentSpec({ sleepSeconds: 600 })), busy);
      await runner.follow(agentJobName(done), {
        signal: new AbortController().signal,
        onProgress: () => undefined,
      });

      const reaped = await withWorker(taskQueue, sink, () =>
        env.client.workflow.execute(jobReaperWorkflow, {
          taskQueue,
          workflowId: `reaper-${task.id}`,
          args: [{ olderThanSeconds: 0 }],
        }),
      );

      expect(reaped.reaped).toContain(agentJobName(done));
      expect(reaped.running).toContain(agentJobName(busy));
      expect(summary(sink.forJob(agentJobName(done)))).toEqual(['retired', 'deployment:succeeded']);
      expect(await jobExists(agentJobName(busy))).toBe(true);
      await runner.delete(agentJobName(busy));
    }, 300_000);

    test('a Job name taken by another owner is a conflict, never adopted; deleting twice is fine', async () => {
      const mine = { workflowId: `owner-${randomUUID()}`, seq: 0 };
      const spec = AgentJobSpec.parse(agentSpec({ sleepSeconds: 60 }));
      await runner.spawn(agentJobName(mine), spec, mine);
      await expect(
        runner.spawn(agentJobName(mine), spec, { workflowId: 'someone-else', seq: 0 }),
      ).rejects.toBeInstanceOf(JobNameConflictError);
      await runner.delete(agentJobName(mine));
      await runner.delete(agentJobName(mine));
      expect(
        await eventually(
          () => jobExists(agentJobName(mine)),
          (exists) => !exists,
          30_000,
        ),
      ).toBe(false);
    }, 120_000);
  },
);
