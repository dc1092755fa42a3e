/**
 * The kubernetes backend against a real control plane: spawn, follow, logs and exit codes,
 * backoffLimit, deadline, cancellation and the reaper, through agentJobWorkflow on a real Temporal
 * dev server, and the errors a missing namespace or a missing permission give.
 *
 * The cluster is the project's own (tests/support/kube.ts): etcd, kube-apiserver,
 * kube-controller-manager and kube-scheduler built from Go modules, and kwok's simulated node in
 * place of kubelets. No container runs there: a pod runs for its SLEEP seconds and exits with its
 * CODE, as the agent's shell script would (tests/support/kube-stages.yaml); everything else (Job
 * controller, garbage collector, RBAC, service-account tokens) is Kubernetes' own.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { BatchV1Api, CoreV1Api, RbacAuthorizationV1Api, type V1Job } from '@kubernetes/client-node';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createJobActivities } from '../../activities/jobs/activities';
import { loadAgentJobTemplate } from '../../activities/jobs/config';
import { KubernetesJobRunner } from '../../activities/jobs/kubernetes/runner';
import { JobNameConflictError } from '../../activities/jobs/runner';
import {
  AgentJobFailureType,
  type AgentJobResult,
  AgentJobSpec,
  type AgentJobSpecInput,
  agentJobName,
} from '../../schemas/agent-job';
import { agentJobWorkflow } from '../../workflows/agent-job';
import { jobReaperWorkflow } from '../../workflows/job-reaper';
import { type ControlPlane, SIMULATED_AGENT_LOG, startControlPlane } from '../support/kube';
import { eventually, startDevServerEnv, taskQueueFor } from '../support/temporal';
import {
  JsonlTelemetrySink,
  jobWorkerScript,
  jobWorkflowsPath,
  MemoryTelemetrySink,
  summary,
} from './support/jobs';

const image = 'busybox:1.36';
const templatePath = fileURLToPath(new URL('../../k8s/base/agent-job-template.yaml', import.meta.url));

/** A signal for a follow that nothing aborts. */
function never(): AbortSignal {
  return new AbortController().signal;
}

function agentSpec(
  script: { sleepSeconds?: number; exitCode?: number },
  deadline = 120,
  backoffLimit = 0,
): AgentJobSpecInput {
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
    backoffLimit,
  };
}

