/**
 * The `kubernetes` backend: each run is a batch/v1 Job in the agent namespace, created from
 * buildAgentJobManifest, followed through a watch (with polling as the fallback and the
 * heartbeat clock), read back for its exit code and logs, and deleted with background
 * propagation so its pods go with it. The run's metadata lives in the Job's annotations, so a
 * restarted worker or the reaper can export its telemetry from the Job alone.
 *
 * Needs, in the agent namespace only: jobs (create, get, list, watch, patch, delete), pods
 * (get, list), pods/log (get) — the Role in k8s/base/rbac.yaml.
 */
import {
  ApiException,
  BatchV1Api,
  CoreV1Api,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1Job,
  type V1Pod,
  Watch,
} from '@kubernetes/client-node';
import type { AgentJobSpec, JobOwner } from '../../../schemas/agent-job';
import { CapabilityProfile, EnergyBudget } from '../../../schemas/evidence';
import {
  type FollowOptions,
  type JobFinish,
  type JobLogs,
  type JobMeta,
  JobNameConflictError,
  JobNotFoundError,
  type JobRunner,
  type JobStatus,
  pause,
  sameOwner,
  tailBytes,
} from '../runner';
import { EnvReferenceError, readEnvReferences } from '../env';
import { AGENT_CONTAINER, agentLabelSelector, annotationKeys, buildAgentJobManifest } from './manifest';

export interface KubernetesJobRunnerOptions {
  kubeConfig: KubeConfig;
  /** The agent namespace; the orchestrator's Role is limited to it. */
  namespace: string;
  /** The agent Job template (cluster-specific defaults), parsed from YAML. */
  template?: V1Job;
  /** Longest wait between two looks at a followed Job when the watch is quiet (default 5 s). */
  pollIntervalMs?: number;
  /** Where `envFrom` file references are read on the worker (docs/agents.md#environment). */
  secretsDir?: string;
}

const FIELD_MANAGER = 'swoosh-orchestrator';

export class KubernetesJobRunner implements JobRunner {
  readonly backend = 'kubernetes' as const;
  readonly #batch: BatchV1Api;
  readonly #core: CoreV1Api;
  readonly #watch: Watch;
  readonly #namespace: string;
  readonly #template: V1Job | undefined;
  readonly #pollIntervalMs: number;
  readonly #secretsDir: string | undefined;

  constructor(options: KubernetesJobRunnerOptions) {
    this.#batch = options.kubeConfig.makeApiClient(BatchV1Api);
    this.#core = options.kubeConfig.makeApiClient(CoreV1Api);
    this.#watch = new Watch(options.kubeConfig);
    this.#namespace = options.namespace;
    this.#template = options.template;
    this.#pollIntervalMs = options.pollIntervalMs ?? 5_000;
    this.#secretsDir = options.secretsDir;
  }

  async spawn(name: string, spec: AgentJobSpec, owner: JobOwner): Promise<{ created: boolean }> {
    const files = Object.entries(spec.envFrom).filter(([, ref]) => 'file' in ref);
    const first = files[0];
    if (first && this.#secretsDir === undefined)
      throw new EnvReferenceError(first[0], first[1], 'this worker has no agent secrets folder');
    const body = buildAgentJobManifest({
      name,
      namespace: this.#namespace,
      spec,
      owner,
      template: this.#template,
      resolvedEnv:
        this.#secretsDir === undefined
          ? {}
          : await readEnvReferences(spec.envFrom, this.#secretsDir, (ref) => 'file' in ref),
    });
    try {
      // Strict: the API server refuses fields it does not know instead of dropping them silently.
      await this.#batch.createNamespacedJob({
        namespace: this.#namespace,
        body,
        fieldManager: FIELD_MANAGER,
        fieldValidation: 'Strict',
      });
      return { created: true };
    } catch (error) {
      if (!isStatus(error, 409)) throw refusal(`create Job ${name} in namespace ${this.#namespace}`, error);
    }
    const existing = await this.#read(name);
    if (!existing) throw new JobNotFoundError(name);
    const existingOwner = ownerOf(existing);
    if (!sameOwner(existingOwner, owner)) throw new JobNameConflictError(name, existingOwner);
    return { created: false };
  }

