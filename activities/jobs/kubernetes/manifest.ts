/**
 * The batch/v1 Job manifest of an agent run (docs/design.md#agents), built by a pure function: the same
 * spec, owner and template always give the same manifest, which tests validate against the
 * Kubernetes OpenAPI schema without a cluster.
 *
 * The operator's template (k8s/base/agent-job-template.yaml) supplies what is specific to a
 * cluster — service account, node placement, pull secrets, extra annotations. The spec supplies
 * what is specific to a run. What the orchestrator relies on always wins over both: the name,
 * namespace, ownership labels and annotations, `restartPolicy: Never`, and a non-root,
 * unprivileged, read-only security context.
 */
import type {
  V1Container,
  V1Job,
  V1PodSecurityContext,
  V1SecurityContext,
  V1Volume,
} from '@kubernetes/client-node';
import type { AgentJobSpec, JobOwner } from '../../../schemas/agent-job';
import { agentEnvironment } from '../contract';

/** The container every agent Job runs its agent in. */
export const AGENT_CONTAINER = 'agent';

export const annotationKeys = {
  mission: 'swoosh.io/mission',
  region: 'swoosh.io/region',
  windowId: 'swoosh.io/window-id',
  agentId: 'swoosh.io/agent-id',
  workflowId: 'swoosh.io/workflow-id',
  ownerSeq: 'swoosh.io/owner-seq',
  capabilityProfile: 'swoosh.io/capability-profile',
  energyBudget: 'swoosh.io/energy-budget',
  workloadIdentity: 'swoosh.io/workload-identity',
  infrastructureRefs: 'swoosh.io/infrastructure-refs',
  telemetryExported: 'swoosh.io/telemetry-exported',
} as const;

/** Labels that mark a Job as a SWOOSH agent run; the runner lists and the reaper selects by these. */
export const agentSelectorLabels = {
  'app.kubernetes.io/part-of': 'swoosh',
  'app.kubernetes.io/component': 'agent',
  'app.kubernetes.io/managed-by': 'swoosh-orchestrator',
} as const;

export const agentLabelSelector = Object.entries(agentSelectorLabels)
  .map(([key, value]) => `${key}=${value}`)
  .join(',');

/** The agent's writable folders: the root filesystem is read-only. */
const WORKDIR = '/work';
const TMPDIR = '/tmp';

export interface AgentJobManifestInput {
  name: string;
  namespace: string;
  spec: AgentJobSpec;
  owner: JobOwner;
  /** Cluster-specific defaults: a batch/v1 Job whose pod template holds an `agent` container. */
  template?: V1Job;
  /**
   * The `envFrom` file references, read by the worker (../env.ts). Secret references are not
   * read here: they become `secretKeyRef`s, resolved by the kubelet inside the cluster.
   */
  resolvedEnv?: Record<string, string>;
}

/**
 * A label value for a free-form id: characters Kubernetes refuses become `-`, and the value is
 * cut to 63 characters. Labels are for selecting; the exact ids are in the annotations.
 */
export function labelValue(id: string): string {
  return id
    .replace(/[^A-Za-z0-9._-]/g, '-')
    .slice(0, 63)
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
}