describe('kubernetes backend on a local control plane', () => {
  const namespace = `swoosh-test-${randomUUID().slice(0, 8)}`;
  let cluster: ControlPlane;
  let core: CoreV1Api;
  let batch: BatchV1Api;
  let rbac: RbacAuthorizationV1Api;
  let runner: KubernetesJobRunner;
  let env: TestWorkflowEnvironment;
  let bundle: WorkflowBundleWithSourceMap;

  // A fresh clone builds the control plane here if `npm run setup` has not (tens of minutes).
  beforeAll(async () => {
    cluster = await startControlPlane();
    const kubeConfig = cluster.kubeConfig;
    core = kubeConfig.makeApiClient(CoreV1Api);
    batch = kubeConfig.makeApiClient(BatchV1Api);
    rbac = kubeConfig.makeApiClient(RbacAuthorizationV1Api);
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    // The base template's service account lives in swoosh-agents; a test namespace has `default`.
    const template: V1Job = await loadAgentJobTemplate(templatePath);
    template.spec!.template.spec!.serviceAccountName = 'default';
    runner = new KubernetesJobRunner({ kubeConfig, namespace, template, pollIntervalMs: 1_000 });
    env = await startDevServerEnv();
    bundle = await bundleWorkflowCode({ workflowsPath: jobWorkflowsPath });
  }, 45 * 60_000);

  afterAll(async () => {
    await env?.teardown();
    await cluster?.stop();
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

  async function podsOf(jobName: string): Promise<string[]> {
    const pods = await core.listNamespacedPod({ namespace, labelSelector: `job-name=${jobName}` });
    return pods.items.map((pod) => pod.metadata!.name!);
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
    expect(result.logTail).toContain(SIMULATED_AGENT_LOG);
    expect(summary(sink.forJob(jobName))).toEqual(['spawned', 'retired', 'deployment:succeeded']);
    expect(
      await eventually(
        () => jobExists(jobName),
        (exists) => !exists,
        30_000,
      ),
    ).toBe(false);
  }, 300_000);

  test('a failing pod is retried up to backoffLimit, then agentJobWorkflow fails with its exit code', async ({
    task,
  }) => {
    const sink = new MemoryTelemetrySink();
    const taskQueue = taskQueueFor(task.name);
    const workflowId = `agent-job-${task.id}`;
    const jobName = agentJobName({ workflowId, seq: 0 });

    const error = await withWorker(taskQueue, sink, () =>
      env.client.workflow
        .execute(agentJobWorkflow, {
          taskQueue,
          workflowId,
          args: [agentSpec({ exitCode: 3 }, 120, 1)],
        })
        .then(
          () => undefined,
          (e: unknown) => e,
        ),
    );

    expect(error).toBeInstanceOf(WorkflowFailedError);
    const failure = (error as WorkflowFailedError).cause as ApplicationFailure;
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure.type).toBe(AgentJobFailureType.failed);
    expect(failure.details?.[0]).toMatchObject({ jobName, outcome: 'failed', exitCode: 3 });
    expect(summary(sink.forJob(jobName))).toEqual(['spawned', 'escalated', 'retired', 'deployment:failed']);
  }, 300_000);

  test('the Job controller retries a failing pod backoffLimit times before failing the Job', async () => {
    const owner = { workflowId: `direct-fail-${randomUUID()}`, seq: 0 };
    const name = agentJobName(owner);
    await runner.spawn(name, AgentJobSpec.parse(agentSpec({ exitCode: 3 }, 120, 1)), owner);

    const followed = await runner.follow(name, { signal: never(), onProgress: () => undefined });

    expect(followed.finish).toMatchObject({ outcome: 'failed', reason: 'BackoffLimitExceeded', exitCode: 3 });
    const job = await batch.readNamespacedJob({ name, namespace });
    expect(job.status?.failed).toBe(2);
    await runner.delete(name);
  }, 300_000);

  test('a Job past its activeDeadlineSeconds fails as timed out and its running pod is stopped', async () => {
    const owner = { workflowId: `direct-slow-${randomUUID()}`, seq: 0 };
    const name = agentJobName(owner);
    await runner.spawn(name, AgentJobSpec.parse(agentSpec({ sleepSeconds: 600 }, 5)), owner);

    const followed = await runner.follow(name, { signal: never(), onProgress: () => undefined });

    expect(followed.finish).toMatchObject({ outcome: 'timed-out', reason: 'DeadlineExceeded' });
    expect(
      await eventually(
        () => podsOf(name),
        (pods) => pods.length === 0,
        60_000,
      ),
    ).toEqual([]);
    await runner.delete(name);
  }, 300_000);

  test('cancelling agentJobWorkflow deletes the Job and its pod', async ({ task }) => {
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
      expect(
        await eventually(
          () => podsOf(jobName),
          (pods) => pods.length === 1,
          60_000,
        ),
      ).toHaveLength(1);
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
    // Background propagation: the garbage collector takes the pod the Job left.
    expect(
      await eventually(
        () => podsOf(jobName),
        (pods) => pods.length === 0,
        60_000,
      ),
    ).toEqual([]);
  }, 300_000);

  test('a worker SIGKILLed while its Job runs: the Job runs on and the next worker follows the same Job to its end', async ({
    task,
  }) => {
    const taskQueue = taskQueueFor(task.name);
    const workflowId = `agent-job-${task.id}`;
    const jobName = agentJobName({ workflowId, seq: 0 });
    const scratch = await mkdtemp(join(tmpdir(), 'swoosh-k8s-worker-'));
    const telemetry = new JsonlTelemetrySink(join(scratch, 'telemetry.jsonl'));
    const bundlePath = join(scratch, 'workflow-bundle.js');
    await writeFile(bundlePath, bundle.code);
    const crashing = spawn(process.execPath, ['--import', 'tsx', jobWorkerScript], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        TEMPORAL_ADDRESS: env.address,
        TASK_QUEUE: taskQueue,
        TELEMETRY_FILE: telemetry.path,
        WORKFLOW_BUNDLE: bundlePath,
        KUBECONFIG_FILE: cluster.kubeconfigPath,
        AGENT_NAMESPACE: namespace,
      },
    });
    try {
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
        args: [agentSpec({ sleepSeconds: 15 })],
      });
      expect(
        await eventually(
          () => podsOf(jobName),
          (pods) => pods.length === 1,
          60_000,
        ),
      ).toHaveLength(1);

      const exited = new Promise((resolve) => crashing.once('exit', resolve));
      crashing.kill('SIGKILL');
      await exited;
      expect(await jobExists(jobName)).toBe(true);

      // The next worker's runner notes whether any spawn made a Job rather than finding it.
      const created: boolean[] = [];
      class NotingRunner extends KubernetesJobRunner {
        override async spawn(...args: Parameters<KubernetesJobRunner['spawn']>) {
          const outcome = await super.spawn(...args);
          created.push(outcome.created);
          return outcome;
        }
      }
      const sink = new MemoryTelemetrySink();
      const worker = await Worker.create({
        connection: env.nativeConnection,
        taskQueue,
        workflowBundle: bundle,
        activities: createJobActivities({
          runner: new NotingRunner({ kubeConfig: cluster.kubeConfig, namespace, pollIntervalMs: 1_000 }),
          telemetry: sink,
        }),
      });
      const result = await worker.runUntil(handle.result());

      expect(result).toMatchObject({ jobName, outcome: 'succeeded', exitCode: 0 });
      expect(created).not.toContain(true);
      const attempts = (await handle.fetchHistory()).events?.flatMap((e) =>
        e.activityTaskStartedEventAttributes ? [e.activityTaskStartedEventAttributes.attempt ?? 0] : [],
      );
      expect(Math.max(...(attempts ?? [0]))).toBeGreaterThanOrEqual(2);
      const records = new MemoryTelemetrySink();
      for (const item of [...(await telemetry.read()), ...sink.records]) await records.record(item);
      expect(summary(records.forJob(jobName))).toEqual(['spawned', 'retired', 'deployment:succeeded']);
      expect(await jobExists(jobName)).toBe(false);
    } finally {
      if (crashing.exitCode === null && crashing.signalCode === null) crashing.kill('SIGKILL');
      await rm(scratch, { recursive: true, force: true });
    }
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

  test('a namespace that does not exist is named in the error', async () => {
    const missing = `swoosh-missing-${randomUUID().slice(0, 8)}`;
    const elsewhere = new KubernetesJobRunner({ kubeConfig: cluster.kubeConfig, namespace: missing });
    const owner = { workflowId: `missing-${randomUUID()}`, seq: 0 };

    await expect(
      elsewhere.spawn(agentJobName(owner), AgentJobSpec.parse(agentSpec({})), owner),
    ).rejects.toThrow(
      `Kubernetes refused to create Job ${agentJobName(owner)} in namespace ${missing}: namespaces "${missing}" not found (NotFound)`,
    );
  });

  test('a verb the service account is not granted is refused by RBAC, naming the verb and resource', async () => {
    // An account that may watch Jobs but not create them: the Role's verbs, one short.
    const account = 'swoosh-watch-only';
    await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: account } } });
    await rbac.createNamespacedRole({
      namespace,
      body: {
        metadata: { name: account },
        rules: [{ apiGroups: ['batch'], resources: ['jobs'], verbs: ['get', 'list', 'watch'] }],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace,
      body: {
        metadata: { name: account },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: account },
        subjects: [{ kind: 'ServiceAccount', name: account, namespace }],
      },
    });
    const limited = new KubernetesJobRunner({
      kubeConfig: await cluster.kubeConfigFor(namespace, account),
      namespace,
    });
    const owner = { workflowId: `forbidden-${randomUUID()}`, seq: 0 };

    // What it is granted works with the same token, so the refusal is RBAC's, not authentication.
    expect(await limited.list()).toBeInstanceOf(Array);
    await expect(
      limited.spawn(agentJobName(owner), AgentJobSpec.parse(agentSpec({})), owner),
    ).rejects.toThrow(
      `Kubernetes refused to create Job ${agentJobName(owner)} in namespace ${namespace}: jobs.batch is forbidden: User "system:serviceaccount:${namespace}:${account}" cannot create resource "jobs" in API group "batch" in the namespace "${namespace}" (Forbidden)`,
    );
  });
});