  async status(name: string): Promise<JobStatus | undefined> {
    const job = await this.#read(name);
    return job && this.#toStatus(job);
  }

  async follow(name: string, options: FollowOptions): Promise<JobStatus & { finish: JobFinish }> {
    let wake: () => void = () => undefined;
    // The watch only shortens the wait: if it cannot start or ends, polling carries on alone.
    const watch = await this.#watch
      .watch(
        `/apis/batch/v1/namespaces/${this.#namespace}/jobs`,
        { fieldSelector: `metadata.name=${name}` },
        () => wake(),
        () => undefined,
      )
      .catch(() => undefined);
    try {
      for (;;) {
        options.signal.throwIfAborted();
        const status = await this.status(name);
        if (!status) throw new JobNotFoundError(name);
        if (status.finish) return { ...status, finish: status.finish };
        options.onProgress({ state: status.startedAt ? 'running' : 'pending', startedAt: status.startedAt });
        const changed = new AbortController();
        wake = () => changed.abort();
        await pause(this.#pollIntervalMs, AbortSignal.any([changed.signal, options.signal]));
      }
    } finally {
      watch?.abort();
    }
  }

  async logs(name: string, maxBytes: number): Promise<JobLogs> {
    const pod = await this.#latestPod(name);
    if (!pod?.metadata?.name) return { tail: '', truncated: false };
    let text: string;
    try {
      text = await this.#core.readNamespacedPodLog({
        name: pod.metadata.name,
        namespace: this.#namespace,
        container: AGENT_CONTAINER,
        // Lines, not bytes: limitBytes would keep the head of the log, and the tail matters.
        tailLines: Math.max(100, Math.ceil(maxBytes / 40)),
      });
    } catch (error) {
      // A pod that is gone, or whose container never started, has no log to give.
      if (isStatus(error, 404) || isStatus(error, 400)) return { tail: '', truncated: false };
      throw error;
    }
    return tailBytes(text, maxBytes);
  }

  async markExported(name: string): Promise<void> {
    await this.#batch.patchNamespacedJob(
      {
        name,
        namespace: this.#namespace,
        body: { metadata: { annotations: { [annotationKeys.telemetryExported]: 'true' } } },
        fieldManager: FIELD_MANAGER,
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  }

  async delete(name: string): Promise<void> {
    try {
      // Background: the Job goes now, its pods are stopped (with their grace period) by the GC.
      await this.#batch.deleteNamespacedJob({
        name,
        namespace: this.#namespace,
        propagationPolicy: 'Background',
      });
    } catch (error) {
      if (!isStatus(error, 404)) throw refusal(`delete Job ${name} in namespace ${this.#namespace}`, error);
    }
  }

  async list(): Promise<JobStatus[]> {
    const jobs: V1Job[] = [];
    let page: string | undefined;
    do {
      const list = await this.#batch.listNamespacedJob({
        namespace: this.#namespace,
        labelSelector: agentLabelSelector,
        limit: 200,
        ...(page ? { _continue: page } : {}),
      });
      jobs.push(...list.items);
      page = list.metadata?._continue;
    } while (page);
    const statuses = await Promise.all(jobs.map((job) => this.#toStatus(job)));
    return statuses.filter((s): s is JobStatus => s !== undefined);
  }

  async #read(name: string): Promise<V1Job | undefined> {
    try {
      return await this.#batch.readNamespacedJob({ name, namespace: this.#namespace });
    } catch (error) {
      if (isStatus(error, 404)) return undefined;
      throw refusal(`read Job ${name} in namespace ${this.#namespace}`, error);
    }
  }

  async #latestPod(name: string): Promise<V1Pod | undefined> {
    const pods = await this.#core.listNamespacedPod({
      namespace: this.#namespace,
      labelSelector: `job-name=${name}`,
    });
    return pods.items.sort(
      (a, b) => time(b.metadata?.creationTimestamp) - time(a.metadata?.creationTimestamp),
    )[0];
  }

  async #toStatus(job: V1Job): Promise<JobStatus | undefined> {
    const name = job.metadata?.name;
    const meta = metaOf(job);
    if (!name || !meta) return undefined;
    const finish = finishOf(job);
    if (finish) {
      const exitCode = exitCodeOf(await this.#latestPod(name));
      if (exitCode !== undefined) finish.exitCode = exitCode;
    }
    const createdAt = iso(job.metadata?.creationTimestamp) ?? new Date(0).toISOString();
    const startedAt = iso(job.status?.startTime);
    return {
      name,
      meta,
      createdAt,
      ...(startedAt ? { startedAt } : {}),
      ...(finish ? { finish } : {}),
      exported: job.metadata?.annotations?.[annotationKeys.telemetryExported] === 'true',
    };
  }
}