export function buildAgentJobManifest({
  name,
  namespace,
  spec,
  owner,
  template,
  resolvedEnv = {},
}: AgentJobManifestInput): V1Job {
  const base: V1Job = structuredClone(template ?? {});
  const basePod = base.spec?.template.spec;
  const baseContainer = basePod?.containers.find((c) => c.name === AGENT_CONTAINER) ?? basePod?.containers[0];
  const workloadIdentity =
    spec.workloadIdentity ??
    base.spec?.template.metadata?.annotations?.[annotationKeys.workloadIdentity] ??
    base.metadata?.annotations?.[annotationKeys.workloadIdentity];

  const labels = {
    ...base.metadata?.labels,
    ...spec.labels,
    'app.kubernetes.io/name': 'swoosh-agent',
    ...agentSelectorLabels,
    'swoosh.io/mission': labelValue(spec.mission),
    'swoosh.io/region': labelValue(spec.region),
    'swoosh.io/window': labelValue(spec.windowId),
    'swoosh.io/agent': labelValue(spec.agentId),
    'swoosh.io/role': labelValue(spec.capabilityProfile.role),
  };
  // What the pod itself must carry (the Kyverno policy checks pods, not Jobs).
  const podAnnotations = {
    ...base.spec?.template.metadata?.annotations,
    ...spec.annotations,
    ...(workloadIdentity ? { [annotationKeys.workloadIdentity]: workloadIdentity } : {}),
    [annotationKeys.infrastructureRefs]: JSON.stringify(spec.infrastructureRefs),
  };
  const annotations = {
    ...base.metadata?.annotations,
    ...podAnnotations,
    [annotationKeys.mission]: spec.mission,
    [annotationKeys.region]: spec.region,
    [annotationKeys.windowId]: spec.windowId,
    [annotationKeys.agentId]: spec.agentId,
    [annotationKeys.workflowId]: owner.workflowId,
    [annotationKeys.ownerSeq]: String(owner.seq),
    [annotationKeys.capabilityProfile]: JSON.stringify(spec.capabilityProfile),
    [annotationKeys.energyBudget]: JSON.stringify(spec.energyBudget),
  };

  const env = agentEnvironment(spec, name, { workdir: WORKDIR, tmpdir: TMPDIR }, resolvedEnv);
  const secretRefs = Object.entries(spec.envFrom).flatMap(([key, ref]) =>
    'secret' in ref
      ? [{ name: key, valueFrom: { secretKeyRef: { name: ref.secret.name, key: ref.secret.key } } }]
      : [],
  );
  const contractNames = new Set([...Object.keys(env), ...secretRefs.map((e) => e.name)]);
  const container: V1Container = {
    ...baseContainer,
    name: AGENT_CONTAINER,
    image: spec.image,
    command: spec.command,
    args: spec.args,
    env: [
      ...(baseContainer?.env ?? []).filter((e) => !contractNames.has(e.name)),
      ...secretRefs,
      ...Object.entries(env).map(([key, value]) => ({ name: key, value })),
    ],
    resources: { limits: spec.resources.limits, requests: spec.resources.requests ?? spec.resources.limits },
    securityContext: hardenedContainer(baseContainer?.securityContext),
    volumeMounts: [
      ...(baseContainer?.volumeMounts ?? []).filter((m) => m.mountPath !== WORKDIR && m.mountPath !== TMPDIR),
      { name: 'swoosh-work', mountPath: WORKDIR },
      { name: 'swoosh-tmp', mountPath: TMPDIR },
    ],
  };
  const volumes: V1Volume[] = [
    ...(basePod?.volumes ?? []).filter((v) => v.name !== 'swoosh-work' && v.name !== 'swoosh-tmp'),
    { name: 'swoosh-work', emptyDir: {} },
    { name: 'swoosh-tmp', emptyDir: {} },
  ];

  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, namespace, labels, annotations },
    spec: {
      ...base.spec,
      completions: 1,
      parallelism: 1,
      backoffLimit: spec.backoffLimit,
      activeDeadlineSeconds: spec.timeouts.activeDeadlineSeconds,
      ttlSecondsAfterFinished: spec.ttlSecondsAfterFinished,
      template: {
        metadata: { labels, annotations: podAnnotations },
        spec: {
          ...basePod,
          restartPolicy: 'Never',
          // Agents never call the Kubernetes API; a token in the pod would only be a liability.
          automountServiceAccountToken: false,
          terminationGracePeriodSeconds: spec.timeouts.terminationGraceSeconds,
          securityContext: hardenedPod(basePod?.securityContext),
          containers: [container],
          volumes,
        },
      },
    },
  };
}

/** A template may tighten the pod's security context but not loosen it; uid 0 is dropped. */
function hardenedPod(base: V1PodSecurityContext | undefined): V1PodSecurityContext {
  const { runAsUser, ...rest } = base ?? {};
  return {
    seccompProfile: { type: 'RuntimeDefault' },
    ...rest,
    ...(runAsUser ? { runAsUser } : {}),
    runAsNonRoot: true,
  };
}

function hardenedContainer(base: V1SecurityContext | undefined): V1SecurityContext {
  const { runAsUser, ...rest } = base ?? {};
  return {
    ...rest,
    ...(runAsUser ? { runAsUser } : {}),
    runAsNonRoot: true,
    privileged: false,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] },
  };
}