/** The outcome a finished Job's conditions state; undefined while it runs. */
export function finishOf(job: V1Job): JobFinish | undefined {
  const conditions = job.status?.conditions ?? [];
  const complete = conditions.find((c) => c.type === 'Complete' && c.status === 'True');
  if (complete) {
    return {
      outcome: 'succeeded',
      finishedAt:
        iso(job.status?.completionTime) ?? iso(complete.lastTransitionTime) ?? new Date(0).toISOString(),
    };
  }
  const failed = conditions.find((c) => c.type === 'Failed' && c.status === 'True');
  if (!failed) return undefined;
  return {
    outcome: failed.reason === 'DeadlineExceeded' ? 'timed-out' : 'failed',
    ...(failed.reason ? { reason: failed.reason } : {}),
    finishedAt: iso(failed.lastTransitionTime) ?? new Date(0).toISOString(),
  };
}

function exitCodeOf(pod: V1Pod | undefined): number | undefined {
  const status = pod?.status?.containerStatuses?.find((c) => c.name === AGENT_CONTAINER);
  return status?.state?.terminated?.exitCode ?? status?.lastState?.terminated?.exitCode;
}

function ownerOf(job: V1Job): JobOwner | undefined {
  const annotations = job.metadata?.annotations ?? {};
  const workflowId = annotations[annotationKeys.workflowId];
  const seq = Number(annotations[annotationKeys.ownerSeq]);
  return workflowId && Number.isInteger(seq) ? { workflowId, seq } : undefined;
}

/** The run's metadata from its annotations; undefined for a Job SWOOSH did not create. */
function metaOf(job: V1Job): JobMeta | undefined {
  const annotations = job.metadata?.annotations ?? {};
  const owner = ownerOf(job);
  const profile = CapabilityProfile.safeParse(parseJson(annotations[annotationKeys.capabilityProfile]));
  const budget = EnergyBudget.safeParse(parseJson(annotations[annotationKeys.energyBudget]));
  const mission = annotations[annotationKeys.mission];
  const region = annotations[annotationKeys.region];
  const windowId = annotations[annotationKeys.windowId];
  const agentId = annotations[annotationKeys.agentId];
  if (!owner || !profile.success || !budget.success || !mission || !region || !windowId || !agentId)
    return undefined;
  return {
    owner,
    mission,
    region,
    windowId,
    agentId,
    capabilityProfile: profile.data,
    energyBudget: budget.data,
  };
}

function parseJson(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The client deserialises API timestamps to Date; telemetry wants ISO strings. */
function iso(value: Date | string | undefined): string | undefined {
  if (value === undefined) return undefined;
  return new Date(value).toISOString();
}

function time(value: Date | string | undefined): number {
  return value === undefined ? 0 : new Date(value).getTime();
}

/**
 * The API server's own words for a refusal (`namespaces "x" not found`, `… cannot create resource
 * "jobs" …`), with what was attempted; the client's message buries them in an escaped JSON body.
 */
function refusal(action: string, error: unknown): unknown {
  if (!(error instanceof ApiException)) return error;
  const status = parseJson(typeof error.body === 'string' ? error.body : undefined) as
    { message?: string; reason?: string } | undefined;
  const said = status?.message ?? `HTTP ${error.code}`;
  return new Error(`Kubernetes refused to ${action}: ${said}${status?.reason ? ` (${status.reason})` : ''}`, {
    cause: error,
  });
}

function isStatus(error: unknown, code: number): boolean {
  return error instanceof ApiException && error.code === code;
}
